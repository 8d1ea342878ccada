package appt

import (
	"strconv"
	"time"
)

// EventID is the deterministic ID of one notification as a whole: the webhook-id of its notification.* message,
// the same for every subscriber and every retry. The occurrence is the reschedule generation plus, for REMINDER
// and ROOM, the offset.
func EventID(appointmentID string, t NotificationType, generation int, offset time.Duration) string {
	id := appointmentID + "/" + string(t) + "/g" + strconv.Itoa(generation)
	if offset > 0 {
		id += "/" + offset.String()
	}
	return id
}

// LifecycleEventID is the deterministic ID of the seq-th lifecycle event of an appointment.
func LifecycleEventID(appointmentID, event string, seq int) string {
	return appointmentID + "/" + event + "/" + strconv.Itoa(seq)
}

// NotificationID is the deterministic ID of one delivery: a notification to one recipient on one channel. The email
// Message-ID is derived from it, so a duplicate send can be recognised.
func NotificationID(eventID string, ch Channel, recipient string) string {
	return eventID + "/" + string(ch) + "/" + recipient
}

// SubscriberRecipient names the i-th webhook subscriber of an organisation in the delivery log.
func SubscriberRecipient(i int) string { return "subscriber-" + strconv.Itoa(i) }
