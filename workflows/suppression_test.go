package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/supplist"
	"github.com/apptnotify/apptnotify/internal/suppress"
	"github.com/apptnotify/apptnotify/workflows"
)

// withSuppressions gives the harness's activities a real suppression List (the worker's cache included) over the
// list code in memory, on the workflow clock, and returns it.
func (h *harness) withSuppressions() *suppress.List {
	hasher, err := addrhash.New(make([]byte, addrhash.KeySize))
	require.NoError(h.t, err)
	now := func() time.Time { return h.env.Now().UTC() }
	store := suppress.NewMemoryStore(now)
	cache := suppress.NewCache(store)
	cache.Now = now
	l := suppress.NewList(h.acts.Config, hasher, store, cache)
	l.Now = now
	h.acts.Suppressions = l
	return l
}

// Suppression: a STOP and a hard bounce that arrive after the appointment was scheduled stop its already planned
// 24 h reminder from calling Twilio and the SMTP relay: both entries are logged suppressed with their reason, are
// not attempts and not failures, and count in the metrics by reason; the webhook still goes out. START (an opt-in)
// restores the SMS of the 1 h reminder; the hard bounce still holds.
func TestSuppressionStopsPlannedReminder(t *testing.T) {
	m := newCountingMetrics()
	h := newHarness(t, withMetrics(m))
	l := h.withSuppressions()
	ctx := context.Background()
	h.at(time.Hour, func() {
		_, err := l.Add(ctx, "acme", appt.SMS, "+1 555 123 4567", appt.ReasonSMSStop, appt.SourceTwilioInbound, "SMstop", nil)
		require.NoError(t, err)
		_, err = l.Add(ctx, "acme", appt.Email, "Ann@Example.com", appt.ReasonHardBounce, appt.SourceSendGrid, "sg1", nil)
		require.NoError(t, err)
	})
	h.at(30*time.Hour, func() {
		res, err := l.Lift(ctx, "acme", appt.SMS, "+15551234567", nil, true, appt.SourceTwilioInbound, "SMstart")
		require.NoError(t, err)
		require.Len(t, res.Lifted, 1)
	})
	h.signal(50*time.Hour, appt.SignalCallEnded, nil)
	st := h.run(request("S1"))

	assert.Len(t, h.sent(ofTypeCh(appt.Create, appt.SMS)), 1, "CREATE went out before the STOP")
	rem := h.sent(ofTypeCh(appt.Reminder, appt.SMS))
	require.Len(t, rem, 1, "only the 1 h reminder's SMS reached Twilio")
	assert.Equal(t, time.Hour, rem[0].Offset)
	assert.Empty(t, h.sent(ofTypeCh(appt.Reminder, appt.Email)), "no reminder email to the bounced address")
	assert.Len(t, h.sent(ofTypeCh(appt.Reminder, appt.Webhook)), 2, "webhooks are not suppressed")

	var sms24, email []appt.DeliveryEntry
	for _, e := range entries(st, entryOf(appt.Reminder, appt.SMS)) {
		if e.Offset == "24h0m0s" {
			sms24 = append(sms24, e)
		}
	}
	require.Len(t, sms24, 1)
	assert.Equal(t, appt.Suppressed, sms24[0].Status)
	assert.Equal(t, appt.ReasonSMSStop, sms24[0].Suppression)
	assert.Zero(t, sms24[0].Attempts, "a suppressed send reached no provider")
	email = entries(st, entryOf(appt.Reminder, appt.Email))
	require.Len(t, email, 2)
	for _, e := range email {
		assert.Equal(t, appt.Suppressed, e.Status)
		assert.Equal(t, appt.ReasonHardBounce, e.Suppression)
	}
	for _, e := range st.Deliveries {
		assert.NotEqual(t, appt.Failed, e.Status, "%s %s", e.Type, e.Channel)
	}
	assert.EqualValues(t, 2, m.counts["apptnotify_suppressed{channel=email,reason=hard_bounce}"])
	assert.EqualValues(t, 1, m.counts["apptnotify_suppressed{channel=sms,reason=sms_stop}"])
	assert.EqualValues(t, 1, m.counts["apptnotify_notifications{channel=sms,org=acme,status=suppressed,type=REMINDER}"])
}

// Suppression is checked in every attempt: an SMS whose first attempt failed (transient) and whose number is
// suppressed before the automatic retry ends suppressed, not failed, and the retry never reaches Twilio.
func TestSuppressionStopsAutomaticRetry(t *testing.T) {
	h := newHarness(t)
	l := h.withSuppressions()
	h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
		if ch == appt.SMS && msg.Type == appt.Create && attempt == 1 {
			_, err := l.Add(context.Background(), "acme", appt.SMS, "+15551234567", appt.ReasonSMSStop, appt.SourceTwilioInbound, "", nil)
			require.NoError(t, err)
			return activities.Transient(0, "Twilio answered 503")
		}
		return nil
	}
	h.signal(time.Hour, appt.SignalCancel, appt.CancelSignal{})
	st := h.run(request("S2"))
	assert.Empty(t, h.sent(ofTypeCh(appt.Create, appt.SMS)), "the retry did not call Twilio")
	e := entries(st, entryOf(appt.Create, appt.SMS))
	require.Len(t, e, 1)
	assert.Equal(t, appt.Suppressed, e[0].Status)
	assert.Equal(t, appt.ReasonSMSStop, e[0].Suppression)
	assert.Equal(t, 1, e[0].Attempts, "the one attempt that reached Twilio")
}

// entityHarness runs the suppression workflow alone in the time-skipping environment.
type entityHarness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
}

func newEntityHarness(t *testing.T) *entityHarness {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.SetTestTimeout(60 * time.Second)
	workflows.Register(env)
	return &entityHarness{t: t, env: env}
}

func (h *entityHarness) update(d time.Duration, name string, arg any, out any) *error {
	var rejected error
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { rejected = err },
			OnComplete: func(v any, err error) {
				require.NoError(h.t, err)
				switch o := out.(type) {
				case *appt.SuppressionAddResult:
					*o = v.(appt.SuppressionAddResult)
				case *appt.SuppressionLiftResult:
					*o = v.(appt.SuppressionLiftResult)
				case *appt.SuppressionBatchResult:
					*o = v.(appt.SuppressionBatchResult)
				case *appt.SuppressionIndex:
					*o = v.(appt.SuppressionIndex)
				}
			},
		}, arg)
	}, d)
	return &rejected
}

// updates sends the updates arg(from) … arg(n-1), each expected to be accepted, from d on, in batches of 100 from
// chained callbacks (the environment's callback queue is bounded).
func (h *entityHarness) updates(d time.Duration, from, n int, name string, arg func(i int) any) {
	var batch func(from int)
	batch = func(from int) {
		for i := from; i < min(from+100, n); i++ {
			h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
				OnAccept: func() {}, OnReject: func(err error) { h.t.Error(err) }, OnComplete: func(any, error) {},
			}, arg(i))
		}
		if from+100 < n {
			h.env.RegisterDelayedCallback(func() { batch(from + 100) }, time.Second)
		}
	}
	h.env.RegisterDelayedCallback(func() { batch(from) }, d)
}

func (h *entityHarness) query(d time.Duration, name string, arg any, out any) {
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(name, arg)
		require.NoError(h.t, err)
		require.NoError(h.t, v.Get(out))
	}, d)
}

func hashOf(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

// The suppression workflow's rules: an entry per address and reason; a repeated feed event changes nothing; an
// opt-in lifts only sms_stop (never a complaint, never a manual entry); an expired entry stops suppressing at its
// expiry and becomes a tombstone at the next sweep, which readers see as a change; a malformed add is rejected by
// the validator before it reaches the history.
func TestSuppressionWorkflowRules(t *testing.T) {
	h := newEntityHarness(t)
	phone, mail := hashOf('a'), hashOf('b')
	exp := t0.Add(30 * time.Minute)
	var stop, again, complaint, manual, bounce appt.SuppressionAddResult
	var optIn appt.SuppressionLiftResult
	h.update(time.Minute, appt.UpdateSuppressionAdd, appt.SuppressionEntry{Channel: appt.SMS, Hash: phone,
		Reason: appt.ReasonSMSStop, Source: appt.SourceTwilioInbound, EventID: "SM1", CreatedAt: t0}, &stop)
	h.update(2*time.Minute, appt.UpdateSuppressionAdd, appt.SuppressionEntry{Channel: appt.SMS, Hash: phone,
		Reason: appt.ReasonSMSStop, Source: appt.SourceTwilioInbound, EventID: "SM1", CreatedAt: t0}, &again)
	h.update(3*time.Minute, appt.UpdateSuppressionAdd, appt.SuppressionEntry{Channel: appt.SMS, Hash: phone,
		Reason: appt.ReasonManual, Source: appt.SourceAPI, CreatedAt: t0}, &manual)
	h.update(4*time.Minute, appt.UpdateSuppressionAdd, appt.SuppressionEntry{Channel: appt.Email, Hash: mail,
		Reason: appt.ReasonComplaint, Source: appt.SourceSES, EventID: "ses-1", CreatedAt: t0}, &complaint)
	h.update(5*time.Minute, appt.UpdateSuppressionAdd, appt.SuppressionEntry{Channel: appt.Email, Hash: mail,
		Reason: appt.ReasonHardBounce, Source: appt.SourceSendGrid, CreatedAt: t0, ExpiresAt: &exp}, &bounce)
	bad := h.update(6*time.Minute, appt.UpdateSuppressionAdd, appt.SuppressionEntry{Channel: appt.SMS, Hash: "+15551234567",
		Reason: appt.ReasonSMSStop, Source: appt.SourceAPI, CreatedAt: t0}, &appt.SuppressionAddResult{})
	h.update(10*time.Minute, appt.UpdateSuppressionLift, appt.SuppressionLift{Channel: appt.SMS, Hash: phone,
		Reasons: []appt.SuppressionReason{appt.ReasonManual, appt.ReasonSMSStop}, OptIn: true, Source: appt.SourceTwilioInbound}, &optIn)
	var emailOptIn appt.SuppressionLiftResult
	h.update(11*time.Minute, appt.UpdateSuppressionLift, appt.SuppressionLift{Channel: appt.Email, Hash: mail, OptIn: true,
		Source: appt.SourceAPI}, &emailOptIn)
	var before, phoneAfter, mailAfterSweep []appt.SuppressionEntry
	var changes, later appt.SuppressionChanges
	h.query(12*time.Minute, appt.QuerySuppressionLookup, appt.SuppressionLookupQuery{Channel: appt.Email, Hash: mail}, &before)
	h.query(12*time.Minute, appt.QuerySuppressionLookup, appt.SuppressionLookupQuery{Channel: appt.SMS, Hash: phone}, &phoneAfter)
	h.query(12*time.Minute, appt.QuerySuppressionChanges, appt.SuppressionChangesQuery{}, &changes)
	h.query(61*time.Minute+time.Second, appt.QuerySuppressionLookup, appt.SuppressionLookupQuery{Channel: appt.Email, Hash: mail}, &mailAfterSweep)
	h.query(61*time.Minute+time.Second, appt.QuerySuppressionChanges, appt.SuppressionChangesQuery{Since: 5}, &later)
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 3*time.Hour)
	h.env.ExecuteWorkflow(appt.SuppressionWorkflowType, &appt.SuppressionState{Org: "acme"})
	require.True(t, temporal.IsCanceledError(h.env.GetWorkflowError()), "%v", h.env.GetWorkflowError())

	assert.True(t, stop.Changed)
	assert.False(t, again.Changed, "a repeated event changes nothing")
	assert.Equal(t, stop.Entry.Seq, again.Entry.Seq)
	require.Error(t, *bad, "an add without a hash is rejected")
	assert.Contains(t, (*bad).Error(), "hash: must be 64 lower-case hex digits")

	require.Len(t, optIn.Lifted, 1, "an opt-in lifts sms_stop only")
	assert.Equal(t, appt.ReasonSMSStop, optIn.Lifted[0].Reason)
	assert.Empty(t, emailOptIn.Lifted, "opting back in never lifts a complaint")
	require.Len(t, phoneAfter, 2)
	assert.True(t, phoneAfter[1].InForce(t0.Add(12*time.Minute)), "the manual entry holds: %+v", phoneAfter[1])
	assert.False(t, phoneAfter[0].InForce(t0.Add(12*time.Minute)), "sms_stop is lifted")

	require.Len(t, before, 2)
	assert.Equal(t, appt.ReasonComplaint, before[0].Reason)
	assert.True(t, before[1].InForce(t0.Add(12*time.Minute)))
	assert.False(t, before[1].InForce(exp), "a hard bounce stops suppressing at its expiry")
	assert.Len(t, changes.Entries, 4, "three adds in force and one tombstone, each once")
	assert.EqualValues(t, 5, changes.Next, "five changes: four adds and a lift")

	require.Len(t, mailAfterSweep, 2)
	require.NotNil(t, mailAfterSweep[1].LiftedAt, "the sweep made the expired bounce a tombstone")
	assert.Equal(t, appt.SourceExpired, mailAfterSweep[1].LiftedBy)
	require.Len(t, later.Entries, 1, "a reader up to date sees the expiry as one change")
	assert.Equal(t, appt.ReasonHardBounce, later.Entries[0].Reason)
}

// The suppression workflow continues as new after supplist.UpdatesPerRun updates, carrying every entry, the change
// counter and the recent event IDs (the last supplist.RecentEvents), so a repeated event is still recognised in the
// new run.
func TestSuppressionWorkflowContinuesAsNew(t *testing.T) {
	h := newEntityHarness(t)
	n := supplist.UpdatesPerRun
	h.updates(time.Second, 0, n, appt.UpdateSuppressionAdd, func(i int) any {
		return appt.SuppressionEntry{Channel: appt.Email, Hash: hashOf("0123456789abcdef"[i%16]), Reason: appt.ReasonManual,
			Source: appt.SourceAPI, EventID: fmt.Sprintf("ev%d", i), CreatedAt: t0}
	})
	h.env.ExecuteWorkflow(appt.SuppressionWorkflowType, &appt.SuppressionState{Org: "acme"})
	err := h.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "%v", err)
	var next appt.SuppressionState
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	assert.Len(t, next.Entries, 16, "one entry per address")
	assert.EqualValues(t, 16, next.Seq, "an add that changes nothing takes no change number")
	assert.Len(t, next.Events, min(n, supplist.RecentEvents))
	l := supplist.New(&next)
	res := l.Add(appt.SuppressionEntry{Channel: appt.Email, Hash: hashOf('0'), Reason: appt.ReasonManual,
		Source: appt.SourceAPI, EventID: next.Events[0], CreatedAt: t0}, t0)
	assert.False(t, res.Changed)
}
