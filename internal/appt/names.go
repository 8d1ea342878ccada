// Package appt is the one contract shared by the workflows, the activities, the worker and the starter:
// the appointment types, the message names, the task queue and the workflow IDs. Every name that crosses a
// process boundary is defined here once.
package appt

import "time"

// TaskQueue is the task queue every apptnotify worker polls.
const TaskQueue = "appointments"

// Workflow type names, registered explicitly so that renaming a Go function never orphans running workflows.
const (
	AppointmentWorkflowType = "AppointmentWorkflow"
	OrgSettingsWorkflowType = "OrgSettingsWorkflow"
)

// Signals (and updates of the same name) taken by the appointment workflow (docs/rules.md#signals-and-updates).
const (
	SignalReschedule        = "reschedule"
	SignalCancel            = "cancel"
	SignalActivate          = "activate"
	SignalCallStarted       = "call-started"
	SignalParticipantJoined = "participant-joined"
	SignalCallEnded         = "call-ended"
	SignalUpdateMetadata    = "update-metadata"
	SignalRetry             = "retry"
)

// AppointmentSignals lists every appointment signal in a fixed order: the workflow drains them in this order
// before it continues as new.
var AppointmentSignals = []string{
	SignalReschedule, SignalCancel, SignalActivate, SignalCallStarted,
	SignalParticipantJoined, SignalCallEnded, SignalUpdateMetadata, SignalRetry,
}

// SignalSMSStatus carries a Twilio delivery receipt (SMSStatusSignal) from the worker's status-callback listener.
// It is not one of the operations a caller invokes and is not offered as an update: the workflow accepts it in every
// state, records it on the delivery entry whose provider ID it names, and never logs it as refused
// (docs/calendar-and-receipts.md).
const SignalSMSStatus = "sms-status"

// QueryStatus returns the status document (docs/rules.md#the-status-document) of an appointment.
const QueryStatus = "status"

// Signals, updates and the query of the organisation-settings workflow.
const (
	SignalSetNotifications = "set-notifications"
	SignalSetAutoActivate  = "set-auto-activate"
	QueryOrgSettings       = "settings"
)

// Activity names, registered explicitly for the same reason as the workflow types.
const (
	ActivityLoadOrg    = "LoadOrg"
	ActivityDeliver    = "Deliver"
	ActivityDeliverOne = "DeliverOne"
)

// Search attributes the appointment workflow upserts, so operators can find appointments in the Web UI.
const (
	SearchAttrOrg   = "AppointmentOrg"   // keyword
	SearchAttrState = "AppointmentState" // keyword
	SearchAttrStart = "AppointmentStart" // datetime
)

// SettingsMaxAge is how old a worker's cached read of an organisation's settings may be: a global disable takes
// effect within 1 second (docs/rules.md#flags).
const SettingsMaxAge = time.Second

// WorkflowID is the ID of the one workflow an appointment ever has.
func WorkflowID(appointmentID string) string { return "appointment:" + appointmentID }

// OrgWorkflowID is the ID of an organisation's settings workflow.
func OrgWorkflowID(org string) string { return "org-settings:" + org }
