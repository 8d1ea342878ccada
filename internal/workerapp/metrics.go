package workerapp

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/metrics"
	"github.com/apptnotify/apptnotify/workflows"
)

// metricsHandler wraps the SDK's Prometheus handler with internal/metrics: the org label folded beyond
// metrics.OrgCap (the configured organisations admitted first), and the workflow's lateness and receipt-lag timers
// served as histograms on the same registry as the tally reporter (Prometheus's default one).
func metricsHandler(base client.MetricsHandler, orgs []string) (client.MetricsHandler, error) {
	return metrics.NewHandler(base, prometheus.DefaultRegisterer, metrics.NewOrgFolder(metrics.OrgCap, orgs),
		workflows.LatenessHistogram(), workflows.ReceiptLagHistogram())
}

// orgIDs are the configured organisations' IDs.
func orgIDs(cfg *config.Config) []string {
	ids := make([]string, 0, len(cfg.Organizations))
	for _, o := range cfg.Organizations {
		ids = append(ids, o.ID)
	}
	return ids
}
