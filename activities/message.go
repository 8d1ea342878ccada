package activities

import (
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// NewNotification is the message of a notification as the appointment workflow sends it and a preview shows it:
// the event ID of the appointment's generation and offset (appt.EventID), the webhook event of the type, the
// appointment as the message shows it (view, whose JoinURL the caller has set only where appt.CarriesJoinLink
// allows), the customers it addresses, the time of the event, and the calendar invite's SEQUENCE (InviteSequence).
func NewNotification(view AppointmentView, t appt.NotificationType, offset time.Duration, generation int,
	to []appt.Participant, now time.Time) Message {
	return Message{
		EventID:     appt.EventID(view.ID, t, generation, offset),
		Event:       t.WebhookEvent(),
		Type:        t,
		Offset:      offset,
		Appointment: view,
		Recipients:  to,
		Timestamp:   now,
		Sequence:    InviteSequence(t, generation),
	}
}

// InviteSequence is the RFC 5545 SEQUENCE of the calendar invite of a notification of type t in reschedule
// generation g: g, plus one for CANCELLED, so that every change supersedes the invite before it.
func InviteSequence(t appt.NotificationType, g int) int {
	if t == appt.Cancelled {
		return g + 1
	}
	return g
}

// Customers are the participants a notification addresses (appt.Participant.IsCustomer), in their order.
func Customers(ps []appt.Participant) []appt.Participant {
	var out []appt.Participant
	for _, p := range ps {
		if p.IsCustomer() {
			out = append(out, p)
		}
	}
	return out
}
