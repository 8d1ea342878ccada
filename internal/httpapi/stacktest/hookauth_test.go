package stacktest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/proxy"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// Webhook delivery auth through the real API, worker and servers (docs/api.md#webhook-delivery-auth):
//   - an organisation written with an OAuth2 subscriber and a secret custom header, behind a gateway that requires
//     a bearer token issued by a client-credentials token endpoint (RFC 6749 §4.4) and the header, gets every
//     event of an appointment, each still verifying its Standard Webhooks signature;
//   - a read shows the credentials only as set; bad delivery auth is a 400 naming every failing field, quoting no
//     credential;
//   - neither credential is in a log line or in any payload of the settings workflow's history decoded as the codec
//     endpoint decodes it.
func TestDeliveryAuthThroughTheAPI(t *testing.T) {
	const cs, hk = "cs-Zq81-delivery-auth-client-secret", "hk-5tV9-secret-header-value"
	var mu sync.Mutex
	issued, refused := map[string]bool{}, 0
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, sec, ok := r.BasicAuth()
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if !ok || id != "apptnotify" || sec != cs || r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		mu.Lock()
		tok := fmt.Sprintf("tok-%d", len(issued)+1)
		issued[tok] = true
		mu.Unlock()
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, tok)
	}))
	defer idp.Close()
	e := startAPIEnv(t)
	// The gateway: checks the bearer token and the secret header, then hands the request to the verifying receiver.
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := issued[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] && r.Header.Get("X-Key") == hk
		if !ok {
			refused++
		}
		mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(http.MethodPost, e.hooks.URL+r.URL.Path, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	defer gw.Close()

	doc := map[string]any{
		"platform": "talkdesk", "auto_activate": true, "allow_private_webhook_addresses": true,
		"webhooks": []map[string]any{{
			"url": gw.URL + "/delta", "secret": testenv.WebhookSecret,
			"oauth2":  map[string]any{"token_url": idp.URL + "/token", "client_id": "apptnotify", "client_secret": map[string]string{"value": cs}},
			"headers": []map[string]any{{"name": "X-Key", "secret": map[string]string{"value": hk}}, {"name": "X-Tenant", "value": "delta"}},
		}},
	}
	r := e.do(t, http.MethodPut, "/v1/organizations/delta", tokAll, doc)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	for _, s := range []string{cs, hk, "seal1."} {
		assert.NotContains(t, string(r.Body), s)
	}
	assert.Contains(t, string(r.Body), `"client_secret":{"set":true`)

	bad := map[string]any{
		"platform": "talkdesk",
		"webhooks": []map[string]any{{
			"url": "https://hooks.example/x", "secret": testenv.WebhookSecret,
			"oauth2":      map[string]any{"token_url": "https://127.0.0.1/token", "client_id": "", "client_secret": map[string]string{"value": cs}},
			"headers":     []map[string]any{{"name": "Host", "value": "x"}, {"name": "X-A", "secret": map[string]string{"value": hk}, "value": "y"}},
			"x_signature": map[string]any{"secret": map[string]string{"value": "short-x"}},
		}},
	}
	r = e.do(t, http.MethodPut, "/v1/organizations/delta", tokAll, bad)
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	var ptrs []string
	for _, f := range r.problem(t).Errors {
		if f.Pointer != nil {
			ptrs = append(ptrs, *f.Pointer)
		}
	}
	assert.ElementsMatch(t, []string{"/webhooks/0/oauth2/token_url", "/webhooks/0/oauth2/client_id", "/webhooks/0/headers/0/name",
		"/webhooks/0/headers/1", "/webhooks/0/x_signature/secret/value"}, ptrs, "%s", r.Body)
	for _, s := range []string{cs, hk} {
		assert.NotContains(t, string(r.Body), s, "a problem never quotes a credential")
	}

	// Every event of an appointment reaches the receiver behind the gateway.
	r = e.do(t, http.MethodPost, "/v1/appointments", tokAll, scheduleBody("D1", "delta", time.Now().Add(48*time.Hour)))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r = e.do(t, http.MethodPost, "/v1/appointments/D1/cancel", tokAll, map[string]string{"reason": "test"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	want := []string{"appointment.scheduled", "appointment.activated", "notification.create", "appointment.cancelled", "notification.cancelled"}
	require.Eventually(t, func() bool {
		for _, typ := range want {
			if len(e.hooks.Got(typ)) == 0 {
				return false
			}
		}
		return true
	}, 60*time.Second, 200*time.Millisecond, "every event through the OAuth2 gateway")
	mu.Lock()
	assert.Zero(t, refused, "the gateway refused nothing")
	assert.Len(t, issued, 1, "one token, cached, for every event")
	mu.Unlock()

	assert.NotContains(t, e.logs.String(), cs)
	assert.NotContains(t, e.logs.String(), hk)
	assertHistoryHoldsNone(t, e, appt.OrgWorkflowID("delta"), cs, hk)
}

// assertHistoryHoldsNone decodes every payload of a workflow's history as the codec endpoint decodes it (the
// worker's codec and key ring) and asserts that none holds any of secrets; at least one payload must decode.
func assertHistoryHoldsNone(t *testing.T, e *apiEnv, workflowID string, secrets ...string) {
	t.Helper()
	it := e.tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	pc := codec.New(e.ring, nil)
	decoded := 0
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		require.NoError(t, proxy.VisitPayloads(context.Background(), ev, proxy.VisitPayloadsOptions{
			Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
				out, err := pc.Decode(ps)
				if err != nil {
					return nil, err
				}
				for _, p := range out {
					decoded++
					for _, s := range secrets {
						assert.NotContains(t, string(p.GetData()), s)
					}
				}
				return ps, nil
			},
		}))
	}
	require.Positive(t, decoded)
}
