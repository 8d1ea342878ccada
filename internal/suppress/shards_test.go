package suppress_test

import (
	"context"
	"fmt"
	"runtime"
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

// lostBumps is a Store whose index stops moving while frozen: the shards change, the index does not, as when a
// writer crashed between its shard update and its index bump.
type lostBumps struct {
	*suppress.MemoryStore
	mu     sync.Mutex
	frozen appt.SuppressionIndex
}

func (l *lostBumps) freeze(ctx context.Context, org string) {
	idx, _ := l.MemoryStore.Index(ctx, org)
	l.mu.Lock()
	l.frozen = idx
	l.mu.Unlock()
}

func (l *lostBumps) Index(ctx context.Context, org string) (appt.SuppressionIndex, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.frozen != nil {
		return append(appt.SuppressionIndex(nil), l.frozen...), nil
	}
	return l.MemoryStore.Index(ctx, org)
}

// hashInShard returns the hash of an address of the organisation whose shard is (or, with not, is not) shard.
func hashInShard(t testing.TB, h *addrhash.Hasher, org string, shard int, not bool) string {
	for i := 0; ; i++ {
		s := hashFor(t, h, org, fmt.Sprintf("s%d@example.com", i))
		if (appt.SuppressionShard(s) == shard) != not {
			return s
		}
	}
}

// The sweep rule (docs/rules.md#suppression): an entry whose shard's index bump was lost is still in force
// on every worker within ShardSweepEvery, even on a worker that loaded the list after the loss and never saw that
// shard named by the index; until then the refresh reads only what the index names.
func TestCacheSweepHealsALostBump(t *testing.T) {
	c, mem, _, h := newTestCache(t)
	store := &lostBumps{MemoryStore: mem}
	ctx := context.Background()
	ann := hashInShard(t, h, "acme", 0, true)
	store.freeze(ctx, "acme")
	_, err := store.Add(ctx, "acme", appt.SuppressionEntry{Channel: appt.Email, Hash: ann, Reason: appt.ReasonManual,
		Source: appt.SourceAPI, CreatedAt: c.now()})
	require.NoError(t, err)

	cache := suppress.NewCache(store)
	cache.Now = c.now
	r, err := cache.Check(ctx, "acme", appt.Email, ann)
	require.NoError(t, err)
	assert.Empty(t, r, "a first load reads shard 0 and the shards the index names")
	c.add(suppress.MaxStaleness + time.Second)
	r, err = cache.Check(ctx, "acme", appt.Email, ann)
	require.NoError(t, err)
	assert.Empty(t, r, "a refresh reads only the shards the index shows moved")
	c.add(suppress.ShardSweepEvery)
	r, err = cache.Check(ctx, "acme", appt.Email, ann)
	require.NoError(t, err)
	assert.Equal(t, appt.ReasonManual, r, "the sweep read every shard")
}

// The index rule (docs/rules.md#suppression): a refresh of an organisation whose list did not change reads
// the index and no page; after an add, it reads the page of that one shard.
func TestCacheReadsOnlyMovedShards(t *testing.T) {
	c, store, cache, h := newTestCache(t)
	ctx := context.Background()
	ann := hashInShard(t, h, "acme", 0, true)
	_, err := cache.Check(ctx, "acme", appt.Email, ann)
	require.NoError(t, err)
	reads, idx := store.Reads, store.IndexReads
	c.add(suppress.MaxStaleness + time.Second)
	_, err = cache.Check(ctx, "acme", appt.Email, ann)
	require.NoError(t, err)
	assert.Equal(t, reads, store.Reads, "nothing moved: no page read")
	assert.Equal(t, idx+1, store.IndexReads)

	_, err = store.Add(ctx, "acme", appt.SuppressionEntry{Channel: appt.Email, Hash: ann, Reason: appt.ReasonComplaint,
		Source: appt.SourceSES, CreatedAt: c.now()})
	require.NoError(t, err)
	c.add(suppress.MaxStaleness + time.Second)
	r, err := cache.Check(ctx, "acme", appt.Email, ann)
	require.NoError(t, err)
	assert.Equal(t, appt.ReasonComplaint, r)
	assert.Equal(t, reads+1, store.Reads, "one page of the one shard that moved")
}

// The sharding rule (docs/rules.md#suppression): shard 0 is the list written before shards and may hold an
// entry of any hash; Check, Lookup and Lift find it there, besides the address's own shard.
func TestLegacyShardZeroEntry(t *testing.T) {
	c, store, cache, h := newTestCache(t)
	ctx := context.Background()
	cfg := &config.Config{Organizations: []config.Org{{ID: "acme"}}}
	l := suppress.NewList(cfg, h, store, cache)
	l.Now = c.now
	addr := ""
	for i := 0; addr == ""; i++ {
		a := fmt.Sprintf("legacy%d@example.com", i)
		if appt.SuppressionShard(hashFor(t, h, "acme", a)) != 0 {
			addr = a
		}
	}
	hash := hashFor(t, h, "acme", addr)
	store.AddLegacy("acme", appt.SuppressionEntry{Channel: appt.Email, Hash: hash, Reason: appt.ReasonComplaint,
		Source: appt.SourceSES, CreatedAt: c.now()})

	r, err := l.Check(ctx, "acme", appt.Email, addr)
	require.NoError(t, err)
	assert.Equal(t, appt.ReasonComplaint, r, "Check looks in shard 0")
	es, _, err := l.Lookup(ctx, "acme", appt.Email, addr)
	require.NoError(t, err)
	require.Len(t, es, 1, "Lookup looks in shard 0")
	assert.Equal(t, appt.ReasonComplaint, es[0].Reason)

	res, err := l.Lift(ctx, "acme", appt.Email, addr, nil, false, appt.SourceAPI, "")
	require.NoError(t, err)
	require.Len(t, res.Lifted, 1, "Lift lifts in shard 0")
	r, err = l.Check(ctx, "acme", appt.Email, addr)
	require.NoError(t, err)
	assert.Empty(t, r, "the lift is noted in the copy at once")
	fresh := suppress.NewCache(store)
	fresh.Now = c.now
	r, err = fresh.Check(ctx, "acme", appt.Email, hash)
	require.NoError(t, err)
	assert.Empty(t, r, "another worker's copy sees the lift")
}

// The listing pages through every shard (docs/api.md#list-suppressions): 2,500 entries in pages of 1,000 come back
// each exactly once, and the cursors stay below 2^53.
func TestPageListsEveryShard(t *testing.T) {
	c, store, _, h := newTestCache(t)
	ctx := context.Background()
	want := map[string]bool{}
	var es []appt.SuppressionEntry
	for i := 0; i < 2500; i++ {
		hh := hashFor(t, h, "acme", fmt.Sprintf("c%d@example.com", i))
		want[hh] = true
		es = append(es, appt.SuppressionEntry{Channel: appt.Email, Hash: hh, Reason: appt.ReasonManual, Source: "import", CreatedAt: c.now()})
	}
	n, err := store.AddBatch(ctx, "acme", es)
	require.NoError(t, err)
	require.Equal(t, 2500, n)
	got := map[string]int{}
	var cursor int64
	pages := 0
	for {
		p, err := suppress.Page(ctx, store, "acme", cursor, 1000)
		require.NoError(t, err)
		pages++
		for _, e := range p.Entries {
			got[e.Hash]++
		}
		assert.Less(t, p.Next, int64(1)<<53)
		if !p.More {
			break
		}
		cursor = p.Next
	}
	assert.Equal(t, 3, pages)
	assert.Len(t, got, len(want))
	for hh, k := range got {
		assert.True(t, want[hh])
		assert.Equal(t, 1, k)
	}
	_, err = suppress.Page(ctx, store, "acme", int64(appt.SuppressionShards)<<48, 10)
	require.ErrorContains(t, err, "since")
}

// BenchmarkCheckHundredThousand measures the check every send makes against one organisation of 100,000 entries
// (the bench list, over 32 shards; half the checks on suppressed addresses; the address hashed in every
// check), and reports the heap the warm cache takes (cache-MB: heap after the first load less heap before, both
// after a GC).
func BenchmarkCheckHundredThousand(b *testing.B) {
	c, store, cache, h := newTestCache(b)
	ctx := context.Background()
	const n = 100_000
	es := make([]appt.SuppressionEntry, n)
	for i := range es {
		es[i] = appt.SuppressionEntry{Channel: appt.Email, Hash: hashFor(b, h, "acme", fmt.Sprintf("c%d@example.com", i)),
			Reason: appt.ReasonManual, Source: "import", CreatedAt: c.now()}
	}
	_, err := store.AddBatch(ctx, "acme", es)
	require.NoError(b, err)
	es = nil
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cfg := &config.Config{Organizations: []config.Org{{ID: "acme"}}}
	l := suppress.NewList(cfg, h, store, cache)
	r, err := l.Check(ctx, "acme", appt.Email, "c0@example.com")
	require.NoError(b, err)
	require.Equal(b, appt.ReasonManual, r)
	runtime.GC()
	runtime.ReadMemStats(&after)
	cacheMB := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	checkParallel(b, l, func(int) string { return "acme" }, 2*n)
	b.ReportMetric(cacheMB, "cache-MB") // after the run: ResetTimer clears the metrics reported before it
}
