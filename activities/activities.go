// Package activities holds every piece of I/O the workflows do: reading an organisation's policy and settings,
// and sending email, SMS and webhooks. The workflow decides what to send and when; these methods only send.
package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/orgs"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// EmailSender sends one notification email to one participant and returns its Message-ID.
type EmailSender interface {
	SendEmail(ctx context.Context, org *config.Org, msg *Message, to appt.Participant, notificationID string) (string, error)
}

// SMSSender sends one notification SMS to one participant and returns the provider's message ID.
type SMSSender interface {
	SendSMS(ctx context.Context, org *config.Org, msg *Message, to appt.Participant, notificationID string) (string, error)
}

// WebhookSender posts one message to one subscriber of an organisation.
type WebhookSender interface {
	SendWebhook(ctx context.Context, org *config.Org, subscriber int, msg *Message) error
}

// SettingsReader reads an organisation's live settings. found is false when its settings workflow does not exist
// yet, in which case the config's defaults apply.
type SettingsReader interface {
	Settings(ctx context.Context, org string) (s appt.OrgSettings, found bool, err error)
}

// Activities are registered on the worker with their clients.
type Activities struct {
	Config   *config.Config
	Email    EmailSender
	SMS      SMSSender
	Webhooks WebhookSender
	Settings SettingsReader
	// Orgs finds an organisation at send time: the API's document, else the config file's (orgs.go). Nil builds
	// one over Config and Settings on first use.
	Orgs *orgs.Directory
	// Suppressions is the organisations' suppression lists, checked in every attempt (suppress.go); nil: none.
	Suppressions Suppressions
	// Templates are what previews and test sends render with (the senders hold their own); the defaults when nil.
	Templates *templates.Set
	// Appointments reads an appointment's message for a preview; nil: previews of sample fields only.
	Appointments AppointmentReader
	// RemoteDelivery: new appointments send their fan-outs as regular activities, not local ones (see OrgPolicy).
	RemoteDelivery bool
}

// Close ends the senders' idle connections (the Mailer's SMTP sessions, with QUIT). Call it after the worker has
// stopped.
func (a *Activities) Close() {
	if c, ok := a.Email.(interface{ Close() }); ok {
		c.Close()
	}
}

// DeliveryError is a classified send failure. Channel code returns it; the activities turn it into an outcome or a
// Temporal application error.
type DeliveryError struct {
	Type       string        // one of the Err* types
	Msg        string        // no PII: never an address or a number
	RetryAfter time.Duration // a provider's Retry-After, if any
	// Code is the provider's answer, for the metrics: Twilio's error code ("21610"), the class of an SMTP reply or
	// of an HTTP status ("5xx", "4xx"); empty when no provider answered (a timeout, a refused connection).
	Code string
}

func (e *DeliveryError) Error() string { return e.Type + ": " + e.Msg }

// Permanent returns a non-retryable delivery error.
func Permanent(errType, format string, args ...any) *DeliveryError {
	return &DeliveryError{Type: errType, Msg: fmt.Sprintf(format, args...)}
}

// Transient returns a retryable delivery error; retryAfter may be zero.
func Transient(retryAfter time.Duration, format string, args ...any) *DeliveryError {
	return &DeliveryError{Type: ErrTransient, Msg: fmt.Sprintf(format, args...), RetryAfter: retryAfter}
}

// classify turns any error into a DeliveryError; an unclassified error is transient.
func classify(err error) *DeliveryError {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Transient(0, "timed out")
	}
	return Transient(0, "%s", err.Error())
}

// LoadOrg returns what an appointment captures about its organisation at scheduling. An unknown organisation is
// not an error: the workflow ends in state rejected.
func (a *Activities) LoadOrg(ctx context.Context, in *LoadOrgInput) (*OrgPolicy, error) {
	v, err := a.lookup(ctx, in.Org)
	if err != nil {
		return nil, fmt.Errorf("reading the settings of %s: %w", in.Org, err)
	}
	if !v.Known {
		return &OrgPolicy{Known: false}, nil
	}
	org, live := v.Org, v.Live
	return &OrgPolicy{
		Known:                true,
		Platform:             org.Platform,
		Email:                org.EmailProvisioned(),
		SMS:                  org.SMSProvisioned(),
		Webhooks:             len(org.Webhooks),
		ReminderOffsets:      org.Offsets(),
		RoomOffset:           org.RoomOffset.D(),
		ReminderSpread:       org.ReminderSpread.D(),
		MaxAttempts:          *org.MaxAttempts,
		Expiry:               org.Expiry.D(),
		NotificationsEnabled: live.NotificationsEnabled && !live.Disabled,
		AutoActivate:         live.AutoActivate,
		RemoteDelivery:       a.RemoteDelivery,
		ReceiptWait:          receiptWait(a.Config, org),
		NotifyAgents:         org.NotifyAgents,
	}, nil
}

// receiptWait is the organisation's receipt_wait when this worker can receive receipts at all (the config asks
// Twilio for status callbacks and the organisation sends SMS), else 0: a wait for receipts that never come would
// only keep workflows open.
func receiptWait(cfg *config.Config, org *config.Org) time.Duration {
	if cfg.Twilio.StatusCallbackURL == "" || !org.SMSProvisioned() || org.ReceiptWait == nil {
		return 0
	}
	return org.ReceiptWait.D()
}

// gate decides, before any I/O, whether a target can be attempted at all: notifications need the live global
// flag (read in every attempt, docs/rules.md#flags), and a channel needs provisioning.
func (a *Activities) gate(org *config.Org, msg *Message, t Target, live appt.OrgSettings) (appt.DeliveryStatus, string) {
	if msg.IsNotification() && !live.NotificationsEnabled {
		return appt.SkippedDisabled, "notifications are disabled for the organisation"
	}
	if msg.IsNotification() && live.Disabled {
		return appt.SkippedDisabled, "the organisation is disabled"
	}
	switch t.Channel {
	case appt.Email:
		if !org.EmailProvisioned() {
			return appt.SkippedUnprovisioned, "email is not provisioned for the organisation"
		}
	case appt.SMS:
		if !org.SMSProvisioned() {
			return appt.SkippedUnprovisioned, "SMS is not provisioned for the organisation"
		}
	case appt.Webhook:
		if t.Subscriber < 0 || t.Subscriber >= len(org.Webhooks) {
			return appt.SkippedUnprovisioned, "the webhook subscriber is no longer configured"
		}
	}
	return "", ""
}

// send attempts one target once.
func (a *Activities) send(ctx context.Context, org *config.Org, msg *Message, t Target) (string, error) {
	switch t.Channel {
	case appt.Email, appt.SMS:
		p, ok := recipient(msg, t.Recipient)
		if !ok {
			return "", Permanent(ErrInvalidRecipient, "participant %s is not a recipient of %s", t.Recipient, msg.EventID)
		}
		if t.Channel == appt.Email {
			if a.Email == nil {
				return "", Permanent(ErrUnprovisioned, "this worker has no email sender")
			}
			return a.Email.SendEmail(ctx, org, msg, p, t.NotificationID)
		}
		if a.SMS == nil {
			return "", Permanent(ErrUnprovisioned, "this worker has no SMS sender")
		}
		return a.SMS.SendSMS(ctx, org, msg, p, t.NotificationID)
	case appt.Webhook:
		if a.Webhooks == nil {
			return "", Permanent(ErrUnprovisioned, "this worker has no webhook sender")
		}
		return msg.EventID, a.Webhooks.SendWebhook(ctx, org, t.Subscriber, msg)
	}
	return "", Permanent(ErrBadInput, "unknown channel %q", t.Channel)
}

func recipient(msg *Message, id string) (appt.Participant, bool) {
	for _, p := range msg.Recipients {
		if p.ID == id {
			return p, true
		}
	}
	return appt.Participant{}, false
}

// Deliver attempts every target of a fan-out once, concurrently across targets, and reports one outcome per
// target. A failed target is not an activity error: the workflow retries only the targets that failed, each on its
// own (DeliverOne), so a target that succeeded is never sent again.
func (a *Activities) Deliver(ctx context.Context, in *DeliverInput) (*DeliverResult, error) {
	v, err := a.lookup(ctx, in.Org)
	if err != nil {
		return nil, fmt.Errorf("reading the settings of %s: %w", in.Org, err)
	}
	if !v.Known {
		return nil, temporal.NewNonRetryableApplicationError("unknown organisation "+in.Org, ErrBadInput, nil)
	}
	org, live := v.Org, v.Live
	out := &DeliverResult{Outcomes: make([]Outcome, len(in.Targets)), Decided: in.Decided}
	// Webhook messages to one subscriber go in order (a subscriber sees appointment.scheduled before
	// notification.create); everything else goes at once.
	var wg sync.WaitGroup
	bySubscriber := map[int][]int{}
	var subscribers []int
	for i, t := range in.Targets {
		if t.Message < 0 || t.Message >= len(in.Messages) {
			return nil, temporal.NewNonRetryableApplicationError("target refers to no message", ErrBadInput, nil)
		}
		if st, why := a.gate(org, &in.Messages[t.Message], t, live); st != "" {
			out.Outcomes[i] = named(Outcome{Status: st, Error: why}, &in.Messages[t.Message], t)
			continue
		}
		if t.Channel == appt.Webhook {
			if _, seen := bySubscriber[t.Subscriber]; !seen {
				subscribers = append(subscribers, t.Subscriber)
			}
			bySubscriber[t.Subscriber] = append(bySubscriber[t.Subscriber], i)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out.Outcomes[i] = named(a.attempt(ctx, org, &in.Messages[t.Message], t), &in.Messages[t.Message], t)
		}()
	}
	for _, s := range subscribers {
		idx := bySubscriber[s]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range idx {
				t := in.Targets[i]
				out.Outcomes[i] = named(a.attempt(ctx, org, &in.Messages[t.Message], t), &in.Messages[t.Message], t)
			}
		}()
	}
	wg.Wait()
	return out, nil
}

// named labels an outcome with its target, so the recorded result says which channel and recipient it is about.
func named(o Outcome, msg *Message, t Target) Outcome {
	o.Channel, o.Recipient = t.Channel, t.Recipient
	if t.Channel == appt.Webhook {
		o.Event = msg.Event
	}
	return o
}

func (a *Activities) attempt(ctx context.Context, org *config.Org, msg *Message, t Target) Outcome {
	if o, stop := a.suppressedOutcome(ctx, org, msg, t); stop {
		return o
	}
	id, err := a.send(ctx, org, msg, t)
	if err == nil {
		return Outcome{Status: appt.Sent, ProviderID: id}
	}
	de := classify(err)
	countProviderError(ctx, org.ID, t.Channel, de)
	activity.GetLogger(ctx).Warn("delivery failed", "appointmentId", msg.Appointment.ID, "event", msg.Event,
		"channel", string(t.Channel), "recipient", t.Recipient, "errorType", de.Type, "error", de.Msg)
	if de.Type == ErrUnprovisioned {
		return Outcome{Status: appt.SkippedUnprovisioned, Error: de.Msg}
	}
	if de.Type == ErrOptedOut {
		a.noteOptOut(ctx, org, msg, t)
	}
	return Outcome{Status: appt.Failed, ErrorType: de.Type, Error: de.Msg, RetryAfter: de.RetryAfter}
}

// DeliverOne attempts one target, under the retry policy the workflow gives it. It reads the live flag in every
// attempt, so a global disable stops retries under way. Failures are application errors whose type decides whether
// Temporal retries, and whose next-retry delay honours a provider's Retry-After.
func (a *Activities) DeliverOne(ctx context.Context, in *DeliverOneInput) (*DeliverOneResult, error) {
	attempt := activity.GetInfo(ctx).Attempt
	v, err := a.lookup(ctx, in.Org)
	if err != nil {
		return nil, temporal.NewApplicationErrorWithOptions("reading the settings: "+err.Error(), ErrTransient,
			temporal.ApplicationErrorOptions{Details: []any{FailureDetails{Attempt: attempt}}})
	}
	if !v.Known {
		return nil, temporal.NewNonRetryableApplicationError("unknown organisation "+in.Org, ErrBadInput, nil,
			FailureDetails{Attempt: attempt})
	}
	org, live := v.Org, v.Live
	if st, _ := a.gate(org, &in.Message, in.Target, live); st != "" {
		// Blocked before any send: this attempt reached no provider, so it is not counted.
		return &DeliverOneResult{Status: st, Attempt: attempt - 1}, nil
	}
	o := a.attempt(ctx, org, &in.Message, in.Target)
	switch o.Status {
	case appt.Suppressed:
		// Stopped before any send, like the gate: not counted.
		return &DeliverOneResult{Status: o.Status, Suppression: o.Suppression, Attempt: attempt - 1}, nil
	case appt.Sent, appt.SkippedUnprovisioned:
		return &DeliverOneResult{Status: o.Status, ProviderID: o.ProviderID, Attempt: attempt}, nil
	}
	return nil, temporal.NewApplicationErrorWithOptions(o.Error, o.ErrorType, temporal.ApplicationErrorOptions{
		NonRetryable:   !Retryable(o.ErrorType),
		NextRetryDelay: o.RetryAfter,
		Details:        []any{FailureDetails{Attempt: attempt}},
	})
}
