package codec

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/rs/cors"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

// TokenEnv holds the bearer token that the codec endpoint requires on a cluster (scripts, the Temporal CLI).
const TokenEnv = "APPTNOTIFY_CODEC_TOKEN"

// DefaultPort is the codec endpoint's port when the worker hosts the embedded server.
const DefaultPort = 8234

// EndpointOptions configure the codec endpoint (Temporal's /encode and /decode for the Web UI and the CLI).
type EndpointOptions struct {
	// Token, when not empty, is accepted as "Authorization: Bearer <Token>" (compared in constant time).
	Token string
	// Verifier, when not nil, also accepts an OIDC access token it verifies (the Temporal UI forwards the
	// operator's token with TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true).
	Verifier *oidc.IDTokenVerifier
	// AllowedOrigin is the one browser origin allowed by CORS, e.g. http://127.0.0.1:8233. Empty: none.
	AllowedOrigin string
}

// Open reports whether the endpoint needs no credentials (local development only).
func (o EndpointOptions) Open() bool { return o.Token == "" && o.Verifier == nil }

// NewOIDCVerifier discovers issuer's keys (OpenID Connect discovery) and returns a verifier of its tokens. An empty
// audience skips the audience check (access tokens often name an API, not a client).
func NewOIDCVerifier(ctx context.Context, issuer, audience string) (*oidc.IDTokenVerifier, error) {
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("--codec-oidc-issuer: discovering %s: %w", issuer, err)
	}
	return p.Verifier(&oidc.Config{ClientID: audience, SkipClientIDCheck: audience == ""}), nil
}

// Handler serves POST /encode and POST /decode through c, behind CORS and, unless opts is Open, bearer-token
// authentication. A CORS preflight (OPTIONS) is answered before any token check, since browsers send it without
// credentials. Unauthenticated requests get 401 with a WWW-Authenticate header.
func Handler(c converter.PayloadCodec, opts EndpointOptions) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(c)
	authed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !opts.Open() && !opts.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="apptnotify codec"`)
			http.Error(w, "a valid bearer token is required", http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	})
	var origins []string
	if opts.AllowedOrigin != "" {
		origins = []string{opts.AllowedOrigin}
	}
	return cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodPost},
		AllowedHeaders:   []string{"Content-Type", "X-Namespace", "Authorization"},
		AllowCredentials: true,
		MaxAge:           600,
	}).Handler(authed)
}

func (o EndpointOptions) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return false
	}
	tok = strings.TrimSpace(tok)
	if o.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(o.Token)) == 1 {
		return true
	}
	if o.Verifier != nil {
		if _, err := o.Verifier.Verify(r.Context(), tok); err == nil {
			return true
		}
	}
	return false
}

// Endpoint is a running codec endpoint.
type Endpoint struct {
	srv  *http.Server
	addr string
}

// Listen starts the codec endpoint on addr. flag names the flag that chose the address, for the error of a busy
// port.
func Listen(addr, flag string, h http.Handler, logger *slog.Logger) (*Endpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--%s: cannot listen on %s: %w", flag, addr, err)
	}
	e := &Endpoint{addr: ln.Addr().String(), srv: &http.Server{
		Handler:           http.MaxBytesHandler(h, 4<<20),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
	}}
	go func() {
		if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("codec endpoint stopped", "error", err)
		}
	}()
	return e, nil
}

// Addr is the host:port the endpoint listens on.
func (e *Endpoint) Addr() string { return e.addr }

// Close stops the endpoint, letting requests in flight finish for up to 5 s.
func (e *Endpoint) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.srv.Shutdown(ctx)
}

// LogReporter logs each workflow whose payloads name an unknown key at ERROR, at most once per Interval per
// workflow, and counts every failure in the counter MetricUnknownKey.
type LogReporter struct {
	Logger   *slog.Logger
	Metrics  client.MetricsHandler // nil: no metric
	Interval time.Duration         // default one minute
	Now      func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

// MetricUnknownKey counts payloads that could not be decrypted because their key is not in the ring.
const MetricUnknownKey = "apptnotify_payload_unknown_key"

// UnknownKey implements Reporter.
func (r *LogReporter) UnknownKey(workflowID, keyID string) {
	if r.Metrics != nil {
		r.Metrics.Counter(MetricUnknownKey).Inc(1)
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	every := r.Interval
	if every <= 0 {
		every = time.Minute
	}
	r.mu.Lock()
	if r.last == nil {
		r.last = map[string]time.Time{}
	}
	if t, ok := r.last[workflowID]; ok && now.Sub(t) < every {
		r.mu.Unlock()
		return
	}
	r.last[workflowID] = now
	if len(r.last) > 10000 { // bound the memory: forget workflows not heard of for a while
		for id, t := range r.last {
			if now.Sub(t) >= every {
				delete(r.last, id)
			}
		}
	}
	r.mu.Unlock()
	r.Logger.Error("a payload is encrypted with a key this worker does not have: the workflow task fails and is retried until the key is back in "+KeysEnv,
		"workflowId", workflowID, "keyId", keyID)
}
