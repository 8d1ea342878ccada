package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// setNotificationMessageQuery registers appt.QueryNotificationMessage: the message of a notification type as the
// workflow would send it now (a.notification, the code the fan-outs use), to every customer of the appointment,
// with the join link only where the type carries it now. A REMINDER or ROOM without an offset takes the first
// reminder offset, or the room offset, the appointment captured. A query changes nothing and adds nothing to the
// history; previews read appointments through it (docs/rules.md#previews).
func (a *appointment) setNotificationMessageQuery(ctx workflow.Context) error {
	return workflow.SetQueryHandler(ctx, appt.QueryNotificationMessage,
		func(q appt.NotificationMessageQuery) (activities.Message, error) {
			if !slices.Contains(appt.NotificationTypes, q.Type) {
				return activities.Message{}, fmt.Errorf("%q is not a notification type", q.Type)
			}
			offset := q.Offset
			switch {
			case q.Type == appt.Reminder && offset == 0 && len(a.st.Policy.ReminderOffsets) > 0:
				offset = a.st.Policy.ReminderOffsets[0]
			case q.Type == appt.Room && offset == 0:
				offset = a.st.Policy.RoomOffset
			case q.Type != appt.Reminder && q.Type != appt.Room:
				offset = 0
			}
			return a.notification(q.Type, offset, a.customers(), workflow.Now(ctx)), nil
		})
}
