package activities

import (
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Application error types. The workflow's retry policies list every type except ErrTransient as non-retryable, so
// the error type alone decides whether Temporal retries.
const (
	// ErrHTTPClient is a 4xx answer other than 408 and 429, from a webhook subscriber or from Twilio.
	ErrHTTPClient = "HTTPClientError"
	// ErrHTTPRedirect is a 3xx answer; redirects are never followed.
	ErrHTTPRedirect = "HTTPRedirect"
	// ErrProviderPermanent is a provider error that no retry can fix, such as Twilio 21606 (a bad 'From').
	ErrProviderPermanent = "ProviderPermanent"
	// ErrSMTPPermanent is an SMTP 5xx answer.
	ErrSMTPPermanent = "SMTPPermanent"
	// ErrInvalidRecipient is an address or number that cannot receive the message.
	ErrInvalidRecipient = "InvalidRecipient"
	// ErrOptedOut is an SMS refused because the recipient opted out (Twilio 21610: they replied STOP). The workflow
	// sends that participant no further SMS in the appointment, and refuses a manual retry of the entry.
	ErrOptedOut = "OptedOut"
	// ErrUnprovisioned is a channel the organisation (or the recipient) has no means for.
	ErrUnprovisioned = "Unprovisioned"
	// ErrBadInput is an activity input that no retry can fix (an unknown organisation, a bad template variable).
	ErrBadInput = "BadInput"
	// ErrTransient is an error worth retrying: 408, 429, 5xx, a timeout, SMTP 4xx, a connection failure.
	ErrTransient = "Transient"
)

// NonRetryableErrorTypes is the list every delivery retry policy carries.
var NonRetryableErrorTypes = []string{
	ErrHTTPClient, ErrHTTPRedirect, ErrProviderPermanent, ErrSMTPPermanent, ErrInvalidRecipient, ErrUnprovisioned,
	ErrBadInput, ErrOptedOut,
}

// Retryable reports whether an error of this type is worth another attempt.
func Retryable(errType string) bool {
	for _, t := range NonRetryableErrorTypes {
		if t == errType {
			return false
		}
	}
	return true
}

// LoadOrgInput asks for an organisation's policy.
type LoadOrgInput struct {
	Org string `json:"org"`
}

// OrgPolicy is what an appointment captures about its organisation at scheduling: the config the worker runs with,
// and the live settings at that moment.
type OrgPolicy struct {
	Known                bool            `json:"known"`
	Platform             appt.Platform   `json:"platform,omitempty"`
	Email                bool            `json:"email"`
	SMS                  bool            `json:"sms"`
	Webhooks             int             `json:"webhooks"`
	ReminderOffsets      []time.Duration `json:"reminderOffsets,omitempty"`
	RoomOffset           time.Duration   `json:"roomOffset,omitempty"`
	ReminderSpread       time.Duration   `json:"reminderSpread,omitempty"`
	MaxAttempts          int             `json:"maxAttempts,omitempty"`
	Expiry               time.Duration   `json:"expiry,omitempty"`
	NotificationsEnabled bool            `json:"notificationsEnabled"` // the live global flag
	// RemoteDelivery makes the workflow send each fan-out as a regular activity instead of a local one. It is the
	// worker's choice (Activities.RemoteDelivery), captured at scheduling so that replays stay deterministic.
	RemoteDelivery bool `json:"remoteDelivery,omitempty"`
	AutoActivate   bool `json:"autoActivate"` // the live auto-activate flag
	// ReceiptWait is how long the finished appointment waits for the receipts of its last SMS (0: no wait).
	// Histories recorded before receipts existed carry none, and so never wait.
	ReceiptWait time.Duration `json:"receiptWait,omitempty"`
	// NotifyAgents is the organisation's notify_agents at scheduling: agents get CREATE, RESCHEDULE, CANCELLED and
	// REMINDER. Histories recorded before it existed carry none, and so never notify agents.
	NotifyAgents bool `json:"notifyAgents,omitempty"`
}

// AppointmentView is the appointment as a message shows it. JoinURL is set only when the message may carry it.
type AppointmentView struct {
	ID       string            `json:"appointmentId"`
	Org      string            `json:"org"`
	State    appt.State        `json:"state"`
	Start    time.Time         `json:"start"`
	End      time.Time         `json:"end"`
	Metadata map[string]string `json:"metadata"`
	JoinURL  string            `json:"joinUrl,omitempty"`
}

// Message is one event: a notification (Type is a notification type) or a lifecycle event (Type is
// appt.LifecycleEvent). It is delivered to one or more targets.
type Message struct {
	EventID     string                `json:"eventId"` // the webhook-id, the same for every subscriber and retry
	Event       string                `json:"event"`   // the webhook event type
	Type        appt.NotificationType `json:"type"`
	Offset      time.Duration         `json:"offset,omitempty"`
	Appointment AppointmentView       `json:"appointment"`
	Recipients  []appt.Participant    `json:"recipients,omitempty"` // the customers a notification addresses
	// ParticipantID names the participant of an appointment.participant_joined, participant.added or
	// participant.removed event.
	ParticipantID string    `json:"participantId,omitempty"`
	Timestamp     time.Time `json:"timestamp"`
	// Sequence is the RFC 5545 SEQUENCE of the calendar invite a CREATE, RESCHEDULE or CANCELLED email carries:
	// the reschedule generation, plus one for CANCELLED, so every change supersedes the invite before it.
	Sequence int `json:"sequence,omitempty"`
	// Test marks a test send's message (docs/rules.md#test-sends): its webhook body carries "test": true. The
	// workflows never set it.
	Test bool `json:"test,omitempty"`
}

// IsNotification reports whether the message is flag-gated (docs/rules.md#flags): lifecycle events always go out.
func (m *Message) IsNotification() bool {
	return m.Type != appt.LifecycleEvent && m.Type != appt.RefusedSignal
}

// Target is one delivery of a message: one channel to one recipient.
type Target struct {
	Message        int          `json:"message"` // index into DeliverInput.Messages
	Channel        appt.Channel `json:"channel"`
	Recipient      string       `json:"recipient"`  // participant ID, or appt.SubscriberRecipient(Subscriber)
	Subscriber     int          `json:"subscriber"` // webhook subscriber index
	NotificationID string       `json:"notificationId"`
}

// DeliverInput is one fan-out: every target of one or more messages, each attempted once.
type DeliverInput struct {
	AppointmentID string    `json:"appointmentId"`
	Org           string    `json:"org"`
	Messages      []Message `json:"messages"`
	Targets       []Target  `json:"targets"`
	// Decided lists the targets of the same messages that the workflow decided without a send (missed, disabled by
	// the captured flag, unprovisioned). Deliver sends none of them; it copies them into DeliverResult.Decided so
	// that the recorded result, which operators read in the Web UI, names every target of the notification.
	Decided []Outcome `json:"decided,omitempty"`
}

// Outcome is what one target's attempt came to. Channel, Recipient and Event name the target (a participant ID or
// subscriber-<n>, never an address), so that a recorded result reads on its own.
type Outcome struct {
	Channel   appt.Channel        `json:"channel,omitempty"`
	Recipient string              `json:"recipient,omitempty"`
	Event     string              `json:"event,omitempty"` // the webhook event type: notification.create, appointment.scheduled, ...
	Status    appt.DeliveryStatus `json:"status"`          // sent, failed, suppressed, skipped_disabled or skipped_unprovisioned
	// Suppression is the reason of a suppressed outcome.
	Suppression appt.SuppressionReason `json:"suppression,omitempty"`
	ErrorType   string                 `json:"errorType,omitempty"`
	Error       string                 `json:"error,omitempty"`
	RetryAfter  time.Duration          `json:"retryAfter,omitempty"`
	ProviderID  string                 `json:"providerId,omitempty"`
}

// DeliverResult holds one outcome per target, in the order of DeliverInput.Targets, then the targets the workflow
// decided without a send (DeliverInput.Decided), unchanged.
type DeliverResult struct {
	Outcomes []Outcome `json:"outcomes"`
	Decided  []Outcome `json:"decided,omitempty"`
}

// DeliverOneInput is a retry of one target, under Temporal's retry policy.
type DeliverOneInput struct {
	AppointmentID string  `json:"appointmentId"`
	Org           string  `json:"org"`
	Message       Message `json:"message"`
	Target        Target  `json:"target"`
}

// DeliverOneResult is a retried target that ended without an error: sent, suppressed, or skipped.
type DeliverOneResult struct {
	Status      appt.DeliveryStatus    `json:"status"`
	Suppression appt.SuppressionReason `json:"suppression,omitempty"` // the reason of a suppressed retry
	ProviderID  string                 `json:"providerId,omitempty"`
	Attempt     int32                  `json:"attempt"` // attempts that reached a provider
}

// FailureDetails ride on every failed DeliverOne attempt as the application error's details, so the workflow can
// log how many attempts were made.
type FailureDetails struct {
	Attempt int32 `json:"attempt"`
}
