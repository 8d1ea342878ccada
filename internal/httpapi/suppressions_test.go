package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/httpapi/httpapitest"
	"github.com/apptnotify/apptnotify/internal/suppress"
)

// The suppression operations (docs/api.md#suppressions), against the real handler and the suppression workflow's
// list code in memory: add (manual, with an optional expiry) answers the entry with the address's hash only; lookup
// takes the address in the body and says whether it is suppressed; list pages hashes only; lift removes the
// entries. An address that does not normalise, a bad channel or a past expiry gets a 400 naming each field, and
// changes nothing; a token for another organisation gets 403. The listing's cursor pages through every shard; an
// add to a full shard gets 409 suppression-list-full and adds nothing. Every answer matches api/openapi.yaml.
func TestSuppressionOperations(t *testing.T) {
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	c := api.New(&edgeClient{}, config.Demo())
	c.Now = func() time.Time { return now }
	hasher, err := addrhash.New(make([]byte, addrhash.KeySize))
	require.NoError(t, err)
	store := suppress.NewMemoryStore(func() time.Time { return now })
	l := suppress.NewList(config.Demo(), hasher, store, nil)
	l.Now = c.Now
	tokens, err := httpapi.ParseTokens("tok=*,other=elsewhere")
	require.NoError(t, err)
	h, err := httpapi.New(httpapi.Options{Client: c, Tokens: tokens, Suppressions: l})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	v, err := httpapitest.New()
	require.NoError(t, err)

	do := func(token, method, path, body string) (int, []byte) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.NoError(t, v.Validate(req, res.StatusCode, res.Header, b), "%s %s: %s", method, path, b)
		return res.StatusCode, b
	}
	base := "/v1/organizations/demo/suppressions"

	st, body := do("tok", http.MethodPost, base, `{"channel":"fax","address":"ann","expiresAt":"2020-01-01T00:00:00Z"}`)
	require.Equal(t, http.StatusBadRequest, st, "%s", body)
	var p httpapi.Problem
	require.NoError(t, json.Unmarshal(body, &p))
	assert.ElementsMatch(t, []string{"/channel", "/expiresAt"}, httpapitest.Pointers(p))
	st, body = do("tok", http.MethodPost, base, `{"channel":"email","address":"ann"}`)
	require.Equal(t, http.StatusBadRequest, st)
	require.NoError(t, json.Unmarshal(body, &p))
	assert.Equal(t, []string{"/address"}, httpapitest.Pointers(p))
	st, _ = do("other", http.MethodPost, base, `{"channel":"email","address":"ann@example.com"}`)
	assert.Equal(t, http.StatusForbidden, st)

	st, body = do("tok", http.MethodPost, base, `{"channel":"email","address":"Ann@Example.com","expiresAt":"2030-02-01T00:00:00Z"}`)
	require.Equal(t, http.StatusOK, st, "%s", body)
	assert.NotContains(t, strings.ToLower(string(body)), "ann@example.com", "only the hash comes back")
	var added appt.SuppressionAddResult
	require.NoError(t, json.Unmarshal(body, &added))
	assert.Equal(t, appt.ReasonManual, added.Entry.Reason)
	want, _ := hasher.HashAddress("demo", appt.Email, "ann@example.com")
	assert.Equal(t, want, added.Entry.Hash)

	st, body = do("tok", http.MethodPost, base+"/lookup", `{"channel":"email","address":"ann@EXAMPLE.com"}`)
	require.Equal(t, http.StatusOK, st)
	var look httpapi.SuppressionLookupResponse
	require.NoError(t, json.Unmarshal(body, &look))
	assert.True(t, look.Suppressed)
	assert.Len(t, look.Entries, 1)

	st, body = do("tok", http.MethodGet, base+"?limit=10", "")
	require.Equal(t, http.StatusOK, st)
	var page appt.SuppressionChanges
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Entries, 1)
	assert.Equal(t, want, page.Entries[0].Hash)

	st, body = do("tok", http.MethodPost, base+"/lift", `{"channel":"email","address":"ann@example.com","reasons":["manual"]}`)
	require.Equal(t, http.StatusOK, st, "%s", body)
	st, body = do("tok", http.MethodPost, base+"/lookup", `{"channel":"email","address":"ann@example.com"}`)
	require.Equal(t, http.StatusOK, st)
	require.NoError(t, json.Unmarshal(body, &look))
	assert.False(t, look.Suppressed, "lifted")

	// The listing pages through every shard: next is the cursor of the following page, whatever shard it is in.
	for _, a := range []string{"bo@example.com", "cy@example.com", "di@example.com"} {
		st, body = do("tok", http.MethodPost, base, `{"channel":"email","address":"`+a+`"}`)
		require.Equal(t, http.StatusOK, st, "%s", body)
	}
	seen := map[string]bool{}
	since := int64(0)
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		st, body = do("tok", http.MethodGet, base+"?limit=1&since="+strconv.FormatInt(since, 10), "")
		require.Equal(t, http.StatusOK, st, "%s", body)
		require.NoError(t, json.Unmarshal(body, &page))
		for _, e := range page.Entries {
			seen[e.Hash] = true
		}
		if !page.More {
			break
		}
		since = page.Next
	}
	assert.Len(t, seen, 4, "ann's tombstone and three entries, in their shards")
	st, body = do("tok", http.MethodGet, base+"?since=9007199254740992", "")
	require.Equal(t, http.StatusBadRequest, st, "%s", body)

	// A full shard refuses an add with 409 suppression-list-full, and the address stays unsuppressed.
	full, _ := hasher.HashAddress("demo", appt.Email, "full@example.com")
	k := appt.SuppressionShard(full)
	for i := 0; ; i++ {
		_, err := store.Add(t.Context(), "demo", appt.SuppressionEntry{Channel: appt.Email, Hash: fmt.Sprintf("%02x%062x", k, i),
			Reason: appt.ReasonManual, Source: "import", CreatedAt: now})
		if err != nil {
			var fe *appt.SuppressionFullError
			require.ErrorAs(t, err, &fe)
			break
		}
	}
	st, body = do("tok", http.MethodPost, base, `{"channel":"email","address":"full@example.com"}`)
	require.Equal(t, http.StatusConflict, st, "%s", body)
	require.NoError(t, json.Unmarshal(body, &p))
	assert.True(t, strings.HasSuffix(p.Type, "#suppression-list-full"), p.Type)
	assert.Contains(t, p.Detail, "the suppression list is full")
	st, body = do("tok", http.MethodPost, base+"/lookup", `{"channel":"email","address":"full@example.com"}`)
	require.Equal(t, http.StatusOK, st)
	require.NoError(t, json.Unmarshal(body, &look))
	assert.False(t, look.Suppressed)
}
