package workflows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// An offset already past at scheduling is not planned: no send and no log entry.
func TestOffsetsPastAtSchedulingAreNotPlanned(t *testing.T) {
	h := newHarness(t)
	req := request("P1")
	req.Start = t0.Add(2 * time.Hour) // the 24h reminder is already past
	req.End = req.Start.Add(30 * time.Minute)
	st := h.run(req)
	rem := h.sent(ofTypeCh(appt.Reminder, appt.Email))
	require.Len(t, rem, 1)
	assert.Equal(t, req.Start.Add(-time.Hour), rem[0].At)
	assert.Equal(t, time.Hour, rem[0].Offset)
	assert.Empty(t, entries(st, func(e appt.DeliveryEntry) bool { return e.Offset == "24h0m0s" }),
		"the past 24h offset gets no log entry")
}

// A ROOM invite is sent at start - room offset, still inside its 5-minute window when late, and skipped
// after the window.
func TestRoomInviteWindow(t *testing.T) {
	roomDue := t0.Add(48*time.Hour - 15*time.Minute)
	t.Run("on time", func(t *testing.T) {
		h := newHarness(t, withAutoActivate(false))
		h.run(request("R1"))
		room := h.sent(ofType(appt.Room))
		require.Len(t, room, 3)
		for _, s := range room {
			assert.Equal(t, roomDue, s.At)
			assert.Equal(t, "https://video.example/j/R1", s.JoinURL, "a ROOM invite always carries the join link")
		}
	})
	t.Run("late but inside the window", func(t *testing.T) {
		h := newHarness(t, withAutoActivate(false))
		h.signal(48*time.Hour-16*time.Minute, appt.SignalUpdateMetadata, appt.UpdateMetadataSignal{Metadata: map[string]string{"k": "v"}})
		h.slowDeliver(hasEvent(appt.EventUpdated), 4*time.Minute)
		h.run(request("R2"))
		room := h.sent(ofType(appt.Room))
		require.Len(t, room, 3)
		assert.Equal(t, roomDue.Add(3*time.Minute), room[0].At, "woken 3 minutes late, inside the 5-minute window")
	})
	t.Run("after the window", func(t *testing.T) {
		h := newHarness(t, withAutoActivate(false))
		h.signal(48*time.Hour-16*time.Minute, appt.SignalUpdateMetadata, appt.UpdateMetadataSignal{Metadata: map[string]string{"k": "v"}})
		h.slowDeliver(hasEvent(appt.EventUpdated), 7*time.Minute)
		st := h.run(request("R3"))
		assert.Empty(t, h.sent(ofType(appt.Room)), "woken 6 minutes late: never sent")
		room := entries(st, func(e appt.DeliveryEntry) bool { return e.Type == appt.Room })
		require.Len(t, room, 3)
		for _, e := range room {
			assert.Equal(t, appt.SkippedMissed, e.Status)
		}
	})
	t.Run("retries stop at the end of the window", func(t *testing.T) {
		h := newHarness(t, withAutoActivate(false), withMaxAttempts(10))
		var at []time.Duration // attempts, after the due time
		h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
			if msg.Type == appt.Room && ch == appt.Webhook {
				at = append(at, h.env.Now().Sub(roomDue))
				return activities.Transient(0, "HTTP 503")
			}
			return nil
		}
		st := h.run(request("R4"))
		e := entries(st, entryOf(appt.Room, appt.Webhook))
		require.Len(t, e, 1)
		assert.Equal(t, appt.SkippedMissed, e[0].Status, "the window closed before max_attempts")
		assert.Contains(t, e[0].Error, "HTTP 503", "it keeps its last error")
		// The webhook backoff (5 s, ×2) fits 7 attempts into the 5 minutes after the due time; the 8th would be at
		// 5m20s. A longer window would fit the 8th, a shorter one fewer.
		secs := func(ns ...int) []time.Duration {
			var out []time.Duration
			for _, n := range ns {
				out = append(out, time.Duration(n)*time.Second)
			}
			return out
		}
		assert.Equal(t, secs(0, 5, 10, 20, 40, 80, 160), at, "every attempt inside [due, due + 5 min]")
		assert.Equal(t, len(at), e[0].Attempts)
	})
}

// No ROOM invite while auto-activate is on; reminders still go out.
func TestNoRoomWhileAutoActivateOn(t *testing.T) {
	h := newHarness(t, withAutoActivate(true))
	st := h.run(request("R5"))
	assert.Empty(t, h.sent(ofType(appt.Room)))
	assert.Empty(t, entries(st, func(e appt.DeliveryEntry) bool { return e.Type == appt.Room }))
	assert.Len(t, h.sent(ofTypeCh(appt.Reminder, appt.Email)), 2)
}

// A reschedule re-plans the reminders from the new start; nothing is sent at the old times.
func TestRescheduleReplans(t *testing.T) {
	h := newHarness(t)
	req := request("S1")
	newStart := req.Start.Add(2 * time.Hour)
	var mid appt.Status
	h.signal(time.Hour, appt.SignalReschedule, appt.RescheduleSignal{Start: newStart})
	h.queryAt(2*time.Hour, &mid)
	st := h.run(req)
	rem := h.sent(ofTypeCh(appt.Reminder, appt.Email))
	assert.Equal(t, []time.Time{newStart.Add(-24 * time.Hour), newStart.Add(-time.Hour)}, times(rem))
	res := h.sent(ofTypeCh(appt.Reschedule, appt.Email))
	require.Len(t, res, 1)
	assert.Equal(t, t0.Add(time.Hour), res[0].At)
	assert.Len(t, h.sent(ofEvent(appt.EventRescheduled)), 1)
	require.Len(t, mid.Pending, 2)
	assert.Equal(t, newStart.Add(-24*time.Hour), mid.Pending[0].Due.UTC())
	assert.True(t, newStart.Equal(st.Start))
}

// A reschedule racing a firing reminder. When both reach the workflow in the same task, the reschedule wins
// and the old reminder is not sent. When the reminder's send is already under way, it completes once, and the new
// plan's reminders still go out exactly once each.
func TestRescheduleRacingATimer(t *testing.T) {
	t.Run("same workflow task", func(t *testing.T) {
		h := newHarness(t)
		req := request("S2")
		newStart := req.Start.Add(3 * time.Hour)
		// Buffered without a workflow task, the signal is delivered together with the timer that fires at 24 h.
		h.at(24*time.Hour-time.Second, func() {
			h.env.SignalWorkflowSkippingWorkflowTask(appt.SignalReschedule, appt.RescheduleSignal{Start: newStart})
		})
		h.run(req)
		rem := h.sent(ofTypeCh(appt.Reminder, appt.Email))
		assert.Equal(t, []time.Time{newStart.Add(-24 * time.Hour), newStart.Add(-time.Hour)}, times(rem),
			"only the new plan's reminders")
	})
	t.Run("send under way", func(t *testing.T) {
		h := newHarness(t)
		req := request("S3")
		newStart := req.Start.Add(3 * time.Hour)
		h.slowDeliver(func(in *activities.DeliverInput) bool {
			return in.Messages[0].Type == appt.Reminder && in.Messages[0].Offset == 24*time.Hour &&
				in.Messages[0].Appointment.Start.Equal(req.Start)
		}, 30*time.Second)
		h.signal(24*time.Hour+10*time.Second, appt.SignalReschedule, appt.RescheduleSignal{Start: newStart})
		st := h.run(req)
		rem := h.sent(ofTypeCh(appt.Reminder, appt.Email))
		assert.Equal(t, []time.Time{req.Start.Add(-24*time.Hour + 30*time.Second), newStart.Add(-24 * time.Hour), newStart.Add(-time.Hour)},
			times(rem), "the reminder under way completes once; the new plan follows")
		assert.Len(t, h.sent(ofTypeCh(appt.Reschedule, appt.Email)), 1)
		assert.Len(t, entries(st, entryOf(appt.Reminder, appt.Email)), 3, "no duplicate entries")
	})
}

// Cancel between reminders sends CANCELLED, drops the rest and completes.
func TestCancelBetweenReminders(t *testing.T) {
	h := newHarness(t)
	req := request("C1")
	h.signal(30*time.Hour, appt.SignalCancel, appt.CancelSignal{Reason: "customer asked"})
	st := h.run(req)
	assert.Equal(t, appt.CancelledSt, st.State)
	assert.Equal(t, "customer asked", st.Reason)
	assert.Equal(t, []time.Time{req.Start.Add(-24 * time.Hour)}, times(h.sent(ofTypeCh(appt.Reminder, appt.Email))))
	can := h.sent(ofType(appt.Cancelled))
	require.Len(t, can, 3)
	assert.Equal(t, t0.Add(30*time.Hour), can[0].At)
	assert.Equal(t, t0.Add(30*time.Hour), h.env.Now().UTC(), "the workflow completed at the cancel")
	assert.Empty(t, st.Pending)
}

// Call start cancels the pending reminders and invites.
func TestCallStartCancelsPendingSends(t *testing.T) {
	h := newHarness(t, withAutoActivate(false))
	h.signal(46*time.Hour, appt.SignalActivate, nil)
	h.signal(46*time.Hour+time.Minute, appt.SignalCallStarted, nil)
	h.signal(50*time.Hour, appt.SignalCallEnded, nil)
	st := h.run(request("C2"))
	assert.Len(t, h.sent(ofTypeCh(appt.Reminder, appt.Email)), 1, "only the 24h reminder, before the call")
	assert.Empty(t, h.sent(ofType(appt.Room)))
	assert.Equal(t, appt.Ended, st.State)
	assert.Len(t, h.sent(ofEvent(appt.EventCallStarted)), 1)
}

// FOLLOW_UP goes to the customers who joined, and to nobody when nobody joined.
func TestFollowUpOnlyToJoined(t *testing.T) {
	req := request("F1")
	req.Participants = append(req.Participants, appt.Participant{ID: "c2", Name: "Bo", Email: "bo@example.com", Phone: "+15557654321"})
	t.Run("one of two joined", func(t *testing.T) {
		h := newHarness(t)
		h.signal(48*time.Hour, appt.SignalCallStarted, nil)
		h.signal(48*time.Hour+time.Minute, appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: "c1"})
		h.signal(48*time.Hour+2*time.Minute, appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: "a1"})
		h.signal(48*time.Hour+30*time.Minute, appt.SignalCallEnded, nil)
		st := h.run(req)
		fu := h.sent(func(s send) bool { return s.Type == appt.FollowUp && s.Channel != appt.Webhook })
		require.Len(t, fu, 2, "email and SMS to c1 only")
		for _, s := range fu {
			assert.Equal(t, "c1", s.Recipient)
			assert.Equal(t, t0.Add(48*time.Hour+30*time.Minute), s.At)
		}
		hooks := h.sent(ofTypeCh(appt.FollowUp, appt.Webhook))
		require.Len(t, hooks, 1)
		assert.Equal(t, []string{"c1"}, hooks[0].Recipients, "the webhook payload names only the customer who joined")
		assert.Equal(t, appt.Ended, st.State)
		assert.True(t, st.Participants[0].Joined)
		assert.False(t, st.Participants[2].Joined)
	})
	t.Run("nobody joined", func(t *testing.T) {
		h := newHarness(t)
		h.signal(48*time.Hour, appt.SignalCallStarted, nil)
		h.signal(48*time.Hour+30*time.Minute, appt.SignalCallEnded, nil)
		st := h.run(req)
		assert.Empty(t, h.sent(ofType(appt.FollowUp)))
		assert.Empty(t, entries(st, func(e appt.DeliveryEntry) bool { return e.Type == appt.FollowUp }))
		assert.Len(t, h.sent(ofEvent(appt.EventCallEnded)), 1)
	})
}

// A metadata update is webhook-only (appointment.updated): no email, no SMS, not a reschedule.
func TestMetadataUpdateIsWebhookOnly(t *testing.T) {
	h := newHarness(t)
	h.signal(time.Hour, appt.SignalUpdateMetadata, appt.UpdateMetadataSignal{Metadata: map[string]string{"room": "7"}})
	h.signal(2*time.Hour, appt.SignalCancel, appt.CancelSignal{})
	h.run(request("M1"))
	at := t0.Add(time.Hour)
	during := h.sent(func(s send) bool { return s.At.Equal(at) })
	require.Len(t, during, 1)
	assert.Equal(t, appt.Webhook, during[0].Channel)
	assert.Equal(t, appt.EventUpdated, during[0].Event)
	assert.Empty(t, h.sent(ofType(appt.Reschedule)))
}

// A notification goes out only when the captured flag and the live global flag are both on (all four combinations
// are tried); a booking made while the global flag is off never sends, even after a re-enable; lifecycle webhooks
// always go out.
func TestFlagCombinations(t *testing.T) {
	cases := []struct {
		name           string
		request, glob  bool
		wantSent       bool
		reenableBefore bool
	}{
		{"both on", true, true, true, false},
		{"request off", false, true, false, false},
		{"global off at scheduling, re-enabled later", true, false, false, true},
		{"both off", false, false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.setGlobal(c.glob)
			if c.reenableBefore {
				h.at(time.Hour, func() { h.setGlobal(true) })
			}
			req := request("G1")
			req.Notifications = c.request
			st := h.run(req)
			notifications := h.sent(func(s send) bool { return s.Type != appt.LifecycleEvent })
			lifecycle := h.sent(ofType(appt.LifecycleEvent))
			assert.NotEmpty(t, lifecycle, "lifecycle events always go out")
			assert.Equal(t, c.request && c.glob, st.NotificationsEnabled)
			if c.wantSent {
				assert.NotEmpty(t, notifications)
				return
			}
			assert.Empty(t, notifications)
			for _, e := range entries(st, func(e appt.DeliveryEntry) bool { return e.Type != appt.LifecycleEvent }) {
				assert.Equal(t, appt.SkippedDisabled, e.Status, "%s %s", e.Type, e.Channel)
			}
		})
	}
	t.Run("live global off at send time", func(t *testing.T) {
		h := newHarness(t)
		h.at(23*time.Hour, func() { h.setGlobal(false) })
		st := h.run(request("G2"))
		assert.Empty(t, h.sent(ofType(appt.Reminder)))
		rem := entries(st, func(e appt.DeliveryEntry) bool { return e.Type == appt.Reminder })
		require.NotEmpty(t, rem)
		for _, e := range rem {
			assert.Equal(t, appt.SkippedDisabled, e.Status)
		}
		assert.True(t, st.NotificationsEnabled, "the captured flag does not change")
	})
}

// Agents get nothing, in any notification.
func TestAgentsGetNothing(t *testing.T) {
	h := newHarness(t)
	h.signal(48*time.Hour, appt.SignalCallStarted, nil)
	h.signal(48*time.Hour+time.Minute, appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: "a1"})
	h.signal(48*time.Hour+2*time.Minute, appt.SignalCallEnded, nil)
	st := h.run(request("AG"))
	assert.Empty(t, h.sent(func(s send) bool { return s.Recipient == "a1" }))
	assert.Empty(t, entries(st, func(e appt.DeliveryEntry) bool { return e.Recipient == "a1" }))
}

// A global disable while a retry is under way stops it: the next attempt is skipped_disabled.
func TestGlobalDisableStopsRetries(t *testing.T) {
	h := newHarness(t, withMaxAttempts(5))
	h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
		if msg.Type == appt.Create && ch == appt.Webhook {
			return activities.Transient(0, "HTTP 502")
		}
		return nil
	}
	h.at(2*time.Second, func() { h.setGlobal(false) }) // after the first attempt, before the 5 s backoff ends
	h.signal(time.Hour, appt.SignalCancel, appt.CancelSignal{})
	st := h.run(request("D1"))
	e := entries(st, entryOf(appt.Create, appt.Webhook))
	require.Len(t, e, 1)
	assert.Equal(t, appt.SkippedDisabled, e[0].Status)
	assert.Equal(t, 1, h.attempts[e[0].NotificationID], "no attempt reached the provider after the disable")
}

// Re-enabling sends nothing that was blocked.
func TestReenableDoesNotReplay(t *testing.T) {
	h := newHarness(t)
	h.at(23*time.Hour, func() { h.setGlobal(false) })
	h.at(25*time.Hour, func() { h.setGlobal(true) })
	req := request("D2")
	st := h.run(req)
	rem := h.sent(ofTypeCh(appt.Reminder, appt.Email))
	require.Len(t, rem, 1, "the 24h reminder was blocked and never sent later")
	assert.Equal(t, req.Start.Add(-time.Hour), rem[0].At)
	blocked := entries(st, func(e appt.DeliveryEntry) bool { return e.Type == appt.Reminder && e.Offset == "24h0m0s" })
	for _, e := range blocked {
		assert.Equal(t, appt.SkippedDisabled, e.Status)
	}
}

// 4xx is never retried; 5xx is retried up to max_attempts with backoff.
func TestRetryClassification(t *testing.T) {
	for _, c := range []struct {
		name     string
		err      error
		attempts int
	}{
		{"400", activities.Permanent(activities.ErrHTTPClient, "HTTP 400"), 1},
		{"401", activities.Permanent(activities.ErrHTTPClient, "HTTP 401"), 1},
		{"403", activities.Permanent(activities.ErrHTTPClient, "HTTP 403"), 1},
		{"404", activities.Permanent(activities.ErrHTTPClient, "HTTP 404"), 1},
		{"redirect", activities.Permanent(activities.ErrHTTPRedirect, "HTTP 302"), 1},
		{"twilio 21211", activities.Permanent(activities.ErrProviderPermanent, "Twilio 21211"), 1},
		{"smtp 550", activities.Permanent(activities.ErrSMTPPermanent, "SMTP 550"), 1},
		{"500", activities.Transient(0, "HTTP 500"), 3},
		{"429", activities.Transient(time.Minute, "HTTP 429"), 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
				if msg.Type == appt.Create && ch == appt.Webhook {
					return c.err
				}
				return nil
			}
			h.signal(2*time.Hour, appt.SignalCancel, appt.CancelSignal{})
			st := h.run(request("X1"))
			e := entries(st, entryOf(appt.Create, appt.Webhook))
			require.Len(t, e, 1)
			assert.Equal(t, appt.Failed, e[0].Status)
			assert.Equal(t, c.attempts, e[0].Attempts)
			assert.Equal(t, c.attempts, h.attempts[e[0].NotificationID], "attempts that reached the provider")
			// The email and SMS to the same customer succeeded once and were never sent again.
			assert.Len(t, h.sent(ofTypeCh(appt.Create, appt.Email)), 1)
			assert.Len(t, h.sent(ofTypeCh(appt.Create, appt.SMS)), 1)
		})
	}
}

// Retries back off exponentially and honour Retry-After.
func TestRetryBackoff(t *testing.T) {
	h := newHarness(t)
	var at []time.Time
	h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
		if msg.Type == appt.Create && ch == appt.Webhook {
			at = append(at, h.env.Now().UTC())
			if attempt == 1 {
				return activities.Transient(time.Minute, "HTTP 429")
			}
			if attempt == 2 {
				return activities.Transient(0, "HTTP 503")
			}
		}
		return nil
	}
	h.signal(2*time.Hour, appt.SignalCancel, appt.CancelSignal{})
	st := h.run(request("X2"))
	require.Len(t, at, 3)
	assert.Equal(t, time.Minute, at[1].Sub(at[0]), "Retry-After: 60 s instead of the 5 s backoff")
	assert.Equal(t, 5*time.Second, at[2].Sub(at[1]), "then the policy's interval")
	e := entries(st, entryOf(appt.Create, appt.Webhook))
	require.Len(t, e, 1)
	assert.Equal(t, appt.Sent, e[0].Status)
	assert.Equal(t, 3, e[0].Attempts)
}

// A manual retry is accepted for the most recent failure only, and refused when stale.
func TestManualRetry(t *testing.T) {
	failing := true
	h := newHarness(t, withMaxAttempts(1))
	h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
		if failing && ch == appt.Webhook && (msg.Type == appt.Create || msg.Type == appt.Reminder) {
			return activities.Transient(0, "HTTP 500")
		}
		return nil
	}
	req := request("MR")
	var before, after appt.Status
	// CREATE webhook fails (e2-ish), then the 24h REMINDER webhook fails: the reminder's is the most recent failure.
	h.queryAt(25*time.Hour, &before)
	h.at(25*time.Hour+time.Second, func() {
		failing = false
		var createID, remID string
		for _, e := range before.Deliveries {
			if e.Status == appt.Failed && e.Type == appt.Create {
				createID = e.ID
			}
			if e.Status == appt.Failed && e.Type == appt.Reminder {
				remID = e.ID
			}
		}
		require.NotEmpty(t, createID)
		require.NotEmpty(t, remID)
		h.env.SignalWorkflow(appt.SignalRetry, appt.RetrySignal{EntryID: createID}) // older: refused
		h.env.SignalWorkflow(appt.SignalRetry, appt.RetrySignal{EntryID: remID})    // most recent: accepted
		h.env.SignalWorkflow(appt.SignalRetry, appt.RetrySignal{EntryID: "e999"})   // unknown: refused
	})
	h.queryAt(26*time.Hour, &after)
	h.signal(30*time.Hour, appt.SignalCancel, appt.CancelSignal{})
	st := h.run(req)

	var refused []appt.DeliveryEntry
	for _, e := range after.Deliveries {
		if e.Status == appt.Refused {
			refused = append(refused, e)
		}
	}
	require.Len(t, refused, 2)
	assert.Contains(t, refused[0].Error, "older than the most recent failed entry")
	assert.Contains(t, refused[1].Error, "not in the delivery log")
	rem := entries(&after, entryOf(appt.Reminder, appt.Webhook))
	require.Len(t, rem, 1)
	assert.Equal(t, appt.Sent, rem[0].Status, "the accepted retry sent it")
	assert.Equal(t, 2, rem[0].Attempts)
	create := entries(st, entryOf(appt.Create, appt.Webhook))
	assert.Equal(t, appt.Failed, create[0].Status, "the refused retry sent nothing")
	assert.Equal(t, 1, h.attempts[create[0].NotificationID])
}

// A REMINDER's retry is refused after the start, after a reschedule and after cancel; anything but
// CANCELLED is refused once cancelled, while a failed CANCELLED can still be retried.
func TestManualRetryRefusedWhenStale(t *testing.T) {
	failReminder := func(h *harness) {
		h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
			if ch == appt.Webhook && msg.Type == appt.Reminder && msg.Offset == time.Hour {
				return activities.Transient(0, "HTTP 500")
			}
			return nil
		}
	}
	lastFailedID := func(st *appt.Status) string {
		id := ""
		for _, e := range st.Deliveries {
			if e.Status == appt.Failed {
				id = e.ID
			}
		}
		return id
	}
	cases := []struct {
		name   string
		before func(h *harness)
		reason string
	}{
		{"after the start", func(h *harness) {}, "the appointment has started"},
		{"after a reschedule", func(h *harness) {
			h.signal(47*time.Hour+30*time.Minute, appt.SignalReschedule, appt.RescheduleSignal{Start: t0.Add(60 * time.Hour)})
		}, "was rescheduled"},
		{"after the call started", func(h *harness) { h.signal(47*time.Hour+30*time.Minute, appt.SignalCallStarted, nil) }, "the call has started"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, withMaxAttempts(1))
			failReminder(h)
			c.before(h)
			var mid, after appt.Status
			h.queryAt(48*time.Hour+time.Minute, &mid)
			h.at(48*time.Hour+2*time.Minute, func() {
				h.env.SignalWorkflow(appt.SignalRetry, appt.RetrySignal{EntryID: lastFailedID(&mid)})
			})
			h.queryAt(48*time.Hour+3*time.Minute, &after)
			h.signal(49*time.Hour, appt.SignalCallEnded, nil)
			h.run(request("ST"))
			last := after.Deliveries[len(after.Deliveries)-1]
			assert.Equal(t, appt.Refused, last.Status)
			assert.Contains(t, last.Error, c.reason)
		})
	}
	t.Run("cancelled: CANCELLED itself can be retried, a reminder cannot", func(t *testing.T) {
		h := newHarness(t, withMaxAttempts(1))
		failing := true
		h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
			if failing && ch == appt.Webhook && (msg.Type == appt.Cancelled || msg.Type == appt.Reminder) {
				return activities.Transient(0, "HTTP 500")
			}
			return nil
		}
		h.signal(30*time.Hour, appt.SignalCancel, appt.CancelSignal{})
		var mid appt.Status
		h.queryAt(30*time.Hour+time.Minute, &mid)
		var remID, canID string
		h.at(30*time.Hour+2*time.Minute, func() {
			for _, e := range mid.Deliveries {
				if e.Status == appt.Failed && e.Type == appt.Reminder {
					remID = e.ID
				}
				if e.Status == appt.Failed && e.Type == appt.Cancelled {
					canID = e.ID
				}
			}
			failing = false
			h.env.SignalWorkflow(appt.SignalRetry, appt.RetrySignal{EntryID: remID})
			h.env.SignalWorkflow(appt.SignalRetry, appt.RetrySignal{EntryID: canID})
		})
		st := h.run(request("SC"))
		assert.Equal(t, appt.CancelledSt, st.State)
		can := entries(st, entryOf(appt.Cancelled, appt.Webhook))
		require.Len(t, can, 1)
		assert.Equal(t, appt.Sent, can[0].Status, "the failed CANCELLED was retried after the cancel")
		refused := entries(st, func(e appt.DeliveryEntry) bool { return e.Status == appt.Refused })
		require.Len(t, refused, 1)
		assert.Contains(t, refused[0].Error, "older than the most recent failed entry")
		assert.Equal(t, t0.Add(30*time.Hour+2*time.Minute), h.env.Now().UTC(),
			"once nothing is failed any more the workflow completes")
	})
}

// Duplicate signals are harmless: each takes effect once, and the rest are logged as refused.
func TestDuplicateSignalsAreHarmless(t *testing.T) {
	h := newHarness(t, withAutoActivate(false))
	h.signal(time.Hour, appt.SignalActivate, nil)
	h.signal(time.Hour+time.Second, appt.SignalActivate, nil)
	h.signal(48*time.Hour, appt.SignalCallStarted, nil)
	h.signal(48*time.Hour, appt.SignalCallStarted, nil)
	h.signal(48*time.Hour+time.Minute, appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: "c1"})
	h.signal(48*time.Hour+2*time.Minute, appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: "c1"})
	h.at(48*time.Hour+10*time.Minute, func() {
		h.env.SignalWorkflow(appt.SignalCallEnded, nil)
		h.env.SignalWorkflow(appt.SignalCallEnded, nil)
	})
	st := h.run(request("DU"))
	assert.Len(t, h.sent(ofEvent(appt.EventActivated)), 1)
	assert.Len(t, h.sent(ofEvent(appt.EventCallStarted)), 1)
	assert.Len(t, h.sent(ofEvent(appt.EventParticipantJoined)), 1)
	assert.Len(t, h.sent(ofTypeCh(appt.FollowUp, appt.Email)), 1)
	assert.Equal(t, appt.Ended, st.State)
	refused := entries(st, func(e appt.DeliveryEntry) bool { return e.Status == appt.Refused })
	assert.Len(t, refused, 4, "the second activate, call-started, participant-joined and call-ended")
}

// Signals with bad input are refused and change nothing.
func TestInvalidSignalsAreRefused(t *testing.T) {
	h := newHarness(t)
	h.signal(time.Hour, appt.SignalReschedule, appt.RescheduleSignal{Start: t0})                         // in the past
	h.signal(time.Hour, appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: "zz"}) // unknown
	h.signal(time.Hour, appt.SignalUpdateMetadata, appt.UpdateMetadataSignal{Metadata: map[string]string{"bad key": "v"}})
	h.signal(time.Hour, appt.SignalReschedule, "not an object")
	var mid appt.Status
	h.queryAt(2*time.Hour, &mid)
	h.signal(3*time.Hour, appt.SignalCancel, appt.CancelSignal{})
	req := request("IV")
	h.run(req)
	refused := entries(&mid, func(e appt.DeliveryEntry) bool { return e.Status == appt.Refused })
	require.Len(t, refused, 4)
	assert.Equal(t, appt.SignalReschedule, refused[0].Signal)
	assert.Contains(t, refused[0].Error, "start")
	assert.Contains(t, refused[1].Error, "participant")
	assert.Contains(t, refused[2].Error, "metadata")
	assert.True(t, req.Start.Equal(mid.Start), "nothing changed")
	assert.Len(t, mid.Pending, 2)
}

// Continue-as-new carries the state and the delivery log, and the new run rebuilds its timers.
func TestContinueAsNewKeepsState(t *testing.T) {
	h := newHarness(t)
	req := request("CN")
	h.at(30*time.Hour, func() {
		h.env.SetContinueAsNewSuggested(true)
		h.env.SignalWorkflow(appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: "c1"})
	})
	h.env.ExecuteWorkflow(appt.AppointmentWorkflowType, req)
	require.True(t, h.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(h.env.GetWorkflowError(), &can), "got %v", h.env.GetWorkflowError())
	var next appt.ScheduleRequest
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotEmpty(t, next.Resume)
	sentBefore := len(h.sent(func(send) bool { return true }))

	h2 := newHarness(t)
	h2.env.SetStartTime(t0.Add(30 * time.Hour))
	h2.signal(18*time.Hour, appt.SignalCallStarted, nil)
	h2.signal(18*time.Hour+time.Minute, appt.SignalCallEnded, nil)
	st := h2.run(&next)
	assert.Empty(t, h2.sent(ofType(appt.Create)), "CREATE is not sent again")
	assert.Equal(t, []time.Time{req.Start.Add(-time.Hour)}, times(h2.sent(ofTypeCh(appt.Reminder, appt.Email))),
		"the 1h reminder's timer was rebuilt; the 24h one is not repeated")
	assert.Len(t, h2.sent(ofTypeCh(appt.FollowUp, appt.Email)), 1, "the joined participant was carried over")
	assert.GreaterOrEqual(t, len(st.Deliveries), sentBefore, "the delivery log was carried over")
	assert.Equal(t, "e1", st.Deliveries[0].ID)
}

// Without call-ended the appointment expires at end + expiry: FOLLOW_UP to who joined, then completion.
func TestExpiry(t *testing.T) {
	h := newHarness(t, withOrgYAML("    expiry: 2h\n"))
	req := request("EX")
	req.Participants = append(req.Participants, appt.Participant{ID: "c2", Name: "Bo", Email: "bo@example.com", Phone: "+15557654321"})
	h.signal(48*time.Hour, appt.SignalCallStarted, nil)
	h.signal(48*time.Hour+time.Minute, appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: "c1"})
	h.signal(48*time.Hour+2*time.Minute, appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: "a1"})
	st := h.run(req)
	assert.Equal(t, appt.Expired, st.State)
	fu := h.sent(func(s send) bool { return s.Type == appt.FollowUp && s.Channel != appt.Webhook })
	require.Len(t, fu, 2, "FOLLOW_UP at expiry: email and SMS to c1, who joined; nothing to c2, who did not, nor to the agent")
	for _, s := range fu {
		assert.Equal(t, "c1", s.Recipient)
		assert.Equal(t, req.End.Add(2*time.Hour), s.At)
	}
	hooks := h.sent(ofTypeCh(appt.FollowUp, appt.Webhook))
	require.Len(t, hooks, 1)
	assert.Equal(t, []string{"c1"}, hooks[0].Recipients, "the webhook payload names only the customer who joined")
	assert.Len(t, h.sent(ofEvent(appt.EventExpired)), 1)
}

// A ROOM invite that failed can be retried by hand while its window (due + 5 min) is open, and the retry is refused
// once it has closed: a second after the window, nothing is sent.
func TestManualRoomRetryWindow(t *testing.T) {
	roomDue := 48*time.Hour - 15*time.Minute
	for _, c := range []struct {
		name     string
		at       time.Duration
		accepted bool
	}{
		{"1 s before the window closes", roomDue + 5*time.Minute - time.Second, true},
		{"1 s after the window closed", roomDue + 5*time.Minute + time.Second, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, withAutoActivate(false), withMaxAttempts(1))
			failing := true
			h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
				if failing && ch == appt.Webhook && msg.Type == appt.Room {
					return activities.Transient(0, "HTTP 503")
				}
				return nil
			}
			var mid appt.Status
			h.queryAt(roomDue+time.Second, &mid)
			h.at(c.at, func() {
				e := entries(&mid, entryOf(appt.Room, appt.Webhook))
				require.Len(t, e, 1)
				require.Equal(t, appt.Failed, e[0].Status)
				failing = false
				h.env.SignalWorkflow(appt.SignalRetry, appt.RetrySignal{EntryID: e[0].ID})
			})
			h.signal(48*time.Hour, appt.SignalCallStarted, nil)
			h.signal(48*time.Hour+time.Minute, appt.SignalCallEnded, nil)
			st := h.run(request("MRR"))
			e := entries(st, entryOf(appt.Room, appt.Webhook))
			require.Len(t, e, 1)
			refused := entries(st, func(e appt.DeliveryEntry) bool { return e.Status == appt.Refused })
			if c.accepted {
				assert.Equal(t, appt.Sent, e[0].Status, "the retry inside the window sent the invite")
				assert.Empty(t, refused)
				return
			}
			assert.Equal(t, appt.Failed, e[0].Status)
			assert.Empty(t, h.sent(ofTypeCh(appt.Room, appt.Webhook)), "nothing is sent after the window")
			require.Len(t, refused, 1)
			assert.Contains(t, refused[0].Error, "past its window")
		})
	}
}

// A DST change in the participant's time zone does not move a reminder: offsets are exact durations.
func TestDSTDoesNotMoveReminders(t *testing.T) {
	h := newHarness(t)
	req := request("DST")
	req.Participants[0].TZ = "America/New_York"
	// US clocks go forward on 2026-03-08 at 07:00 UTC; the 24h reminder is before it, the start after it.
	req.Start = time.Date(2026, 3, 8, 14, 0, 0, 0, time.UTC)
	req.End = req.Start.Add(30 * time.Minute)
	h.run(req)
	rem := h.sent(ofTypeCh(appt.Reminder, appt.Email))
	require.Len(t, rem, 2)
	assert.Equal(t, time.Date(2026, 3, 7, 14, 0, 0, 0, time.UTC), rem[0].At, "exactly 24 h before, not 23 h")
	assert.Equal(t, req.Start.Add(-time.Hour), rem[1].At)
}

// Platforms: talkdesk never sends email or SMS; they are logged skipped_unprovisioned, and webhooks go out.
func TestTalkdeskIsWebhookOnly(t *testing.T) {
	h := newHarness(t, withTalkdesk())
	h.signal(time.Hour, appt.SignalCancel, appt.CancelSignal{})
	st := h.run(request("TD"))
	assert.Empty(t, h.sent(func(s send) bool { return s.Channel != appt.Webhook }))
	assert.Len(t, h.sent(ofTypeCh(appt.Create, appt.Webhook)), 1)
	for _, e := range entries(st, func(e appt.DeliveryEntry) bool { return e.Channel == appt.Email || e.Channel == appt.SMS }) {
		assert.Equal(t, appt.SkippedUnprovisioned, e.Status)
	}
}

// An unknown organisation ends the workflow in state rejected without sending anything.
func TestUnknownOrgIsRejected(t *testing.T) {
	h := newHarness(t)
	req := request("UO")
	req.Org = "nope"
	st := h.run(req)
	assert.Equal(t, appt.Rejected, st.State)
	assert.Contains(t, st.Reason, "unknown organisation")
	assert.Empty(t, h.sent(func(send) bool { return true }))
}

// The organisation-settings workflow: the global flag toggles; auto-activate turns on but never off.
func TestOrgSettings(t *testing.T) {
	h := newHarness(t)
	query := func() appt.OrgSettings {
		v, err := h.env.QueryWorkflow(appt.QueryOrgSettings)
		require.NoError(t, err)
		var s appt.OrgSettings
		require.NoError(t, v.Get(&s))
		return s
	}
	var seen []appt.OrgSettings
	h.signal(time.Minute, appt.SignalSetNotifications, appt.SetNotificationsSignal{Enabled: false})
	h.at(2*time.Minute, func() { seen = append(seen, query()) })
	h.signal(3*time.Minute, appt.SignalSetAutoActivate, appt.SetAutoActivateSignal{Enabled: true})
	h.at(4*time.Minute, func() { seen = append(seen, query()) })
	h.signal(5*time.Minute, appt.SignalSetAutoActivate, appt.SetAutoActivateSignal{Enabled: false})
	h.signal(5*time.Minute, appt.SignalSetNotifications, appt.SetNotificationsSignal{Enabled: true})
	h.at(6*time.Minute, func() { seen = append(seen, query()); h.env.CancelWorkflow() })
	h.env.ExecuteWorkflow(appt.OrgSettingsWorkflowType, &appt.OrgSettingsInput{Org: "acme",
		Settings: appt.OrgSettings{NotificationsEnabled: true, AutoActivate: false}})
	require.Len(t, seen, 3)
	assert.Equal(t, appt.OrgSettings{NotificationsEnabled: false, AutoActivate: false}, seen[0])
	assert.Equal(t, appt.OrgSettings{NotificationsEnabled: false, AutoActivate: true}, seen[1])
	assert.Equal(t, appt.OrgSettings{NotificationsEnabled: true, AutoActivate: true}, seen[2], "auto-activate never turns off")
}

// Call start, reschedule and cancel also stop the automatic retries under way for a reminder: nothing reaches the
// provider after them.
func TestRetriesStopWhenTheReminderIsStale(t *testing.T) {
	remDue := t0.Add(47 * time.Hour)
	for _, c := range []struct {
		name   string
		signal string
		arg    any
		reason string
	}{
		{"call started", appt.SignalCallStarted, nil, "the call started"},
		{"rescheduled", appt.SignalReschedule, appt.RescheduleSignal{Start: t0.Add(60 * time.Hour)}, "rescheduled"},
		{"cancelled", appt.SignalCancel, appt.CancelSignal{}, "cancelled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, withMaxAttempts(10), withOrgYAML("    reminder_offsets: [1h]\n"))
			var last time.Time
			h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
				if ch == appt.Webhook && msg.Type == appt.Reminder {
					last = h.env.Now().UTC()
					return activities.Transient(0, "HTTP 503")
				}
				return nil
			}
			h.signal(47*time.Hour+time.Minute, c.signal, c.arg)
			h.signal(49*time.Hour, appt.SignalCallEnded, nil)
			st := h.run(request("RS"))
			assert.True(t, last.Before(remDue.Add(time.Minute)), "no attempt after the %s signal (last at %s)", c.signal, last)
			e := entries(st, func(e appt.DeliveryEntry) bool {
				return e.Type == appt.Reminder && e.Channel == appt.Webhook && e.Generation == 0
			})
			require.Len(t, e, 1)
			assert.Equal(t, appt.Failed, e[0].Status)
			assert.Contains(t, e[0].Error, c.reason)
			assert.Less(t, e[0].Attempts, 10)
		})
	}
}

// A reminder's retries never run after the appointment's start.
func TestReminderRetriesStopAtStart(t *testing.T) {
	h := newHarness(t, withMaxAttempts(10), withOrgYAML("    reminder_offsets: [10m]\n"))
	req := request("RT")
	var last time.Time
	h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
		if ch == appt.Webhook && msg.Type == appt.Reminder {
			last = h.env.Now().UTC()
			return activities.Transient(0, "HTTP 503")
		}
		return nil
	}
	h.signal(49*time.Hour, appt.SignalCallEnded, nil)
	st := h.run(req)
	assert.True(t, last.Before(req.Start), "last attempt %s is before the start %s", last, req.Start)
	e := entries(st, entryOf(appt.Reminder, appt.Webhook))
	require.Len(t, e, 1)
	assert.Equal(t, appt.Failed, e[0].Status)
	assert.Contains(t, e[0].Error, "no retry after the appointment's start")
	assert.Greater(t, e[0].Attempts, 3)
	assert.Less(t, e[0].Attempts, 10)
}

// The fan-out runs as a local activity by default; a worker may choose regular activities instead
// (Activities.RemoteDelivery), captured per appointment. The rules hold the same either way.
func TestRemoteDeliveryShape(t *testing.T) {
	t.Run("reminders on time", func(t *testing.T) {
		h := newHarness(t, withRemoteDelivery())
		req := request("RD1")
		h.run(req)
		assert.Equal(t, []time.Time{req.Start.Add(-24 * time.Hour), req.Start.Add(-time.Hour)},
			times(h.sent(ofTypeCh(appt.Reminder, appt.Email))))
	})
	t.Run("ROOM after its window", func(t *testing.T) {
		h := newHarness(t, withRemoteDelivery(), withAutoActivate(false))
		h.signal(48*time.Hour-16*time.Minute, appt.SignalUpdateMetadata, appt.UpdateMetadataSignal{Metadata: map[string]string{"k": "v"}})
		h.slowDeliver(hasEvent(appt.EventUpdated), 7*time.Minute)
		st := h.run(request("RD2"))
		assert.Empty(t, h.sent(ofType(appt.Room)))
		for _, e := range entries(st, func(e appt.DeliveryEntry) bool { return e.Type == appt.Room }) {
			assert.Equal(t, appt.SkippedMissed, e.Status)
		}
	})
	t.Run("a 5xx is retried alone", func(t *testing.T) {
		h := newHarness(t, withRemoteDelivery())
		h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
			if msg.Type == appt.Create && ch == appt.Webhook && attempt == 1 {
				return activities.Transient(0, "HTTP 500")
			}
			return nil
		}
		h.signal(time.Hour, appt.SignalCancel, appt.CancelSignal{})
		st := h.run(request("RD3"))
		e := entries(st, entryOf(appt.Create, appt.Webhook))
		require.Len(t, e, 1)
		assert.Equal(t, appt.Sent, e[0].Status)
		assert.Equal(t, 2, e[0].Attempts)
		assert.Len(t, h.sent(ofTypeCh(appt.Create, appt.Email)), 1)
	})
}

// A reschedule to a start more than 400 days ahead is refused (new workflows record the version marker that guards
// it; testdata/reschedule-beyond-400-days-v0.json replays one that older code accepted), and exactly 400 days ahead
// is accepted.
func TestRescheduleBeyond400DaysIsRefused(t *testing.T) {
	h := newHarness(t)
	far := t0.Add(time.Hour + appt.MaxStartAhead)
	h.signal(time.Hour, appt.SignalReschedule, appt.RescheduleSignal{Start: far.Add(time.Second)})
	h.signal(time.Hour, appt.SignalReschedule, appt.RescheduleSignal{Start: far})
	var mid appt.Status
	h.queryAt(2*time.Hour, &mid)
	h.signal(3*time.Hour, appt.SignalCancel, appt.CancelSignal{})
	h.run(request("FAR"))
	refused := entries(&mid, func(e appt.DeliveryEntry) bool { return e.Status == appt.Refused })
	require.Len(t, refused, 1)
	assert.Contains(t, refused[0].Error, "more than 400 days ahead")
	assert.True(t, far.Equal(mid.Start), "400 days ahead is accepted")
}
