package activities_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

const (
	clientID     = "apptnotify-acme"
	clientSecret = "cs-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
)

// tokenServer is an OAuth2 token endpoint for the client-credentials grant (RFC 6749 §4.4): it accepts only a POST
// of application/x-www-form-urlencoded grant_type=client_credentials with the client authenticated by HTTP Basic
// (§2.3.1), the expected scope and audience, and issues tok-1, tok-2, ... with expires_in 3600.
type tokenServer struct {
	*httptest.Server
	issued atomic.Int64
	fail   atomic.Int64 // when not 0, answer this status with {"error":"invalid_client"}
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if st := ts.fail.Load(); st != 0 {
			w.WriteHeader(int(st))
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"client secret `+clientSecret+` refused"}`)
			return
		}
		id, sec, ok := r.BasicAuth()
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_request"}`)
			return
		}
		if !ok || id != clientID || sec != clientSecret {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		_ = r.ParseForm()
		if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "webhooks:write appointments" ||
			r.PostForm.Get("audience") != "https://api.example" || r.PostForm.Get("tenant") != "t1" || r.PostForm.Has("client_secret") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"invalid_request","error_description":%q}`, r.PostForm.Encode())
			return
		}
		n := ts.issued.Add(1)
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600}`, n)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func oauthOrg(rc *receiver, tokenURL string) *config.Org {
	org := webhookOrg(true, rc.URL+"/hooks")
	org.Webhooks[0].OAuth2 = &config.OAuth2Auth{
		TokenURL: tokenURL, ClientID: clientID, ClientSecret: config.Credential{Value: clientSecret},
		Scopes: []string{"webhooks:write", "appointments"}, Audience: "https://api.example",
		EndpointParams: map[string]string{"tenant": "t1"},
	}
	return org
}

// bearerGate is a receiver's check of a bearer token: only the token it accepts passes, else 401.
type bearerGate struct {
	mu     sync.Mutex
	accept string
	seen   []string
}

func (g *bearerGate) set(tok string) { g.mu.Lock(); g.accept = tok; g.mu.Unlock() }

func (g *bearerGate) respond(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	got := r.Header.Get("Authorization")
	g.seen = append(g.seen, got)
	if got != "Bearer "+g.accept {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TestWebhookOAuth2 states the OAuth2 rules (docs/rules.md#webhook-delivery-auth): a receiver that requires a bearer
// token gets every event, with the Standard Webhooks signature still verifying (the receiver checks it); the token
// is fetched once by client credentials (RFC 6749 §4.4, client authenticated by HTTP Basic, scope, audience and
// parameters sent) and cached; a 401 with a cached token fetches a new one once and sends again; a 401 to a fresh
// token is the usual permanent 4xx, with no further token request.
func TestWebhookOAuth2(t *testing.T) {
	ts := newTokenServer(t)
	rc := newReceiver(t)
	gate := &bearerGate{accept: "tok-1"}
	rc.setRespond(gate.respond)
	w := activities.NewWebhookClient()
	org := oauthOrg(rc, ts.URL+"/oauth/token")
	ctx := context.Background()

	events := []string{"appointment.scheduled", "appointment.activated", "appointment.updated", "appointment.cancelled"}
	for _, ev := range events {
		require.NoError(t, w.SendWebhook(ctx, org, 0, lifecycle(ev)), ev)
	}
	require.Len(t, rc.received(), len(events), "the receiver gets every event")
	require.EqualValues(t, 1, ts.issued.Load(), "one token serves every event until it expires")

	// The receiver revokes tok-1: the cached token gets a 401, a new one is fetched once, the POST sent again.
	gate.set("tok-2")
	require.NoError(t, w.SendWebhook(ctx, org, 0, lifecycle("appointment.expired")))
	require.EqualValues(t, 2, ts.issued.Load())
	require.Equal(t, []string{"Bearer tok-1", "Bearer tok-2"}, gate.seen[len(gate.seen)-2:])

	// A receiver that refuses every token: one refetch, then a permanent 401, not retried.
	gate.set("never")
	before := len(rc.received())
	err := w.SendWebhook(ctx, org, 0, lifecycle("appointment.call_started"))
	de := deliveryError(t, err, activities.ErrHTTPClient)
	require.False(t, activities.Retryable(de.Type))
	require.Contains(t, err.Error(), "HTTP 401")
	require.Len(t, rc.received(), before+2, "the POST is sent again once, no more")
	require.EqualValues(t, 3, ts.issued.Load())

	// The fresh token of that refetch is cached; a 401 to a fresh token fetches none.
	err = w.SendWebhook(ctx, org, 0, lifecycle("appointment.call_ended"))
	deliveryError(t, err, activities.ErrHTTPClient)
	require.EqualValues(t, 4, ts.issued.Load(), "the cached tok-3 was refused: one refetch")
	require.Len(t, rc.received(), before+4)
}

// TestWebhookOAuth2TokenEndpointFails states that a token endpoint that fails (an error answer, a refused client,
// no answer) is a transient error naming its host and OAuth2 error code, never the client secret or the answer's
// description, and that nothing is posted to the receiver.
func TestWebhookOAuth2TokenEndpointFails(t *testing.T) {
	ts := newTokenServer(t)
	rc := newReceiver(t)
	w := activities.NewWebhookClient()
	ctx := context.Background()
	for _, st := range []int{http.StatusInternalServerError, http.StatusUnauthorized, http.StatusBadRequest} {
		ts.fail.Store(int64(st))
		err := w.SendWebhook(ctx, oauthOrg(rc, ts.URL+"/oauth/token"), 0, lifecycle("appointment.scheduled"))
		de := deliveryError(t, err, activities.ErrTransient)
		require.True(t, activities.Retryable(de.Type))
		require.Contains(t, err.Error(), fmt.Sprintf("token endpoint (127.0.0.1) answered HTTP %d invalid_client", st))
		require.NotContains(t, err.Error(), clientSecret)
		require.NotContains(t, err.Error(), "/oauth/token")
	}
	// A wrong client secret is refused by the endpoint (401 invalid_client): transient too.
	ts.fail.Store(0)
	org := oauthOrg(rc, ts.URL+"/oauth/token")
	org.Webhooks[0].OAuth2.ClientSecret.Value = "wrong-secret-0123456789"
	deliveryError(t, w.SendWebhook(ctx, org, 0, lifecycle("appointment.scheduled")), activities.ErrTransient)
	// No answer at all.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	deliveryError(t, w.SendWebhook(ctx, oauthOrg(rc, dead.URL+"/token"), 0, lifecycle("appointment.scheduled")), activities.ErrTransient)
	require.Empty(t, rc.received(), "no POST without a token")
}

// TestWebhookOAuth2TokenURLGuard states that the token request goes through the webhook address guard: an
// organisation without allow_private_webhook_addresses never reaches a loopback token endpoint, and that refusal
// is permanent (ErrInvalidRecipient), as for a webhook URL.
func TestWebhookOAuth2TokenURLGuard(t *testing.T) {
	ts := newTokenServer(t)
	rc := newReceiver(t)
	org := oauthOrg(rc, ts.URL+"/oauth/token")
	org.AllowPrivateWebhookAddresses = false
	err := activities.NewWebhookClient().SendWebhook(context.Background(), org, 0, lifecycle("appointment.scheduled"))
	deliveryError(t, err, activities.ErrInvalidRecipient)
	require.Contains(t, err.Error(), "loopback")
	require.Zero(t, ts.issued.Load())
	require.Empty(t, rc.received())
	require.Error(t, activities.CheckWebhookURL(ts.URL+"/oauth/token", false), "the write-time check refuses it too")
}

// TestWebhookBasicHeadersXSignature states the other schemes (docs/rules.md#webhook-delivery-auth): HTTP Basic
// with the subscriber's username and password, custom headers plain and secret as given, and x-signature the
// lowercase hex HMAC-SHA256 of the exact body under the x_signature secret; each checked by the receiver, beside
// the Standard Webhooks signature (which the receiver verifies first). A wrong password is the receiver's 401: a
// permanent 4xx.
func TestWebhookBasicHeadersXSignature(t *testing.T) {
	const password, apiKey, xsecret = "pa ss:wörd-1", "key-7d1c0e5b9a", "xsig-0123456789abcdef0123456789abcdef"
	rc := newReceiver(t)
	rc.setRespond(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "acme-hooks" || p != password {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Header.Get("X-Api-Key") != apiKey || r.Header.Get("X-Tenant") != "acme" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	org := webhookOrg(true, rc.URL+"/hooks")
	sub := &org.Webhooks[0]
	sub.BasicAuth = &config.BasicAuth{Username: "acme-hooks", Password: config.Credential{Value: password}}
	sub.Headers = []config.WebhookHeader{{Name: "X-Tenant", Value: "acme"}, {Name: "x-api-key", Secret: &config.Credential{Value: apiKey}}}
	sub.XSignature = &config.XSignature{Secret: config.Credential{Value: xsecret}}
	w := activities.NewWebhookClient()
	require.NoError(t, w.SendWebhook(context.Background(), org, 0, notification(appt.Reminder, ann)))
	got := rc.received()
	require.Len(t, got, 1)

	// x-signature, recomputed by the receiver from the raw body.
	xs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(xsecret))
		m.Write(body)
		want := hex.EncodeToString(m.Sum(nil))
		if !hmac.Equal([]byte(r.Header.Get("x-signature")), []byte(want)) || !json.Valid(body) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer xs.Close()
	org2 := webhookOrg(true, xs.URL)
	org2.Webhooks[0].XSignature = &config.XSignature{Secret: config.Credential{Value: xsecret}}
	require.NoError(t, w.SendWebhook(context.Background(), org2, 0, notification(appt.Create, ann)))
	org2.Webhooks[0].XSignature.Secret.Value = strings.Repeat("z", 40)
	deliveryError(t, w.SendWebhook(context.Background(), org2, 0, notification(appt.Create, ann)), activities.ErrHTTPClient)

	// The wrong password: the receiver's 401, permanent; no credential in the error.
	sub.BasicAuth.Password.Value = "wrong"
	err := w.SendWebhook(context.Background(), org, 0, notification(appt.Reminder, ann))
	deliveryError(t, err, activities.ErrHTTPClient)
	require.NotContains(t, err.Error(), "wrong")
	require.NotContains(t, err.Error(), apiKey)

	// A credential the worker could not open (sealed for another key): permanent, naming the field.
	sub.BasicAuth.Password.Value = password
	sub.Headers[1].Secret.Value = ""
	err = w.SendWebhook(context.Background(), org, 0, notification(appt.Reminder, ann))
	deliveryError(t, err, activities.ErrBadInput)
	require.Contains(t, err.Error(), "headers[1].secret")
	require.Len(t, rc.received(), 2)
}
