package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// Erasure retry policies (docs/security.md#erasure). The main steps retry until they succeed, so an erasure that
// a crash or an outage interrupted finishes when a worker is back; only a worker without the store gives up.
// Redaction is retried for appt.ErasureRedactionWindow, Twilio's 20009 included.
var (
	erasureStepRetry = &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{activities.ErrNoErasureStore},
	}
	// redactionRetry: 1 min doubling to 6 h reaches 14 days after some 65 attempts; the schedule-to-close timeout
	// (appt.ErasureRedactionWindow) is what stops it, MaximumAttempts only makes the bound explicit.
	redactionRetry = &temporal.RetryPolicy{
		InitialInterval:        time.Minute,
		BackoffCoefficient:     2,
		MaximumInterval:        6 * time.Hour,
		MaximumAttempts:        100,
		NonRetryableErrorTypes: append([]string(nil), nonRetryableErrorTypes...),
	}
)

// ErasureWorkflow erases a customer (docs/security.md#erasure): it finds the organisation's appointments that match
// the request's address hashes or appointment IDs and reads their Twilio SIDs, terminates the running ones (nothing
// more is sent, nothing about the erasure), destroys their data keys, deletes every run of their workflows, records
// a tombstone for each address hash, and then redacts each SMS body at Twilio. Its receipt (the erasure-receipt
// query, and its result) says when each step finished; it holds counts and times only.
func ErasureWorkflow(ctx workflow.Context, req *appt.ErasureRequest) (*appt.ErasureReceipt, error) {
	r := &appt.ErasureReceipt{ErasureID: req.ErasureID, Org: req.Org, RequestedAt: workflow.GetInfo(ctx).WorkflowStartTime}
	if err := workflow.SetQueryHandler(ctx, appt.QueryErasureReceipt, func() (*appt.ErasureReceipt, error) { return r, nil }); err != nil {
		return nil, err
	}
	step := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: time.Minute, RetryPolicy: erasureStepRetry,
	})
	done := func() *time.Time { t := workflow.Now(ctx).UTC(); return &t }

	var found activities.ErasureFound
	if err := workflow.ExecuteActivity(step, appt.ActivityErasureFind, req).Get(ctx, &found); err != nil {
		return nil, err
	}
	r.Appointments, r.SMSMessages = len(found.Targets), len(found.SMSIDs)
	r.Steps.Found = done()

	var stopped int
	if err := workflow.ExecuteActivity(step, appt.ActivityErasureStop, &found).Get(ctx, &stopped); err != nil {
		return nil, err
	}
	r.Steps.Stopped = done()
	if err := workflow.ExecuteActivity(step, appt.ActivityErasureDestroyKeys, &found).Get(ctx, &r.DataKeysDestroyed); err != nil {
		return nil, err
	}
	r.Steps.KeysDestroyed = done()
	if err := workflow.ExecuteActivity(step, appt.ActivityErasureDelete, &found).Get(ctx, &r.Executions); err != nil {
		return nil, err
	}
	r.Steps.ExecutionsDeleted = done()
	if err := workflow.ExecuteActivity(step, appt.ActivityErasureTombstone, req).Get(ctx, &r.Tombstones); err != nil {
		return nil, err
	}
	r.Steps.Tombstoned = done()
	r.ErasedAt = done()

	redact := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: appt.ErasureRedactionWindow, RetryPolicy: redactionRetry,
	})
	futures := make([]workflow.Future, len(found.SMSIDs))
	for i, sid := range found.SMSIDs {
		futures[i] = workflow.ExecuteActivity(redact, appt.ActivityRedactSMS, sid)
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			r.SMSRedactionFailed++
			continue
		}
		r.SMSRedacted++
	}
	r.Steps.SMSRedacted = done()
	r.FinishedAt = done()
	return r, nil
}
