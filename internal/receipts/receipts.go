// Package receipts is the worker's Twilio status-callback listener: it verifies each callback's X-Twilio-Signature
// and turns it into the sms-status signal of the appointment named in the callback URL, so the delivery log shows
// whether an SMS was delivered (docs/calendar-and-receipts.md).
//
// The listener faces the internet, so it serves exactly one route, POST /twilio/status, and changes nothing
// unless the signature is valid.
package receipts

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	"go.temporal.io/api/serviceerror"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// SignatureHeader is the header Twilio signs its callbacks with: base64 of HMAC-SHA1, keyed with the account's
// auth token, over the full callback URL followed by every POST parameter name and value, sorted by name.
const SignatureHeader = "X-Twilio-Signature"

// MaxBody bounds a callback's body. Twilio's status callbacks are well under 2 KiB.
const MaxBody = 64 << 10

// signalTimeout bounds the signal to the workflow.
const signalTimeout = 10 * time.Second

// Signaller signals a workflow; a Temporal client.Client is one.
type Signaller interface {
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
}

// Handler serves POST /twilio/status.
type Handler struct {
	publicURL string
	validator twclient.RequestValidator
	signal    Signaller
	logger    *slog.Logger
	now       func() time.Time
	spool     *Spool

	optOuts    OptOuts // SetOptOuts: the inbound route and 21610 callbacks
	inboundURL string
	routes     []route // Handle: further routes (the email relays' event webhooks)
}

type route struct {
	prefix string
	h      http.Handler
}

// Handle serves every path that starts with prefix with hh (the email relays' event webhooks, which authenticate
// on their own). Call it before serving.
func (h *Handler) Handle(prefix string, hh http.Handler) {
	h.routes = append(h.routes, route{prefix, hh})
}

// SetSpool makes the handler keep the receipts it cannot hand to Temporal in sp and answer 200 for them, instead of
// 503 (which Twilio never retries); sp.Forward delivers them later. Call it before serving.
func (h *Handler) SetSpool(sp *Spool) { h.spool = sp }

// NewHandler returns the callback handler. publicURL is twilio.status_callback_url, the URL as Twilio calls it:
// signatures are checked against it plus the request's query string, never against the listener's local
// address. authToken must not be empty: an HMAC check with an empty key would accept forgeries.
func NewHandler(publicURL, authToken string, s Signaller, logger *slog.Logger) (*Handler, error) {
	if authToken == "" {
		return nil, errors.New("twilio.auth_token_env: the callback listener needs the Twilio auth token to verify signatures")
	}
	if publicURL == "" {
		return nil, errors.New("twilio.status_callback_url: the callback listener needs the public URL Twilio calls")
	}
	return &Handler{publicURL: publicURL, validator: twclient.NewRequestValidator(authToken), signal: s,
		logger: logger, now: time.Now}, nil
}

// WriteProblem writes an RFC 9457 problem document (type about:blank), with the failing field when there is one:
// the answer of every route of the callback listener.
func WriteProblem(w http.ResponseWriter, status int, title, detail, field string) {
	problem(w, status, title, detail, field)
}

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, title, detail, field string) {
	doc := map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail}
	if field != "" {
		doc["field"] = field
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(doc)
}

// ServeHTTP verifies and records one status callback.
//   - 404 for any other path, 405 for any other method;
//   - 403 when X-Twilio-Signature is absent or does not match (nothing is signalled);
//   - 415 when a signed callback's Content-Type is not application/x-www-form-urlencoded, or names a charset
//     other than UTF-8 (no Content-Type, or no charset, means UTF-8 form encoding, as Twilio sends);
//   - 400 when a signed callback's form, a parameter name or value once percent-decoded, is not valid UTF-8
//     (appt.ValidateUTF8, the rule every input surface applies; the problem names the parameter, or "body" when a
//     name is not UTF-8), or it lacks appointmentId, MessageSid or MessageStatus, or has a bad ErrorCode;
//   - 200 when the receipt was handed to the workflow, and also when no running workflow has that ID (it is
//     closed, or never existed), so Twilio does not retry it; that case is logged;
//   - with a spool (SetSpool), 200 when Temporal cannot be reached and the receipt is on disk in the spool; a
//     receipt that arrives while the spool holds others goes straight to it, behind them, without trying Temporal,
//     unless the spool is full: then it is signalled as without a spool;
//   - 503 when Temporal cannot be reached and there is no spool, or it is full or cannot be written.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == config.InboundPath && h.optOuts != nil {
		h.serveInbound(w, r)
		return
	}
	for _, rt := range h.routes {
		if strings.HasPrefix(r.URL.Path, rt.prefix) {
			rt.h.ServeHTTP(w, r)
			return
		}
	}
	if r.URL.Path != config.StatusCallbackPath {
		problem(w, http.StatusNotFound, "Not Found", "this listener serves only POST "+config.StatusCallbackPath, "")
		return
	}
	form, ok := h.verified(w, r, h.publicURL, "status callback")
	if !ok {
		return
	}
	var err error
	id := r.URL.Query().Get("appointmentId")
	if err := appt.ValidateAppointmentID(id); err != nil {
		problem(w, http.StatusBadRequest, "Bad Request", "the callback URL has no valid appointmentId", "appointmentId")
		return
	}
	in := appt.SMSStatusSignal{MessageSID: form.Get("MessageSid"), Status: form.Get("MessageStatus"), At: h.now().UTC()}
	if in.MessageSID == "" {
		problem(w, http.StatusBadRequest, "Bad Request", "MessageSid is required", "MessageSid")
		return
	}
	if in.Status == "" {
		problem(w, http.StatusBadRequest, "Bad Request", "MessageStatus is required", "MessageStatus")
		return
	}
	if c := form.Get("ErrorCode"); c != "" {
		if in.ErrorCode, err = strconv.Atoi(c); err != nil || in.ErrorCode < 0 {
			problem(w, http.StatusBadRequest, "Bad Request", "ErrorCode is not a Twilio error code", "ErrorCode")
			return
		}
	}
	h.optOutFromCallback(r.Context(), form, in)
	if h.spool != nil && h.spool.Len() > 0 {
		err := h.spool.Add(id, in)
		if !errors.Is(err, ErrSpoolFull) {
			h.spooled(w, id, in, nil, err)
			return
		}
		// Full, yet Temporal may be back (the forwarder has not made room yet): try it rather than lose the
		// receipt with a 503.
	}
	ctx, cancel := context.WithTimeout(r.Context(), signalTimeout)
	defer cancel()
	err = h.signal.SignalWorkflow(ctx, appt.WorkflowID(id), "", appt.SignalSMSStatus, in)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		h.logger.Info("status callback for no running appointment workflow", "appointmentId", id,
			"messageSid", in.MessageSID, "status", in.Status)
	case err != nil && h.spool != nil: // kept, if the spool has room (again)
		h.spooled(w, id, in, err, h.spool.Add(id, in))
		return
	case err != nil:
		h.logger.Error("status callback not recorded: cannot signal the workflow", "appointmentId", id,
			"messageSid", in.MessageSID, "error", err.Error())
		problem(w, http.StatusServiceUnavailable, "Service Unavailable", "the receipt could not be recorded; retry later", "")
		return
	default:
		h.logger.Debug("status callback recorded", "appointmentId", id, "messageSid", in.MessageSID, "status", in.Status)
	}
	w.WriteHeader(http.StatusOK)
}

// verified answers everything a signed Twilio request to this listener must pass, and returns its form: 405 for a
// method other than POST; 403 when X-Twilio-Signature is missing or does not match publicURL plus the request's
// query; 413 over MaxBody; 415 for another media type or charset; 400 when the form does not decode or is not UTF-8.
// what names the request in logs ("status callback", "inbound message").
func (h *Handler) verified(w http.ResponseWriter, r *http.Request, publicURL, what string) (url.Values, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		problem(w, http.StatusMethodNotAllowed, "Method Not Allowed", what+"s are POSTed", "")
		return nil, false
	}
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		h.logger.Warn(what+" refused: unsigned", "remote", remoteHost(r))
		problem(w, http.StatusForbidden, "Forbidden", SignatureHeader+" is missing", SignatureHeader)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		problem(w, http.StatusRequestEntityTooLarge, "Content Too Large", "the body exceeds 64 KiB", "")
		return nil, false
	}
	if r.URL.RawQuery != "" {
		publicURL += "?" + r.URL.RawQuery
	}
	if !h.validator.ValidateBody(publicURL, body, sig) {
		h.logger.Warn(what+" refused: bad signature", "remote", remoteHost(r))
		problem(w, http.StatusForbidden, "Forbidden", SignatureHeader+" does not match", SignatureHeader)
		return nil, false
	}
	if detail := mediaTypeProblem(r.Header.Get("Content-Type")); detail != "" {
		problem(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", detail, "Content-Type")
		return nil, false
	}
	form, err := parseForm(body)
	if err != nil {
		problem(w, http.StatusBadRequest, "Bad Request", "the body is not form-encoded", "")
		return nil, false
	}
	if field, err := formUTF8(form); err != nil {
		h.logger.Warn(what+" refused: not UTF-8", "field", field)
		problem(w, http.StatusBadRequest, "Bad Request", err.Error(), field)
		return nil, false
	}
	return form, true
}

// spooled answers a verified receipt the listener tried to keep in the spool: 200 when addErr (Spool.Add's error)
// is nil, 503 otherwise. cause is the signal's error, nil when the receipt queued behind others without trying
// Temporal.
func (h *Handler) spooled(w http.ResponseWriter, id string, in appt.SMSStatusSignal, cause, addErr error) {
	if err := addErr; err != nil {
		h.logger.Error("status callback not recorded: Temporal unreachable and the spool cannot take it",
			"appointmentId", id, "messageSid", in.MessageSID, "error", err.Error())
		problem(w, http.StatusServiceUnavailable, "Service Unavailable", "the receipt could not be recorded; retry later", "")
		return
	}
	attrs := []any{"appointmentId", id, "messageSid", in.MessageSID, "status", in.Status}
	if cause != nil {
		attrs = append(attrs, "error", cause.Error())
	}
	h.logger.Info("status callback spooled until Temporal answers", attrs...)
	w.WriteHeader(http.StatusOK)
}

// remoteHost is the caller's address without the port, for logs about refused callbacks.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Server is a running callback listener.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// Listen serves h on addr (host:port) until Close. It serves nothing but h.
func Listen(addr string, h *Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
			WriteTimeout: 20 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.logger.Error("callback listener stopped", "error", err.Error())
		}
	}()
	return s, nil
}

// Addr is the address the listener is bound to.
func (s *Server) Addr() string { return s.addr }

// Close stops the listener, letting callbacks in flight finish for up to 5 s.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}

func parseForm(body []byte) (url.Values, error) { return url.ParseQuery(string(body)) }

// FormMediaType is the media type of Twilio's status callbacks.
const FormMediaType = "application/x-www-form-urlencoded"

// mediaTypeProblem returns why a callback's Content-Type is refused, or "" when it is accepted: the form media
// type (or none, as before) with charset UTF-8 (compared case-insensitively) or no charset. Percent-decoded bytes
// are read as UTF-8, so a form in another charset would be recorded mangled.
func mediaTypeProblem(contentType string) string {
	if contentType == "" {
		return ""
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != FormMediaType {
		return "status callbacks are " + FormMediaType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "charset " + strconv.Quote(cs) + " is not accepted: status callbacks are UTF-8 (send charset=utf-8 or none)"
	}
	return ""
}

// formUTF8 checks every parameter name and value of a callback, percent-decoded, with appt.ValidateUTF8. It
// returns the first offending field in name order ("body" when a name itself is not UTF-8) and the error, which
// quotes no value.
func formUTF8(form url.Values) (string, error) {
	for _, k := range slices.Sorted(maps.Keys(form)) {
		if err := appt.ValidateUTF8("body", k); err != nil {
			return "body", errors.New("body: a parameter name is not valid UTF-8")
		}
		for _, v := range form[k] {
			if err := appt.ValidateUTF8(k, v); err != nil {
				return k, err
			}
		}
	}
	return "", nil
}
