package appt

import (
	"encoding/json"
	"strings"
	"time"
)

// NotificationType is what a notification is about (docs/rules.md#notifications-and-windows). Types are upper case.
type NotificationType string

// The notification types.
const (
	Create     NotificationType = "CREATE"
	Reschedule NotificationType = "RESCHEDULE"
	Cancelled  NotificationType = "CANCELLED"
	Reminder   NotificationType = "REMINDER"
	Room       NotificationType = "ROOM"
	FollowUp   NotificationType = "FOLLOW_UP"
)

// Delivery-log entries that are not notifications use these types.
const (
	// LifecycleEvent marks the delivery of an appointment.* webhook event.
	LifecycleEvent NotificationType = "EVENT"
	// RefusedSignal marks a signal or update that was refused; its Signal field names it.
	RefusedSignal NotificationType = "SIGNAL"
)

// NotificationTypes lists every notification type, in lifecycle order.
var NotificationTypes = []NotificationType{Create, Reschedule, Cancelled, Reminder, Room, FollowUp}

// WebhookEvent is the webhook event type of a notification: notification.create, notification.follow_up, ...
func (t NotificationType) WebhookEvent() string { return "notification." + strings.ToLower(string(t)) }

// Channel is how a delivery goes out.
type Channel string

// The channels.
const (
	Email   Channel = "email"
	SMS     Channel = "sms"
	Webhook Channel = "webhook"
)

// DeliveryStatus is the outcome of one delivery, as the delivery log records it.
type DeliveryStatus string

// The delivery statuses (docs/rules.md#delivery-and-retries).
const (
	Sent                 DeliveryStatus = "sent"
	Failed               DeliveryStatus = "failed"
	SkippedMissed        DeliveryStatus = "skipped_missed"
	SkippedDisabled      DeliveryStatus = "skipped_disabled"
	SkippedUnprovisioned DeliveryStatus = "skipped_unprovisioned"
	Refused              DeliveryStatus = "refused"
)

// Role of a participant. Only customers are notified.
type Role string

// The roles.
const (
	Customer Role = "customer"
	Agent    Role = "agent"
)

// State of an appointment.
type State string

// The appointment states (docs/rules.md#the-status-document).
const (
	Scheduled   State = "scheduled"
	Active      State = "active"
	InCall      State = "in_call"
	Ended       State = "ended"
	CancelledSt State = "cancelled"
	Expired     State = "expired"
	Rejected    State = "rejected"
)

// Terminal reports whether no further notification is planned in this state.
func (s State) Terminal() bool {
	return s == Ended || s == CancelledSt || s == Expired || s == Rejected
}

// Platform is the contact-centre platform an organisation runs on.
type Platform string

// The platforms (docs/rules.md#channels-and-platforms).
const (
	Genesys  Platform = "genesys"
	Talkdesk Platform = "talkdesk"
)

// Lifecycle webhook events (docs/rules.md#webhook-payload). They are not notifications: they always go out.
const (
	EventScheduled         = "appointment.scheduled"
	EventRescheduled       = "appointment.rescheduled"
	EventCancelled         = "appointment.cancelled"
	EventActivated         = "appointment.activated"
	EventCallStarted       = "appointment.call_started"
	EventParticipantJoined = "appointment.participant_joined"
	EventCallEnded         = "appointment.call_ended"
	EventUpdated           = "appointment.updated"
	EventExpired           = "appointment.expired"
)

// Participant of an appointment. Email and phone are PII: they travel in workflow inputs and webhook payloads,
// never in logs or in the delivery log.
type Participant struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
	TZ     string `json:"tz,omitempty"`
	Locale string `json:"locale,omitempty"`
	Role   Role   `json:"role,omitempty"`
}

// IsCustomer reports whether the participant gets notifications (an empty role means customer).
func (p Participant) IsCustomer() bool { return p.Role == "" || p.Role == Customer }

// ScheduleRequest is the input of the appointment workflow.
type ScheduleRequest struct {
	AppointmentID string            `json:"appointmentId"`
	Org           string            `json:"org"`
	Start         time.Time         `json:"start"`
	End           time.Time         `json:"end"`
	Participants  []Participant     `json:"participants"`
	JoinURL       string            `json:"joinUrl,omitempty"`
	Notifications bool              `json:"notifications"` // the request flag; the captured flag ANDs the global one
	Metadata      map[string]string `json:"metadata,omitempty"`

	// Resume is set only by the workflow itself when it continues as new: its carried state, opaque to callers.
	Resume json.RawMessage `json:"resume,omitempty"`
}

// RescheduleSignal moves the appointment. End is optional; without it the duration is kept.
type RescheduleSignal struct {
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end,omitempty"`
}

// CancelSignal cancels the appointment.
type CancelSignal struct {
	Reason string `json:"reason,omitempty"`
}

// ActivateSignal activates the appointment, making its join link available.
type ActivateSignal struct{}

// CallStartedSignal says the video call started.
type CallStartedSignal struct{}

// ParticipantJoinedSignal says a participant joined the call.
type ParticipantJoinedSignal struct {
	ParticipantID string `json:"participantId"`
}

// CallEndedSignal says the video call ended.
type CallEndedSignal struct{}

// UpdateMetadataSignal replaces metadata keys; an empty value removes the key.
type UpdateMetadataSignal struct {
	Metadata map[string]string `json:"metadata"`
}

// RetrySignal asks for a manual retry of the most recent failed delivery.
type RetrySignal struct {
	EntryID string `json:"entryId"`
}

// SMSStatusSignal is one Twilio status callback for an SMS the workflow sent: the message SID (the entry's
// provider ID), Twilio's MessageStatus (queued, sending, sent, delivered, undelivered, failed, ...), its ErrorCode
// (0 when none; 30003 unreachable handset, 30005 unknown handset, 30006 landline, 30007 carrier filter, 21610
// opted out, ...) and when the listener received it.
type SMSStatusSignal struct {
	MessageSID string    `json:"messageSid"`
	Status     string    `json:"status"`
	ErrorCode  int       `json:"errorCode,omitempty"`
	At         time.Time `json:"at"`
}

// Twilio message statuses a receipt can carry. Delivered, undelivered and failed are final: no later callback
// changes them.
const (
	ReceiptQueued      = "queued"
	ReceiptSending     = "sending"
	ReceiptSent        = "sent"
	ReceiptDelivered   = "delivered"
	ReceiptUndelivered = "undelivered"
	ReceiptFailed      = "failed"
)

// ReceiptRank orders Twilio's message statuses by how far the message got: accepted/scheduled/queued 1, sending
// 2, sent 3, delivered/undelivered/failed 4 (final), read 5 (after delivered, WhatsApp only). An unknown status
// is 0 and is never recorded.
func ReceiptRank(status string) int {
	switch status {
	case "accepted", "scheduled", ReceiptQueued:
		return 1
	case ReceiptSending:
		return 2
	case ReceiptSent:
		return 3
	case ReceiptDelivered, ReceiptUndelivered, ReceiptFailed:
		return 4
	case "read":
		return 5
	}
	return 0
}

// ReceiptFinal reports whether a receipt status is final: delivered, undelivered or failed (or read, which
// follows delivered).
func ReceiptFinal(status string) bool { return ReceiptRank(status) >= 4 }

// DeliveryEntry is one line of the delivery log (docs/rules.md#delivery-and-retries). The recipient is a participant ID or a webhook
// subscriber index, never an address.
type DeliveryEntry struct {
	ID             string           `json:"id"`
	NotificationID string           `json:"notificationId,omitempty"`
	EventID        string           `json:"eventId,omitempty"` // the webhook-id of the message this entry delivers
	Type           NotificationType `json:"type"`
	Event          string           `json:"event,omitempty"`  // webhook event type, for webhook entries
	Signal         string           `json:"signal,omitempty"` // the refused signal, for refused entries
	Offset         string           `json:"offset,omitempty"` // REMINDER and ROOM
	Channel        Channel          `json:"channel,omitempty"`
	Recipient      string           `json:"recipient,omitempty"`
	Status         DeliveryStatus   `json:"status"`
	Attempts       int              `json:"attempts"`
	Error          string           `json:"error,omitempty"`
	ProviderID     string           `json:"providerId,omitempty"`
	Generation     int              `json:"generation"`
	Due            *time.Time       `json:"due,omitempty"`
	// ParticipantID names the participant an entry is about: on the entries of a participant change (the CREATE to
	// an added participant, the CANCELLED to a removed one, and their participant.* events;
	// docs/rules.md#participants) and of appointment.participant_joined.
	ParticipantID string    `json:"participantId,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	At            time.Time `json:"at"`

	// ErrorType is the application error type of a failed delivery (OptedOut, InvalidRecipient, Transient, ...:
	// the activities package's Err* types), so a rule can depend on the kind of failure without parsing Error.
	ErrorType string `json:"errorType,omitempty"`
	// Receipt is the newest Twilio status callback for an SMS entry (delivered, undelivered, failed, or an
	// intermediate status such as sent); ReceiptError is its Twilio error code (0: none) and ReceiptAt when the
	// worker received it. Empty until a callback arrives; a final receipt is never replaced.
	Receipt      string     `json:"receipt,omitempty"`
	ReceiptError int        `json:"receiptError,omitempty"`
	ReceiptAt    *time.Time `json:"receiptAt,omitempty"`
	// Suppression is the reason of a suppressed entry: the suppression list's reason for the address
	// (sms_stop, hard_bounce, complaint, manual).
	Suppression SuppressionReason `json:"suppression,omitempty"`
}

// ParticipantStatus is a participant as the status document shows it.
type ParticipantStatus struct {
	ID     string `json:"id"`
	Role   Role   `json:"role"`
	Joined bool   `json:"joined"`
}

// PendingNotification is a planned notification that has not fired yet.
type PendingNotification struct {
	Type   NotificationType `json:"type"`
	Due    time.Time        `json:"due"`
	Offset string           `json:"offset,omitempty"`
}

// Status is the document the status query returns (docs/rules.md#the-status-document).
type Status struct {
	AppointmentID        string                `json:"appointmentId"`
	Org                  string                `json:"org"`
	State                State                 `json:"state"`
	Reason               string                `json:"reason,omitempty"`
	Start                time.Time             `json:"start"`
	End                  time.Time             `json:"end"`
	NotificationsEnabled bool                  `json:"notificationsEnabled"`
	AutoActivate         bool                  `json:"autoActivate"`
	Participants         []ParticipantStatus   `json:"participants"`
	Pending              []PendingNotification `json:"pending"`
	Deliveries           []DeliveryEntry       `json:"deliveries"`
	// ExpiresAt is when an open appointment ends if no call-ended arrives (end + the organisation's expiry).
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Retries are the automatic and manual retries under way, with the time of the next attempt when it waits
	// for its backoff.
	Retries []PendingRetry `json:"retries,omitempty"`
	// OpenForRetryUntil is, for an appointment that is over but whose last failed delivery can still be retried
	// by hand, when its workflow completes.
	OpenForRetryUntil *time.Time `json:"openForRetryUntil,omitempty"`
}

// PendingRetry is a retry under way of one delivery-log entry. Next is the time of its next attempt while it
// waits for its backoff; nil while an attempt runs.
type PendingRetry struct {
	EntryID string     `json:"entryId"`
	Next    *time.Time `json:"next,omitempty"`
}

// OrgSettings are the live settings of an organisation, held by its settings workflow.
type OrgSettings struct {
	NotificationsEnabled bool `json:"notificationsEnabled"`
	AutoActivate         bool `json:"autoActivate"`
	// OrgDocument is the organisation document written through the API (orgdoc.go); empty while the config file
	// is the organisation's only source.
	OrgDocument
}

// OrgSettingsInput starts an organisation-settings workflow.
type OrgSettingsInput struct {
	Org      string      `json:"org"`
	Settings OrgSettings `json:"settings"`
	// Changes are the latest entries of the organisation's audit trail (at most MaxOrgChanges), carried over
	// continue-as-new; the workflow's history holds them all.
	Changes []OrgChange `json:"changes,omitempty"`
}

// SetNotificationsSignal turns an organisation's global notification flag on or off.
type SetNotificationsSignal struct {
	Enabled bool `json:"enabled"`
}

// SetAutoActivateSignal asks to turn auto-activate on or off. Once on, a request to turn it off is refused
// (docs/rules.md#flags).
type SetAutoActivateSignal struct {
	Enabled bool `json:"enabled"`
}

// UpdateResult is what an update of the appointment workflow returns: the state after it, and for a retry the
// delivery-log entry as the retry left it.
type UpdateResult struct {
	State State          `json:"state"`
	Entry *DeliveryEntry `json:"entry,omitempty"`
}
