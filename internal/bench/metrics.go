package bench

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
)

// sdkStats aggregates every SDK metric by name (labels summed away): counters, timers (count, sum, max) and the last
// value of each gauge. The herd reads it before and after its window to show what the worker did.
type sdkStats struct {
	mu       sync.Mutex
	counters map[string]int64
	timers   map[string]*timerStat
	gauges   map[string]float64
}

type timerStat struct {
	n        int64
	sum, max time.Duration
}

func newSDKStats() *sdkStats {
	return &sdkStats{counters: map[string]int64{}, timers: map[string]*timerStat{}, gauges: map[string]float64{}}
}

func (s *sdkStats) inc(name string, n int64) {
	s.mu.Lock()
	s.counters[name] += n
	s.mu.Unlock()
}

func (s *sdkStats) record(name string, d time.Duration) {
	s.mu.Lock()
	t := s.timers[name]
	if t == nil {
		t = &timerStat{}
		s.timers[name] = t
	}
	t.n++
	t.sum += d
	if d > t.max {
		t.max = d
	}
	s.mu.Unlock()
}

func (s *sdkStats) gauge(name string, v float64) {
	s.mu.Lock()
	s.gauges[name] = v
	s.mu.Unlock()
}

// snapshot flattens the stats into name → value: counters as they are, timers as name_count, name_sum_s and
// name_max_s, gauges as name.
func (s *sdkStats) snapshot() map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]float64, len(s.counters)+3*len(s.timers)+len(s.gauges))
	for k, v := range s.counters {
		m[k] = float64(v)
	}
	for k, t := range s.timers {
		m[k+"_count"] = float64(t.n)
		m[k+"_sum_s"] = t.sum.Seconds()
		m[k+"_max_s"] = t.max.Seconds()
	}
	for k, v := range s.gauges {
		m[k] = v
	}
	return m
}

type sdkCounter struct {
	s    *sdkStats
	name string
}

func (c sdkCounter) Inc(n int64) { c.s.inc(c.name, n) }

type sdkTimer struct {
	s    *sdkStats
	name string
}

func (t sdkTimer) Record(d time.Duration) { t.s.record(t.name, d) }

type sdkGauge struct {
	s    *sdkStats
	name string
}

func (g sdkGauge) Update(v float64) { g.s.gauge(g.name, v) }

// scrapeServer reads the embedded server's Prometheus endpoint into name → value, summing each metric over its
// labels; histograms become name_count and name_sum. Errors return an empty map: the figures are diagnostics.
func scrapeServer(url string) map[string]float64 {
	m := map[string]float64{}
	if url == "" {
		return m
	}
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return m
	}
	for name, fam := range fams {
		for _, x := range fam.GetMetric() {
			switch {
			case x.Counter != nil:
				m[name] += x.GetCounter().GetValue()
			case x.Gauge != nil:
				m[name] += x.GetGauge().GetValue()
			case x.Histogram != nil:
				m[name+"_count"] += float64(x.GetHistogram().GetSampleCount())
				m[name+"_sum"] += x.GetHistogram().GetSampleSum()
			case x.Summary != nil:
				m[name+"_count"] += float64(x.GetSummary().GetSampleCount())
				m[name+"_sum"] += x.GetSummary().GetSampleSum()
			case x.Untyped != nil:
				m[name] += x.GetUntyped().GetValue()
			}
		}
	}
	return m
}

// writeDelta writes every metric whose value changed between before and after, sorted by name.
func writeDelta(w io.Writer, title string, before, after map[string]float64) {
	names := make([]string, 0, len(after))
	for k, v := range after {
		if v != before[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	fmt.Fprintf(w, "== %s: %d metrics changed during the herd window\n", title, len(names))
	for _, k := range names {
		d := after[k] - before[k]
		if math.Abs(d) >= 1e6 || d == math.Trunc(d) {
			fmt.Fprintf(w, "%s %.0f\n", k, d)
		} else {
			fmt.Fprintf(w, "%s %.3f\n", k, d)
		}
	}
}

// keyMetrics picks the figures that explain a herd from the deltas, for the log: workflow-task timeouts, sticky-cache
// traffic, replays, persistence latency and errors.
func keyMetrics(sdkBefore, sdkAfter, srvBefore, srvAfter map[string]float64) string {
	d := func(m0, m1 map[string]float64, k string) float64 { return m1[k] - m0[k] }
	var b strings.Builder
	for _, k := range []string{"temporal_sticky_cache_hit", "temporal_sticky_cache_miss", "temporal_sticky_cache_total_forced_eviction",
		"temporal_workflow_task_execution_failed", "temporal_workflow_task_replay_latency_count",
		"temporal_workflow_task_schedule_to_start_latency_count", "temporal_workflow_task_schedule_to_start_latency_sum_s",
		"temporal_workflow_task_execution_latency_count", "temporal_workflow_task_execution_latency_sum_s",
		"temporal_local_activity_total", "temporal_request_failure", "temporal_long_request_failure"} {
		fmt.Fprintf(&b, "  sdk %s: %.1f\n", k, d(sdkBefore, sdkAfter, k))
	}
	var srv []string
	for k := range srvAfter {
		l := strings.ToLower(k)
		if strings.Contains(l, "timeout") || strings.Contains(l, "persistence_error") || strings.Contains(l, "persistence_requests") ||
			strings.Contains(l, "persistence_latency") || strings.Contains(l, "cache_miss") || strings.Contains(l, "cache_requests") ||
			strings.Contains(l, "sticky") || strings.Contains(l, "resource_exhausted") {
			srv = append(srv, k)
		}
	}
	sort.Strings(srv)
	for _, k := range srv {
		if v := d(srvBefore, srvAfter, k); v != 0 {
			fmt.Fprintf(&b, "  server %s: %.1f\n", k, v)
		}
	}
	return b.String()
}

// parseDelta reads back what writeDelta wrote: name → change (the first section wins on a clash).
func parseDelta(text string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		name, v, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "==") {
			continue
		}
		if _, seen := m[name]; seen {
			continue
		}
		var f float64
		if _, err := fmt.Sscan(v, &f); err == nil {
			m[name] = f
		}
	}
	return m
}
