package metrics_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/metrics"
)

// TestMetricNamesAreStable: the names operators' dashboards, alerts and recording rules query are frozen, and each
// is documented in docs/operations.md under the name Prometheus serves it. Renaming one breaks every saved query,
// so it fails here first; a rename is a new metric beside the old one, for a release.
func TestMetricNamesAreStable(t *testing.T) {
	served := map[string]string{
		metrics.Notifications:  "apptnotify_notifications_total",
		metrics.Lateness:       "apptnotify_notification_lateness_seconds",
		metrics.ProviderErrors: "apptnotify_provider_errors_total",
		metrics.ReceiptLag:     "apptnotify_sms_receipt_lag_seconds",
		metrics.ManualRetries:  "apptnotify_manual_retries_total",
	}
	b, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	for name, want := range served {
		assert.True(t, strings.HasPrefix(want, name+"_"), "%s is served as %s", name, want)
		assert.Contains(t, string(b), "`"+want+"`", "docs/operations.md documents %s", want)
	}
	assert.Equal(t, []string{"org", "type", "channel", "status", "error_type", "code", "receipt"},
		[]string{metrics.LabelOrg, metrics.LabelType, metrics.LabelChannel, metrics.LabelStatus, metrics.LabelErrorType,
			metrics.LabelCode, metrics.LabelReceipt}, "the label names")
}
