package metrics_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/metrics"
)

// TestOrgFolderCap: the org label keeps at most the cap's organisations, the configured ones (sorted) first, then
// in the order they are recorded; every further one is "other", and an admitted one stays itself.
func TestOrgFolderCap(t *testing.T) {
	f := metrics.NewOrgFolder(3, []string{"zeta", "acme"})
	assert.Equal(t, "beta", f.Fold("beta"), "room for a third")
	assert.Equal(t, metrics.Other, f.Fold("gamma"), "the cap is reached")
	for _, org := range []string{"acme", "zeta", "beta"} {
		assert.Equal(t, org, f.Fold(org), "admitted organisations keep their ID")
	}
	assert.Equal(t, "", f.Fold(""))

	seeded := metrics.NewOrgFolder(2, []string{"c", "b", "a"})
	assert.Equal(t, []string{"a", "b", metrics.Other}, []string{seeded.Fold("a"), seeded.Fold("b"), seeded.Fold("c")},
		"the seed is admitted in ID order")

	many := metrics.NewOrgFolder(metrics.OrgCap, nil)
	distinct := map[string]bool{}
	for i := range 3 * metrics.OrgCap {
		distinct[many.Fold("org-"+strconv.Itoa(i))] = true
	}
	assert.Len(t, distinct, metrics.OrgCap+1, "OrgCap organisations and other")
}

// tagRecorder is a base handler that remembers the tags of the last counter increment.
type tagRecorder struct {
	tags map[string]string
	last *map[string]string
}

func (r tagRecorder) WithTags(t map[string]string) client.MetricsHandler {
	m := map[string]string{}
	for k, v := range r.tags {
		m[k] = v
	}
	for k, v := range t {
		m[k] = v
	}
	return tagRecorder{tags: m, last: r.last}
}
func (r tagRecorder) Counter(string) client.MetricsCounter {
	return counter(func(int64) { *r.last = r.tags })
}
func (r tagRecorder) Gauge(n string) client.MetricsGauge { return client.MetricsNopHandler.Gauge(n) }
func (r tagRecorder) Timer(n string) client.MetricsTimer { return client.MetricsNopHandler.Timer(n) }

type counter func(int64)

func (c counter) Inc(n int64) { c(n) }

// TestHandlerFoldsOrgAndServesHistograms: every metric recorded through the handler has its org tag folded (the
// base handler sees "other" beyond the cap), and a timer named as a Histogram is observed, in seconds, in a
// Prometheus histogram with its buckets and only its labels (other tags dropped, missing ones empty); a second
// handler on the same registry reuses it.
func TestHandlerFoldsOrgAndServesHistograms(t *testing.T) {
	var last map[string]string
	reg := prometheus.NewRegistry()
	spec := metrics.Histogram{Name: "apptnotify_test_lateness", Help: "test", Labels: []string{"namespace", "org", "type"},
		Buckets: []float64{-30, 0, 60}}
	h, err := metrics.NewHandler(tagRecorder{last: &last}, reg, metrics.NewOrgFolder(1, []string{"acme"}), spec)
	require.NoError(t, err)

	h.WithTags(map[string]string{"org": "acme", "type": "REMINDER"}).Counter("c").Inc(1)
	assert.Equal(t, map[string]string{"org": "acme", "type": "REMINDER"}, last)
	h.WithTags(map[string]string{"workflow_type": "W"}).WithTags(map[string]string{"org": "newcomer"}).Counter("c").Inc(1)
	assert.Equal(t, map[string]string{"org": metrics.Other, "workflow_type": "W"}, last)

	wf := h.WithTags(map[string]string{"namespace": "default", "task_queue": "appointments"})
	wf.WithTags(map[string]string{"org": "acme", "type": "REMINDER"}).Timer(spec.Name).Record(90 * time.Second)
	wf.WithTags(map[string]string{"org": "beyond", "type": "ROOM"}).Timer(spec.Name).Record(-10 * time.Second)
	h2, err := metrics.NewHandler(tagRecorder{last: &last}, reg, metrics.NewOrgFolder(1, nil), spec)
	require.NoError(t, err, "a second worker in the process reuses the histogram")
	h2.WithTags(map[string]string{"org": "acme", "type": "REMINDER"}).Timer(spec.Name).Record(time.Second)

	require.NoError(t, testutil.GatherAndCompare(reg, stringsReader(`# HELP apptnotify_test_lateness_seconds test
# TYPE apptnotify_test_lateness_seconds histogram
apptnotify_test_lateness_seconds_bucket{namespace="",org="acme",type="REMINDER",le="-30"} 0
apptnotify_test_lateness_seconds_bucket{namespace="",org="acme",type="REMINDER",le="0"} 0
apptnotify_test_lateness_seconds_bucket{namespace="",org="acme",type="REMINDER",le="60"} 1
apptnotify_test_lateness_seconds_bucket{namespace="",org="acme",type="REMINDER",le="+Inf"} 1
apptnotify_test_lateness_seconds_sum{namespace="",org="acme",type="REMINDER"} 1
apptnotify_test_lateness_seconds_count{namespace="",org="acme",type="REMINDER"} 1
apptnotify_test_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="-30"} 0
apptnotify_test_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="0"} 0
apptnotify_test_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="60"} 0
apptnotify_test_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="+Inf"} 1
apptnotify_test_lateness_seconds_sum{namespace="default",org="acme",type="REMINDER"} 90
apptnotify_test_lateness_seconds_count{namespace="default",org="acme",type="REMINDER"} 1
apptnotify_test_lateness_seconds_bucket{namespace="default",org="other",type="ROOM",le="-30"} 0
apptnotify_test_lateness_seconds_bucket{namespace="default",org="other",type="ROOM",le="0"} 1
apptnotify_test_lateness_seconds_bucket{namespace="default",org="other",type="ROOM",le="60"} 1
apptnotify_test_lateness_seconds_bucket{namespace="default",org="other",type="ROOM",le="+Inf"} 1
apptnotify_test_lateness_seconds_sum{namespace="default",org="other",type="ROOM"} -10
apptnotify_test_lateness_seconds_count{namespace="default",org="other",type="ROOM"} 1
`), spec.Served()))
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
