package bench

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHerdGuard is CI's guard against the herd cliff (docs/performance.md#the-cause-of-the-cliff): 600 reminders
// due in the same second, with the sticky cache and the server's mutable-state cache both at 200, so that most
// workflow tasks replay their history and reload their state, with encryption on and every other setting the
// worker's default. It needs the machine to itself, so it runs only with APPTNOTIFY_HERD_GUARD=1, in its own CI
// step. Every reminder must be sent (0 skipped_missed), no workflow task may time out on its sticky queue, and the
// sticky cache must really be 200 (the SDK ignores a size set after the embedded server started).
func TestHerdGuard(t *testing.T) {
	if os.Getenv("APPTNOTIFY_HERD_GUARD") == "" {
		t.Skip("the herd guard runs in its own CI step: APPTNOTIFY_HERD_GUARD=1")
	}
	o, err := parseFlags([]string{"--n", "600", "--scenarios", "herd", "--sticky-cache", "200", "--history-cache", "200",
		"--data-dir", t.TempDir()})
	require.NoError(t, err)
	var metrics []byte
	o.MetricsOut = t.TempDir() + "/metrics.txt"
	rep, err := Run(context.Background(), o, io.Discard)
	require.NoError(t, err)
	require.Len(t, rep.Results, 1)
	h := rep.Results[0]
	metrics, err = os.ReadFile(o.MetricsOut)
	require.NoError(t, err)
	m := parseDelta(string(metrics))
	t.Logf("herd of 600, caches 200: received %d of %d, p50 %.1fs p99 %.1fs max %.1fs, CPU %.1fs, peak RSS %.0f MiB; %s",
		h.Received, h.Expected, h.P50, h.P99, h.Max, h.CPUSeconds, h.PeakRSSMiB, h.Served.describe())
	t.Logf("sticky cache hits %.0f, misses %.0f; server cache misses %.0f of %.0f; sticky timeouts %.0f",
		m["temporal_sticky_cache_hit"], m["temporal_sticky_cache_miss"], m["cache_miss"], m["cache_requests"], m["schedule_to_start_timeout"])
	assert.Zero(t, h.SkippedMissed, "reminders missed their window")
	assert.Equal(t, h.Expected, h.Received, "every reminder delivery arrives")
	assert.Zero(t, h.Duplicates)
	assert.Zero(t, m["schedule_to_start_timeout"], "workflow tasks timed out on the sticky queue and were dispatched again")
	assert.Positive(t, m["temporal_sticky_cache_miss"], "600 workflows never missed a 200-entry sticky cache: the size did not take effect")
}
