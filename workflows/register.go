package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Registry is the part of a worker (or test environment) that takes workflows.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers every workflow under its contract name.
func Register(r Registry) {
	r.RegisterWorkflowWithOptions(AppointmentWorkflow, workflow.RegisterOptions{Name: appt.AppointmentWorkflowType})
	r.RegisterWorkflowWithOptions(OrgSettingsWorkflow, workflow.RegisterOptions{Name: appt.OrgSettingsWorkflowType})
	r.RegisterWorkflowWithOptions(APITokensWorkflow, workflow.RegisterOptions{Name: appt.TokensWorkflowType})
	r.RegisterWorkflowWithOptions(ErasureWorkflow, workflow.RegisterOptions{Name: appt.ErasureWorkflowType})
	r.RegisterWorkflowWithOptions(SuppressionWorkflow, workflow.RegisterOptions{Name: appt.SuppressionWorkflowType})
	r.RegisterWorkflowWithOptions(SuppressionIndexWorkflow, workflow.RegisterOptions{Name: appt.SuppressionIndexWorkflowType})
	r.RegisterWorkflowWithOptions(OrgTestsWorkflow, workflow.RegisterOptions{Name: appt.OrgTestsWorkflowType})
}
