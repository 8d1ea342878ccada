package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/deploy/grafana"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// recordedOnEvent are the dashboard's SDK metrics that a small, healthy lifecycle does not make a worker export:
// the SDK creates a metric when it first records it, and these record only when the event happens (a workflow
// evicted from a full cache, a task missing from the cache, a failed workflow task, a long poll that timed out
// empty, after about a minute). deploy TestDashboardMetricsAreDefined checks them against the pinned SDK's constants.
var recordedOnEvent = map[string]bool{
	"temporal_sticky_cache_total_forced_eviction_total": true, "temporal_sticky_cache_miss_total": true,
	"temporal_workflow_task_execution_failed_total": true, "temporal_workflow_task_queue_poll_empty_total": true,
}

// scrape reads a worker's /metrics into series name → its sample lines (a histogram's _bucket, _count and _sum
// apart, as queries name them). The text must parse as Prometheus's exposition format.
func scrape(t *testing.T, addr string) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var p expfmt.TextParser
	_, err = p.TextToMetricFamilies(strings.NewReader(string(b)))
	require.NoError(t, err)
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		out[name] += line + "\n"
	}
	return out
}

// TestDashboardMetricsExported runs a small lifecycle on a worker with --metrics and --callback-listen: an
// appointment whose REMINDER fires 15 s after it is booked (lateness), whose CREATE webhook is answered 500 (a
// provider error, failed with max_attempts 1) and then retried by hand (a manual retry), and whose CREATE SMS gets
// Twilio's delivered callback (receipt lag). Then every metric a panel of deploy/grafana/apptnotify.json names is on
// the worker's /metrics, with the labels the panels filter on: a metric renamed in the code fails here.
func TestDashboardMetricsExported(t *testing.T) {
	cbPort := testenv.FreePort(t)
	public := "http://127.0.0.1:" + strconv.Itoa(cbPort) + config.StatusCallbackPath
	e := newEnvConfig(t, func(e *env) string {
		return fmt.Sprintf(`smtp: {host: 127.0.0.1, port: %d, tls: none}
twilio: {base_url: %q, status_callback_url: %q}
organizations:
  - id: acme
    platform: genesys
    email_from: "Acme Care <care@acme.example>"
    sms_from: "+15550000000"
    reminder_offsets: [20s]
    max_attempts: 1
    webhooks:
      - {url: "%s/hooks", secret_env: E2E_WEBHOOK_SECRET}
    allow_private_webhook_addresses: true
`, e.mail.SMTPPort, e.twilio.URL, public, e.hooks.URL)
	})
	var failCreate atomic.Bool
	failCreate.Store(true)
	e.hooks.Respond(func(w testenv.Webhook) int {
		if w.Type == "notification.create" && failCreate.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	metricsAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	e.startWorker("--metrics", metricsAddr, "--callback-listen", "127.0.0.1:"+strconv.Itoa(cbPort))

	start := time.Now().Add(35 * time.Second).Truncate(time.Second)
	e.ok("schedule", "--id", "D1", "--org", "acme", "--start", rfc3339(start), "--participant",
		"id=c1,name=Ann Lee,email=d1@example.com,phone=+15551234567,tz=Europe/Berlin,locale=de")
	var failed appt.DeliveryEntry
	eventually(t, 60*time.Second, "the CREATE webhook failed, the CREATE SMS sent", func() bool {
		st := e.status("D1")
		hooks, sms := entriesOf(st, appt.Create, appt.Webhook), entriesOf(st, appt.Create, appt.SMS)
		if len(hooks) == 0 || len(sms) == 0 || hooks[0].Status != appt.Failed || sms[0].Status != appt.Sent {
			return false
		}
		failed = hooks[len(hooks)-1]
		return true
	})
	reqs := e.twilio.Requests()
	require.NotEmpty(t, reqs)
	assert.Equal(t, http.StatusOK, e.twilio.SendStatus(t, reqs[0], "", "delivered", 0))
	failCreate.Store(false)
	e.ok("retry", "--id", "D1", "--entry", failed.ID)
	eventually(t, 90*time.Second, "the REMINDER sent and the receipt recorded", func() bool {
		st := e.status("D1")
		rem, sms := entriesOf(st, appt.Reminder, appt.Email), entriesOf(st, appt.Create, appt.SMS)
		return len(rem) == 1 && rem[0].Status == appt.Sent && sms[0].Receipt == "delivered"
	})

	b, err := os.ReadFile("../deploy/grafana/apptnotify.json")
	require.NoError(t, err)
	qs, err := grafana.Queries(b)
	require.NoError(t, err)
	names := grafana.MetricNames(qs)
	// The tally reporter publishes every second: poll until every name is there (or 30 s), then name the missing.
	var got map[string]string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		got = scrape(t, metricsAddr)
		missing := 0
		for _, n := range names {
			if _, ok := got[n]; !ok && !recordedOnEvent[n] {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, n := range names {
		if _, ok := got[n]; !ok && !recordedOnEvent[n] {
			t.Errorf("the dashboard names %s; the worker does not export it", n)
		}
	}
	assert.Less(t, len(recordedOnEvent), len(names)/3, "most of the dashboard's metrics are checked on the worker")
	// The labels the panels filter and group on.
	for name, want := range map[string][]string{
		"apptnotify_notifications_total":                  {`org="acme"`, `channel="sms"`, `status="sent"`, `type="REMINDER"`},
		"apptnotify_provider_errors_total":                {`org="acme"`, `channel="webhook"`, `error_type="Transient"`, `code="5xx"`},
		"apptnotify_notification_lateness_seconds_bucket": {`org="acme"`, `type="REMINDER"`, `le="60"`, `le="-30"`},
		"apptnotify_sms_receipt_lag_seconds_bucket":       {`org="acme"`, `receipt="delivered"`},
		"apptnotify_manual_retries_total":                 {`org="acme"`},
	} {
		for _, w := range want {
			assert.Contains(t, got[name], w, name)
		}
	}
}
