package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/httpapi/httpapitest"
)

// TestErasureBadInput: an erasure for an organisation the token may not act for, or that the config does not know,
// gets 404 naming the org parameter (not 403: the answer tells nothing about other organisations); an address that
// does not normalise gets 400 naming the field (/email, /phone), as do a request with nothing to erase and a bad
// appointment ID (/appointmentIds/0); and none of them starts a workflow.
func TestErasureBadInput(t *testing.T) {
	tc := &edgeClient{}
	c := api.New(tc, config.Demo())
	c.Now = func() time.Time { return edgeNow }
	tokens, err := httpapi.ParseTokens("tok=*,other=beta")
	require.NoError(t, err)
	h, err := httpapi.New(httpapi.Options{Client: c, Tokens: tokens})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	v, err := httpapitest.New()
	require.NoError(t, err)
	do := func(path, token, body string) edgeReply {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, nil)
		require.NoError(t, err)
		r := edgeDo(t, srv, http.MethodPost, path, "application/json", body, http.Header{"Authorization": {"Bearer " + token}}, false)
		require.NoError(t, v.Validate(req, r.status, r.header, r.body), "%s", r.body)
		return r
	}

	r := do("/v1/organizations/demo/erasures", "other", `{"email":"ann@example.com"}`)
	assert.Equal(t, http.StatusNotFound, r.status)
	p := r.problem(t)
	require.Len(t, p.Errors, 1)
	assert.Equal(t, "org", p.Errors[0].Parameter)
	r = do("/v1/organizations/nope/erasures", "tok", `{"email":"ann@example.com"}`)
	assert.Equal(t, http.StatusNotFound, r.status)

	for body, want := range map[string][]string{
		`{"email":"not an address"}`:                  {"/email"},
		`{"email":"ann@exa mple.com"}`:                {"/email"},
		`{"phone":"12"}`:                              {"/phone"},
		`{"email":"@x","phone":"+1"}`:                 {"/email", "/phone"},
		`{}`:                                          {"/email"},
		`{"appointmentIds":["ok-1","bad id"]}`:        {"/appointmentIds/1"},
		`{"email":"ann@example.com","extra":"field"}`: {"/extra"},
	} {
		r := do("/v1/organizations/demo/erasures", "tok", body)
		assert.Equal(t, http.StatusBadRequest, r.status, body)
		assert.ElementsMatch(t, want, httpapitest.Pointers(r.problem(t)), body)
	}
	assert.Equal(t, 0, tc.started(), "no bad request starts a workflow")
}
