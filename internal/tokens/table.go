package tokens

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Timing of an API process's copy of the token table (docs/rules.md#api-tokens).
const (
	// RefreshInterval is how often an API process reads the table.
	RefreshInterval = time.Second
	// RefreshTimeout bounds one read of the table.
	RefreshTimeout = 2 * time.Second
	// MaxAge is how old a copy may be, counted from when its read was sent, and still authenticate: a token revoked
	// (or issued) at T is refused (or accepted) by every API process from T + MaxAge on. An older copy (Temporal
	// unreachable) authenticates no issued token; the tokens of APPTNOTIFY_API_TOKENS keep working.
	MaxAge = 5 * time.Second
	// UsedInterval is how often an API process reports last uses to the table: one signal for every token used
	// since the previous one, so "last used" is at most this late and costs no write per request.
	UsedInterval = time.Minute
)

// Source is the token-table workflow as an API process sees it (api.Client implements it).
type Source interface {
	// TokenTable reads the table; a table that was never started is empty. With since > 0, a table still at that
	// revision answers Unchanged, without records.
	TokenTable(ctx context.Context, since int64) (appt.TokenTable, error)
	// MarkTokensUsed reports last uses.
	MarkTokensUsed(ctx context.Context, uses []appt.TokenUse) error
}

// Verdict is what Table.Check found.
type Verdict int

// The verdicts of Table.Check.
const (
	// Accepted: the token is in a fresh copy of the table, neither revoked nor expired.
	Accepted Verdict = iota
	// Unknown: no such token, or not an issued token's shape.
	Unknown
	// Revoked: the token was revoked.
	Revoked
	// Expired: the token's expiry has passed.
	Expired
	// Stale: the copy of the table is older than MaxAge (or was never read), so no issued token can be checked.
	Stale
)

// Table is an API process's copy of the token table, read from a Source every RefreshInterval by Run. It never
// accepts a token its copy does not hold, nor from a copy older than MaxAge.
type Table struct {
	src    Source
	now    func() time.Time
	logger *slog.Logger

	mu       sync.Mutex
	byDigest map[[sha256.Size]byte]appt.TokenRecord
	sent     time.Time // when the read of the current copy was sent; zero before the first read
	revision int64     // the table's revision the copy holds
	used     map[string]time.Time
	failing  bool
}

// NewTable returns an empty copy (every issued token is Stale until the first Refresh). now is the clock of
// expiry and age (time.Now when nil); logger hears of failed reads (discarded when nil).
func NewTable(src Source, now func() time.Time, logger *slog.Logger) *Table {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Table{src: src, now: now, logger: logger, used: map[string]time.Time{}}
}

// Refresh reads the table and replaces the copy. On failure the copy is kept, and ages.
func (t *Table) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, RefreshTimeout)
	defer cancel()
	sent := t.now()
	t.mu.Lock()
	since := t.revision
	t.mu.Unlock()
	tab, err := t.src.TokenTable(ctx, since)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		if !t.failing {
			t.logger.Warn("cannot read the API token table; issued tokens are refused once the last copy is "+MaxAge.String()+" old", "error", err)
		}
		t.failing = true
		return err
	}
	if t.failing {
		t.logger.Info("API token table read again")
	}
	t.failing = false
	if sent.Before(t.sent) {
		return nil // a slow read sent before the current copy's must not replace it
	}
	if tab.Unchanged {
		if tab.Revision == t.revision {
			t.sent = sent
		}
		return nil
	}
	m := make(map[[sha256.Size]byte]appt.TokenRecord, len(tab.Tokens))
	for _, r := range tab.Tokens {
		var d [sha256.Size]byte
		if b, err := hex.DecodeString(r.Digest); err == nil && len(b) == sha256.Size {
			copy(d[:], b)
			m[d] = r
		}
	}
	t.byDigest, t.sent, t.revision = m, sent, tab.Revision
	return nil
}

// Check authenticates a bearer token against the copy. An accepted token's use is noted for the next report of
// last uses. The look-up is by the token's SHA-256: which digests the table holds does not depend on anything a
// caller chooses, so its timing tells nothing about the token.
func (t *Table) Check(token string) (appt.TokenRecord, Verdict) {
	if _, ok := Parse(token); !ok {
		return appt.TokenRecord{}, Unknown
	}
	d := sha256.Sum256([]byte(token))
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sent.IsZero() || now.Sub(t.sent) >= MaxAge {
		return appt.TokenRecord{}, Stale
	}
	r, ok := t.byDigest[d]
	if !ok {
		return appt.TokenRecord{}, Unknown
	}
	switch r.State(now) {
	case appt.TokenRevoked:
		return r, Revoked
	case appt.TokenExpired:
		return r, Expired
	}
	t.used[r.ID] = now.UTC()
	return r, Accepted
}

// Flush reports the last uses noted since the previous report, in one call, sorted by token ID. On failure they are
// kept for the next one, unless a later use replaced them.
func (t *Table) Flush(ctx context.Context) error {
	t.mu.Lock()
	uses := make([]appt.TokenUse, 0, len(t.used))
	for _, id := range appt.SortedKeys(t.used) {
		uses = append(uses, appt.TokenUse{ID: id, At: t.used[id]})
	}
	clear(t.used)
	t.mu.Unlock()
	if len(uses) == 0 {
		return nil
	}
	err := t.src.MarkTokensUsed(ctx, uses)
	if err != nil {
		t.mu.Lock()
		for _, u := range uses {
			if at, ok := t.used[u.ID]; !ok || at.Before(u.At) {
				t.used[u.ID] = u.At
			}
		}
		t.mu.Unlock()
	}
	return err
}

// Run refreshes the copy every RefreshInterval and reports last uses every UsedInterval until ctx is done, then
// reports the uses still noted (within RefreshTimeout).
func (t *Table) Run(ctx context.Context) {
	refresh := time.NewTicker(RefreshInterval)
	defer refresh.Stop()
	report := time.NewTicker(UsedInterval)
	defer report.Stop()
	_ = t.Refresh(ctx)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RefreshTimeout)
			defer cancel()
			if err := t.Flush(fctx); err != nil {
				t.logger.Warn("cannot report the last uses of API tokens", "error", err)
			}
			return
		case <-refresh.C:
			_ = t.Refresh(ctx)
		case <-report.C:
			if err := t.Flush(ctx); err != nil {
				t.logger.Warn("cannot report the last uses of API tokens", "error", err)
			}
		}
	}
}
