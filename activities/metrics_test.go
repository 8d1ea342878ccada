package activities_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/uber-go/tally/v4"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.temporal.io/sdk/testsuite"

	"github.com/apptnotify/apptnotify/internal/metrics"
)

// TestProviderErrorsMetric: every failed send attempt counts once in apptnotify_provider_errors{org, channel,
// error_type, code}, through the activity's metrics handler, with the provider's code: Twilio's error code for an
// opted-out number (21610), the status class for a webhook answered 503; successful sends count nothing.
func TestProviderErrorsMetric(t *testing.T) {
	scope := tally.NewTestScope("", nil)
	d := newDeliverEnv(t, func(s *testsuite.WorkflowTestSuite) { s.SetMetricsHandler(sdktally.NewMetricsHandler(scope)) })
	d.receiver.setRespond(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	d.deliver(t, fanOut("acme"))

	got := map[string]int64{}
	for _, c := range scope.Snapshot().Counters() {
		if c.Name() != metrics.ProviderErrors {
			continue
		}
		tags := c.Tags()
		got[tags[metrics.LabelOrg]+" "+tags[metrics.LabelChannel]+" "+tags[metrics.LabelErrorType]+" "+tags[metrics.LabelCode]] += c.Value()
	}
	assert.Equal(t, map[string]int64{
		"acme sms OptedOut 21610":    1, // Bob replied STOP
		"acme webhook Transient 5xx": 2, // appointment.activated and notification.reminder
	}, got)
}
