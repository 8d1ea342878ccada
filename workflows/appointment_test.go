package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// CREATE goes out at scheduling, with the join link only while the appointment is active.
func TestCreateCarriesJoinLinkOnlyWhenActive(t *testing.T) {
	t.Run("auto-activate on", func(t *testing.T) {
		h := newHarness(t, withAutoActivate(true))
		h.signal(time.Hour, appt.SignalCancel, appt.CancelSignal{})
		h.run(request("A1"))
		creates := h.sent(ofType(appt.Create))
		require.Len(t, creates, 3, "email, SMS and webhook to the one customer")
		for _, s := range creates {
			assert.Equal(t, t0, s.At, "CREATE is sent at scheduling")
			assert.Equal(t, "c1", recipientOrCustomer(s))
			assert.Equal(t, "https://video.example/j/A1", s.JoinURL)
		}
	})
	t.Run("auto-activate off", func(t *testing.T) {
		h := newHarness(t, withAutoActivate(false))
		h.signal(time.Hour, appt.SignalActivate, nil)
		h.signal(2*time.Hour, appt.SignalReschedule, appt.RescheduleSignal{Start: t0.Add(50 * time.Hour)})
		h.signal(3*time.Hour, appt.SignalCancel, appt.CancelSignal{})
		st := h.run(request("A2"))
		creates := h.sent(ofType(appt.Create))
		require.Len(t, creates, 3)
		for _, s := range creates {
			assert.Empty(t, s.JoinURL, "no join link before activation")
		}
		resched := h.sent(ofType(appt.Reschedule))
		require.Len(t, resched, 3)
		for _, s := range resched {
			assert.Equal(t, "https://video.example/j/A2", s.JoinURL, "the link is available after activate")
		}
		assert.Len(t, h.sent(ofEvent(appt.EventActivated)), 1, "activation fires a lifecycle event")
		assert.Equal(t, appt.CancelledSt, st.State)
	})
}

func recipientOrCustomer(s send) string {
	if s.Channel == appt.Webhook {
		return "c1"
	}
	return s.Recipient
}

// A reminder at each offset, at its due time, to customers only (agents get nothing).
func TestRemindersAt24hAnd1h(t *testing.T) {
	h := newHarness(t)
	req := request("A3")
	st := h.run(req)
	rem := h.sent(ofTypeCh(appt.Reminder, appt.Email))
	require.Len(t, rem, 2)
	assert.Equal(t, []time.Time{req.Start.Add(-24 * time.Hour), req.Start.Add(-time.Hour)}, times(rem))
	for _, s := range h.sent(func(s send) bool { return s.Channel != appt.Webhook }) {
		assert.Equal(t, "c1", s.Recipient, "only the customer is notified, never the agent")
	}
	assert.Len(t, h.sent(ofTypeCh(appt.Reminder, appt.SMS)), 2)
	assert.Len(t, h.sent(ofTypeCh(appt.Reminder, appt.Webhook)), 2)
	assert.Equal(t, appt.Expired, st.State, "no call-ended: the appointment expires")
	assert.Len(t, h.sent(ofType(appt.Room)), 0, "no ROOM invite while auto-activate is on")
}

// A wake-up more than 1 minute after the due time is skipped_missed and sends nothing.
func TestLateWakeUpIsSkipped(t *testing.T) {
	h := newHarness(t, withOrgYAML("    reminder_offsets: [1h]\n"))
	req := request("A4")
	// The reminder falls due while the workflow is held up for 2 minutes (a fan-out that a slow subscriber holds),
	// so it wakes 90 s late.
	h.signal(46*time.Hour+59*time.Minute+30*time.Second, appt.SignalUpdateMetadata, appt.UpdateMetadataSignal{Metadata: map[string]string{"k": "v"}})
	h.slowDeliver(hasEvent(appt.EventUpdated), 2*time.Minute)
	st := h.run(req)
	assert.Len(t, h.sent(ofType(appt.Reminder)), 0, "a reminder woken more than a minute late is never sent")
	missed := entries(st, func(e appt.DeliveryEntry) bool { return e.Type == appt.Reminder })
	require.Len(t, missed, 3, "email, SMS and webhook are each logged")
	for _, e := range missed {
		assert.Equal(t, appt.SkippedMissed, e.Status)
		assert.Equal(t, 0, e.Attempts)
	}
}
