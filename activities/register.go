package activities

import (
	"go.temporal.io/sdk/activity"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Registry is the part of a worker (or test environment) that takes activities.
type Registry interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Register registers a's activities under their contract names. It is a function, not a method, so that the SDK's
// RegisterActivity(a) would not mistake it for an activity.
func Register(r Registry, a *Activities) {
	r.RegisterActivityWithOptions(a.LoadOrg, activity.RegisterOptions{Name: appt.ActivityLoadOrg})
	r.RegisterActivityWithOptions(a.Deliver, activity.RegisterOptions{Name: appt.ActivityDeliver})
	r.RegisterActivityWithOptions(a.DeliverOne, activity.RegisterOptions{Name: appt.ActivityDeliverOne})
	r.RegisterActivityWithOptions(a.Preview, activity.RegisterOptions{Name: appt.ActivityPreview})
	r.RegisterActivityWithOptions(a.SendTestCode, activity.RegisterOptions{Name: appt.ActivitySendTestCode})
	r.RegisterActivityWithOptions(a.TestSend, activity.RegisterOptions{Name: appt.ActivityTestSend})
}
