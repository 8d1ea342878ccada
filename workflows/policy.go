package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// channelBackoff is each channel's first retry interval. SMTP servers greylist for minutes, webhook receivers
// usually recover in seconds, and Twilio's 429s clear quickly.
var channelBackoff = map[appt.Channel]time.Duration{
	appt.Email:   30 * time.Second,
	appt.SMS:     10 * time.Second,
	appt.Webhook: 5 * time.Second,
}

const (
	backoffCoefficient = 2.0
	maxRetryInterval   = 10 * time.Minute
	// webhookTimeout is the per-request timeout of a webhook post; the fan-out's start-to-close leaves room for
	// one such post per message a subscriber receives in order.
	webhookTimeout = 15 * time.Second
	// retryGrace is how long a finished appointment with a failed delivery stays open for a manual retry.
	retryGrace = 24 * time.Hour
)

// RetryPolicy is the explicit retry policy of one channel: exponential backoff, at most maxAttempts attempts, and
// every permanent error type non-retryable (the workflow's frozen list, nonRetryableErrorTypes).
func RetryPolicy(ch appt.Channel, maxAttempts int) *temporal.RetryPolicy {
	initial, ok := channelBackoff[ch]
	if !ok {
		initial = 10 * time.Second
	}
	return &temporal.RetryPolicy{
		InitialInterval:        initial,
		BackoffCoefficient:     backoffCoefficient,
		MaximumInterval:        maxRetryInterval,
		MaximumAttempts:        int32(maxAttempts),
		NonRetryableErrorTypes: append([]string(nil), nonRetryableErrorTypes...),
	}
}

// backoffBefore returns the wait before attempt n+1 after n attempts, following the channel's policy, or the
// provider's Retry-After when that is longer.
func backoffBefore(ch appt.Channel, n int, retryAfter time.Duration) time.Duration {
	p := RetryPolicy(ch, 1)
	d := p.InitialInterval
	for i := 1; i < n && d < p.MaximumInterval; i++ {
		d = time.Duration(float64(d) * p.BackoffCoefficient)
	}
	if d > p.MaximumInterval {
		d = p.MaximumInterval
	}
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

// deliverOptions are the options of a fan-out: one attempt per target, bounded by the window. Failed targets are
// retried one by one (retryOptions), so a target that succeeded is never sent again.
func deliverOptions(ctx workflow.Context, summary string, messages int, window time.Duration) workflow.Context {
	o := workflow.ActivityOptions{
		StartToCloseTimeout: fanOutTimeout(messages),
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		Summary:             summary,
	}
	if window > 0 {
		o.ScheduleToCloseTimeout = window
	}
	return workflow.WithActivityOptions(ctx, o)
}

// fanOutTimeout leaves room for one webhook post per message a subscriber receives in order, plus the rest.
func fanOutTimeout(messages int) time.Duration {
	return time.Duration(messages)*webhookTimeout + 15*time.Second
}

// localDeliverOptions are deliverOptions for a fan-out run as a local activity: inside the workflow task that woke
// for it, recorded as a marker, with no activity task to dispatch and persist. One attempt, bounded by the window.
func localDeliverOptions(ctx workflow.Context, summary string, messages int, window time.Duration) workflow.Context {
	o := workflow.LocalActivityOptions{
		StartToCloseTimeout: fanOutTimeout(messages),
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		Summary:             summary,
	}
	if window > 0 {
		o.ScheduleToCloseTimeout = window
	}
	return workflow.WithLocalActivityOptions(ctx, o)
}

// retryOptions are the options of one target's retries under its channel's policy.
func retryOptions(ctx workflow.Context, summary string, ch appt.Channel, attempts int, window time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    webhookTimeout + 15*time.Second,
		ScheduleToCloseTimeout: window,
		RetryPolicy:            RetryPolicy(ch, attempts),
		Summary:                summary,
	})
}

// loadOrgOptions are the options of the local activity that reads the organisation's policy at scheduling.
func loadOrgOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: backoffCoefficient,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    0, // the organisation's settings must be read before anything is planned
		},
		Summary: "load organisation policy",
	})
}
