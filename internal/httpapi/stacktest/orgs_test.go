package stacktest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

func (e *apiEnv) send(t *testing.T, method, path, token, ifMatch string, body any) reply {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("If-Match", ifMatch)
	return send(t, e.validate, req)
}

// Organisations as run-time data, through the real API, worker and servers (docs/api.md#organisations):
//   - a new organisation written while the worker runs gets its first CREATE email (with its own templates, from
//     Mailpit) and a webhook signed with the secret given once (verifying receiver);
//   - bad input names every failing field (config rules, templates trial-rendered, the address guard, the
//     secret's length, unknown keys) and changes nothing;
//   - an organisation-scoped token may not manage another organisation;
//   - PATCH needs If-Match (428), a stale one gets 412 and changes nothing;
//   - the audit trail names the token's ID and the fields, never a value;
//   - the secret is never returned, logged, or readable in any payload of the settings workflow's history
//     decoded as the codec endpoint decodes it;
//   - a disabled organisation refuses new appointments with a problem naming org.
func TestOrganizationsThroughTheAPI(t *testing.T) {
	e := startAPIEnv(t)
	doc := map[string]any{
		"platform": "genesys", "email_from": "Gamma Care <care@gamma.example>", "auto_activate": true,
		"reminder_offsets": []string{"1h"}, "allow_private_webhook_addresses": true,
		"templates": map[string]string{"create.subject.txt": "Gamma booking {{.AppointmentID}}"},
		"webhooks":  []map[string]any{{"url": e.hooks.URL + "/gamma", "secret": testenv.WebhookSecret}},
	}
	r := e.do(t, http.MethodPut, "/v1/organizations/gamma", tokAll, doc)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, `"1"`, r.Header.Get("ETag"))
	assert.NotContains(t, string(r.Body), testenv.WebhookSecret)
	assert.NotContains(t, string(r.Body), "seal1.")
	assert.Contains(t, string(r.Body), `"secret_set":true`)

	// Every failing field, named once; nothing changes.
	bad := map[string]any{
		"platform": "genesys", "room_offset": "-1s", "max_attempts": 99, "colour": "blue",
		"templates": map[string]string{"create.subject.txt": "{{.NoSuchField}}"},
		"webhooks":  []map[string]any{{"url": "http://127.0.0.1:1/x", "secret": "whsec_c2hvcnQ="}},
	}
	r = e.do(t, http.MethodPut, "/v1/organizations/gamma", tokAll, bad)
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	p := r.problem(t)
	assert.NotContains(t, string(r.Body), "whsec_c2hvcnQ=", "a problem never quotes a secret")
	var ptrs []string
	for _, f := range p.Errors {
		if f.Pointer != nil {
			ptrs = append(ptrs, *f.Pointer)
		}
	}
	assert.ElementsMatch(t, []string{"/colour", "/room_offset", "/max_attempts", "/templates", "/webhooks/0/url", "/webhooks/0/secret"}, ptrs, "%s", r.Body)
	r = e.do(t, http.MethodGet, "/v1/organizations/gamma", tokAll, nil)
	assert.Equal(t, `"1"`, r.Header.Get("ETag"), "a refused write changes nothing")

	// Scope.
	r = e.do(t, http.MethodPut, "/v1/organizations/gamma", tokAcme, doc)
	assert.Equal(t, http.StatusForbidden, r.Status)
	r = e.do(t, http.MethodGet, "/v1/organizations", tokAcme, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.NotContains(t, string(r.Body), "gamma", "a scoped token lists only its own organisations")
	require.Eventually(t, func() bool {
		r = e.do(t, http.MethodGet, "/v1/organizations", tokAll, nil)
		return strings.Contains(string(r.Body), `{"id":"gamma","revision":1,"disabled":false,"source":"api"}`)
	}, 10*time.Second, 100*time.Millisecond, "the list shows the organisation written through the API")

	// If-Match.
	patch := map[string]any{"email_from": "Gamma Desk <desk@gamma.example>"}
	r = e.do(t, http.MethodPatch, "/v1/organizations/gamma", tokAll, patch)
	assert.Equal(t, http.StatusPreconditionRequired, r.Status)
	r = e.send(t, http.MethodPatch, "/v1/organizations/gamma", tokAll, `"0"`, patch)
	assert.Equal(t, http.StatusPreconditionFailed, r.Status, "%s", r.Body)
	r = e.send(t, http.MethodPatch, "/v1/organizations/gamma", tokAll, `"1"`, patch)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, `"2"`, r.Header.Get("ETag"))

	// The new organisation sends, with the worker that ran before it existed.
	r = e.do(t, http.MethodPost, "/v1/appointments", tokAll, scheduleBody("G1", "gamma", time.Now().Add(48*time.Hour)))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Eventually(t, func() bool {
		for _, m := range e.mail.List(t) {
			if m.Subject == "Gamma booking G1" {
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "the CREATE email with the organisation's own template")
	require.Eventually(t, func() bool { return len(e.hooks.Got("notification.create")) > 0 }, 30*time.Second, 100*time.Millisecond,
		"the signed CREATE webhook (the receiver verifies it with the secret given once)")

	// The audit trail.
	r = e.do(t, http.MethodGet, "/v1/organizations/gamma/changes", tokAll, nil)
	require.Equal(t, http.StatusOK, r.Status)
	var ch httpapi.OrganizationChanges
	r.json(t, &ch)
	require.Len(t, ch.Changes, 2)
	assert.Equal(t, httpapi.TokenID(tokAll), ch.Changes[0].Who)
	assert.Equal(t, "created", ch.Changes[0].Action)
	assert.Equal(t, []string{"email_from"}, ch.Changes[1].Fields)
	assert.NotContains(t, string(r.Body), testenv.WebhookSecret)

	// The secret in no log line and in no payload of the settings workflow's history, decoded by the worker's
	// client (the codec the codec endpoint serves).
	assert.NotContains(t, e.logs.String(), testenv.WebhookSecret)
	assertHistoryHoldsNone(t, e, appt.OrgWorkflowID("gamma"), testenv.WebhookSecret, strings.TrimPrefix(testenv.WebhookSecret, "whsec_"))

	// Disabled: no new appointment.
	r = e.do(t, http.MethodPost, "/v1/organizations/gamma/disable", tokAll, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), `"disabled":true`)
	require.Eventually(t, func() bool {
		r = e.do(t, http.MethodPost, "/v1/appointments", tokAll, scheduleBody("G2", "gamma", time.Now().Add(48*time.Hour)))
		return r.Status == http.StatusBadRequest
	}, 5*time.Second, 200*time.Millisecond, "a disabled organisation refuses new appointments within its cache's age")
	assert.Contains(t, string(r.Body), "disabled")
}
