package suppress

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // Amazon SNS SignatureVersion 1 is SHA1withRSA; version 2 is SHA256withRSA
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/receipts"
)

// The SendGrid Event Webhook's signature headers: base64 of an ECDSA P-256 signature (ASN.1 DER) over SHA-256 of
// the timestamp header followed by the raw body (Twilio SendGrid, "Getting Started with the Event Webhook Security
// Features").
const (
	SendGridSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	SendGridTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// MaxEventBody bounds a relay's event POST: SendGrid batches up to some hundreds of events.
const MaxEventBody = 4 << 20

// snsCertHost is the host an SNS SigningCertURL and SubscribeURL must have (Amazon SNS, "Verifying the signatures
// of Amazon SNS messages": the certificate comes from Amazon SNS over HTTPS).
var snsCertHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// Relays serves the email relays' event webhooks on the callback listener, under config.EventsPath:
// POST /events/sendgrid/<org> (SendGrid Event Webhook, ECDSA-signed) and POST /events/ses/<org> (Amazon SES
// notifications through an SNS HTTPS subscription, RSA-signed by SNS). Only permanent bounces (hard_bounce) and
// complaints (complaint) suppress; every other event is accepted and ignored.
type Relays struct {
	List   *List
	Logger *slog.Logger
	// HTTP fetches SNS signing certificates and confirms subscriptions; CertHostOK says which hosts may serve
	// them (default: sns.<region>.amazonaws.com over HTTPS). Tests point both at a local TLS server.
	HTTP       *http.Client
	CertHostOK func(u *url.URL) bool

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

// NewRelays returns the relays' handler over a List.
func NewRelays(l *List, logger *slog.Logger) *Relays {
	return &Relays{List: l, Logger: logger, HTTP: &http.Client{Timeout: 10 * time.Second},
		CertHostOK: func(u *url.URL) bool {
			return u.Scheme == "https" && snsCertHost.MatchString(u.Hostname()) && u.Port() == ""
		},
		certs: map[string]*x509.Certificate{}}
}

// problem is the callback listener's problem document.
var problem = receipts.WriteProblem

// ServeHTTP routes /events/sendgrid/<org> and /events/ses/<org>:
//   - 404 for another path or an unknown organisation, 405 for a method other than POST;
//   - 403 when the organisation has no key (sendgrid_verification_key, ses_topic_arns) for that relay, or the
//     signature is missing or does not verify (nothing changes);
//   - 400 naming the field when a signed body is not the relay's documented shape;
//   - 503 when the suppression list could not be changed (both relays retry);
//   - 200 otherwise.
func (rl *Relays) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, config.EventsPath)
	relay, org, ok := strings.Cut(rest, "/")
	if !ok || (relay != "sendgrid" && relay != "ses") || appt.ValidateParticipantID("org", org) != nil {
		problem(w, http.StatusNotFound, "Not Found", "event webhooks are "+config.EventsPath+"sendgrid/<org> and "+config.EventsPath+"ses/<org>", "")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		problem(w, http.StatusMethodNotAllowed, "Method Not Allowed", "events are POSTed", "")
		return
	}
	// Only a well-formed POST to a relay costs a lookup of its organisation (the listener is public).
	o, known, err := rl.List.Org(r.Context(), org)
	if err != nil {
		rl.Logger.Error("relay event not handled: the organisation cannot be read", "relay", relay, "org", org, "error", err.Error())
		problem(w, http.StatusServiceUnavailable, "Service Unavailable", "the organisation cannot be read; retry later", "")
		return
	}
	if !known {
		problem(w, http.StatusNotFound, "Not Found", "event webhooks are "+config.EventsPath+"sendgrid/<org> and "+config.EventsPath+"ses/<org>", "")
		return
	}
	if msg := charsetProblem(r.Header.Get("Content-Type")); msg != "" {
		problem(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", msg, "")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEventBody))
	if err != nil {
		problem(w, http.StatusRequestEntityTooLarge, "Content Too Large", "the body exceeds 4 MiB", "")
		return
	}
	if !utf8.Valid(body) {
		problem(w, http.StatusBadRequest, "Bad Request", "body: is not valid UTF-8", "body")
		return
	}
	var evs []event
	var field string
	if relay == "sendgrid" {
		evs, field, err = rl.sendGrid(o, r.Header, body)
	} else {
		evs, field, err = rl.ses(r.Context(), o, body)
	}
	var denied *deniedError
	var retry *retryError
	switch {
	case errors.As(err, &retry):
		rl.Logger.Error("relay event not handled", "relay", relay, "org", org, "error", err.Error())
		problem(w, http.StatusServiceUnavailable, "Service Unavailable", err.Error(), "")
		return
	case errors.As(err, &denied):
		rl.Logger.Warn("relay event refused", "relay", relay, "org", org, "reason", err.Error())
		problem(w, http.StatusForbidden, "Forbidden", err.Error(), field)
		return
	case err != nil:
		problem(w, http.StatusBadRequest, "Bad Request", err.Error(), field)
		return
	}
	skipped := 0
	for _, ev := range evs {
		_, err := rl.List.Add(r.Context(), org, appt.Email, ev.address, ev.reason, relay, ev.id, nil)
		var fe *appt.FieldError
		if errors.As(err, &fe) {
			skipped++ // an address that does not normalise is on no list: retrying would not change that
			continue
		}
		if err != nil {
			rl.Logger.Error("relay event not recorded", "relay", relay, "org", org, "error", err.Error())
			problem(w, http.StatusServiceUnavailable, "Service Unavailable", "the suppression list could not be changed; retry later", "")
			return
		}
	}
	rl.Logger.Info("relay events", "relay", relay, "org", org, "suppressing", len(evs)-skipped, "unusable_addresses", skipped)
	w.WriteHeader(http.StatusOK)
}

// charsetProblem returns why an event webhook's Content-Type is refused (415), or "" when it is accepted: a charset
// parameter other than UTF-8 (compared case-insensitively; none means UTF-8, as both relays send), or parameters that
// cannot be read and so hide the charset. The body is read as UTF-8 JSON, so another charset would be recorded
// mangled (docs/api.md#request-bodies states the same rule for the HTTP API).
func charsetProblem(contentType string) string {
	if contentType == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "the Content-Type's parameters cannot be read: events are UTF-8 JSON"
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "charset " + strconv.Quote(cs) + " is not accepted: events are UTF-8 (send charset=utf-8 or none)"
	}
	return ""
}

// event is one suppression a relay asked for.
type event struct {
	address string
	reason  appt.SuppressionReason
	id      string
}

type deniedError struct{ msg string }

// retryError is a failure worth the relay's retry (503).
type retryError struct{ msg string }

func (e *retryError) Error() string { return e.msg }

func (e *deniedError) Error() string { return e.msg }

// sendGridEvent is the part of a SendGrid Event Webhook event the list uses (Twilio SendGrid, "Event Webhook
// Reference"): event bounce with type bounce is a permanent bounce (type blocked is temporary); spamreport is a
// complaint.
type sendGridEvent struct {
	Email     string `json:"email"`
	Event     string `json:"event"`
	Type      string `json:"type"`
	SGEventID string `json:"sg_event_id"`
}

func (rl *Relays) sendGrid(o *config.Org, h http.Header, body []byte) ([]event, string, error) {
	key := o.SendGridKey()
	if key == nil {
		return nil, "", &deniedError{"the organisation has no suppression.sendgrid_verification_key"}
	}
	sig, ts := h.Get(SendGridSignatureHeader), h.Get(SendGridTimestampHeader)
	if sig == "" || ts == "" {
		return nil, SendGridSignatureHeader, &deniedError{SendGridSignatureHeader + " and " + SendGridTimestampHeader + " are required"}
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	digest := sha256.Sum256(append([]byte(ts), body...))
	if err != nil || !ecdsa.VerifyASN1(key, digest[:], der) {
		return nil, SendGridSignatureHeader, &deniedError{SendGridSignatureHeader + " does not verify"}
	}
	var in []sendGridEvent
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, "body", errors.New("body: a JSON array of SendGrid events is expected")
	}
	var out []event
	for i, e := range in {
		var r appt.SuppressionReason
		switch {
		case e.Event == "bounce" && (e.Type == "bounce" || e.Type == ""):
			r = appt.ReasonHardBounce
		case e.Event == "spamreport":
			r = appt.ReasonComplaint
		default:
			continue
		}
		if e.SGEventID == "" {
			return nil, fmt.Sprintf("[%d].sg_event_id", i), fmt.Errorf("[%d].sg_event_id is required", i)
		}
		out = append(out, event{address: e.Email, reason: r, id: "sendgrid:" + e.SGEventID})
	}
	return out, "", nil
}

// snsMessage is an Amazon SNS HTTP(S) message (Amazon SNS, "Parsing message formats").
type snsMessage struct {
	Type             string
	MessageId        string //nolint:revive // SNS's field name
	Token            string
	TopicArn         string
	Subject          *string
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
	SubscribeURL     string
}

// stringToSign builds the canonical string SNS signs: the listed fields, each name and value on its own line, in
// byte order of the names, leaving out an absent Subject.
func (m *snsMessage) stringToSign() string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageId)
	if m.Type == "Notification" {
		if m.Subject != nil {
			add("Subject", *m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != "Notification" {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

// sesNotification is the part of an Amazon SES notification the list uses (Amazon SES, "Notification contents"):
// a Bounce with bounceType Permanent, or a Complaint. Event publishing names the kind eventType.
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           struct {
		BounceType        string `json:"bounceType"`
		BouncedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint struct {
		ComplainedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
}

func (rl *Relays) ses(ctx context.Context, o *config.Org, body []byte) ([]event, string, error) {
	if len(o.Suppression.SESTopicARNs) == 0 {
		return nil, "", &deniedError{"the organisation has no suppression.ses_topic_arns"}
	}
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, "body", errors.New("body: an Amazon SNS message (JSON) is expected")
	}
	if !slices.Contains(o.Suppression.SESTopicARNs, m.TopicArn) {
		return nil, "TopicArn", &deniedError{"TopicArn is not one of the organisation's suppression.ses_topic_arns"}
	}
	if err := rl.verifySNS(ctx, &m); err != nil {
		return nil, "Signature", &deniedError{err.Error()}
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		if err := rl.confirm(ctx, m.SubscribeURL); err != nil {
			return nil, "", &retryError{err.Error()}
		}
		return nil, "", nil
	case "Notification":
	default:
		return nil, "", nil
	}
	var n sesNotification
	if err := json.Unmarshal([]byte(m.Message), &n); err != nil {
		return nil, "Message", errors.New("the Message field is not an Amazon SES notification (JSON)")
	}
	kind := n.NotificationType
	if kind == "" {
		kind = n.EventType
	}
	var out []event
	switch {
	case kind == "Bounce" && n.Bounce.BounceType == "Permanent":
		for i, r := range n.Bounce.BouncedRecipients {
			out = append(out, event{address: r.EmailAddress, reason: appt.ReasonHardBounce, id: fmt.Sprintf("ses:%s/%d", m.MessageId, i)})
		}
	case kind == "Complaint":
		for i, r := range n.Complaint.ComplainedRecipients {
			out = append(out, event{address: r.EmailAddress, reason: appt.ReasonComplaint, id: fmt.Sprintf("ses:%s/%d", m.MessageId, i)})
		}
	}
	return out, "", nil
}

// verifySNS checks an SNS message's signature with the certificate at SigningCertURL (fetched once per URL, only
// from CertHostOK hosts): SHA1withRSA for SignatureVersion 1, SHA256withRSA for 2.
func (rl *Relays) verifySNS(ctx context.Context, m *snsMessage) error {
	var h crypto.Hash
	switch m.SignatureVersion {
	case "1":
		h = crypto.SHA1
	case "2":
		h = crypto.SHA256
	default:
		return errors.New("the SignatureVersion must be 1 or 2")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 {
		return errors.New("the Signature is missing or not base64")
	}
	cert, err := rl.cert(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("the signing certificate has no RSA key")
	}
	var digest []byte
	if h == crypto.SHA1 {
		d := sha1.Sum([]byte(m.stringToSign())) //nolint:gosec // the algorithm SignatureVersion 1 names
		digest = d[:]
	} else {
		d := sha256.Sum256([]byte(m.stringToSign()))
		digest = d[:]
	}
	if err := rsa.VerifyPKCS1v15(pub, h, digest, sig); err != nil {
		return errors.New("the Signature does not verify")
	}
	return nil
}

func (rl *Relays) cert(ctx context.Context, raw string) (*x509.Certificate, error) {
	u, err := url.Parse(raw)
	if err != nil || !rl.CertHostOK(u) {
		return nil, errors.New("the SigningCertURL is not an Amazon SNS HTTPS URL")
	}
	rl.mu.Lock()
	c := rl.certs[raw]
	rl.mu.Unlock()
	if c != nil {
		return c, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	res, err := rl.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the signing certificate: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil || res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the signing certificate: status %d", res.StatusCode)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("the signing certificate is not PEM")
	}
	if c, err = x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, errors.New("the signing certificate does not parse")
	}
	rl.mu.Lock()
	rl.certs[raw] = c
	rl.mu.Unlock()
	return c, nil
}

// confirm visits a verified SubscriptionConfirmation's SubscribeURL (only on a CertHostOK host), which is how an
// SNS HTTPS subscription is confirmed.
func (rl *Relays) confirm(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !rl.CertHostOK(u) {
		return errors.New("the SubscribeURL is not an Amazon SNS HTTPS URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return err
	}
	res, err := rl.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("confirming the subscription: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("confirming the subscription: status %d", res.StatusCode)
	}
	return nil
}
