package workflows_test

import (
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/metrics"
	"github.com/apptnotify/apptnotify/workflows"
)

// countingMetrics records the counters the workflows increment, by name and sorted tags.
type countingMetrics struct {
	mu     *sync.Mutex
	counts map[string]int64
	timers map[string][]time.Duration // what each timer recorded, by name and sorted tags
	tags   map[string]string
}

func newCountingMetrics() *countingMetrics {
	return &countingMetrics{mu: &sync.Mutex{}, counts: map[string]int64{}, timers: map[string][]time.Duration{}}
}

func (m *countingMetrics) WithTags(tags map[string]string) sdkclient.MetricsHandler {
	merged := map[string]string{}
	for k, v := range m.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &countingMetrics{mu: m.mu, counts: m.counts, timers: m.timers, tags: merged}
}

func (m *countingMetrics) key(name string) string {
	var kv []string
	for k, v := range m.tags {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return name + "{" + strings.Join(kv, ",") + "}"
}

func (m *countingMetrics) Counter(name string) sdkclient.MetricsCounter {
	return metrics.CounterFunc(func(n int64) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.counts[m.key(name)] += n
	})
}
func (m *countingMetrics) Gauge(string) sdkclient.MetricsGauge {
	return metrics.GaugeFunc(func(float64) {})
}
func (m *countingMetrics) Timer(name string) sdkclient.MetricsTimer {
	return metrics.TimerFunc(func(d time.Duration) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.timers[m.key(name)] = append(m.timers[m.key(name)], d)
	})
}

// notifications returns the apptnotify_notifications counters, by "channel=…,status=…,type=…".
func (m *countingMetrics) notifications() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int64{}
	for k, v := range m.counts {
		if rest, ok := strings.CutPrefix(k, workflows.NotificationsMetric+"{"); ok {
			out[strings.TrimSuffix(rest, "}")] = v
		}
	}
	return out
}

// TestNotificationsMetricCountsFinalOutcomesOnce: apptnotify_notifications{org,type,channel,status} counts each delivery
// log entry once, with its final status: an SMS that failed once and was retried to success counts as one sent, not
// as a failure and a send; a permanent failure counts as failed. The counters equal the delivery log.
func TestNotificationsMetricCountsFinalOutcomesOnce(t *testing.T) {
	m := newCountingMetrics()
	h := newHarness(t, withMetrics(m))
	h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
		switch {
		case msg.Type == appt.Create && ch == appt.SMS && attempt == 1:
			return activities.Transient(0, "Twilio 503")
		case msg.Type == appt.Cancelled && ch == appt.Email:
			return activities.Permanent(activities.ErrInvalidRecipient, "550 no such mailbox")
		}
		return nil
	}
	h.signal(time.Hour, appt.SignalCancel, appt.CancelSignal{})
	st := h.run(request("MET1"))

	want := map[string]int64{}
	for _, e := range st.Deliveries {
		want["channel="+string(e.Channel)+",org="+st.Org+",status="+string(e.Status)+",type="+string(e.Type)]++
	}
	require.Contains(t, want, "channel=sms,org="+st.Org+",status=sent,type=CREATE", "the retried SMS was sent")
	require.Contains(t, want, "channel=email,org="+st.Org+",status=failed,type=CANCELLED")
	assert.Equal(t, want, m.notifications(), "one count per delivery log entry, with its final status")
}
