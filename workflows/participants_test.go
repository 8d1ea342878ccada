package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

var (
	bob = appt.Participant{ID: "c2", Name: "Bob Meier", Email: "bob@example.com", Phone: "+4915123456789",
		TZ: "Europe/Berlin", Locale: "de"}
	agentTwo = appt.Participant{ID: "a2", Name: "Agent Two", Email: "agent2@acme.example", Role: appt.Agent}
)

func to(id string) func(send) bool { return func(s send) bool { return s.Recipient == id } }

func and(fs ...func(send) bool) func(send) bool {
	return func(s send) bool {
		for _, f := range fs {
			if !f(s) {
				return false
			}
		}
		return true
	}
}

func types(ss []send) []appt.NotificationType {
	out := make([]appt.NotificationType, len(ss))
	for i, s := range ss {
		out[i] = s.Type
	}
	return out
}

func participantIDs(st *appt.Status) []string {
	var out []string
	for _, p := range st.Participants {
		out = append(out, p.ID)
	}
	return out
}

// An added customer gets CREATE at once (email, SMS, and a notification.create webhook addressed to it alone, under
// an event ID of its own), with the join link while the appointment is active and a REQUEST invite of the current
// generation, and then every later notification: both reminders. Subscribers get participant.added. An added agent
// gets nothing while notify_agents is off: only the participant.added event tells of it.
func TestAddedCustomerGetsCreateAndLaterReminders(t *testing.T) {
	h := newHarness(t)
	var add, addAgent updateOutcome
	h.update(time.Hour, appt.UpdateAddParticipant, appt.AddParticipantUpdate{Participant: bob}, &add)
	h.update(2*time.Hour, appt.UpdateAddParticipant, appt.AddParticipantUpdate{Participant: agentTwo}, &addAgent)
	var mid appt.Status
	h.queryAt(3*time.Hour, &mid)
	st := h.run(request("ADD"))

	require.NoError(t, add.err)
	require.NoError(t, add.rejected)
	assert.Equal(t, appt.Active, add.result.State)
	require.NoError(t, addAgent.err)
	assert.Equal(t, []string{"c1", "a1", "c2", "a2"}, participantIDs(&mid))

	bobs := h.sent(to("c2"))
	assert.Equal(t, []appt.NotificationType{appt.Create, appt.Create, appt.Reminder, appt.Reminder, appt.Reminder, appt.Reminder},
		types(bobs), "CREATE by email and SMS, then each reminder by email and SMS")
	create := h.sent(and(to("c2"), ofTypeCh(appt.Create, appt.Email)))
	require.Len(t, create, 1)
	assert.Equal(t, t0.Add(time.Hour), create[0].At, "at once")
	assert.Equal(t, appt.ParticipantEventID("ADD", appt.Create, 0, 1), create[0].EventID)
	assert.Equal(t, "https://video.example/j/ADD", create[0].JoinURL, "active: the link")
	assert.Equal(t, 0, create[0].Sequence, "a REQUEST of the current generation")

	hooks := h.sent(and(ofEvent("notification.create"), ofTypeCh(appt.Create, appt.Webhook)))
	require.Len(t, hooks, 2, "the appointment's CREATE and the added customer's")
	assert.Equal(t, []string{"c1"}, hooks[0].Recipients)
	assert.Equal(t, []string{"c2"}, hooks[1].Recipients, "addressed to the added customer alone")
	assert.NotEqual(t, hooks[0].EventID, hooks[1].EventID, "two webhook-ids: a receiver that drops duplicates keeps both")
	for _, r := range h.sent(ofTypeCh(appt.Reminder, appt.Webhook)) {
		assert.Equal(t, []string{"c1", "c2"}, r.Recipients, "reminders address the added customer too")
	}
	assert.Len(t, h.sent(ofEvent(appt.EventParticipantAdded)), 2)
	added := entries(st, func(e appt.DeliveryEntry) bool { return e.Event == appt.EventParticipantAdded })
	require.Len(t, added, 2)
	assert.Equal(t, "c2", added[0].ParticipantID)
	assert.Equal(t, "a2", added[1].ParticipantID)

	assert.Empty(t, h.sent(to("a2")), "agents get nothing while notify_agents is off")
	assert.Empty(t, entries(st, func(e appt.DeliveryEntry) bool { return e.Recipient == "a2" }))
}

// With auto-activate off the added customer's CREATE carries no join link (the appointment is not active), and
// the ROOM invite goes to it like to every customer.
func TestAddedCustomerFollowsActivation(t *testing.T) {
	h := newHarness(t, withAutoActivate(false))
	var add updateOutcome
	h.update(time.Hour, appt.UpdateAddParticipant, appt.AddParticipantUpdate{Participant: bob}, &add)
	h.run(request("ADDR"))
	require.NoError(t, add.err)
	create := h.sent(and(to("c2"), ofTypeCh(appt.Create, appt.Email)))
	require.Len(t, create, 1)
	assert.Empty(t, create[0].JoinURL, "not active: no link")
	room := h.sent(and(to("c2"), ofTypeCh(appt.Room, appt.Email)))
	require.Len(t, room, 1)
	assert.Equal(t, "https://video.example/j/ADDR", room[0].JoinURL)
}

// A removed customer gets CANCELLED (email, SMS, a notification.cancelled webhook addressed to it alone) with a
// CANCEL invite that supersedes its REQUEST, and nothing after it: no reminder, no RESCHEDULE; a retry of its
// CREATE under way stops. Subscribers get participant.removed. The other customer's notifications go on.
func TestRemovedCustomerGetsCancelledAndNothingAfter(t *testing.T) {
	h := newHarness(t)
	h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
		if ch == appt.SMS && msg.Type == appt.Create && len(msg.Recipients) > 1 && attempt == 1 {
			return activities.Transient(0, "Twilio HTTP 503")
		}
		return nil
	}
	req := request("REM")
	req.Participants = append(req.Participants, bob)
	var remove updateOutcome
	h.update(5*time.Second, appt.UpdateRemoveParticipant, appt.RemoveParticipantUpdate{ParticipantID: "c2"}, &remove)
	h.signal(2*time.Hour, appt.SignalReschedule, appt.RescheduleSignal{Start: t0.Add(50 * time.Hour)})
	st := h.run(req)

	require.NoError(t, remove.err)
	assert.Equal(t, []string{"c1", "a1"}, participantIDs(st))
	bobs := h.sent(to("c2"))
	assert.Equal(t, []appt.NotificationType{appt.Create, appt.Cancelled, appt.Cancelled}, types(bobs),
		"CREATE by email (its SMS failed), then CANCELLED by email and SMS; nothing after")
	cancelled := h.sent(and(to("c2"), ofTypeCh(appt.Cancelled, appt.Email)))
	require.Len(t, cancelled, 1)
	assert.Equal(t, 1, cancelled[0].Sequence, "the CANCEL supersedes the REQUEST of generation 0")
	assert.Equal(t, appt.ParticipantEventID("REM", appt.Cancelled, 0, 1), cancelled[0].EventID)

	smsCreate := entries(st, func(e appt.DeliveryEntry) bool {
		return e.Type == appt.Create && e.Channel == appt.SMS && e.Recipient == "c2"
	})
	require.Len(t, smsCreate, 1)
	assert.Equal(t, appt.Failed, smsCreate[0].Status)
	assert.Contains(t, smsCreate[0].Error, "retries stopped: the participant was removed")
	assert.Equal(t, 1, h.attempts[smsCreate[0].NotificationID], "the retry under way stopped before its next attempt")
	assert.Len(t, h.sent(and(to("c1"), ofTypeCh(appt.Create, appt.SMS))), 1, "c1's CREATE SMS was retried and sent")

	hooks := h.sent(ofTypeCh(appt.Cancelled, appt.Webhook))
	require.Len(t, hooks, 1)
	assert.Equal(t, []string{"c2"}, hooks[0].Recipients)
	assert.Len(t, h.sent(ofEvent(appt.EventParticipantRemoved)), 1)
	for _, typ := range []appt.NotificationType{appt.Reminder, appt.Reschedule} {
		assert.NotEmpty(t, h.sent(and(to("c1"), ofTypeCh(typ, appt.Email))), "%s still goes to c1", typ)
		for _, w := range h.sent(ofTypeCh(typ, appt.Webhook)) {
			assert.Equal(t, []string{"c1"}, w.Recipients, "%s no longer addresses c2", typ)
		}
	}
}

// Bad changes are refused and change nothing (docs/rules.md#participants): adding an ID that is a participant,
// removing one that is not, removing the last customer, any change once the call started. Each refusal names the
// field and is logged as refused; a participant that breaks the edge's rules is rejected by the validator before
// it reaches the history.
func TestParticipantChangesRefused(t *testing.T) {
	h := newHarness(t)
	var dup, unknown, last, badEmail, inCall updateOutcome
	h.update(time.Hour, appt.UpdateAddParticipant, appt.AddParticipantUpdate{Participant: appt.Participant{ID: "c1", Email: "x@example.com"}}, &dup)
	h.update(2*time.Hour, appt.UpdateRemoveParticipant, appt.RemoveParticipantUpdate{ParticipantID: "c9"}, &unknown)
	h.update(3*time.Hour, appt.UpdateRemoveParticipant, appt.RemoveParticipantUpdate{ParticipantID: "c1"}, &last)
	h.update(4*time.Hour, appt.UpdateAddParticipant, appt.AddParticipantUpdate{Participant: appt.Participant{ID: "c3", Email: "not an address"}}, &badEmail)
	h.signal(48*time.Hour, appt.SignalCallStarted, nil)
	h.update(48*time.Hour+time.Minute, appt.UpdateAddParticipant, appt.AddParticipantUpdate{Participant: bob}, &inCall)
	h.signal(48*time.Hour+2*time.Minute, appt.SignalCallEnded, nil)
	var before appt.Status
	h.queryAt(30*time.Minute, &before)
	st := h.run(request("REF"))

	require.ErrorContains(t, dup.err, `participant.id: "c1" is already a participant`)
	require.ErrorContains(t, unknown.err, `participantId: "c9" is not a participant`)
	require.ErrorContains(t, last.err, `participantId: "c1" is the last customer`)
	require.ErrorContains(t, inCall.err, "participants cannot change in state in_call")
	require.ErrorContains(t, badEmail.rejected, "participant.email")
	assert.Equal(t, []string{"c1", "a1"}, participantIDs(st))
	refused := entries(st, func(e appt.DeliveryEntry) bool { return e.Status == appt.Refused })
	require.Len(t, refused, 4, "the rejected update never reached the workflow")
	assert.Equal(t, appt.UpdateAddParticipant, refused[0].Signal)
	assert.Empty(t, h.sent(ofEvent(appt.EventParticipantAdded)))
	assert.Empty(t, h.sent(ofEvent(appt.EventParticipantRemoved)))
	assert.Empty(t, h.sent(ofTypeCh(appt.Cancelled, appt.Email)), "no CANCELLED to anyone")
	assert.Len(t, h.sent(ofTypeCh(appt.Reminder, appt.Email)), 2, "c1's reminders as planned")
}

// A removed participant's failed deliveries can no longer be retried by hand, except the CANCELLED of its removal,
// which is rebuilt for the removed participant.
func TestManualRetryAfterRemoval(t *testing.T) {
	for _, c := range []struct {
		name       string
		failCancel bool
		entry      appt.NotificationType
		refused    string
	}{
		{"the CREATE of a removed participant", false, appt.Create, "who was removed from the appointment"},
		{"the CANCELLED of the removal", true, appt.Cancelled, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, withMaxAttempts(1))
			failing := true
			h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
				if failing && ch == appt.Email && msg.ParticipantID == "c2" && (msg.Type == c.entry) {
					return activities.Transient(0, "SMTP 451")
				}
				return nil
			}
			var add, remove, retry updateOutcome
			h.update(time.Hour, appt.UpdateAddParticipant, appt.AddParticipantUpdate{Participant: bob}, &add)
			h.update(2*time.Hour, appt.UpdateRemoveParticipant, appt.RemoveParticipantUpdate{ParticipantID: "c2"}, &remove)
			h.at(3*time.Hour-time.Second, func() { failing = false })
			h.retryEntry(3*time.Hour, func(e appt.DeliveryEntry) bool {
				return e.Type == c.entry && e.Channel == appt.Email && e.Recipient == "c2"
			}, &retry)
			h.run(request("MR"))
			require.NoError(t, add.err)
			require.NoError(t, remove.err)
			if c.refused != "" {
				require.ErrorContains(t, retry.err, c.refused)
				assert.Empty(t, h.sent(and(to("c2"), ofTypeCh(c.entry, appt.Email))))
				return
			}
			require.NoError(t, retry.err)
			require.NotNil(t, retry.result.Entry)
			assert.Equal(t, appt.Sent, retry.result.Entry.Status)
			sent := h.sent(and(to("c2"), ofTypeCh(c.entry, appt.Email)))
			require.Len(t, sent, 1, "the retry reached the removed participant")
			assert.Equal(t, appt.ParticipantEventID("MR", appt.Cancelled, 0, 2), sent[0].EventID, "under the original event ID")
		})
	}
}

// retryEntry sends the retry update, at t0+d, for the one delivery-log entry that matches.
func (h *harness) retryEntry(d time.Duration, match func(appt.DeliveryEntry) bool, out *updateOutcome) {
	h.at(d, func() {
		v, err := h.env.QueryWorkflow(appt.QueryStatus)
		require.NoError(h.t, err)
		var st appt.Status
		require.NoError(h.t, v.Get(&st))
		es := entries(&st, match)
		require.Len(h.t, es, 1)
		h.env.UpdateWorkflow(appt.SignalRetry, "retry"+d.String(), out.callback(), appt.RetrySignal{EntryID: es[0].ID})
	})
}

// With notify_agents on, agents get CREATE, RESCHEDULE, REMINDER and CANCELLED in their own right (email, and in
// the webhooks' recipients with role agent), never ROOM or FOLLOW_UP; an agent who joined the call gets no
// FOLLOW_UP. A removed agent gets CANCELLED.
func TestAgentsNotifiedWhenOn(t *testing.T) {
	t.Run("lifecycle", func(t *testing.T) {
		h := newHarness(t, withAutoActivate(false), withOrgYAML("    notify_agents: true\n"))
		h.signal(time.Hour, appt.SignalReschedule, appt.RescheduleSignal{Start: t0.Add(49 * time.Hour)})
		h.signal(49*time.Hour, appt.SignalCallStarted, nil)
		h.signal(49*time.Hour+time.Minute, appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: "c1"})
		h.signal(49*time.Hour+2*time.Minute, appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: "a1"})
		h.signal(49*time.Hour+3*time.Minute, appt.SignalCallEnded, nil)
		h.run(request("AGON"))
		agent := h.sent(and(to("a1"), func(s send) bool { return s.Channel == appt.Email }))
		assert.Equal(t, []appt.NotificationType{appt.Create, appt.Reschedule, appt.Reminder, appt.Reminder}, types(agent))
		assert.Len(t, h.sent(and(to("c1"), ofTypeCh(appt.Room, appt.Email))), 1, "the customer gets ROOM")
		assert.Len(t, h.sent(and(to("c1"), ofTypeCh(appt.FollowUp, appt.Email))), 1, "the customer gets FOLLOW_UP")
		for _, w := range h.sent(func(s send) bool { return s.Channel == appt.Webhook && s.Type != appt.LifecycleEvent }) {
			want := []string{"c1", "a1"}
			if w.Type == appt.Room || w.Type == appt.FollowUp {
				want = []string{"c1"}
			}
			assert.Equal(t, want, w.Recipients, "%s webhook", w.Type)
		}
	})
	t.Run("cancel and remove", func(t *testing.T) {
		h := newHarness(t, withOrgYAML("    notify_agents: true\n"))
		req := request("AGCA")
		req.Participants = append(req.Participants, agentTwo)
		var remove updateOutcome
		h.update(time.Hour, appt.UpdateRemoveParticipant, appt.RemoveParticipantUpdate{ParticipantID: "a2"}, &remove)
		h.signal(2*time.Hour, appt.SignalCancel, appt.CancelSignal{})
		h.run(req)
		require.NoError(t, remove.err)
		assert.Equal(t, []appt.NotificationType{appt.Create, appt.Cancelled},
			types(h.sent(and(to("a2"), func(s send) bool { return s.Channel == appt.Email }))), "the removed agent")
		assert.Equal(t, []appt.NotificationType{appt.Create, appt.Cancelled},
			types(h.sent(and(to("a1"), func(s send) bool { return s.Channel == appt.Email }))), "the agent at the cancel")
	})
}
