package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// Suppressions is what the activities need of the organisation's suppression list (internal/suppress.List is
// one): the check every attempt of an email or SMS makes before it calls a provider, and the add a Twilio 21610
// makes.
type Suppressions interface {
	// Check returns the reason the address is suppressed in the organisation, "" when it is not; an error when the
	// list cannot be read.
	Check(ctx context.Context, org string, ch appt.Channel, address string) (appt.SuppressionReason, error)
	// Add suppresses an address (expires nil: the organisation's lifetime for the reason).
	Add(ctx context.Context, org string, ch appt.Channel, address string, reason appt.SuppressionReason, source,
		eventID string, expires *time.Time) (appt.SuppressionAddResult, error)
}

// suppressedOutcome checks one email or SMS target against the suppression list, in every attempt: ok is true when
// the attempt must not call the provider, with the outcome it comes to instead: suppressed with its reason, or a
// transient failure when the list could not be read (the send is retried, never made unchecked).
func (a *Activities) suppressedOutcome(ctx context.Context, org *config.Org, msg *Message, t Target) (Outcome, bool) {
	if a.Suppressions == nil || (t.Channel != appt.Email && t.Channel != appt.SMS) {
		return Outcome{}, false
	}
	p, ok := recipient(msg, t.Recipient)
	if !ok {
		return Outcome{}, false
	}
	addr := p.Email
	if t.Channel == appt.SMS {
		addr = p.Phone
	}
	if addr == "" {
		return Outcome{}, false
	}
	r, err := a.Suppressions.Check(ctx, org.ID, t.Channel, addr)
	if err != nil {
		return Outcome{Status: appt.Failed, ErrorType: ErrTransient, Error: err.Error()}, true
	}
	if r == "" {
		return Outcome{}, false
	}
	return Outcome{Status: appt.Suppressed, Suppression: r,
		Error: "the address is on the organisation's suppression list (" + string(r) + ")"}, true
}

// noteOptOut writes a Twilio 21610 (the recipient texted STOP) to the organisation's suppression list, so later
// sends in every appointment skip the API call. A failure is logged: the opt-out still stops this appointment's
// SMS, and Twilio keeps refusing the others.
func (a *Activities) noteOptOut(ctx context.Context, org *config.Org, msg *Message, t Target) {
	if a.Suppressions == nil || t.Channel != appt.SMS {
		return
	}
	p, ok := recipient(msg, t.Recipient)
	if !ok || p.Phone == "" {
		return
	}
	if _, err := a.Suppressions.Add(ctx, org.ID, appt.SMS, p.Phone, appt.ReasonSMSStop, appt.SourceTwilio21610, "", nil); err != nil {
		activity.GetLogger(ctx).Warn("could not add the opt-out to the suppression list", "appointmentId",
			msg.Appointment.ID, "recipient", t.Recipient, "error", err.Error())
	}
}
