package activities

import (
	"go.temporal.io/sdk/activity"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Registry is the part of a worker (or test environment) that takes activities.
type Registry interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Register registers the activities under their contract names.
func (a *Activities) Register(r Registry) {
	r.RegisterActivityWithOptions(a.LoadOrg, activity.RegisterOptions{Name: appt.ActivityLoadOrg})
	r.RegisterActivityWithOptions(a.Deliver, activity.RegisterOptions{Name: appt.ActivityDeliver})
	r.RegisterActivityWithOptions(a.DeliverOne, activity.RegisterOptions{Name: appt.ActivityDeliverOne})
}
