package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/tokens"
)

// memTable is a token table in memory.
type memTable struct{ tab appt.TokenTable }

func (m *memTable) TokenTable(context.Context, int64) (appt.TokenTable, error) { return m.tab, nil }
func (m *memTable) MarkTokensUsed(context.Context, []appt.TokenUse) error      { return nil }

// loopbackServer is the real handler with no token configured (a loopback serve) and a copy of a token table that
// holds tok, scoped to demo, and revoked, revoked; refreshed unless stale.
func loopbackServer(t *testing.T, stale bool) (srv *httptest.Server, tok, revoked string) {
	t.Helper()
	a, err := tokens.Generate()
	require.NoError(t, err)
	r, err := tokens.Generate()
	require.NoError(t, err)
	src := &memTable{tab: appt.TokenTable{Revision: 2, Tokens: []appt.TokenRecord{
		{ID: a.ID, Digest: a.Digest, Org: "demo", Created: edgeNow, IssuedBy: "anonymous"},
		{ID: r.ID, Digest: r.Digest, Org: "demo", Created: edgeNow, Revoked: edgeNow, IssuedBy: "anonymous"},
	}}}
	table := tokens.NewTable(src, nil, nil)
	if !stale {
		require.NoError(t, table.Refresh(context.Background()))
	}
	c := api.New(&edgeClient{}, config.Demo()) // any Temporal call but a start panics: none may happen here
	c.Now = func() time.Time { return edgeNow }
	h, err := httpapi.New(httpapi.Options{Client: c, IssuedTokens: table})
	require.NoError(t, err)
	srv = httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, a.Token, r.Token
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// On a loopback server with no tokens configured, where every request is allowed, a bearer token of the issued
// shape is still checked (docs/rules.md#api-tokens): a revoked one gets 401; one scoped to an organisation gets 403
// #admin-only on /v1/tokens, where a request without a token is the administrator; with no fresh copy of the
// table, an issued token gets 503, not 401.
func TestIssuedTokensOnALoopbackServer(t *testing.T) {
	srv, tok, revoked := loopbackServer(t, false)
	body := `{"org": "nope", "expiresIn": "1ms"}` // refused by the rules, so nothing reaches Temporal

	r := edgeDo(t, srv, http.MethodPost, "/v1/tokens", "application/json", body, bearer(revoked), false)
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r.body)
	assert.Equal(t, "the token was revoked", r.problem(t).Detail)

	r = edgeDo(t, srv, http.MethodPost, "/v1/tokens", "application/json", body, bearer(tok), false)
	require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
	assert.True(t, strings.HasSuffix(r.problem(t).Type, "#admin-only"))

	r = edgeDo(t, srv, http.MethodPost, "/v1/tokens", "application/json", body, nil, false)
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	var fields []string
	for _, f := range r.problem(t).Errors {
		fields = append(fields, *f.Pointer)
	}
	assert.ElementsMatch(t, []string{"/org", "/expiresIn"}, fields)

	stale, tok, _ := loopbackServer(t, true)
	r = edgeDo(t, stale, http.MethodPost, "/v1/tokens", "application/json", body, bearer(tok), false)
	require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, httpapi.TokensEnvVar+" still work")
}
