package tokens_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/tokens"
)

// A generated token is apn_<16 hex>_<43 base64url> with 256 bits of secret; its ID is the public part; the table
// keeps the lowercase hex SHA-256 of the whole token; Parse recognises only that shape.
func TestGenerateAndParse(t *testing.T) {
	a, err := tokens.Generate()
	require.NoError(t, err)
	b, err := tokens.Generate()
	require.NoError(t, err)
	assert.NotEqual(t, a.Token, b.Token)
	assert.NotEqual(t, a.ID, b.ID)
	assert.Regexp(t, `^apn_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$`, a.Token)
	id, ok := tokens.Parse(a.Token)
	require.True(t, ok)
	assert.Equal(t, a.ID, id)
	assert.True(t, appt.ValidTokenID(a.ID))
	d := sha256.Sum256([]byte(a.Token))
	assert.Equal(t, hex.EncodeToString(d[:]), a.Digest)
	assert.Equal(t, a.Digest, tokens.Digest(a.Token))
	assert.True(t, appt.ValidTokenDigest(a.Digest))
	assert.NotContains(t, a.Digest, a.Token[len(tokens.Prefix)+17:], "the digest holds nothing of the secret")

	for _, bad := range []string{
		"", "tok-all", "cGFkZGVk==",
		strings.Replace(a.Token, "apn_", "apx_", 1),
		a.Token + "A",            // too long
		a.Token[:len(a.Token)-1], // too short
		"apn_" + strings.ToUpper(a.ID) + a.Token[20:], // the ID is lowercase hex
		"apn_" + a.ID + "-" + a.Token[21:],            // the separator
		"apn_" + a.ID + "_" + strings.Repeat("*", 43), // not base64url
	} {
		_, ok := tokens.Parse(bad)
		assert.False(t, ok, "%q", bad)
	}
}

// Scope and lifetime rules (docs/rules.md#api-tokens): a scope is an organisation ID or *; a lifetime is 1 s to
// 366 days.
func TestRequestRules(t *testing.T) {
	assert.NoError(t, tokens.ValidScope("*"))
	assert.NoError(t, tokens.ValidScope("acme"))
	for _, bad := range []string{"", "a b", "acme|beta", "**"} {
		var fe *appt.FieldError
		require.ErrorAs(t, tokens.ValidScope(bad), &fe, "%q", bad)
		assert.Equal(t, "org", fe.Field)
	}
	assert.NoError(t, tokens.ValidLifetime(time.Second))
	assert.NoError(t, tokens.ValidLifetime(720*time.Hour))
	assert.NoError(t, tokens.ValidLifetime(tokens.MaxLifetime))
	for _, bad := range []time.Duration{-time.Hour, 0, 999 * time.Millisecond, tokens.MaxLifetime + time.Second} {
		var fe *appt.FieldError
		require.ErrorAs(t, tokens.ValidLifetime(bad), &fe, "%s", bad)
		assert.Equal(t, "expiresIn", fe.Field)
	}
}

// fakeSource is a token table in memory, answering as the workflow's query does; full counts the answers with
// records.
type fakeSource struct {
	mu    sync.Mutex
	tab   appt.TokenTable
	err   error
	full  int
	marks [][]appt.TokenUse
	mErr  error
}

func (f *fakeSource) TokenTable(_ context.Context, since int64) (appt.TokenTable, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return appt.TokenTable{}, f.err
	}
	if since > 0 && since == f.tab.Revision {
		return appt.TokenTable{Revision: since, Unchanged: true}, nil
	}
	f.full++
	return appt.TokenTable{Tokens: append([]appt.TokenRecord(nil), f.tab.Tokens...), Revision: f.tab.Revision}, nil
}

func (f *fakeSource) MarkTokensUsed(_ context.Context, uses []appt.TokenUse) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mErr != nil {
		return f.mErr
	}
	f.marks = append(f.marks, uses)
	return nil
}

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func issue(t *testing.T, org string, expires time.Time) (tokens.Issued, appt.TokenRecord) {
	tok, err := tokens.Generate()
	require.NoError(t, err)
	return tok, appt.TokenRecord{ID: tok.ID, Digest: tok.Digest, Org: org, Created: t0, Expires: expires, IssuedBy: "env-000000000000"}
}

// The API process's copy of the table (docs/rules.md#api-tokens): it accepts only a token its copy holds, neither
// revoked nor expired (expired from the Expires instant on); it accepts nothing before its first read, nor from a
// copy whose read was sent MaxAge ago or more (Temporal unreachable), and accepts again once a read succeeds; a read
// of an unchanged table carries no records and renews the copy's age.
func TestTableVerdicts(t *testing.T) {
	live, liveRec := issue(t, "acme", time.Time{})
	expiring, expRec := issue(t, "*", t0.Add(time.Hour))
	revoked, revRec := issue(t, "acme", time.Time{})
	revRec.Revoked = t0
	unknown, _ := issue(t, "acme", time.Time{})
	src := &fakeSource{tab: appt.TokenTable{Tokens: []appt.TokenRecord{liveRec, expRec, revRec}, Revision: 4}}
	c := &clock{t: t0}
	tab := tokens.NewTable(src, c.now, nil)

	_, v := tab.Check(live.Token)
	assert.Equal(t, tokens.Stale, v, "nothing is accepted before the first read")
	require.NoError(t, tab.Refresh(context.Background()))

	rec, v := tab.Check(live.Token)
	assert.Equal(t, tokens.Accepted, v)
	assert.Equal(t, live.ID, rec.ID)
	_, v = tab.Check(revoked.Token)
	assert.Equal(t, tokens.Revoked, v)
	_, v = tab.Check(unknown.Token)
	assert.Equal(t, tokens.Unknown, v, "a token the copy has not seen")
	_, v = tab.Check("tok-all")
	assert.Equal(t, tokens.Unknown, v)
	_, v = tab.Check(live.Token[:len(live.Token)-1] + "x")
	assert.Equal(t, tokens.Unknown, v, "the right ID with a wrong secret")

	c.t = t0.Add(time.Hour - time.Second)
	require.NoError(t, tab.Refresh(context.Background()))
	_, v = tab.Check(expiring.Token)
	assert.Equal(t, tokens.Accepted, v)
	c.t = t0.Add(time.Hour)
	require.NoError(t, tab.Refresh(context.Background()))
	_, v = tab.Check(expiring.Token)
	assert.Equal(t, tokens.Expired, v, "expired from its Expires instant on")

	assert.Equal(t, 1, src.full, "an unchanged table is read without its records")

	// Temporal unreachable: the copy ages and is refused from MaxAge on.
	src.err = errors.New("unreachable")
	c.t = c.t.Add(tokens.MaxAge - time.Millisecond)
	assert.Error(t, tab.Refresh(context.Background()))
	_, v = tab.Check(live.Token)
	assert.Equal(t, tokens.Accepted, v, "a copy younger than MaxAge is used")
	c.t = c.t.Add(time.Millisecond)
	_, v = tab.Check(live.Token)
	assert.Equal(t, tokens.Stale, v, "a copy MaxAge old is not")
	src.err = nil
	require.NoError(t, tab.Refresh(context.Background()))
	_, v = tab.Check(live.Token)
	assert.Equal(t, tokens.Accepted, v, "an unchanged answer renews the copy's age")

	// A revoke reaches the copy with the next read.
	src.tab.Tokens[0].Revoked = c.t
	src.tab.Revision++
	require.NoError(t, tab.Refresh(context.Background()))
	_, v = tab.Check(live.Token)
	assert.Equal(t, tokens.Revoked, v)
}

// Last uses cost no write per request (docs/rules.md#api-tokens): the copy notes the latest accepted use of each
// token and Flush reports them all in one call, sorted by ID, then nothing until the next use; a failed report is
// kept for the next one.
func TestLastUsedIsBatched(t *testing.T) {
	a, aRec := issue(t, "acme", time.Time{})
	b, bRec := issue(t, "*", time.Time{})
	src := &fakeSource{tab: appt.TokenTable{Tokens: []appt.TokenRecord{aRec, bRec}}}
	c := &clock{t: t0}
	tab := tokens.NewTable(src, c.now, nil)
	require.NoError(t, tab.Refresh(context.Background()))
	for i := range 100 {
		c.t = t0.Add(time.Duration(i) * time.Millisecond)
		_, v := tab.Check(a.Token)
		require.Equal(t, tokens.Accepted, v)
	}
	_, v := tab.Check(b.Token)
	require.Equal(t, tokens.Accepted, v)

	src.mErr = errors.New("unreachable")
	require.Error(t, tab.Flush(context.Background()))
	src.mErr = nil
	require.NoError(t, tab.Flush(context.Background()))
	require.Len(t, src.marks, 1, "one report for every use")
	want := []appt.TokenUse{{ID: a.ID, At: t0.Add(99 * time.Millisecond)}, {ID: b.ID, At: t0.Add(99 * time.Millisecond)}}
	if b.ID < a.ID {
		want[0], want[1] = want[1], want[0]
	}
	assert.Equal(t, want, src.marks[0])
	require.NoError(t, tab.Flush(context.Background()))
	assert.Len(t, src.marks, 1, "nothing new, nothing sent")
}

// BenchmarkTableCheck is the cost an issued token adds to a request: a SHA-256 and a map look-up in a copy of 1,000
// records.
func BenchmarkTableCheck(b *testing.B) {
	src := &fakeSource{tab: appt.TokenTable{Revision: 1}}
	var tok tokens.Issued
	for range 1000 {
		var err error
		tok, err = tokens.Generate()
		require.NoError(b, err)
		src.tab.Tokens = append(src.tab.Tokens, appt.TokenRecord{ID: tok.ID, Digest: tok.Digest, Org: "acme", Created: t0})
	}
	tab := tokens.NewTable(src, nil, nil)
	require.NoError(b, tab.Refresh(context.Background()))
	b.ResetTimer()
	for b.Loop() {
		if _, v := tab.Check(tok.Token); v != tokens.Accepted {
			b.Fatal(v)
		}
	}
}

// BenchmarkTableRefresh is the cost of reading a table of 1,000 records into a copy (the answer to a revision the
// copy does not hold).
func BenchmarkTableRefresh(b *testing.B) {
	src := &fakeSource{tab: appt.TokenTable{Revision: 1}}
	for range 1000 {
		tok, err := tokens.Generate()
		require.NoError(b, err)
		src.tab.Tokens = append(src.tab.Tokens, appt.TokenRecord{ID: tok.ID, Digest: tok.Digest, Org: "acme", Created: t0})
	}
	for b.Loop() {
		tab := tokens.NewTable(src, nil, nil)
		if err := tab.Refresh(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
