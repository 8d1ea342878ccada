package suppress_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/suppress"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// flaky is a Store whose reads fail while down.
type flaky struct {
	*suppress.MemoryStore
	mu   sync.Mutex
	down bool
}

func (f *flaky) isDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

func (f *flaky) Changes(ctx context.Context, org string, shard int, q appt.SuppressionChangesQuery) (appt.SuppressionChanges, error) {
	if f.isDown() {
		return appt.SuppressionChanges{}, errors.New("unavailable")
	}
	return f.MemoryStore.Changes(ctx, org, shard, q)
}

func (f *flaky) Index(ctx context.Context, org string) (appt.SuppressionIndex, error) {
	if f.isDown() {
		return nil, errors.New("unavailable")
	}
	return f.MemoryStore.Index(ctx, org)
}

// newTestCache is a cache over the list code in memory, both on a settable clock, and a hasher with a zero key.
func newTestCache(t testing.TB) (*clock, *suppress.MemoryStore, *suppress.Cache, *addrhash.Hasher) {
	c := &clock{t: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	store := suppress.NewMemoryStore(c.now)
	cache := suppress.NewCache(store)
	cache.Now = c.now
	h, err := addrhash.New(make([]byte, addrhash.KeySize))
	require.NoError(t, err)
	return c, store, cache, h
}

func hashFor(t testing.TB, h *addrhash.Hasher, org, addr string) string {
	s, err := h.HashAddress(org, appt.Email, addr)
	require.NoError(t, err)
	return s
}

// The cache's freshness rule (docs/rules.md#suppression): a check never uses a copy older than MaxStaleness; when
// the copy is older it reads the changes itself (so an entry made on another worker is in force there within
// MaxStaleness plus one read), and when it cannot it fails instead of letting the send through unchecked. A lift
// and an expiry stop suppressing.
func TestCacheFreshness(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	store := &flaky{MemoryStore: suppress.NewMemoryStore(c.now)}
	cache := suppress.NewCache(store)
	cache.Now = c.now
	h, err := addrhash.New(make([]byte, addrhash.KeySize))
	require.NoError(t, err)
	ann := hashFor(t, h, "acme", "ann@example.com")
	ctx := context.Background()
	r, err := cache.Check(ctx, "acme", appt.Email, ann)
	require.NoError(t, err)
	assert.Empty(t, r)

	// Another worker adds an entry: this copy is still fresh, so it does not see it yet ...
	exp := c.now().Add(time.Hour)
	_, err = store.Add(ctx, "acme", appt.SuppressionEntry{Channel: appt.Email, Hash: ann, Reason: appt.ReasonHardBounce,
		Source: appt.SourceSES, CreatedAt: c.now(), ExpiresAt: &exp})
	require.NoError(t, err)
	c.add(time.Second)
	r, _ = cache.Check(ctx, "acme", appt.Email, ann)
	assert.Empty(t, r, "within MaxStaleness the copy is used as it is")
	// ... and once the copy is older than MaxStaleness, the check reads the changes.
	c.add(suppress.MaxStaleness)
	r, err = cache.Check(ctx, "acme", appt.Email, ann)
	require.NoError(t, err)
	assert.Equal(t, appt.ReasonHardBounce, r)

	store.mu.Lock()
	store.down = true
	store.mu.Unlock()
	c.add(suppress.MaxStaleness + time.Second)
	_, err = cache.Check(ctx, "acme", appt.Email, ann)
	require.ErrorContains(t, err, "reading the suppression list", "a stale copy that cannot be refreshed fails the check")
	store.mu.Lock()
	store.down = false
	store.mu.Unlock()

	c.add(time.Hour)
	r, err = cache.Check(ctx, "acme", appt.Email, ann)
	require.NoError(t, err)
	assert.Empty(t, r, "the bounce expired")

	_, err = store.Add(ctx, "acme", appt.SuppressionEntry{Channel: appt.Email, Hash: ann, Reason: appt.ReasonManual,
		Source: appt.SourceAPI, CreatedAt: c.now()})
	require.NoError(t, err)
	c.add(suppress.MaxStaleness + time.Second)
	r, _ = cache.Check(ctx, "acme", appt.Email, ann)
	require.Equal(t, appt.ReasonManual, r)
	_, err = store.Lift(ctx, "acme", appt.SuppressionLift{Channel: appt.Email, Hash: ann, Source: appt.SourceAPI})
	require.NoError(t, err)
	c.add(suppress.MaxStaleness + time.Second)
	r, _ = cache.Check(ctx, "acme", appt.Email, ann)
	assert.Empty(t, r, "the lift reached the copy as a tombstone")
}

// A list larger than one page loads completely, and a reader older than the tombstones kept reloads from scratch
// (Reset), dropping what was lifted meanwhile.
func TestCachePagesAndReset(t *testing.T) {
	c, store, cache, h := newTestCache(t)
	ctx := context.Background()
	var hashes []string
	for i := 0; i < 2500; i++ {
		hh := hashFor(t, h, "acme", fmt.Sprintf("c%d@example.com", i))
		hashes = append(hashes, hh)
		_, err := store.Add(ctx, "acme", appt.SuppressionEntry{Channel: appt.Email, Hash: hh, Reason: appt.ReasonManual,
			Source: appt.SourceAPI, CreatedAt: c.now()})
		require.NoError(t, err)
	}
	r, err := cache.Check(ctx, "acme", appt.Email, hashes[2499])
	require.NoError(t, err)
	assert.Equal(t, appt.ReasonManual, r, "the last entry of the third page")
	_, err = store.Lift(ctx, "acme", appt.SuppressionLift{Channel: appt.Email, Hash: hashes[0], Source: appt.SourceAPI})
	require.NoError(t, err)
	c.add(3 * time.Hour) // past the tombstone TTL
	store.Sweep("acme")
	store.Sweep("acme")
	r, err = cache.Check(ctx, "acme", appt.Email, hashes[0])
	require.NoError(t, err)
	assert.Empty(t, r, "the reset dropped the lifted entry though its tombstone is gone")
}

// BenchmarkCheck measures the check every send makes, against a warm copy: 100 organisations of 1,000 entries
// each (100,000 in all), half the checks on suppressed addresses; in parallel, as a worker's activity slots run.
// The address is hashed in every check (HMAC-SHA256), as the activities do.
func BenchmarkCheck(b *testing.B) {
	c, store, cache, h := newTestCache(b)
	var cfg config.Config
	ctx := context.Background()
	const orgs, per = 100, 1000
	for o := 0; o < orgs; o++ {
		org := fmt.Sprintf("org%d", o)
		cfg.Organizations = append(cfg.Organizations, config.Org{ID: org})
		for i := 0; i < per; i++ {
			_, err := store.Add(ctx, org, appt.SuppressionEntry{Channel: appt.Email, Hash: hashFor(b, h, org, fmt.Sprintf("c%d@example.com", i)),
				Reason: appt.ReasonManual, Source: appt.SourceAPI, CreatedAt: c.now()})
			require.NoError(b, err)
		}
	}
	l := suppress.NewList(&cfg, h, store, cache)
	for o := 0; o < orgs; o++ {
		_, err := l.Check(ctx, fmt.Sprintf("org%d", o), appt.Email, "warm@example.com")
		require.NoError(b, err)
	}
	checkParallel(b, l, func(i int) string { return fmt.Sprintf("org%d", i%orgs) }, 2*per)
}

// checkParallel runs the benchmark's checks in parallel: the i-th on organisation org(i) and address c<i%addrs>.
func checkParallel(b *testing.B, l *suppress.List, org func(i int) string, addrs int) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			_, err := l.Check(ctx, org(i), appt.Email, fmt.Sprintf("c%d@example.com", i%addrs))
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRefreshNoChanges measures one refresh of an organisation whose list did not change (what every worker
// does for each organisation in use every second): one read of the index, against the list code in memory;
// Temporal's query round trip comes on top.
func BenchmarkRefreshNoChanges(b *testing.B) {
	c := &clock{t: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	store := suppress.NewMemoryStore(c.now)
	ctx := context.Background()
	h, err := addrhash.New(make([]byte, addrhash.KeySize))
	require.NoError(b, err)
	for i := 0; i < 1000; i++ {
		_, err := store.Add(ctx, "acme", appt.SuppressionEntry{Channel: appt.Email, Hash: hashFor(b, h, "acme", fmt.Sprintf("c%d@example.com", i)),
			Reason: appt.ReasonManual, Source: appt.SourceAPI, CreatedAt: c.now()})
		require.NoError(b, err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx, err := store.Index(ctx, "acme")
		if err != nil || len(idx) != appt.SuppressionShards {
			b.Fatal(err, idx)
		}
	}
}
