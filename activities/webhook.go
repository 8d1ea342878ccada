package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// DefaultWebhookTimeout bounds one webhook POST, connect to last byte of the answer's headers.
const DefaultWebhookTimeout = 15 * time.Second

// WebhookPayload is the JSON body of every webhook (docs/rules.md#webhook-payload).
type WebhookPayload struct {
	Type      string      `json:"type"`      // notification.reminder, appointment.cancelled, ...
	ID        string      `json:"id"`        // the event ID, also the webhook-id header
	Timestamp string      `json:"timestamp"` // RFC 3339, UTC: when the event happened
	Data      WebhookData `json:"data"`
	// Test is true on a test send (docs/rules.md#test-sends) and absent otherwise.
	Test bool `json:"test,omitempty"`
}

// WebhookData is the appointment a webhook is about.
type WebhookData struct {
	AppointmentID string               `json:"appointmentId"`
	Org           string               `json:"org"`
	State         appt.State           `json:"state"`
	Start         string               `json:"start"`
	End           string               `json:"end"`
	Metadata      map[string]string    `json:"metadata"`                // always an object
	ParticipantID string               `json:"participantId,omitempty"` // appointment.participant_joined, participant.added, participant.removed
	Notification  *WebhookNotification `json:"notification,omitempty"`
}

// WebhookNotification is present on notification.* events only: everything a platform that notifies customers
// itself (talkdesk) needs.
type WebhookNotification struct {
	Type       appt.NotificationType `json:"type"`
	Offset     string                `json:"offset,omitempty"`  // Go duration, REMINDER and ROOM only
	JoinURL    string                `json:"joinUrl,omitempty"` // only when the notification may carry the link
	Recipients []WebhookRecipient    `json:"recipients"`
}

// WebhookRecipient is a participant the notification addresses: a customer, or an agent when the organisation's
// notify_agents is on. Every key is always present; an empty tz means UTC and an empty locale English; role is
// customer or agent.
type WebhookRecipient struct {
	ID     string    `json:"id"`
	Name   string    `json:"name"`
	Email  string    `json:"email"`
	Phone  string    `json:"phone"`
	Locale string    `json:"locale"`
	TZ     string    `json:"tz"`
	Role   appt.Role `json:"role"`
}

// NewWebhookPayload builds the payload of a message. The same message always gives the same bytes, so every
// subscriber and every retry gets one identical, identically signed body (but for the timestamp header).
func NewWebhookPayload(msg *Message) *WebhookPayload {
	md := msg.Appointment.Metadata
	if md == nil {
		md = map[string]string{}
	}
	p := &WebhookPayload{
		Test:      msg.Test,
		Type:      msg.Event,
		ID:        msg.EventID,
		Timestamp: msg.Timestamp.UTC().Format(time.RFC3339),
		Data: WebhookData{
			AppointmentID: msg.Appointment.ID,
			Org:           msg.Appointment.Org,
			State:         msg.Appointment.State,
			Start:         msg.Appointment.Start.UTC().Format(time.RFC3339),
			End:           msg.Appointment.End.UTC().Format(time.RFC3339),
			Metadata:      md,
			ParticipantID: msg.ParticipantID,
		},
	}
	if msg.IsNotification() {
		n := &WebhookNotification{Type: msg.Type, JoinURL: msg.Appointment.JoinURL, Recipients: []WebhookRecipient{}}
		if (msg.Type == appt.Reminder || msg.Type == appt.Room) && msg.Offset > 0 {
			n.Offset = msg.Offset.String()
		}
		for _, r := range msg.Recipients {
			n.Recipients = append(n.Recipients, WebhookRecipient{
				ID: r.ID, Name: r.Name, Email: r.Email, Phone: r.Phone, Locale: r.Locale, TZ: r.TZ, Role: roleOf(r),
			})
		}
		p.Data.Notification = n
	}
	return p
}

// roleOf is a participant's role as the payload spells it: customer when the request gave none.
func roleOf(p appt.Participant) appt.Role {
	if p.IsCustomer() {
		return appt.Customer
	}
	return p.Role
}

// WebhookClient posts signed webhooks (Standard Webhooks) to an organisation's subscribers. It keeps two HTTP
// clients: one whose dialer refuses loopback, private, link-local, multicast and other non-public addresses after
// DNS resolution (the default), and one without that guard for organisations with allow_private_webhook_addresses.
// Neither follows redirects or uses a proxy from the environment (a proxy would dial for us, past the guard).
type WebhookClient struct {
	public, private *http.Client
	timeout         time.Duration
	now             func() time.Time
	tokens          *tokenCache // OAuth2 access tokens (hookauth.go)
}

// WebhookOption adjusts a WebhookClient.
type WebhookOption func(*WebhookClient)

// WithWebhookTimeout bounds each POST; the default is DefaultWebhookTimeout.
func WithWebhookTimeout(d time.Duration) WebhookOption {
	return func(w *WebhookClient) { w.timeout = d }
}

// WithWebhookClock sets where webhook-timestamp comes from.
func WithWebhookClock(now func() time.Time) WebhookOption {
	return func(w *WebhookClient) { w.now = now }
}

// NewWebhookClient builds a WebhookClient.
func NewWebhookClient(opts ...WebhookOption) *WebhookClient {
	w := &WebhookClient{
		public:  newWebhookHTTPClient(false),
		private: newWebhookHTTPClient(true),
		timeout: DefaultWebhookTimeout,
		now:     time.Now,
		tokens:  newTokenCache(),
	}
	for _, o := range opts {
		o(w)
	}
	return w
}

func newWebhookHTTPClient(allowPrivate bool) *http.Client {
	t := pooledTransport()
	t.Proxy = nil
	t.DialContext = dialer(allowPrivate)
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// WebhookDraft is a signed webhook request as BuildWebhook makes it: what SendWebhook posts and what a preview
// shows.
type WebhookDraft struct {
	URL *url.URL // the subscriber's URL
	Who string   // "subscriber N (host)", for error messages: never the URL's path or query
	// Subscriber is the index of the subscriber in the organisation's webhooks: its delivery auth is applied when
	// the draft is posted (hookauth.go), never shown in a preview.
	Subscriber int
	Body       []byte      // the JSON payload (WebhookPayload)
	Header     http.Header // Content-Type, User-Agent and the Standard Webhooks webhook-id, -timestamp and -signature
}

// BuildWebhook builds and signs msg for the organisation's subscriber-th webhook at time ts: the webhook-id is
// msg.EventID, webhook-timestamp ts in Unix seconds, webhook-signature the Standard Webhooks v1 HMAC-SHA256 over
// "id.timestamp.body" with the subscriber's secret. Its errors are *DeliveryError of type ErrBadInput (no such
// subscriber, a URL that is not absolute http(s), a bad secret); they name the subscriber and the URL's host,
// never its path or query (which may hold a token).
func BuildWebhook(org *config.Org, subscriber int, msg *Message, ts time.Time) (*WebhookDraft, error) {
	if subscriber < 0 || subscriber >= len(org.Webhooks) {
		return nil, Permanent(ErrBadInput, "organisation %s has no webhook subscriber %d", org.ID, subscriber)
	}
	sub := org.Webhooks[subscriber]
	u, err := url.Parse(sub.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, Permanent(ErrBadInput, "subscriber %d: the URL is not an absolute http(s) URL", subscriber)
	}
	who := fmt.Sprintf("subscriber %d (%s)", subscriber, u.Hostname())
	if err := config.ValidateWebhookSecret("secret", sub.SecretEnv, sub.Secret); err != nil {
		return nil, Permanent(ErrBadInput, "%s: %s", who, fieldMsg(err))
	}
	signer, err := standardwebhooks.NewWebhook(sub.Secret)
	if err != nil {
		return nil, Permanent(ErrBadInput, "%s: the secret is not a whsec_ base64 secret", who)
	}
	body, err := json.Marshal(NewWebhookPayload(msg))
	if err != nil {
		return nil, Permanent(ErrBadInput, "%s: encoding the payload: %v", who, err)
	}
	sig, err := signer.Sign(msg.EventID, ts, body)
	if err != nil {
		return nil, Permanent(ErrBadInput, "%s: signing: %v", who, err)
	}
	if sig, err = signPrevious(sig, sub, msg.EventID, ts, body); err != nil {
		return nil, Permanent(ErrBadInput, "%s: %v", who, err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "apptnotify-webhooks/1")
	h.Set(standardwebhooks.HeaderWebhookID, msg.EventID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return &WebhookDraft{URL: u, Who: who, Subscriber: subscriber, Body: body, Header: h}, nil
}

// SendWebhook posts msg to the organisation's subscriber-th webhook: BuildWebhook at the time of this attempt,
// then PostDraft. The webhook-id is the event ID, the same for every subscriber and retry.
func (w *WebhookClient) SendWebhook(ctx context.Context, org *config.Org, subscriber int, msg *Message) error {
	d, err := BuildWebhook(org, subscriber, msg, w.now())
	if err != nil {
		return err
	}
	return w.PostDraft(ctx, org, d)
}

// PostDraft posts a built webhook, through the SSRF guard unless the organisation has
// allow_private_webhook_addresses. A 2xx answer is success; anything else a classified *DeliveryError.
func (w *WebhookClient) PostDraft(ctx context.Context, org *config.Org, d *WebhookDraft) error {
	if d.Subscriber < 0 || d.Subscriber >= len(org.Webhooks) {
		return Permanent(ErrBadInput, "organisation %s has no webhook subscriber %d", org.ID, d.Subscriber)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL.String(), bytes.NewReader(d.Body))
	if err != nil {
		return Permanent(ErrBadInput, "%s: building the request", d.Who)
	}
	for k, v := range d.Header {
		req.Header[k] = v
	}
	hc := w.public
	if org.AllowPrivateWebhookAddresses {
		hc = w.private
	}
	resp, derr := w.do(ctx, hc, org.ID, &org.Webhooks[d.Subscriber], req, d.Body, d.Who)
	if derr != nil {
		return derr
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return httpStatusError(resp.StatusCode, resp.Header.Get("Retry-After"), w.now(),
		fmt.Sprintf("%s: HTTP %d", d.Who, resp.StatusCode))
}

func webhookTransportError(ctx context.Context, who string, err error, timeout time.Duration) *DeliveryError {
	if errors.Is(err, ErrForbiddenAddress) {
		return Permanent(ErrInvalidRecipient, "%s: %s", who, describeForbidden(err))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return Transient(0, "%s: no answer within %s", who, timeout)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Transient(0, "%s: timed out", who)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return Transient(0, "%s: %s failed: %v", who, oe.Op, oe.Err)
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return Transient(0, "%s: DNS lookup failed", who)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return Transient(0, "%s: %v", who, ue.Err) // ue itself quotes the whole URL
	}
	return Transient(0, "%s: request failed", who)
}

// signPrevious adds the signature of a subscriber's previous secret while its rotation overlap lasts
// (config.SecretOverlap; the worker opens PreviousSecret only until then): webhook-signature then holds both,
// space-separated, as Standard Webhooks allows, so a receiver that knows either secret verifies the webhook.
func signPrevious(sig string, sub config.Webhook, id string, ts time.Time, body []byte) (string, error) {
	if sub.PreviousSecret == "" || sub.PreviousSecret == sub.Secret {
		return sig, nil
	}
	prev, err := standardwebhooks.NewWebhook(sub.PreviousSecret)
	if err != nil {
		return "", errors.New("the previous secret is not a whsec_ base64 secret")
	}
	old, err := prev.Sign(id, ts, body)
	if err != nil {
		return "", fmt.Errorf("signing with the previous secret: %w", err)
	}
	return sig + " " + old, nil
}
