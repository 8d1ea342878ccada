package workerapp

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uber-go/tally/v4"
	prom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"

	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/metrics"
	"github.com/apptnotify/apptnotify/workflows"
)

// Prometheus is a metrics handler for the SDK and the worker, reported to a Prometheus registry.
type Prometheus struct {
	// Handler is the client's MetricsHandler: the SDK's tally handler with Prometheus naming (counters _total,
	// timers _seconds summaries), wrapped by internal/metrics (the org label folded beyond metrics.OrgCap, the
	// configured organisations admitted first; the lateness and receipt-lag timers served as histograms).
	Handler client.MetricsHandler
	// HTTPHandler serves the registry in Prometheus's text format.
	HTTPHandler http.Handler
	closer      interface{ Close() error }
}

// Close stops the tally reporter.
func (p *Prometheus) Close() { _ = p.closer.Close() }

// PrometheusMetrics reports to reg, or to Prometheus's default registry (with the Go and process collectors) when
// reg is nil. The tally reporter publishes every second.
func PrometheusMetrics(reg *prometheus.Registry, orgs []string) (*Prometheus, error) {
	opts := prom.Options{}
	var registerer prometheus.Registerer = prometheus.DefaultRegisterer
	if reg != nil {
		opts.Registerer, registerer = reg, reg
	}
	reporter := prom.NewReporter(opts)
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       prom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	h, err := metrics.NewHandler(sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), registerer,
		metrics.NewOrgFolder(metrics.OrgCap, orgs), workflows.LatenessHistogram(), workflows.ReceiptLagHistogram())
	if err != nil {
		closer.Close()
		return nil, err
	}
	return &Prometheus{Handler: h, HTTPHandler: reporter.HTTPHandler(), closer: closer}, nil
}

// orgIDs are the configured organisations' IDs.
func orgIDs(cfg *config.Config) []string {
	ids := make([]string, 0, len(cfg.Organizations))
	for _, o := range cfg.Organizations {
		ids = append(ids, o.ID)
	}
	return ids
}
