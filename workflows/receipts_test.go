package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// smsSID is the provider ID the harness's SMS sender returns for a notification to c1.
func smsSID(id string, t appt.NotificationType, gen int, offset time.Duration) string {
	return "SM" + appt.NotificationID(appt.EventID(id, t, gen, offset), appt.SMS, "c1")
}

func receipt(sid, status string, code int, at time.Time) appt.SMSStatusSignal {
	return appt.SMSStatusSignal{MessageSID: sid, Status: status, ErrorCode: code, At: at}
}

func refusedEntries(st *appt.Status) []appt.DeliveryEntry {
	return entries(st, func(e appt.DeliveryEntry) bool { return e.Status == appt.Refused })
}

// Receipts in every order: the newest is kept, a status that ranks lower never replaces a higher one, and a final
// status (delivered, undelivered, failed) is never replaced.
func TestSMSReceiptOrdering(t *testing.T) {
	type cb struct {
		status string
		code   int
	}
	cases := []struct {
		name     string
		order    []cb
		want     string
		wantCode int
		wantIdx  int // which callback's time must be recorded
	}{
		{"in order", []cb{{"queued", 0}, {"sent", 0}, {"delivered", 0}}, "delivered", 0, 2},
		{"delivered before sent", []cb{{"delivered", 0}, {"sent", 0}, {"queued", 0}}, "delivered", 0, 0},
		{"undelivered with its code, then a late sent", []cb{{"sent", 0}, {"undelivered", 30003}, {"sending", 0}}, "undelivered", 30003, 1},
		{"a final status is never replaced", []cb{{"failed", 30007}, {"delivered", 0}}, "failed", 30007, 0},
		{"delivered is never replaced by undelivered", []cb{{"delivered", 0}, {"undelivered", 30005}}, "delivered", 0, 0},
		{"only intermediate statuses: the furthest", []cb{{"sent", 0}, {"queued", 0}}, "sent", 0, 0},
		{"an unknown status is ignored", []cb{{"sent", 0}, {"teleported", 0}}, "sent", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			req := request("R1")
			sid := smsSID("R1", appt.Create, 0, 0)
			var ats []time.Time
			for i, x := range c.order {
				d := time.Duration(i+1) * time.Minute
				ats = append(ats, t0.Add(d))
				h.signal(d, appt.SignalSMSStatus, receipt(sid, x.status, x.code, t0.Add(d)))
			}
			var mid appt.Status
			h.queryAt(time.Hour, &mid)
			h.signal(2*time.Hour, appt.SignalCancel, appt.CancelSignal{})
			h.run(req)
			sms := entries(&mid, entryOf(appt.Create, appt.SMS))
			require.Len(t, sms, 1)
			e := sms[0]
			assert.Equal(t, appt.Sent, e.Status, "a receipt never changes the delivery status")
			assert.Equal(t, sid, e.ProviderID)
			assert.Equal(t, c.want, e.Receipt)
			assert.Equal(t, c.wantCode, e.ReceiptError)
			require.NotNil(t, e.ReceiptAt)
			assert.Equal(t, ats[c.wantIdx], e.ReceiptAt.UTC())
			assert.Empty(t, refusedEntries(&mid), "receipts are never refused")
			for _, o := range mid.Deliveries {
				if o.ID != e.ID {
					assert.Empty(t, o.Receipt, "only the entry with that provider ID gets the receipt")
				}
			}
		})
	}
}

// A receipt for an unknown SID, or one that does not decode, changes nothing and is never logged as refused.
func TestSMSReceiptUnknownSIDIsIgnored(t *testing.T) {
	h := newHarness(t)
	var mid appt.Status
	h.signal(time.Minute, appt.SignalSMSStatus, receipt("SMunknown", "delivered", 0, t0.Add(time.Minute)))
	h.signal(2*time.Minute, appt.SignalSMSStatus, "not a receipt")
	h.signal(3*time.Minute, appt.SignalSMSStatus, receipt("", "delivered", 0, t0.Add(3*time.Minute)))
	h.queryAt(time.Hour, &mid)
	h.signal(2*time.Hour, appt.SignalCancel, appt.CancelSignal{})
	st := h.run(request("R2"))
	assert.Empty(t, refusedEntries(&mid))
	for _, e := range st.Deliveries {
		assert.Empty(t, e.Receipt, "entry %s", e.ID)
	}
}

// Receipts are accepted in every state: after a cancel the workflow waits (receipt_wait) for the receipts of its
// last SMS and records them; a receipt there is not refused (a cancel there is).
func TestSMSReceiptWaitAfterCancel(t *testing.T) {
	h := newHarness(t, withReceiptWait("10m"))
	req := request("R3")
	cancelAt := 3 * time.Hour
	h.signal(cancelAt, appt.SignalCancel, appt.CancelSignal{})
	var waiting appt.Status
	h.queryAt(cancelAt+time.Minute, &waiting)
	h.signal(cancelAt+2*time.Minute, appt.SignalCancel, appt.CancelSignal{}) // refused: already cancelled
	h.signal(cancelAt+3*time.Minute, appt.SignalSMSStatus,
		receipt(smsSID("R3", appt.Cancelled, 0, 0), "undelivered", 30006, t0.Add(cancelAt+3*time.Minute)))
	st := h.run(req)

	assert.Equal(t, appt.CancelledSt, waiting.State, "still open, waiting for the receipt")
	assert.Equal(t, t0.Add(cancelAt+3*time.Minute), h.env.Now().UTC(),
		"the workflow completes as soon as the last SMS has a final receipt")
	c := entries(st, entryOf(appt.Cancelled, appt.SMS))
	require.Len(t, c, 1)
	assert.Equal(t, "undelivered", c[0].Receipt)
	assert.Equal(t, 30006, c[0].ReceiptError)
	refused := refusedEntries(st)
	require.Len(t, refused, 1, "the second cancel is refused, the receipt is not")
	assert.Equal(t, appt.SignalCancel, refused[0].Signal)
}

// Without receipts the wait ends receipt_wait after the last SMS send; with receipt_wait 0 there is no wait.
func TestSMSReceiptWaitBound(t *testing.T) {
	for _, c := range []struct {
		wait string
		want time.Duration
	}{{"10m", 10 * time.Minute}, {"0s", 0}} {
		t.Run(c.wait, func(t *testing.T) {
			h := newHarness(t, withReceiptWait(c.wait))
			cancelAt := 3 * time.Hour
			h.signal(cancelAt, appt.SignalCancel, appt.CancelSignal{})
			h.run(request("R4"))
			assert.Equal(t, t0.Add(cancelAt+c.want), h.env.Now().UTC())
		})
	}
	// Status callbacks off (no twilio.status_callback_url): no receipts can come, so no wait.
	h := newHarness(t)
	h.signal(3*time.Hour, appt.SignalCancel, appt.CancelSignal{})
	h.run(request("R5"))
	assert.Equal(t, t0.Add(3*time.Hour), h.env.Now().UTC())
}

// Opt-out: an SMS refused with OptedOut (Twilio 21610) is failed with that error type; every later SMS to the
// participant is skipped_unprovisioned "opted out of SMS" without a send; a manual retry of the entry is refused.
func TestSMSOptOut(t *testing.T) {
	h := newHarness(t)
	h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
		if ch == appt.SMS && msg.Type == appt.Create {
			return activities.Permanent(activities.ErrOptedOut, "Twilio HTTP 400, error 21610: the recipient opted out of SMS")
		}
		return nil
	}
	req := request("R6")
	var before appt.Status
	h.queryAt(25*time.Hour, &before) // after the 24h reminder
	h.at(25*time.Hour+time.Second, func() {
		for _, e := range before.Deliveries {
			if e.Type == appt.Create && e.Channel == appt.SMS {
				h.env.SignalWorkflow(appt.SignalRetry, appt.RetrySignal{EntryID: e.ID})
			}
		}
	})
	h.signal(30*time.Hour, appt.SignalReschedule, appt.RescheduleSignal{Start: req.Start.Add(24 * time.Hour)})
	h.signal(31*time.Hour, appt.SignalCancel, appt.CancelSignal{})
	st := h.run(req)

	create := entries(st, entryOf(appt.Create, appt.SMS))
	require.Len(t, create, 1)
	assert.Equal(t, appt.Failed, create[0].Status)
	assert.Equal(t, activities.ErrOptedOut, create[0].ErrorType)
	assert.Equal(t, 1, h.attempts[create[0].NotificationID], "not retried")

	later := entries(st, func(e appt.DeliveryEntry) bool { return e.Channel == appt.SMS && e.Type != appt.Create })
	require.Len(t, later, 3, "REMINDER 24h, RESCHEDULE, CANCELLED")
	for _, e := range later {
		assert.Equal(t, appt.SkippedUnprovisioned, e.Status, "%s", e.Type)
		assert.Equal(t, "opted out of SMS", e.Error)
		assert.Zero(t, h.attempts[e.NotificationID], "Twilio is not called for %s", e.Type)
	}
	assert.NotEmpty(t, h.sent(ofTypeCh(appt.Reminder, appt.Email)), "email still goes out")

	refused := refusedEntries(st)
	require.Len(t, refused, 1)
	assert.Equal(t, appt.SignalRetry, refused[0].Signal)
	assert.Contains(t, refused[0].Error, "opted out of SMS")
	assert.Equal(t, t0.Add(31*time.Hour), h.env.Now().UTC(), "an opted-out failure keeps nothing open for a retry")
}

// The calendar invite's SEQUENCE grows with every reschedule, and CANCELLED is one higher still; a manual retry
// of the same email carries the same SEQUENCE.
func TestInviteSequence(t *testing.T) {
	failing := true
	h := newHarness(t, withMaxAttempts(1))
	h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
		if failing && ch == appt.Email && msg.Type == appt.Reschedule && msg.Sequence == 2 {
			return activities.Transient(0, "SMTP 451")
		}
		return nil
	}
	req := request("R7")
	h.signal(time.Hour, appt.SignalReschedule, appt.RescheduleSignal{Start: req.Start.Add(time.Hour)})
	h.signal(2*time.Hour, appt.SignalReschedule, appt.RescheduleSignal{Start: req.Start.Add(2 * time.Hour)})
	var mid appt.Status
	h.queryAt(3*time.Hour, &mid)
	h.at(3*time.Hour+time.Second, func() {
		failing = false
		for _, e := range mid.Deliveries {
			if e.Type == appt.Reschedule && e.Channel == appt.Email && e.Status == appt.Failed {
				h.env.SignalWorkflow(appt.SignalRetry, appt.RetrySignal{EntryID: e.ID})
			}
		}
	})
	h.signal(4*time.Hour, appt.SignalCancel, appt.CancelSignal{})
	h.run(req)
	var seqs []int
	var types []appt.NotificationType
	for _, s := range h.sent(func(s send) bool { return s.Channel == appt.Email }) {
		seqs = append(seqs, s.Sequence)
		types = append(types, s.Type)
	}
	assert.Equal(t, []appt.NotificationType{appt.Create, appt.Reschedule, appt.Reschedule, appt.Cancelled}, types)
	assert.Equal(t, []int{0, 1, 2, 3}, seqs, "the manual retry of the second RESCHEDULE keeps SEQUENCE 2")
}
