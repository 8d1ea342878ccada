package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/metrics"
)

// The workflow's metrics all go through workflow.GetMetricsHandler, which records nothing during a replay: each
// observation counts once. Recording a metric issues no command, so none of this needs a version guard.

// LatenessHistogram is metrics.Lateness as the worker serves it: a histogram whose bucket bounds include the
// windows of docs/rules.md#notifications-and-windows (−MaxReminderSpread, 0, ReminderTolerance, RoomWindow), so a
// panel shows how many wake-ups were early by the spread, on time, within the tolerance, or missed.
func LatenessHistogram() metrics.Histogram {
	s := func(d time.Duration) float64 { return d.Seconds() }
	return metrics.Histogram{
		Name:   metrics.Lateness,
		Help:   "How late a REMINDER or ROOM invite woke for its first attempt, in seconds after its due time.",
		Labels: []string{"namespace", metrics.LabelOrg, metrics.LabelType},
		Buckets: []float64{-s(MaxReminderSpread), -10, -1, 0, 1, 5, 10, 30, s(ReminderTolerance), 2 * s(ReminderTolerance),
			s(RoomWindow), 600, 1800, 3600},
	}
}

// ReceiptLagHistogram is metrics.ReceiptLag as the worker serves it: seconds from an SMS's send to its final
// Twilio status.
func ReceiptLagHistogram() metrics.Histogram {
	return metrics.Histogram{
		Name:    metrics.ReceiptLag,
		Help:    "Seconds from an SMS's send to Twilio's final status for it (delivered, undelivered, failed).",
		Labels:  []string{"namespace", metrics.LabelOrg, metrics.LabelReceipt},
		Buckets: []float64{1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 24 * 3600},
	}
}

// observeLateness records how late a timed occurrence woke for its first attempt (now − due), sent or missed.
func (a *appointment) observeLateness(ctx workflow.Context, o occurrence, now time.Time) {
	if !o.timed() {
		return
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{
		metrics.LabelOrg: a.st.Req.Org, metrics.LabelType: string(o.Type),
	}).Timer(metrics.Lateness).Record(now.Sub(o.Due))
}

// observeReceipt records the lag of a receipt that just became the entry's final status: receipt time − send time.
func (a *appointment) observeReceipt(ctx workflow.Context, e *appt.DeliveryEntry) {
	if e == nil || e.ReceiptAt == nil || !appt.ReceiptFinal(e.Receipt) {
		return
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{
		metrics.LabelOrg: a.st.Req.Org, metrics.LabelReceipt: e.Receipt,
	}).Timer(metrics.ReceiptLag).Record(e.ReceiptAt.Sub(e.At))
}

// countManualRetry counts an accepted manual retry.
func (a *appointment) countManualRetry(ctx workflow.Context) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{metrics.LabelOrg: a.st.Req.Org}).
		Counter(metrics.ManualRetries).Inc(1)
}
