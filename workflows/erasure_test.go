package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/workflows"
)

// TestErasureWorkflow (docs/security.md#erasure): the steps run in order (find, stop, destroy keys, delete,
// tombstone, then the SMS redaction) and the receipt says when each finished; a step that fails (an outage while
// deleting) is retried until it succeeds, so the erasure finishes; a redaction Twilio answers 20009 is retried with
// backoff and counted redacted once Twilio takes it, and one Twilio never takes is given up after 14 days and
// counted failed; erasedAt comes before the redaction, finishedAt after it.
func TestErasureWorkflow(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	// Some 65 redaction attempts run in this process: give a loaded machine room (the SDK's default is 1 s).
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	env.SetTestTimeout(2 * time.Minute)
	workflows.Register(env)
	var mu sync.Mutex
	var order []string
	step := func(name string) { mu.Lock(); order = append(order, name); mu.Unlock() }
	found := &activities.ErasureFound{
		Targets: []activities.ErasureTarget{{WorkflowID: appt.WorkflowID("E1"), Runs: []activities.ErasureRun{{RunID: "r1", Running: true}}},
			{WorkflowID: appt.WorkflowID("E2"), Runs: []activities.ErasureRun{{RunID: "r2"}, {RunID: "r3"}}}},
		SMSIDs: []string{"SMready", "SMnever"},
	}
	register := func(name string, fn any) { env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name}) }
	register(appt.ActivityErasureFind, func(context.Context, *appt.ErasureRequest) (*activities.ErasureFound, error) {
		step("find")
		return found, nil
	})
	register(appt.ActivityErasureStop, func(context.Context, *activities.ErasureFound) (int, error) { step("stop"); return 1, nil })
	register(appt.ActivityErasureDestroyKeys, func(context.Context, *activities.ErasureFound) (int, error) { step("keys"); return 2, nil })
	deletes := 0
	register(appt.ActivityErasureDelete, func(context.Context, *activities.ErasureFound) (int, error) {
		mu.Lock()
		deletes++
		n := deletes
		mu.Unlock()
		if n < 3 {
			return 0, errors.New("Temporal unavailable")
		}
		step("delete")
		return 3, nil
	})
	register(appt.ActivityErasureTombstone, func(_ context.Context, r *appt.ErasureRequest) (int, error) {
		step("tombstone")
		return len(r.AddressHashes), nil
	})
	attempts := map[string]int{}
	register(appt.ActivityRedactSMS, func(_ context.Context, sid string) error {
		mu.Lock()
		attempts[sid]++
		n := attempts[sid]
		mu.Unlock()
		if sid == "SMready" && n >= 4 {
			return nil
		}
		return temporal.NewApplicationError("Twilio error 20009", activities.ErrRedactNotReady)
	})
	began := env.Now()
	env.ExecuteWorkflow(appt.ErasureWorkflowType, &appt.ErasureRequest{ErasureID: "0123456789abcdef01234567", Org: "acme",
		AddressHashes: []string{"h1", "h2"}})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var r appt.ErasureReceipt
	require.NoError(t, env.GetWorkflowResult(&r))

	assert.Equal(t, []string{"find", "stop", "keys", "delete", "tombstone"}, order)
	assert.Equal(t, 3, deletes, "the failed deletes were retried")
	assert.Equal(t, 2, r.Appointments)
	assert.Equal(t, 3, r.Executions)
	assert.Equal(t, 2, r.DataKeysDestroyed)
	assert.Equal(t, 2, r.Tombstones)
	assert.Equal(t, 2, r.SMSMessages)
	assert.Equal(t, 1, r.SMSRedacted)
	assert.Equal(t, 1, r.SMSRedactionFailed)
	assert.Equal(t, 4, attempts["SMready"])
	assert.Greater(t, attempts["SMnever"], 4)
	steps := []*time.Time{r.Steps.Found, r.Steps.Stopped, r.Steps.KeysDestroyed, r.Steps.ExecutionsDeleted, r.Steps.Tombstoned, r.ErasedAt,
		r.Steps.SMSRedacted, r.FinishedAt}
	for i, at := range steps {
		require.NotNil(t, at, "step %d", i)
		if i > 0 {
			assert.False(t, at.Before(*steps[i-1]), "step %d before step %d", i, i-1)
		}
	}
	assert.Less(t, r.ErasedAt.Sub(began), time.Hour, "erased long before the redaction gives up")
	// The last retry that would start after the window is not made: within one maximum interval (6 h) of it.
	assert.GreaterOrEqual(t, r.FinishedAt.Sub(began), appt.ErasureRedactionWindow-6*time.Hour, "the redaction was tried for 14 days")
}
