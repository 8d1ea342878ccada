package appt

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// The organisation's preview-and-test workflow (docs/rules.md#previews and #test-sends): one per organisation, it
// holds the organisation's test recipients and the record of its test sends, and runs previews and test sends on a
// worker, which alone holds the templates' secrets (webhook signing keys, SMTP and Twilio credentials).
const (
	OrgTestsWorkflowType = "OrgTestsWorkflow"

	UpdatePreview             = "preview"
	UpdateAddTestRecipient    = "add-test-recipient"
	UpdateVerifyTestRecipient = "verify-test-recipient"
	UpdateRemoveTestRecipient = "remove-test-recipient"
	UpdateTestSend            = "test-send"
	QueryTestRecipients       = "test-recipients"
	QueryTestSends            = "test-sends"

	// QueryNotificationMessage, on an appointment workflow, returns the message of a notification type as the
	// workflow would send it now (NotificationMessageQuery), without changing or recording anything.
	QueryNotificationMessage = "notification-message"
)

// The activities of previews and test sends.
const (
	ActivityPreview           = "Preview"
	ActivitySendTestCode      = "SendTestCode"
	ActivityTestSend          = "TestSend"
	ErrTestRecipientRefused   = "TestRecipientRefused"   // an update refused: unknown, unverified, bad code
	ErrTestSendRateLimited    = "TestSendRateLimited"    // the organisation's test-send rate is used up
	ErrPreviewAppointmentGone = "PreviewAppointmentGone" // the appointment to preview does not exist (any more)
	ErrTemplateInvalid        = "TemplateInvalid"        // an unsaved template that does not parse or render; details: the file
)

// Test-send rules (docs/rules.md#test-sends).
const (
	// TestSendLimit test sends per organisation in any TestSendWindow; one more is refused with the time until a
	// send leaves the window (HTTP 429, Retry-After).
	TestSendLimit  = 10
	TestSendWindow = time.Minute
	// TestCodeDigits is the length of a verification code, TestCodeTTL how long one is valid, and
	// TestCodeAttempts how many wrong codes void it (a new one must then be requested).
	TestCodeDigits   = 6
	TestCodeTTL      = 15 * time.Minute
	TestCodeAttempts = 5
	// MaxTestRecipients is how many test recipients an organisation may have.
	MaxTestRecipients = 20
	// TestSubjectPrefix marks the subject of a test email and the text of a test SMS.
	TestSubjectPrefix = "[TEST] "
	// MaxTestSendRecords is how many test sends the workflow's record keeps (the oldest go first).
	MaxTestSendRecords = 200
)

// OrgTestsWorkflowID is the ID of an organisation's preview-and-test workflow.
func OrgTestsWorkflowID(org string) string { return "org-tests:" + org }

// OrgTestsInput starts (or continues) an organisation's preview-and-test workflow.
type OrgTestsInput struct {
	Org        string           `json:"org"`
	Recipients []TestRecipient  `json:"recipients,omitempty"`
	Sends      []TestSendRecord `json:"sends,omitempty"`
	// Recent are the times of the test sends inside the rate window, oldest first.
	Recent []time.Time `json:"recent,omitempty"`
	Seq    int         `json:"seq,omitempty"` // the last test-recipient and test-send number given out
}

// PreviewSample is an appointment that does not exist, to preview a notification with.
type PreviewSample struct {
	AppointmentID string            `json:"appointmentId,omitempty"` // default "preview"
	Start         time.Time         `json:"start"`
	End           time.Time         `json:"end"`
	Participants  []Participant     `json:"participants"`
	JoinURL       string            `json:"joinUrl,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
}

// PreviewRequest asks how one notification would go out. Exactly one of AppointmentID (an existing appointment,
// read through QueryNotificationMessage) and Sample is set. Templates are templates not yet saved, named as in
// templates_dir ("de/reminder.txt"), used instead of the organisation's.
type PreviewRequest struct {
	Org           string            `json:"org"`
	Type          NotificationType  `json:"type"`
	Channel       Channel           `json:"channel,omitempty"` // only this channel; all the organisation has when empty
	Offset        time.Duration     `json:"offset,omitempty"`  // REMINDER and ROOM: which one
	AppointmentID string            `json:"appointmentId,omitempty"`
	Sample        *PreviewSample    `json:"sample,omitempty"`
	Templates     map[string]string `json:"templates,omitempty"`
	// PreviewID is the webhook-id a preview's webhook signatures are computed over, and At the time of its
	// webhook-timestamp and Date header; both are set by the workflow.
	PreviewID string    `json:"previewId,omitempty"`
	At        time.Time `json:"at,omitzero"`
}

// NotificationMessageQuery names the notification an appointment's QueryNotificationMessage builds.
type NotificationMessageQuery struct {
	Type   NotificationType `json:"type"`
	Offset time.Duration    `json:"offset,omitempty"`
}

// Header is one header field as it goes out, in order.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// EmailPreview is the email one participant would get.
type EmailPreview struct {
	Recipient string   `json:"recipient"` // the participant ID
	Subject   string   `json:"subject"`
	Text      string   `json:"text"`
	HTML      string   `json:"html"`
	Headers   []Header `json:"headers"` // the top-level header fields as composed (Date and the MIME boundary differ per send)
	// Invite is the invite.ics attachment (CREATE, RESCHEDULE and CANCELLED with calendar invites on), byte for byte.
	Invite string `json:"invite,omitempty"`
}

// SMSPreview is the SMS one participant would get.
type SMSPreview struct {
	Recipient string `json:"recipient"`
	Body      string `json:"body"`
	Encoding  string `json:"encoding"` // GSM-7 or UCS-2
	Units     int    `json:"units"`    // septets (GSM-7) or 16-bit units (UCS-2)
	Segments  int    `json:"segments"`
}

// WebhookPreview is the request one subscriber would get, signed over the preview's ID.
type WebhookPreview struct {
	Recipient string   `json:"recipient"` // subscriber-<n>
	Host      string   `json:"host"`      // the URL's host only: its path or query may hold a token
	Headers   []Header `json:"headers"`
	Body      string   `json:"body"` // the JSON body, byte for byte as signed
}

// PreviewProblem is a message that would not go out, and why (a participant without a phone, an SMS over
// Twilio's limit).
type PreviewProblem struct {
	Channel   Channel `json:"channel"`
	Recipient string  `json:"recipient"`
	ErrorType string  `json:"errorType"`
	Error     string  `json:"error"`
}

// PreviewResult is every message of one notification, per channel the organisation has.
type PreviewResult struct {
	PreviewID     string           `json:"previewId"`
	Org           string           `json:"org"`
	Type          NotificationType `json:"type"`
	AppointmentID string           `json:"appointmentId"`
	Email         []EmailPreview   `json:"email"`
	SMS           []SMSPreview     `json:"sms"`
	Webhooks      []WebhookPreview `json:"webhooks"`
	Problems      []PreviewProblem `json:"problems"`
}

// TestRecipient is an address of the organisation's own that may receive test sends once verified.
type TestRecipient struct {
	ID       string    `json:"id"`      // tr-<n>
	Channel  Channel   `json:"channel"` // email or sms
	Address  string    `json:"address"` // the email address or E.164 number
	Verified bool      `json:"verified"`
	AddedAt  time.Time `json:"addedAt"`
	// The pending code: salted SHA-256, never the code; empty once verified.
	CodeSalt     string    `json:"codeSalt,omitempty"`
	CodeHash     string    `json:"codeHash,omitempty"`
	CodeExpires  time.Time `json:"codeExpires,omitzero"`
	CodeAttempts int       `json:"codeAttempts,omitempty"`
}

// Public is the recipient without its code's hash, as the API shows it.
func (r TestRecipient) Public() TestRecipient {
	r.CodeSalt, r.CodeHash, r.CodeAttempts = "", "", 0
	return r
}

// AddTestRecipientRequest registers a test recipient; the worker sends it a verification code.
type AddTestRecipientRequest struct {
	Channel Channel `json:"channel"`
	Address string  `json:"address"`
	Actor   string  `json:"actor,omitempty"` // the API token's ID
}

// VerifyTestRecipientRequest confirms a test recipient with the code it received.
type VerifyTestRecipientRequest struct {
	ID   string `json:"id"`
	Code string `json:"code"`
}

// TestSendRequest sends one notification, built as a preview is, to one verified test recipient (email, sms), or
// to the organisation's webhook subscribers marked as a test (webhook, Recipient empty).
type TestSendRequest struct {
	Preview   PreviewRequest `json:"preview"`
	Recipient string         `json:"recipient,omitempty"` // a test recipient ID
	Actor     string         `json:"actor,omitempty"`
}

// TestSendRecord is one test send, as the organisation's record keeps it (docs/rules.md#test-sends).
type TestSendRecord struct {
	ID         string           `json:"id"` // ts-<n>
	At         time.Time        `json:"at"`
	Actor      string           `json:"actor,omitempty"`
	Type       NotificationType `json:"type"`
	Channel    Channel          `json:"channel"`
	Recipient  string           `json:"recipient"` // a test recipient ID, or subscriber-<n>
	Status     DeliveryStatus   `json:"status"`    // sent or failed
	ProviderID string           `json:"providerId,omitempty"`
	ErrorType  string           `json:"errorType,omitempty"`
	Error      string           `json:"error,omitempty"`
}

// RateLimitDetails ride on a test send refused for its rate: how long until a send leaves the window.
type RateLimitDetails struct {
	RetryAfter time.Duration `json:"retryAfter"`
}

// TestSendJob is what the TestSend activity takes: the request and the recipient it was checked against.
type TestSendJob struct {
	SendID    string         `json:"sendId"`
	Org       string         `json:"org"`
	Preview   PreviewRequest `json:"preview"`
	Recipient *TestRecipient `json:"recipient,omitempty"`
	Channel   Channel        `json:"channel"`
}

// TestSendResult is one test-send outcome per target (one for email and SMS, one per subscriber for webhooks).
type TestSendResult struct {
	Records []TestSendRecord `json:"records"`
}

// SendTestCodeInput asks the worker to send a verification code; SendTestCodeResult is its salted hash.
type SendTestCodeInput struct {
	Org     string  `json:"org"`
	Channel Channel `json:"channel"`
	Address string  `json:"address"`
}

// SendTestCodeResult is the salted SHA-256 (hex) of the code that was sent; never the code.
type SendTestCodeResult struct {
	Salt string `json:"salt"`
	Hash string `json:"hash"`
}

// TestCodeHash is the stored form of a verification code: the hex SHA-256 of the salt (hex) and the code.
func TestCodeHash(salt, code string) string {
	sum := sha256.Sum256([]byte(salt + ":" + code))
	return hex.EncodeToString(sum[:])
}
