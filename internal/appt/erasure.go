package appt

import "strings"

// IsAppointmentWorkflowID reports whether a workflow ID is an appointment's (WorkflowID): the workflows whose
// payloads hold customer data, each sealed with the appointment's own data key (docs/security.md#erasure).
func IsAppointmentWorkflowID(workflowID string) bool {
	prefix := WorkflowID("")
	return strings.HasPrefix(workflowID, prefix) && len(workflowID) > len(prefix)
}
