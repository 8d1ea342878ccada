package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

type updateOutcome struct {
	rejected error
	err      error
	result   *appt.UpdateResult
}

func (h *harness) update(d time.Duration, name string, arg any, out *updateOutcome) {
	h.at(d, func() { h.env.UpdateWorkflow(name, name+d.String(), out.callback(), arg) })
}

// callback records an update's outcome.
func (out *updateOutcome) callback() *testsuite.TestUpdateCallback {
	return &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { out.rejected = err },
		OnComplete: func(v any, err error) {
			out.err = err
			if r, ok := v.(*appt.UpdateResult); ok {
				out.result = r
			}
		},
	}
}

// The operations are also updates: a refusal comes back to the caller and is logged as refused; a payload that does
// not decode is rejected by the validator; a manual retry returns the entry as the retry left it.
func TestUpdates(t *testing.T) {
	h := newHarness(t, withMaxAttempts(1))
	failing := true
	h.fail = func(ch appt.Channel, msg *activities.Message, attempt int) error {
		if failing && ch == appt.Webhook && msg.Type == appt.Create {
			return activities.Transient(0, "HTTP 500")
		}
		return nil
	}
	var past, bad, retry, cancel updateOutcome
	h.update(time.Hour, appt.SignalReschedule, appt.RescheduleSignal{Start: t0}, &past)
	h.update(time.Hour+time.Second, appt.SignalReschedule, "not an object", &bad)
	h.at(2*time.Hour-time.Second, func() { failing = false })
	h.update(2*time.Hour, appt.SignalRetry, appt.RetrySignal{EntryID: createWebhookEntry}, &retry)
	h.update(3*time.Hour, appt.SignalCancel, appt.CancelSignal{Reason: "moved"}, &cancel)
	st := h.run(request("UP"))

	require.Error(t, past.err)
	assert.Contains(t, past.err.Error(), "start: is not in the future")
	require.Error(t, bad.rejected, "the validator rejects a payload that does not decode")

	require.NoError(t, retry.err)
	require.NotNil(t, retry.result.Entry)
	assert.Equal(t, appt.Sent, retry.result.Entry.Status)
	assert.Equal(t, 2, retry.result.Entry.Attempts)

	require.NoError(t, cancel.err)
	assert.Equal(t, appt.CancelledSt, cancel.result.State)
	assert.Equal(t, appt.CancelledSt, st.State)

	refused := entries(st, func(e appt.DeliveryEntry) bool { return e.Status == appt.Refused })
	require.Len(t, refused, 1, "the refused update is logged; the rejected one never reached the workflow")
	assert.Equal(t, appt.SignalReschedule, refused[0].Signal)
}

// createWebhookEntry is the entry ID of the CREATE webhook in a standard appointment: e1 appointment.scheduled,
// e2 appointment.activated, then CREATE email, SMS and webhook.
const createWebhookEntry = "e5"
