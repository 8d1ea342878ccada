package activities

import (
	"context"
	"strconv"

	"go.temporal.io/sdk/activity"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/metrics"
)

// CodeNone is the code label of a failed attempt that no provider answered: a timeout, a refused connection, a
// DNS failure, a recipient refused before any send.
const CodeNone = "none"

// countProviderError counts one failed send attempt in metrics.ProviderErrors, through the activity's metrics
// handler: {org, channel, error_type (the Err* type), code (DeliveryError.Code, or CodeNone)}. A target the worker
// has no sender for is not a provider error and is not counted.
func countProviderError(ctx context.Context, org string, ch appt.Channel, de *DeliveryError) {
	if de.Type == ErrUnprovisioned {
		return
	}
	code := de.Code
	if code == "" {
		code = CodeNone
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{
		metrics.LabelOrg: org, metrics.LabelChannel: string(ch), metrics.LabelErrorType: de.Type, metrics.LabelCode: code,
	}).Counter(metrics.ProviderErrors).Inc(1)
}

// replyClass is the class of an SMTP reply code or an HTTP status: "4xx" for 421 or 404, "5xx" for 550 or 503;
// empty when there is none (0).
func replyClass(code int) string {
	if code < 100 || code > 999 {
		return ""
	}
	return strconv.Itoa(code/100) + "xx"
}
