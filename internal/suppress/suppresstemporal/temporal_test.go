package suppresstemporal_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/devserver"
	"github.com/apptnotify/apptnotify/internal/suppress"
	"github.com/apptnotify/apptnotify/workflows"
)

// embedded starts an embedded Temporal server (default limits: a payload over 2 MiB is refused) and a worker with
// the workflows, both stopped when the test ends.
func embedded(t *testing.T) client.Client {
	quiet := slog.New(slog.DiscardHandler)
	port, err := devserver.FreePort()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: t.TempDir(), Port: port, UIPort: 0, Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	tc, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(quiet)})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	w := worker.New(tc, appt.TaskQueue, worker.Options{})
	workflows.Register(w)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return tc
}

// importHash is the n-th hash of the import: spread over the shards as keyed hashes are.
func importHash(prefix string, n int) string {
	s := sha256.Sum256(fmt.Appendf(nil, "%s%d", prefix, n))
	return hex.EncodeToString(s[:])
}

// The sharding rule at scale (docs/rules.md#suppression), on a real Temporal server: 100,000 entries
// batch-added to one organisation (about 12 times what one workflow could carry across continue-as-new); a fresh
// cache loads them and Check finds every sampled entry and none of 1,000 addresses not on the list; a shard that
// continues as new with over 3,000 entries keeps them all.
func TestTemporalStoreHundredThousandEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an embedded Temporal server: skipped with -short")
	}
	tc := embedded(t)
	store := suppress.TemporalStore{C: tc}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n = 100_000
	now := time.Now().UTC().Truncate(time.Second)
	exp := now.Add(7 * 24 * time.Hour)
	es := make([]appt.SuppressionEntry, n)
	for i := range es {
		es[i] = appt.SuppressionEntry{Channel: appt.Email, Hash: importHash("in", i), Reason: appt.ReasonManual,
			Source: "import", CreatedAt: now}
		if i%2 == 1 {
			es[i].Reason, es[i].ExpiresAt = appt.ReasonHardBounce, &exp
		}
	}
	start := time.Now()
	added, err := store.AddBatch(ctx, "acme", es)
	require.NoError(t, err)
	require.Equal(t, n, added)
	t.Logf("batch add of %d entries: %v", n, time.Since(start))
	again, err := store.AddBatch(ctx, "acme", es[:3000])
	require.NoError(t, err)
	assert.Zero(t, again, "an import sent again changes nothing")

	// One shard continues as new with more than 3,000 entries: it holds about 3,125 after the import; a further
	// batch passes supplist.UpdatesPerRun (a batch counts its entries).
	const k = 7
	id := appt.SuppressionShardWorkflowID("acme", k)
	before, err := tc.DescribeWorkflowExecution(ctx, id, "")
	require.NoError(t, err)
	var more []appt.SuppressionEntry
	for i := 0; len(more) < appt.MaxSuppressionBatch; i++ {
		if h := importHash("more", i); appt.SuppressionShard(h) == k {
			more = append(more, appt.SuppressionEntry{Channel: appt.SMS, Hash: h, Reason: appt.ReasonSMSStop, Source: "import", CreatedAt: now})
		}
	}
	_, err = store.AddBatch(ctx, "acme", more)
	require.NoError(t, err)
	inShard := len(more)
	for i := range es {
		if appt.SuppressionShard(es[i].Hash) == k {
			inShard++
		}
	}
	require.Greater(t, inShard, 3000)
	require.Eventually(t, func() bool {
		d, err := tc.DescribeWorkflowExecution(ctx, id, "")
		return err == nil && d.WorkflowExecutionInfo.Execution.RunId != before.WorkflowExecutionInfo.Execution.RunId
	}, time.Minute, 200*time.Millisecond, "shard %d continues as new", k)
	var since int64
	got := 0
	for {
		p, err := store.Changes(ctx, "acme", k, appt.SuppressionChangesQuery{Since: since, Limit: 2000, Full: true})
		require.NoError(t, err)
		got += len(p.Entries)
		since = p.Next
		if !p.More {
			break
		}
	}
	assert.Equal(t, inShard, got, "the new run of shard %d holds every entry", k)

	cache := suppress.NewCache(store)
	start = time.Now()
	r, err := cache.Check(ctx, "acme", appt.Email, es[0].Hash)
	require.NoError(t, err)
	t.Logf("first cache load of %d entries: %v", n+len(more), time.Since(start))
	assert.Equal(t, appt.ReasonManual, r)
	for i := 0; i < n; i += 1000 {
		r, err := cache.Check(ctx, "acme", appt.Email, es[i+1].Hash)
		require.NoError(t, err)
		assert.Equal(t, appt.ReasonHardBounce, r, "entry %d", i+1)
	}
	for i := range 1000 {
		r, err := cache.Check(ctx, "acme", appt.Email, importHash("out", i))
		require.NoError(t, err)
		require.Empty(t, r, "address %d is not on the list", i)
	}
	r, err = cache.Check(ctx, "acme", appt.SMS, more[len(more)-1].Hash)
	require.NoError(t, err)
	assert.Equal(t, appt.ReasonSMSStop, r)
	idx, err := store.Index(ctx, "acme")
	require.NoError(t, err)
	for s, seq := range idx {
		assert.Positive(t, seq, "the index names shard %d", s)
	}
}
