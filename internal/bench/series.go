package bench

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/metrics"
	"github.com/apptnotify/apptnotify/internal/workerapp"
)

// SeriesPrefix begins every block of a series file (--series-out): "# at <Unix milliseconds>", then apptnotify's
// own metrics in Prometheus's text format as the worker serves them on /metrics (the dashboard's metrics).
// cmd dashpng (tools/dashpng) reads the file.
const SeriesPrefix = "# at "

// seriesWriter records apptnotify's metrics, as the worker's --metrics would serve them, into a file once a second.
type seriesWriter struct {
	reg  *prometheus.Registry
	pm   *workerapp.Prometheus
	f    *os.File
	w    *bufio.Writer
	stop chan struct{}
	done sync.WaitGroup
}

func newSeriesWriter(path string, orgs []string) (*seriesWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	pm, err := workerapp.PrometheusMetrics(reg, orgs)
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &seriesWriter{reg: reg, pm: pm, f: f, w: bufio.NewWriter(f), stop: make(chan struct{})}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.write()
			}
		}
	}()
	return s, nil
}

// write appends one block: the registry's apptnotify_* families at this moment.
func (s *seriesWriter) write() {
	fams, err := s.reg.Gather()
	if err != nil {
		return
	}
	fmt.Fprintf(s.w, "%s%d\n", SeriesPrefix, time.Now().UnixMilli())
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "apptnotify_") {
			_, _ = expfmt.MetricFamilyToText(s.w, f)
		}
	}
}

// close writes a last block once the reporter has published what was recorded last, and closes the file.
func (s *seriesWriter) close() {
	close(s.stop)
	s.done.Wait()
	time.Sleep(1100 * time.Millisecond) // the tally reporter publishes every second
	s.write()
	s.pm.Close()
	_ = s.w.Flush()
	_ = s.f.Close()
}

// teeHandler records every metric in two handlers: the bench's own and the series writer's.
type teeHandler struct{ a, b client.MetricsHandler }

func (t teeHandler) WithTags(tags map[string]string) client.MetricsHandler {
	return teeHandler{t.a.WithTags(tags), t.b.WithTags(tags)}
}

func (t teeHandler) Counter(name string) client.MetricsCounter {
	a, b := t.a.Counter(name), t.b.Counter(name)
	return metrics.CounterFunc(func(n int64) { a.Inc(n); b.Inc(n) })
}

func (t teeHandler) Gauge(name string) client.MetricsGauge {
	a, b := t.a.Gauge(name), t.b.Gauge(name)
	return metrics.GaugeFunc(func(v float64) { a.Update(v); b.Update(v) })
}

func (t teeHandler) Timer(name string) client.MetricsTimer {
	a, b := t.a.Timer(name), t.b.Timer(name)
	return metrics.TimerFunc(func(d time.Duration) { a.Record(d); b.Record(d) })
}
