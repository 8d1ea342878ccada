package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/metrics"
	"github.com/apptnotify/apptnotify/workflows"
)

// timer returns what a timer recorded under one exact tag set ("org=acme,type=REMINDER").
func (m *countingMetrics) timer(name, tags string) []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]time.Duration(nil), m.timers[name+"{"+tags+"}"]...)
}

func (m *countingMetrics) count(name, tags string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[name+"{"+tags+"}"]
}

// TestLatenessMetric: apptnotify_notification_lateness{org,type} records, once per timed occurrence, how late it woke
// for its first attempt (wake-up − due), also when it was then skipped_missed: the 24 h reminder on time (0), the
// 1 h reminder 90 s late. CREATE, which has no due time, records nothing.
func TestLatenessMetric(t *testing.T) {
	m := newCountingMetrics()
	h := newHarness(t, withMetrics(m), withOrgYAML("    reminder_offsets: [24h, 1h]\n"))
	// The 1 h reminder falls due while the workflow is held up by a slow fan-out, so it wakes 90 s late.
	h.signal(46*time.Hour+59*time.Minute+30*time.Second, appt.SignalUpdateMetadata, appt.UpdateMetadataSignal{Metadata: map[string]string{"k": "v"}})
	h.slowDeliver(hasEvent(appt.EventUpdated), 2*time.Minute)
	st := h.run(request("LAT1"))
	require.NotEmpty(t, entries(st, func(e appt.DeliveryEntry) bool { return e.Status == appt.SkippedMissed }))
	got := m.timer(metrics.Lateness, "org=acme,type=REMINDER")
	assert.ElementsMatch(t, []time.Duration{0, 90 * time.Second}, got, "one observation per reminder, the late one 90 s")
	for k := range m.timers {
		assert.NotContains(t, k, "type=CREATE", "untimed notifications have no lateness")
	}
}

// TestLatenessBucketsShowTheWindows: the lateness histogram's bucket bounds include the reminder spread (early), 0,
// the reminder tolerance and the ROOM window, so a panel separates early, on time, tolerated and missed wake-ups;
// the bounds ascend (Prometheus requires it).
func TestLatenessBucketsShowTheWindows(t *testing.T) {
	b := workflows.LatenessHistogram().Buckets
	for _, d := range []time.Duration{-workflows.MaxReminderSpread, 0, workflows.ReminderTolerance, workflows.RoomWindow} {
		assert.Contains(t, b, d.Seconds())
	}
	assert.IsIncreasing(t, b)
	assert.IsIncreasing(t, workflows.ReceiptLagHistogram().Buckets)
}

// TestReceiptLagAndManualRetryMetrics: apptnotify_sms_receipt_lag{org,receipt} records send → final receipt once
// (a repeated final callback adds nothing, an intermediate status nothing), and apptnotify_manual_retries{org}
// counts an accepted manual retry, not a refused one.
func TestReceiptLagAndManualRetryMetrics(t *testing.T) {
	m := newCountingMetrics()
	h := newHarness(t, withMetrics(m))
	h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
		if ch == appt.Email && msg.Type == appt.Create && attempt == 1 {
			return activities.Permanent(activities.ErrInvalidRecipient, "550 no such mailbox")
		}
		return nil
	}
	sid := smsSID("LAG1", appt.Create, 0, 0)
	h.signal(time.Minute, appt.SignalSMSStatus, receipt(sid, appt.ReceiptSent, 0, t0.Add(time.Minute)))
	h.signal(2*time.Minute, appt.SignalSMSStatus, receipt(sid, appt.ReceiptDelivered, 0, t0.Add(2*time.Minute)))
	h.signal(3*time.Minute, appt.SignalSMSStatus, receipt(sid, appt.ReceiptDelivered, 0, t0.Add(2*time.Minute)))
	var before appt.Status
	h.queryAt(4*time.Minute, &before)
	h.at(5*time.Minute, func() {
		for _, e := range before.Deliveries {
			if e.Type == appt.Create && e.Channel == appt.Email {
				h.env.SignalWorkflow(appt.SignalRetry, appt.RetrySignal{EntryID: e.ID})
				h.env.SignalWorkflow(appt.SignalRetry, appt.RetrySignal{EntryID: "e999"}) // refused
			}
		}
	})
	h.signal(3*time.Hour, appt.SignalCancel, appt.CancelSignal{})
	st := h.run(request("LAG1"))
	create := entries(st, entryOf(appt.Create, appt.SMS))
	require.Len(t, create, 1)
	assert.Equal(t, []time.Duration{2 * time.Minute}, m.timer(metrics.ReceiptLag, "org=acme,receipt=delivered"))
	assert.Empty(t, m.timer(metrics.ReceiptLag, "org=acme,receipt=sent"), "an intermediate status is no final receipt")
	assert.Equal(t, int64(1), m.count(metrics.ManualRetries, "org=acme"))
}
