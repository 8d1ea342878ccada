package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// drafts records what the test-send path hands to the real senders' draft methods.
type drafts struct {
	*harness
	mu     sync.Mutex
	emails []*activities.EmailDraft
	sms    []string
	hooks  [][]byte
}

func (d *drafts) SendDraft(_ context.Context, _ *config.Org, e *activities.EmailDraft) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.emails = append(d.emails, e)
	return "<" + e.MessageID + ">", nil
}

func (d *drafts) SendBody(_ context.Context, _ *config.Org, phone, body, appointmentID string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sms = append(d.sms, phone+" "+body)
	return "SMtest", nil
}

func (d *drafts) PostDraft(_ context.Context, _ *config.Org, w *activities.WebhookDraft) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hooks = append(d.hooks, w.Body)
	return nil
}

// orgTestsHarness runs OrgTestsWorkflow with the real activities over recording senders.
func orgTestsHarness(t *testing.T) (*harness, *drafts) {
	h := newHarness(t)
	d := &drafts{harness: h}
	h.acts.Email, h.acts.SMS, h.acts.Webhooks = d, d, d
	return h, d
}

type orgTestsOutcome struct {
	rejected error
	err      error
	value    any
}

func (h *harness) orgUpdate(at time.Duration, name string, arg any, out *orgTestsOutcome) {
	h.at(at, func() {
		h.env.UpdateWorkflow(name, name+at.String(), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { out.rejected = err },
			OnComplete: func(v any, err error) {
				out.err, out.value = err, v
			},
		}, arg)
	})
}

var codeRe = regexp.MustCompile(`\b\d{6}\b`)

func germanSample() appt.PreviewRequest {
	start := t0.Add(48 * time.Hour)
	return appt.PreviewRequest{Type: appt.Reminder, Channel: appt.Email, Sample: &appt.PreviewSample{
		Start: start, End: start.Add(30 * time.Minute), JoinURL: "https://video.example/j/s",
		Participants: []appt.Participant{{ID: "c1", Name: "Bob Meier", Email: "bob@example.com", TZ: "Europe/Berlin", Locale: "de"}},
	}, Templates: map[string]string{"de/reminder.subject.txt": "Erinnerung (neu): {{.StartTime}}"}}
}

// TestOrgTestsRecipientsAndRate: a test recipient gets a code through the channel and can receive test sends
// only once that code is confirmed (a wrong code counts an attempt; the code is kept only as a salted hash); a test
// send to an unverified recipient and the (TestSendLimit+1)-th within TestSendWindow are refused by the validator
// (the latter with the wait until a send leaves the window), and accepted again once it has; a test email's
// subject starts with [TEST] and goes to the test address with the unsaved template; a test webhook carries
// "test": true; the record names each send and its actor; no appointment channel is used.
func TestOrgTestsRecipientsAndRate(t *testing.T) {
	h, d := orgTestsHarness(t)
	var add, early, wrong, right orgTestsOutcome
	var sends [appt.TestSendLimit + 1]orgTestsOutcome
	var later, hook orgTestsOutcome
	var recipients []appt.TestRecipient
	var records []appt.TestSendRecord
	h.orgUpdate(time.Second, appt.UpdateAddTestRecipient, &appt.AddTestRecipientRequest{Channel: appt.Email, Address: "me@acme.example"}, &add)
	testSend := func() *appt.TestSendRequest {
		return &appt.TestSendRequest{Preview: germanSample(), Recipient: "tr-1", Actor: "env-0123456789ab"}
	}
	h.orgUpdate(2*time.Second, appt.UpdateTestSend, testSend(), &early)
	var code string
	h.at(3*time.Second-time.Millisecond, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		require.Len(t, d.emails, 1, "the code went out by email")
		code = codeRe.FindString(d.emails[0].Text)
		require.NotEmpty(t, code)
		bad := []byte(code)
		bad[0] = '0' + (bad[0]-'0'+1)%10
		h.env.UpdateWorkflow(appt.UpdateVerifyTestRecipient, "wrong", &testsuite.TestUpdateCallback{OnAccept: func() {},
			OnReject: func(err error) { wrong.rejected = err }, OnComplete: func(v any, err error) { wrong.err = err }},
			&appt.VerifyTestRecipientRequest{ID: "tr-1", Code: string(bad)})
	})
	h.at(4*time.Second-time.Millisecond, func() {
		v, err := h.env.QueryWorkflow(appt.QueryTestRecipients)
		require.NoError(t, err)
		require.NoError(t, v.Get(&recipients))
		h.env.UpdateWorkflow(appt.UpdateVerifyTestRecipient, "right", &testsuite.TestUpdateCallback{OnAccept: func() {},
			OnReject: func(err error) { right.rejected = err }, OnComplete: func(v any, err error) { right.err, right.value = err, v }},
			&appt.VerifyTestRecipientRequest{ID: "tr-1", Code: code})
	})
	// The code (at 1 s) counts against the rate too: these start once it has left the window.
	for i := range sends {
		h.orgUpdate(time.Duration(62+i)*time.Second, appt.UpdateTestSend, testSend(), &sends[i])
	}
	h.orgUpdate(123*time.Second, appt.UpdateTestSend, testSend(), &later)
	wh := germanSample()
	wh.Channel = appt.Webhook
	h.orgUpdate(124*time.Second, appt.UpdateTestSend, &appt.TestSendRequest{Preview: wh, Actor: "anonymous"}, &hook)
	var again orgTestsOutcome
	h.orgUpdate(73*time.Second, appt.UpdateAddTestRecipient, &appt.AddTestRecipientRequest{Channel: appt.SMS, Address: "+15550001111"}, &again)
	h.at(130*time.Second, func() {
		v, err := h.env.QueryWorkflow(appt.QueryTestSends)
		require.NoError(t, err)
		require.NoError(t, v.Get(&records))
		h.env.CancelWorkflow()
	})
	h.env.ExecuteWorkflow(appt.OrgTestsWorkflowType, &appt.OrgTestsInput{Org: "acme"})

	require.NoError(t, add.err)
	require.NoError(t, add.rejected)
	require.ErrorContains(t, early.rejected, "not verified", "a test send to an unverified recipient is refused")
	require.Equal(t, appt.ErrTestRecipientRefused, errType(early.rejected))
	require.ErrorContains(t, wrong.err, "4 attempts left")
	require.Len(t, recipients, 1)
	require.False(t, recipients[0].Verified)
	require.Empty(t, recipients[0].CodeHash, "the query never shows the code's hash")
	require.NoError(t, right.err)
	require.True(t, right.value.(*appt.TestRecipient).Verified)

	for i := 0; i < appt.TestSendLimit; i++ {
		require.NoError(t, sends[i].rejected, "send %d", i)
		require.NoError(t, sends[i].err, "send %d", i)
	}
	last := sends[appt.TestSendLimit].rejected
	require.Equal(t, appt.ErrTestSendRateLimited, errType(last), "the 11th test send in a minute is refused: %v", last)
	var ae *temporal.ApplicationError
	require.True(t, errors.As(last, &ae))
	var rl appt.RateLimitDetails
	require.NoError(t, ae.Details(&rl))
	require.Equal(t, 50*time.Second, rl.RetryAfter, "the first send (at 62 s) leaves the window at 122 s; refused at 72 s")
	require.NoError(t, later.rejected, "accepted again once a send has left the window")
	require.NoError(t, later.err)
	require.NoError(t, hook.err)
	require.NoError(t, hook.rejected)
	require.Equal(t, appt.ErrTestSendRateLimited, errType(again.rejected), "a verification code counts against the rate: %v", again.rejected)

	d.mu.Lock()
	defer d.mu.Unlock()
	require.Len(t, d.emails, 1+appt.TestSendLimit+1)
	for _, e := range d.emails[1:] {
		require.Equal(t, "me@acme.example", e.To.Address)
		require.Equal(t, "[TEST] Erinnerung (neu): 10:00 Uhr MEZ", e.Subject)
	}
	require.Len(t, d.hooks, 1)
	var payload map[string]any
	require.NoError(t, json.Unmarshal(d.hooks[0], &payload))
	require.Equal(t, true, payload["test"])
	require.Empty(t, h.sent(func(send) bool { return true }), "no appointment channel was used")

	require.Len(t, records, appt.TestSendLimit+2)
	require.Equal(t, "tr-1", records[0].Recipient)
	require.Equal(t, appt.Sent, records[0].Status)
	require.Equal(t, "env-0123456789ab", records[0].Actor)
	require.Equal(t, "subscriber-0", records[len(records)-1].Recipient)
	require.Equal(t, appt.Webhook, records[len(records)-1].Channel)
}

// TestOrgTestsPreview: a preview runs on the worker and returns every channel's messages for the sample, with the
// unsaved template; it is refused with neither (or both) an appointment and a sample.
func TestOrgTestsPreview(t *testing.T) {
	h, d := orgTestsHarness(t)
	var pv, none orgTestsOutcome
	req := germanSample()
	req.Channel = ""
	h.orgUpdate(time.Second, appt.UpdatePreview, &req, &pv)
	h.orgUpdate(2*time.Second, appt.UpdatePreview, &appt.PreviewRequest{Type: appt.Reminder}, &none)
	h.at(3*time.Second, h.env.CancelWorkflow)
	h.env.ExecuteWorkflow(appt.OrgTestsWorkflowType, &appt.OrgTestsInput{Org: "acme"})
	require.NoError(t, pv.err)
	res := pv.value.(*appt.PreviewResult)
	require.Len(t, res.Email, 1)
	require.Equal(t, "Erinnerung (neu): 10:00 Uhr MEZ", res.Email[0].Subject)
	require.Len(t, res.Webhooks, 1)
	require.Empty(t, res.SMS, "the sample customer has no phone")
	require.Error(t, none.rejected)
	require.Empty(t, d.emails, "a preview sends nothing")
	require.Empty(t, h.sent(func(send) bool { return true }))
}

// TestNotificationMessageQuery: an appointment's notification-message query returns the message the fan-out would
// send now, built by the same code (the event ID of the generation and the first reminder offset, the customers
// only, the join link where the type carries it), and changes nothing: the status document is the same before and
// after, and nothing is sent.
func TestNotificationMessageQuery(t *testing.T) {
	h := newHarness(t)
	var before, after appt.Status
	var rem, cancelled activities.Message
	var bad error
	h.queryAt(time.Hour, &before)
	h.at(time.Hour+time.Second, func() {
		sent := len(h.sent(func(send) bool { return true }))
		v, err := h.env.QueryWorkflow(appt.QueryNotificationMessage, appt.NotificationMessageQuery{Type: appt.Reminder})
		require.NoError(t, err)
		require.NoError(t, v.Get(&rem))
		v, err = h.env.QueryWorkflow(appt.QueryNotificationMessage, appt.NotificationMessageQuery{Type: appt.Cancelled})
		require.NoError(t, err)
		require.NoError(t, v.Get(&cancelled))
		_, bad = h.env.QueryWorkflow(appt.QueryNotificationMessage, appt.NotificationMessageQuery{Type: "EVENT"})
		require.Equal(t, sent, len(h.sent(func(send) bool { return true })))
	})
	h.queryAt(time.Hour+2*time.Second, &after)
	h.signal(2*time.Hour, appt.SignalCancel, appt.CancelSignal{Reason: "done"})
	h.run(request("Q1"))

	require.Equal(t, appt.EventID("Q1", appt.Reminder, 0, 24*time.Hour), rem.EventID)
	require.Equal(t, 24*time.Hour, rem.Offset)
	require.Len(t, rem.Recipients, 1, "customers only")
	require.Equal(t, "c1", rem.Recipients[0].ID)
	require.Equal(t, "https://video.example/j/Q1", rem.Appointment.JoinURL, "auto-activated: REMINDER carries the link")
	require.Empty(t, cancelled.Appointment.JoinURL, "CANCELLED never carries the link")
	require.Equal(t, 1, cancelled.Sequence)
	require.Error(t, bad)
	require.Equal(t, before.Deliveries, after.Deliveries)
	require.Equal(t, before.State, after.State)
}
