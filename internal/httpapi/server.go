// Package httpapi is the HTTP API of `starter serve`: one endpoint per starter verb, with the same semantics, for
// appointment backends not written in Go. The OpenAPI document api/openapi.yaml is the contract: requests are routed
// and validated against it at run time with kin-openapi; a body is checked for UTF-8 (appt.ValidateUTF8), against
// the schema and against the rules of internal/appt (the same as the starter's) together, so that a 400 names every
// failing field once; and only then does a handler call the api package. Methods follow RFC 9110 (Allow on 405, HEAD
// as GET, OPTIONS). Errors are RFC 9457 problem documents (docs/api.md).
package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/suppress"
	"github.com/apptnotify/apptnotify/internal/tokens"
)

// Server limits (docs/api.md, "Limits").
const (
	// MaxBodyBytes is the largest request body accepted; a larger one gets 413.
	MaxBodyBytes = 64 << 10
	// ReadHeaderTimeout bounds how long a client may take to send its request headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds how long a client may take to send a whole request.
	ReadTimeout = 30 * time.Second
	// IdleTimeout closes a keep-alive connection that has been idle this long.
	IdleTimeout = 2 * time.Minute
	// ShutdownTimeout is how long a graceful shutdown waits for requests in flight (an update may wait up to
	// api.DefaultUpdateTimeout for its worker).
	ShutdownTimeout = api.DefaultUpdateTimeout + 10*time.Second
	// HealthTimeout bounds the Temporal health check of GET /healthz.
	HealthTimeout = 5 * time.Second
)

// Options configure the handler.
type Options struct {
	// Client is the Go API the handlers call. Required.
	Client *api.Client
	// Tokens are the accepted bearer tokens; none allows every request.
	Tokens *Tokens
	// IssuedTokens is the copy of the token table that issued tokens are checked against (tokens.go); nil accepts
	// none. The caller runs its refresh loop.
	IssuedTokens *tokens.Table
	// Logger gets one access-log line per request (no body, no token). Nil discards them.
	Logger *slog.Logger
	// Suppressions hashes addresses and changes the organisations' suppression lists (suppressions.go); nil
	// without the address key: those operations answer 503.
	Suppressions *suppress.List
}

// Handler serves the API.
type Handler struct {
	client       *api.Client
	suppressions *suppress.List
	tokens       *Tokens
	issued       *tokens.Table
	logger       *slog.Logger
	router       routers.Router
	ops          map[string]operation
	checks       map[string]bodyCheck
	validate     *openapi3filter.Options
	// allow is the Allow header (RFC 9110 §10.2.1) of each path of the document, by its template.
	allow map[string]string
	// methods are the methods the document uses anywhere, to find a path's template for a method it does not take.
	methods []string
}

// operation handles one operationId of the document, after routing, authentication and validation.
type operation func(ctx context.Context, r *request) response

// request is a validated request.
type request struct {
	params map[string]string
	header http.Header
	query  url.Values // validated by the document
	body   []byte
	grant  grant
	log    *accessInfo
	input  any // what the operation's bodyCheck decoded and checked
}

// response is what a handler answers: a JSON document or a problem.
type response struct {
	status  int
	body    any
	problem *Problem
	header  http.Header
}

func ok(status int, body any) response { return response{status: status, body: body} }

func fail(p Problem) response { return response{problem: &p} }

// LoadDocument parses and validates the embedded OpenAPI document.
func LoadDocument() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	// The document's servers entry is an example address; routing must match whatever address the server has.
	doc.Servers = nil
	return doc, nil
}

// New returns the API handler.
func New(o Options) (*Handler, error) {
	if o.Client == nil {
		return nil, errors.New("httpapi: a client is required")
	}
	doc, err := LoadDocument()
	if err != nil {
		return nil, err
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		client: o.Client, suppressions: o.Suppressions, tokens: o.Tokens, issued: o.IssuedTokens, logger: logger, router: router,
		validate: &openapi3filter.Options{
			MultiError: true,
			// Authentication happens before validation, so that a request without a token learns nothing about
			// the shapes the API expects.
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		},
	}
	h.ops = h.operations()
	h.checks = h.bodyChecks()
	maps.Copy(h.ops, h.tokenOperations())
	maps.Copy(h.checks, h.tokenBodyChecks())
	maps.Copy(h.ops, h.suppressionOps())
	h.checks["addSuppression"], h.checks["lookupSuppression"], h.checks["liftSuppression"] =
		h.checkSuppression, h.checkSuppression, h.checkSuppression
	h.allow = map[string]string{}
	seen := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if _, ok := h.ops[op.OperationID]; !ok {
				return nil, fmt.Errorf("httpapi: %s %s (%s) has no handler", method, path, op.OperationID)
			}
			if _, ok := h.checks[op.OperationID]; !ok && op.RequestBody != nil {
				return nil, fmt.Errorf("httpapi: %s %s (%s) takes a body but has no body check", method, path, op.OperationID)
			}
			if !seen[method] {
				seen[method] = true
				h.methods = append(h.methods, method)
			}
		}
		h.allow[path] = AllowedMethods(item)
	}
	slices.Sort(h.methods)
	return h, nil
}

// AllowedMethods is the Allow header of a path of the document (RFC 9110 §10.2.1): the methods of its operations,
// HEAD wherever there is GET (§9.3.2), and OPTIONS (§9.3.7), which every path answers; sorted, joined by ", ".
func AllowedMethods(item *openapi3.PathItem) string {
	var ms []string
	for m := range item.Operations() {
		ms = append(ms, m)
	}
	if item.Get != nil && item.Head == nil {
		ms = append(ms, http.MethodHead)
	}
	if item.Options == nil {
		ms = append(ms, http.MethodOptions)
	}
	slices.Sort(ms)
	return strings.Join(ms, ", ")
}

// allowOf finds the Allow header of the path of a request whose method the path does not take. Routing depends on
// the path only, so the request is routed again with each method the document uses until one matches.
func (h *Handler) allowOf(r *http.Request) string {
	for _, m := range h.methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if route, _, err := h.router.FindRoute(probe); err == nil {
			return h.allow[route.Path]
		}
	}
	return ""
}

// accessInfo is what the access log says about a request, filled in as it is handled.
type accessInfo struct {
	operation, appointmentID, org string
	err                           error // the cause of a 5xx
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// ServeHTTP routes the request by the document, authenticates it, limits and validates its body, and runs its
// operation. It logs one line per request: method, operation, status, duration and the appointment ID and
// organisation where there are any; never a body, a query string or a header.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	info := &accessInfo{}
	defer func() {
		attrs := []any{"method", r.Method, "operation", info.operation, "status", rec.status,
			"duration_ms", float64(time.Since(started).Microseconds()) / 1000}
		if info.appointmentID != "" {
			attrs = append(attrs, "appointmentId", info.appointmentID)
		}
		if info.org != "" {
			attrs = append(attrs, "org", info.org)
		}
		if info.err != nil {
			attrs = append(attrs, "error", info.err.Error())
		}
		h.logger.LogAttrs(r.Context(), slog.LevelInfo, "http request", slogAttrs(attrs)...)
	}()
	h.serve(rec, r, info)
}

func slogAttrs(kv []any) []slog.Attr {
	out := make([]slog.Attr, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, slog.Any(kv[i].(string), kv[i+1]))
	}
	return out
}

// headWriter answers a HEAD request: the headers and status of the GET, without its body (RFC 9110 §9.3.2).
type headWriter struct{ http.ResponseWriter }

func (headWriter) Write(b []byte) (int, error) { return len(b), nil }

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, info *accessInfo) {
	// HEAD is routed, authenticated and validated as the GET of its path, and answered without a body.
	routed := r
	if r.Method == http.MethodHead {
		routed = r.Clone(r.Context())
		routed.Method = http.MethodGet
		w = headWriter{w}
	}
	route, params, err := h.router.FindRoute(routed)
	if err != nil {
		if errors.Is(err, routers.ErrMethodNotAllowed) {
			allow := h.allowOf(r)
			w.Header().Set("Allow", allow)
			if r.Method == http.MethodOptions {
				// No token needed: the answer is what the public document says about the path.
				w.Header().Set("Content-Length", "0")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			writeProblem(w, probMethod.with(r.Method+" is not allowed here; this path takes "+allow))
			return
		}
		writeProblem(w, probNoRoute.with("see /openapi.yaml for the endpoints"))
		return
	}
	info.operation = route.Operation.OperationID
	if id := params["id"]; appt.ValidateAppointmentID(id) == nil {
		info.appointmentID = id // only a well-formed ID is logged: a malformed one could be anything
	}
	if org := params["org"]; appt.ValidateParticipantID("org", org) == nil {
		info.org = org
	}
	req := &request{params: params, header: r.Header, log: info, query: r.URL.Query()}
	if route.Operation.Security == nil || len(*route.Operation.Security) > 0 {
		g, p := h.authenticate(r, route.Operation)
		if p != nil {
			writeProblem(w, *p)
			return
		}
		req.grant = g
	}
	if r.ContentLength > MaxBodyBytes {
		writeProblem(w, probTooLarge.with(fmt.Sprintf("the limit is %d bytes", MaxBodyBytes)))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(w, probTooLarge.with(fmt.Sprintf("the limit is %d bytes", MaxBodyBytes)))
			return
		}
		writeProblem(w, probValidation.with("cannot read the body", bodyField("", "could not be read")))
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if route.Operation.RequestBody == nil {
			writeProblem(w, probValidation.with("this operation takes no body", bodyField("", "must be empty")))
			return
		}
		mt, mtParams, mtErr := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/json" {
			writeProblem(w, probMediaType.with("send Content-Type: application/json"))
			return
		}
		if p := charsetProblem(mtParams, mtErr); p != nil {
			writeProblem(w, *p)
			return
		}
	} else {
		body = nil
	}
	req.body = body
	// One answer names every field that fails: not UTF-8, not the schema, or a rule of internal/appt.
	notUTF8 := utf8Problems(body)
	routed.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: routed, PathParams: params, Route: route, Options: h.validate}
	var schema []FieldProblem
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		schema = requestProblems(err)
	}
	sources := [][]FieldProblem{notUTF8, schema}
	// The rules have nothing to check in a required body that is absent: the schema names it.
	absent := body == nil && route.Operation.RequestBody != nil && route.Operation.RequestBody.Value != nil &&
		route.Operation.RequestBody.Value.Required
	if check := h.checks[route.Operation.OperationID]; check != nil && !absent {
		res := check(req)
		switch {
		case res.deny != nil && len(notUTF8)+len(schema) == 0:
			writeProblem(w, *res.deny)
			return
		case res.deny == nil:
			sources = append(sources, res.errs)
		}
	}
	if errs := mergeProblems(sources...); len(errs) > 0 {
		writeProblem(w, probValidation.with(summary(errs), errs...))
		return
	}
	res := h.ops[route.Operation.OperationID](r.Context(), req)
	for k, v := range res.header {
		w.Header()[k] = v
	}
	if res.problem != nil {
		writeProblem(w, *res.problem)
		return
	}
	if b, ok := res.body.([]byte); ok {
		w.Header().Set("Content-Type", "application/yaml")
		w.WriteHeader(res.status)
		_, _ = w.Write(b)
		return
	}
	writeJSON(w, res.status, "application/json", res.body)
}

// summary is a problem's detail: how many fields are at fault.
func summary(errs []FieldProblem) string {
	if len(errs) == 1 {
		return "1 field is not valid; see errors"
	}
	return fmt.Sprintf("%d fields are not valid; see errors", len(errs))
}

// fromError turns an error of the api package into a problem. A 5xx keeps the error for the access log (the
// client sees only the kind): Temporal's errors carry IDs and reasons, not payloads.
func fromError(err error, ptrs fieldPointers, info *accessInfo) Problem {
	p := problemOf(err, ptrs)
	if p.Status >= 500 {
		info.err = err
	}
	return p
}

func problemOf(err error, ptrs fieldPointers) Problem {
	var fe *appt.FieldError
	var re *api.RefusedError
	switch {
	case errors.As(err, &fe):
		errs := ptrs.problems([]*appt.FieldError{fe})
		return probValidation.with(summary(errs), errs...)
	case errors.Is(err, api.ErrNotFound):
		return probNotFound.with("no appointment with that ID", paramField("id", "no appointment with that ID"))
	case errors.As(err, &re):
		return probRefused.with(re.Reason)
	case unavailable(err):
		return probUnavailable.with(unavailableDetail(err))
	}
	return probInternal.with("the request failed; the server log has the details")
}

// unavailable reports whether err means Temporal (or a worker) could not be reached, rather than a fault.
func unavailable(err error) bool {
	var una *serviceerror.Unavailable
	var dl *serviceerror.DeadlineExceeded
	if errors.As(err, &una) || errors.As(err, &dl) || errors.Is(err, api.ErrNoWorker) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(errors.Unwrap(err)) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

func unavailableDetail(err error) string {
	if errors.Is(err, api.ErrNoWorker) {
		return "Temporal took the operation but no worker applied it in time; is the worker running?"
	}
	return "cannot reach Temporal; retry later"
}

// Serve serves h on ln until ctx is done, then shuts down gracefully: it stops accepting, lets the requests in
// flight finish (up to ShutdownTimeout), and returns. It returns nil after a graceful shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := NewServer(h, logger)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing the requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-done; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// NewServer returns an http.Server for h with the timeouts of docs/api.md. There is no write timeout: an
// operation may wait for its worker for up to api.DefaultUpdateTimeout.
func NewServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// IsLoopback reports whether a listen address (host:port) is on the loopback interface only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
