package stacktest_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/testenv"
	"github.com/apptnotify/apptnotify/internal/tokens"
)

var issuedTokenRe = regexp.MustCompile(`^apn_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$`)

func (e *apiEnv) issue(t *testing.T, body map[string]any) httpapi.IssuedToken {
	t.Helper()
	r := e.do(t, http.MethodPost, "/v1/tokens", tokAll, body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	var it httpapi.IssuedToken
	r.json(t, &it)
	require.Regexp(t, issuedTokenRe, it.Token)
	return it
}

func (e *apiEnv) tokenList(t *testing.T) map[string]httpapi.TokenInfo {
	t.Helper()
	r := e.do(t, http.MethodGet, "/v1/tokens", tokAll, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var l httpapi.TokenList
	r.json(t, &l)
	out := map[string]httpapi.TokenInfo{}
	for _, i := range l.Tokens {
		out[i.ID] = i
	}
	return out
}

// untilStatus asks base with token until the answer has the status want, and returns how long that took. The
// deadline is generous (the machine is shared); the rule's bound is asserted by construction in
// internal/tokens.TestTableVerdicts, and the measured time is logged.
func untilStatus(t *testing.T, v *responseValidator, base, path, token string, want int) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r := do(t, v, base, http.MethodGet, path, token, nil)
		if r.Status == want {
			return time.Since(start)
		}
		require.Less(t, time.Since(start), 30*time.Second, "still %d %s", r.Status, r.Body)
		time.Sleep(50 * time.Millisecond)
	}
}

// Issued API tokens through the real API (docs/rules.md#api-tokens): an administrator token issues a token scoped
// to one organisation; it works at once on the issuing API process and on a second one; it cannot act for another
// organisation (403 on a body or path naming it, 404 for its appointments) nor manage tokens (403 #admin-only, even
// with a bad body); the list shows it without the token or its hash, with the last use a second process reported;
// revoked, it gets 401 on both processes; a second revoke is a 200 that changes nothing; an unknown ID is 404. The
// token never appears in the server log nor, in plaintext or as its digest, in the Temporal history.
func TestIssuedTokenLifecycle(t *testing.T) {
	e := startAPIEnv(t)
	start := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	it := e.issue(t, map[string]any{"org": "acme"})
	assert.Equal(t, "acme", it.Org)
	assert.Nil(t, it.Expires)
	id, _ := tokens.Parse(it.Token)
	assert.Equal(t, id, it.ID)

	r := e.do(t, http.MethodPost, "/v1/appointments", it.Token, scheduleBody("T1", "acme", start))
	require.Equal(t, http.StatusCreated, r.Status, "accepted at once by the process that issued it: %s", r.Body)

	var logsB testenv.SyncBuffer
	baseB, stopB := e.serveAgain(&logsB)
	took := untilStatus(t, e.validate, baseB, "/v1/appointments/T1", it.Token, http.StatusOK)
	t.Logf("a second API process accepted the new token after %s (it had just started)", took)

	t.Run("it cannot act for another organisation", func(t *testing.T) {
		r := e.do(t, http.MethodPost, "/v1/appointments", it.Token, scheduleBody("T2", "beta", start))
		require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
		assert.Equal(t, "/org", *r.problem(t).Errors[0].Pointer)
		assert.False(t, e.exists(t, "T2"))
		r = e.do(t, http.MethodPost, "/v1/appointments", tokBeta, scheduleBody("B1", "beta", start))
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		r = e.do(t, http.MethodGet, "/v1/appointments/B1", it.Token, nil)
		assert.Equal(t, http.StatusNotFound, r.Status, "another organisation's appointment does not exist for it: %s", r.Body)
		r = e.do(t, http.MethodPost, "/v1/appointments/B1/cancel", it.Token, nil)
		assert.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
		r = e.do(t, http.MethodPut, "/v1/organizations/beta/notifications", it.Token, map[string]any{"enabled": false})
		assert.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
		assert.NotEqual(t, appt.CancelledSt, e.status(t, "B1").State, "the refused cancel changed nothing")
	})

	t.Run("only an administrator token manages tokens", func(t *testing.T) {
		all := e.issue(t, map[string]any{"org": "*"})
		for _, tok := range []string{it.Token, all.Token, tokAcme, tokPadded} {
			for _, req := range []struct {
				method, path string
				body         any
			}{
				{http.MethodGet, "/v1/tokens", nil},
				{http.MethodPost, "/v1/tokens", map[string]any{"org": "acme"}},
				{http.MethodPost, "/v1/tokens", map[string]any{"org": 7, "nope": true}}, // 403 before the body is read
				{http.MethodDelete, "/v1/tokens/" + it.ID, nil},
			} {
				r := e.do(t, req.method, req.path, tok, req.body)
				require.Equal(t, http.StatusForbidden, r.Status, "%s %s: %s", req.method, req.path, r.Body)
				assert.True(t, strings.HasSuffix(r.problem(t).Type, "#admin-only"))
			}
		}
		r := e.do(t, http.MethodPost, "/v1/appointments", all.Token, scheduleBody("T3", "beta", start))
		assert.Equal(t, http.StatusCreated, r.Status, "a token for all organisations acts for any: %s", r.Body)
	})

	t.Run("revoked, it gets 401 on every API process", func(t *testing.T) {
		r := e.do(t, http.MethodDelete, "/v1/tokens/"+it.ID, tokAll, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var info httpapi.TokenInfo
		r.json(t, &info)
		assert.Equal(t, appt.TokenRevoked, info.State)
		assert.Equal(t, httpapi.TokenID(tokAll), info.RevokedBy)
		revoked := time.Now()

		r = e.do(t, http.MethodGet, "/v1/appointments/T1", it.Token, nil)
		require.Equal(t, http.StatusUnauthorized, r.Status, "refused at once by the process that revoked it: %s", r.Body)
		assert.Equal(t, "the token was revoked", r.problem(t).Detail)
		assert.Equal(t, "Bearer", r.Header.Get("WWW-Authenticate"))
		untilStatus(t, e.validate, baseB, "/v1/appointments/T1", it.Token, http.StatusUnauthorized)
		t.Logf("the second API process refused the revoked token %s after the revoke answered (bound %s)", time.Since(revoked), tokens.MaxAge)

		r = e.do(t, http.MethodDelete, "/v1/tokens/"+it.ID, tokAll, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var again httpapi.TokenInfo
		r.json(t, &again)
		assert.Equal(t, info.Revoked, again.Revoked, "a second revoke changes nothing")

		r = e.do(t, http.MethodDelete, "/v1/tokens/0000000000000000", tokAll, nil)
		require.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
		assert.Equal(t, "tokenId", r.problem(t).Errors[0].Parameter)
		r = e.do(t, http.MethodDelete, "/v1/tokens/"+it.Token, tokAll, nil)
		require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
		assert.Equal(t, "tokenId", r.problem(t).Errors[0].Parameter)
	})

	t.Run("the list shows the last use and never the token", func(t *testing.T) {
		require.Equal(t, 0, stopB(), "the second process stops cleanly, reporting its last uses")
		list := e.do(t, http.MethodGet, "/v1/tokens", tokAll, nil)
		require.Equal(t, http.StatusOK, list.Status)
		info := e.tokenList(t)[it.ID]
		assert.Equal(t, appt.TokenRevoked, info.State)
		assert.Equal(t, "acme", info.Org)
		assert.Equal(t, httpapi.TokenID(tokAll), info.IssuedBy)
		require.NotNil(t, info.LastUsed, "the use on the second process was reported")
		assert.NotContains(t, string(list.Body), it.Token)
		assert.NotContains(t, string(list.Body), tokens.Digest(it.Token))
	})

	t.Run("no token in logs or in Temporal", func(t *testing.T) {
		for _, logs := range []string{e.logs.String(), logsB.String()} {
			assert.NotContains(t, logs, it.Token)
			assert.NotContains(t, logs, it.Token[len(tokens.Prefix)+appt.TokenIDLength+1:], "not even the secret")
		}
		hist := e.history(t, appt.TokensWorkflowID)
		assert.Contains(t, hist, "issue-token", "the history is the token table's")
		assert.NotContains(t, hist, it.Token[len(tokens.Prefix)+appt.TokenIDLength+1:])
		assert.NotContains(t, hist, tokens.Digest(it.Token), "the digest is sealed by the data converter")
	})
}

// history is a workflow's raw history as JSON, payloads as Temporal stores them.
func (e *apiEnv) history(t *testing.T, workflowID string) string {
	t.Helper()
	it := e.tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{}.Marshal(h)
	require.NoError(t, err)
	return string(b)
}

// An issued token with an expiry is refused with 401 from that instant on, and listed as expired
// (docs/rules.md#api-tokens).
func TestExpiredTokenGets401(t *testing.T) {
	e := startAPIEnv(t)
	it := e.issue(t, map[string]any{"org": "acme", "expiresIn": "4s"})
	require.NotNil(t, it.Expires)
	assert.Equal(t, it.Created.Add(4*time.Second).Truncate(time.Second), it.Expires.Truncate(time.Second))
	r := e.do(t, http.MethodGet, "/v1/appointments/NONE", it.Token, nil)
	require.Equal(t, http.StatusNotFound, r.Status, "valid before its expiry: %s", r.Body)
	time.Sleep(time.Until(*it.Expires) + 100*time.Millisecond)
	r = e.do(t, http.MethodGet, "/v1/appointments/NONE", it.Token, nil)
	require.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
	assert.Equal(t, "the token has expired", r.problem(t).Detail)
	assert.Equal(t, appt.TokenExpired, e.tokenList(t)[it.ID].State)
}

// A token request is checked at the edge (docs/rules.md#api-tokens): every failing field is named in one 400, and
// nothing is issued.
func TestTokenRequestErrors(t *testing.T) {
	e := startAPIEnv(t)
	for _, c := range []struct {
		body   any
		fields []string
	}{
		{map[string]any{}, []string{"/org"}},
		{map[string]any{"org": "nope", "expiresIn": "0s"}, []string{"/org", "/expiresIn"}},
		{map[string]any{"org": "acme", "expiresIn": "a month"}, []string{"/expiresIn"}},
		{map[string]any{"org": "acme", "expiresIn": "9000h"}, []string{"/expiresIn"}},
		{map[string]any{"org": "acme|beta", "scope": "all"}, []string{"/org", "/scope"}},
	} {
		r := e.do(t, http.MethodPost, "/v1/tokens", tokAll, c.body)
		require.Equal(t, http.StatusBadRequest, r.Status, "%v: %s", c.body, r.Body)
		var got []string
		for _, f := range r.problem(t).Errors {
			got = append(got, *f.Pointer)
		}
		assert.ElementsMatch(t, c.fields, got, "%v: %s", c.body, r.Body)
	}
	assert.Empty(t, e.tokenList(t), "nothing was issued")
}
