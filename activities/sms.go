package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// DefaultTwilioTimeout bounds one Twilio API call.
const DefaultTwilioTimeout = 15 * time.Second

// Twilio error codes that no retry can fix, with what each means, so the delivery log names the cause. See
// https://www.twilio.com/docs/api/errors.
var (
	// twilioRecipientCodes are answers about the 'To' number: it cannot receive this SMS.
	twilioRecipientCodes = map[int]string{
		21211: "invalid 'To' phone number",
		21265: "'To' number cannot be a short code",
		21408: "permission to send an SMS to this region has not been enabled",
		21612: "Twilio cannot route to this 'To' number",
		21614: "'To' number is not a valid mobile number",
		21635: "'To' number cannot be reached (landline)",
		30003: "unreachable destination handset",
		30004: "message blocked by the recipient or carrier",
		30005: "unknown destination handset",
		30006: "landline or unreachable carrier",
	}
	// twilioPermanentCodes are answers about the account, the sender or the message itself.
	twilioPermanentCodes = map[int]string{
		20003: "authentication failed",
		20404: "resource not found (e.g. a wrong account SID)",
		21212: "invalid 'From' number",
		21602: "message body is required",
		21603: "'From' number is required",
		21604: "'To' number is required",
		21606: "the 'From' number is not a valid, SMS-capable number of this account",
		21608: "trial account: the 'To' number is not verified",
		21617: "the body exceeds Twilio's limit of 1,600 characters",
		21659: "the 'From' number is not a Twilio number of this account",
		21660: "mismatch between the 'From' number and the account",
		30007: "filtered by the carrier as spam",
		30032: "the toll-free 'From' number is not verified",
		30034: "the 'From' number is not registered for US A2P 10DLC",
	}
)

// TwilioOptedOut is Twilio's error code for a recipient who unsubscribed (replied STOP): "Attempt to send to
// unsubscribed recipient". It is classified as ErrOptedOut.
const TwilioOptedOut = 21610

// TwilioSMS sends notification SMS through Twilio's Messages API with twilio-go. It shares one HTTP transport (and
// so its connection pool) across sends; each send gets a thin twilio-go client whose transport carries the send's
// context (twilio-go has no context support), rewrites the API host when config.Twilio.BaseURL is set, and records
// the HTTP status and Retry-After header that twilio-go does not expose.
type TwilioSMS struct {
	accountSID string
	authToken  string
	base       *url.URL // nil: Twilio itself
	transport  http.RoundTripper
	timeout    time.Duration
	templates  *templates.Set
	// statusCallback is config.Twilio.StatusCallbackURL: when set, every message asks for status callbacks to it.
	statusCallback string
}

// TwilioOption adjusts a TwilioSMS.
type TwilioOption func(*TwilioSMS)

// WithTwilioTimeout bounds each API call; the default is DefaultTwilioTimeout.
func WithTwilioTimeout(d time.Duration) TwilioOption { return func(s *TwilioSMS) { s.timeout = d } }

// WithTwilioTransport replaces the HTTP transport (tests, proxies).
func WithTwilioTransport(rt http.RoundTripper) TwilioOption {
	return func(s *TwilioSMS) { s.transport = rt }
}

// NewTwilioSMS builds the SMS sender from the twilio section of the config (credentials already resolved).
func NewTwilioSMS(cfg config.Twilio, t *templates.Set, opts ...TwilioOption) (*TwilioSMS, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" {
		return nil, errors.New("twilio: the account SID and auth token are required")
	}
	s := &TwilioSMS{
		accountSID: cfg.AccountSID,
		authToken:  cfg.AuthToken,
		transport:  pooledTransport(),
		timeout:    DefaultTwilioTimeout,
		templates:  t,

		statusCallback: cfg.StatusCallbackURL,
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, errors.New("twilio: base_url must be an absolute http or https URL")
		}
		s.base = u
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// callTransport is the per-send transport: it binds the request to the send's context, points it at the configured
// base URL, and remembers what twilio-go throws away.
type callTransport struct {
	ctx  context.Context
	base *url.URL
	next http.RoundTripper

	mu         sync.Mutex
	status     int
	retryAfter string
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(t.ctx)
	if t.base != nil {
		req.URL.Scheme = t.base.Scheme
		req.URL.Host = t.base.Host
		req.URL.Path = strings.TrimSuffix(t.base.Path, "/") + req.URL.Path
		req.Host = ""
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.mu.Lock()
		t.status, t.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
		t.mu.Unlock()
	}
	return resp, err
}

// service returns a twilio-go API client for one call bound to ctx, and its transport, which records the HTTP
// status and Retry-After of the answer.
func (s *TwilioSMS) service(ctx context.Context) (*twapi.ApiService, *callTransport) {
	tr := &callTransport{ctx: ctx, base: s.base, next: s.transport}
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(s.accountSID, s.authToken),
		HTTPClient: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(s.accountSID)
	return twapi.NewApiServiceWithClient(c), tr
}

// BuildSMS checks and renders the SMS of a notification to one participant with the templates of set: every step
// of SendSMS before it calls Twilio. Its errors are *DeliveryError: ErrUnprovisioned (no phone),
// ErrInvalidRecipient (not E.164), ErrBadInput (a lifecycle event, a template that fails to render, a body over
// Twilio's limit: CheckSMSLength).
func BuildSMS(set *templates.Set, org *config.Org, msg *Message, to appt.Participant) (string, error) {
	if to.Phone == "" {
		return "", Permanent(ErrUnprovisioned, "participant %s has no phone number", to.ID)
	}
	if err := appt.ValidatePhone("phone", to.Phone); err != nil {
		return "", Permanent(ErrInvalidRecipient, "participant %s: the phone number is not valid E.164", to.ID)
	}
	if !msg.IsNotification() {
		return "", Permanent(ErrBadInput, "%s is not a notification", msg.Event)
	}
	body, err := set.SMS(org.ID, templateInput(msg, to))
	if err != nil {
		return "", Permanent(ErrBadInput, "rendering the SMS: %v", err)
	}
	if err := CheckSMSLength(body, msg.Appointment.JoinURL, to.Name); err != nil {
		return "", err
	}
	return body, nil
}

// SendSMS sends one notification SMS and returns Twilio's message SID: the body of BuildSMS, sent with SendBody,
// with status callbacks for the appointment when the config asks for them.
func (s *TwilioSMS) SendSMS(ctx context.Context, org *config.Org, msg *Message, to appt.Participant, notificationID string) (string, error) {
	body, err := BuildSMS(s.templates, org, msg, to)
	if err != nil {
		return "", err
	}
	return s.SendBody(ctx, org, to.Phone, body, msg.Appointment.ID)
}

// SendBody sends a built SMS from the organisation's sms_from to an E.164 number and returns Twilio's message SID.
// With appointmentID and a configured twilio.status_callback_url, Twilio sends the message's receipts to
// StatusCallbackURL; with appointmentID empty (a test send), it sends none.
func (s *TwilioSMS) SendBody(ctx context.Context, org *config.Org, phone, body, appointmentID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	svc, tr := s.service(ctx)
	params := (&twapi.CreateMessageParams{}).SetTo(phone).SetFrom(org.SMSFrom).SetBody(body)
	if s.statusCallback != "" && appointmentID != "" {
		params.SetStatusCallback(StatusCallbackURL(s.statusCallback, appointmentID))
	}
	res, err := svc.CreateMessage(params)

	tr.mu.Lock()
	status, retryAfter := tr.status, tr.retryAfter
	tr.mu.Unlock()
	if err != nil {
		return "", twilioError(ctx, err, status, retryAfter)
	}
	if status >= 300 && status < 400 {
		return "", Permanent(ErrHTTPRedirect, "Twilio answered HTTP %d; redirects are not followed", status)
	}
	if res == nil || res.Sid == nil || *res.Sid == "" {
		return "", Transient(0, "Twilio answered HTTP %d without a message SID", status)
	}
	return *res.Sid, nil
}

// CheckSMSLength refuses an SMS body longer than Twilio accepts (appt.MaxSMSLen characters, counted as Unicode
// code points) before it is sent, with a permanent error that names the cause: the length, the limit, and how much
// of it the join link and the name take. The starter and the api package refuse such an appointment at scheduling
// already; this catches what changed since (a reschedule's date, a new template).
func CheckSMSLength(body, joinURL, name string) *DeliveryError {
	n := utf8.RuneCountInString(body)
	if n <= appt.MaxSMSLen {
		return nil
	}
	cause := ""
	if joinURL != "" && strings.Contains(body, joinURL) {
		cause = fmt.Sprintf("; the join link (join-url) is %d of them", utf8.RuneCountInString(joinURL))
	}
	if name != "" && strings.Contains(body, name) {
		cause += fmt.Sprintf("; the participant's name is %d", utf8.RuneCountInString(name))
	}
	return Permanent(ErrBadInput, "the SMS body is %d characters, over Twilio's limit of %d (error 21617)%s",
		n, appt.MaxSMSLen, cause)
}

// StatusCallbackURL is the StatusCallback of an appointment's SMS: the configured public URL of the callback
// listener with ?appointmentId=<id>, which tells the listener which workflow to signal. Twilio signs the callback
// over exactly this URL.
func StatusCallbackURL(base, appointmentID string) string {
	return base + "?" + url.Values{"appointmentId": {appointmentID}}.Encode()
}

// twilioError classifies a failed Twilio call. Twilio's own message is left out: it often quotes the phone number.
func twilioError(ctx context.Context, err error, status int, retryAfter string) (de *DeliveryError) {
	var te *twclient.TwilioRestError
	if errors.As(err, &te) {
		defer func() { de.Code = strconv.Itoa(te.Code) }()
		if te.Status != 0 {
			status = te.Status
		}
		detail := fmt.Sprintf("Twilio HTTP %d, error %d (https://www.twilio.com/docs/errors/%d)", status, te.Code, te.Code)
		if te.Code == TwilioOptedOut {
			return Permanent(ErrOptedOut, "%s: the recipient opted out of SMS (replied STOP)", detail)
		}
		if why, ok := twilioRecipientCodes[te.Code]; ok {
			return Permanent(ErrInvalidRecipient, "%s: %s", detail, why)
		}
		if why, ok := twilioPermanentCodes[te.Code]; ok {
			return Permanent(ErrProviderPermanent, "%s: %s", detail, why)
		}
		return httpStatusError(status, retryAfter, time.Now(), detail)
	}
	if ctx.Err() != nil {
		return Transient(0, "Twilio request timed out")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Transient(0, "Twilio request timed out")
	}
	if status != 0 {
		// An error answer whose body is not Twilio's JSON (a proxy's 502 page, say).
		return httpStatusError(status, retryAfter, time.Now(), fmt.Sprintf("Twilio HTTP %d", status))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return Transient(0, "Twilio request failed: %v", ue.Err) // the URL holds the account SID: leave it out
	}
	return Transient(0, "Twilio request failed: %s", redact(err.Error()))
}

// MaxRetryAfter caps a provider's Retry-After, so a bogus header cannot park a delivery for days.
const MaxRetryAfter = time.Hour

// httpStatusError classifies an HTTP error status the same way for Twilio and for webhooks: 408, 429 and 5xx are
// worth a retry (after Retry-After, if given), 3xx and every other 4xx are not.
func httpStatusError(status int, retryAfter string, now time.Time, detail string) (de *DeliveryError) {
	defer func() { de.Code = replyClass(status) }()
	switch {
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return Transient(parseRetryAfter(retryAfter, now), "%s", detail)
	case status >= 300 && status < 400:
		return Permanent(ErrHTTPRedirect, "%s; redirects are not followed", detail)
	case status >= 400:
		return Permanent(ErrHTTPClient, "%s", detail)
	}
	return Transient(0, "%s", detail)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date. It returns 0 when there is none or it is
// unreadable, and caps the delay at MaxRetryAfter.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var d time.Duration
	if n, err := parseSeconds(h); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	if d > MaxRetryAfter {
		return MaxRetryAfter
	}
	return d
}

func parseSeconds(s string) (int64, error) {
	var n int64
	if s == "" || len(s) > 10 {
		return 0, errors.New("not delay-seconds")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, errors.New("not delay-seconds")
		}
		n = n*10 + int64(r-'0')
	}
	return n, nil
}
