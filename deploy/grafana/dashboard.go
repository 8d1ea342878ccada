// Package grafana builds the operator's Grafana dashboard (deploy/grafana/apptnotify.json) with the Grafana
// Foundation SDK: `go run ./deploy/grafana/gen` writes the file, and TestDashboardIsGenerated fails when the
// committed file differs from what Build makes. docs/operations.md ("The dashboard") explains every panel; the
// metric names come from internal/metrics and the Temporal Go SDK.
package grafana

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/metrics"
	"github.com/apptnotify/apptnotify/internal/receipts"
	"github.com/apptnotify/apptnotify/workflows"
)

// UID is the dashboard's stable UID (its URL: /d/apptnotify).
const UID = "apptnotify"

// The metrics as Prometheus serves them.
var (
	notifications  = metrics.Notifications + "_total"
	lateness       = workflows.LatenessHistogram().Served()
	receiptLag     = workflows.ReceiptLagHistogram().Served()
	providerErrors = metrics.ProviderErrors + "_total"
	manualRetries  = metrics.ManualRetries + "_total"
)

// sel is the label selector of the organisation and channel variables; orgSel of the organisation only (for the
// metrics without a channel).
const (
	sel    = `org=~"$org", channel=~"$channel"`
	orgSel = `org=~"$org"`
)

var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// q is one query of a panel: its PromQL and legend.
type q struct {
	expr, legend string
	instant      bool
	heatmap      bool // format heatmap: histogram buckets in le order
}

func (x q) build(ref string) cog.Builder[variants.Dataquery] {
	b := prometheus.NewDataqueryBuilder().Expr(x.expr).LegendFormat(x.legend).RefId(ref).Datasource(ds)
	if x.instant {
		b = b.Instant()
	} else {
		b = b.Range()
	}
	if x.heatmap {
		b = b.Format(prometheus.PromQueryFormatHeatmap)
	}
	return b
}

func targets(qs []q) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, x := range qs {
		out[i] = x.build(string(rune('A' + i)))
	}
	return out
}

func series(title, desc, unit string, qs ...q) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().Title(title).Description(desc).Unit(unit).Datasource(ds).Targets(targets(qs)).
		Height(8).Span(12).Legend(common.NewVizLegendOptionsBuilder().ShowLegend(true).
		DisplayMode(common.LegendDisplayModeTable).Placement(common.LegendPlacementBottom).Calcs([]string{"sum", "max"}))
}

func stacked(title, desc, unit string, qs ...q) *timeseries.PanelBuilder {
	return series(title, desc, unit, qs...).Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		FillOpacity(40).DrawStyle(common.GraphDrawStyleBars)
}

func single(title, desc, unit string, x q) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).Description(desc).Unit(unit).Datasource(ds).Targets(targets([]q{x})).
		Height(8).Span(6).GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
}

func tableOf(title, desc string, x q) *table.PanelBuilder {
	x.instant = true
	return table.NewPanelBuilder().Title(title).Description(desc).Datasource(ds).Targets(targets([]q{x})).Height(8).Span(12).
		WithTransformation(dashboard.DataTransformerConfig{Id: "labelsToFields"})
}

func variable(name, label, metric string) *dashboard.QueryVariableBuilder {
	query := fmt.Sprintf("label_values(%s, %s)", metric, name)
	return dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(ds).
		Query(dashboard.StringOrMap{Map: map[string]any{"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"}}).
		Definition(query).Multi(true).IncludeAll(true).AllValue(".*").Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).Current(dashboard.VariableOption{
		Text: dashboard.StringOrArrayOfString{String: cog.ToPtr("All")}, Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("$__all")}})
}

// Build returns the dashboard: variables datasource, org and channel; rows on time, outcomes, providers, receipts
// and suppressions, worker health. It is the classic dashboard model (schemaVersion 42), the one Grafana's file
// provisioning loads; the SDK marks it deprecated in favour of dashboardv2, which Grafana 12.1 reads only behind
// a feature flag.
//
//lint:ignore SA1019 the v2 schema is not loadable from a provisioned file without a feature flag (see above)
func Build() (dashboard.Dashboard, error) {
	tolerance := workflows.ReminderTolerance.Seconds()
	//lint:ignore SA1019 as above: the classic model is what file provisioning loads
	b := dashboard.NewDashboardBuilder("apptnotify: notifications").Uid(UID).
		Tags([]string{"apptnotify", "temporal"}).Refresh("1m").Time("now-6h", "now").Timezone(common.TimeZoneUtc).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Description("Outcomes, reminder lateness, provider errors, SMS receipts and worker health of the apptnotify workers (docs/operations.md).").
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus")).
		WithVariable(variable("org", "Organisation", notifications)).
		WithVariable(variable("channel", "Channel", notifications))

	b = b.WithRow(dashboard.NewRowBuilder("On time: are reminders going out on time?")).
		WithPanel(bargauge.NewPanelBuilder().Title("Reminder and ROOM lateness over the range").
			Description(fmt.Sprintf("How late each REMINDER and ROOM invite woke for its first attempt (wake-up − due), by bucket upper bound in seconds. "+
				"Negative: spread early (up to %gs). A REMINDER later than %gs is skipped_missed; a ROOM invite may run up to %gs.",
				workflows.MaxReminderSpread.Seconds(), tolerance, workflows.RoomWindow.Seconds())).
			Datasource(ds).Targets(targets([]q{{expr: fmt.Sprintf(`sum by (le) (increase(%s_bucket{%s}[$__range]))`, lateness, orgSel),
			legend: "{{le}}", instant: true, heatmap: true}})).
			Height(8).Span(12).Orientation(common.VizOrientationVertical).DisplayMode(common.BarGaugeDisplayModeBasic).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))).
		WithPanel(single("On time (≤ tolerance) over the range", fmt.Sprintf("Share of REMINDER wake-ups at most %gs after their due time.", tolerance), "percentunit",
			q{expr: fmt.Sprintf(`sum(increase(%s_bucket{%s, type="REMINDER", le="%g"}[$__range])) / sum(increase(%s_count{%s, type="REMINDER"}[$__range]))`,
				lateness, orgSel, tolerance, lateness, orgSel), instant: true})).
		WithPanel(single("Reminders sent over the range", "REMINDER deliveries that ended sent, every channel selected.", "short",
			q{expr: fmt.Sprintf(`sum(increase(%s{%s, type="REMINDER", status="%s"}[$__range]))`, notifications, sel, appt.Sent), instant: true})).
		WithPanel(series("Lateness p50 and p99 by type", fmt.Sprintf("From the histogram's buckets; the line is the %gs tolerance.", tolerance), "s",
			q{expr: fmt.Sprintf(`histogram_quantile(0.99, sum by (le, type) (rate(%s_bucket{%s}[$__rate_interval])))`, lateness, orgSel), legend: "p99 {{type}}"},
			q{expr: fmt.Sprintf(`histogram_quantile(0.5, sum by (le, type) (rate(%s_bucket{%s}[$__rate_interval])))`, lateness, orgSel), legend: "p50 {{type}}"}).
			Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
				{Color: "green"}, {Value: cog.ToPtr(tolerance), Color: "red"}})).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine))).
		WithPanel(stacked("skipped_missed by type and channel", "Deliveries not sent because they woke after their window.", "short",
			q{expr: fmt.Sprintf(`sum by (type, channel) (increase(%s{%s, status="%s"}[$__rate_interval]))`, notifications, sel, appt.SkippedMissed),
				legend: "{{type}} {{channel}}"}))

	b = b.WithRow(dashboard.NewRowBuilder("Outcomes: how many went out, and which did not?")).
		WithPanel(stacked("Outcomes over time by status", "Final outcome of every delivery, by its status (every value the delivery log uses).", "short",
			q{expr: fmt.Sprintf(`sum by (status) (increase(%s{%s}[$__rate_interval]))`, notifications, sel), legend: "{{status}}"})).
		WithPanel(tableOf("Outcomes by type, channel and status over the range", "One row per type, channel and status.",
			q{expr: fmt.Sprintf(`sum by (type, channel, status) (increase(%s{%s}[$__range]))`, notifications, sel)})).
		WithPanel(series("Failed share by organisation and channel", "Failed ÷ all outcomes; the alert ApptnotifyDeliveriesFailing fires above 5 %.", "percentunit",
			q{expr: fmt.Sprintf(`sum by (org, channel) (rate(%s{%s, status="%s"}[$__rate_interval])) / sum by (org, channel) (rate(%s{%s}[$__rate_interval]))`,
				notifications, sel, appt.Failed, notifications, sel), legend: "{{org}} {{channel}}"})).
		WithPanel(series("Outcomes by organisation", "All outcomes per organisation (org=\"other\": beyond the label cap).", "short",
			q{expr: fmt.Sprintf(`sum by (org, status) (increase(%s{%s}[$__rate_interval]))`, notifications, sel), legend: "{{org}} {{status}}"}))

	b = b.WithRow(dashboard.NewRowBuilder("Providers: which provider fails, and why?")).
		WithPanel(stacked("Failed attempts by channel, error type and code", "Every failed attempt (retries included): Twilio error codes, SMTP reply classes, HTTP status classes; none: no answer.", "short",
			q{expr: fmt.Sprintf(`sum by (channel, error_type, code) (increase(%s{%s}[$__rate_interval]))`, providerErrors, sel),
				legend: "{{channel}} {{error_type}} {{code}}"})).
		WithPanel(tableOf("Top error codes over the range", "The ten most frequent channel, error type and code.",
			q{expr: fmt.Sprintf(`topk(10, sum by (channel, error_type, code) (increase(%s{%s}[$__range])))`, providerErrors, sel)})).
		WithPanel(series("Webhook failures by organisation", "Failed webhook attempts per organisation and HTTP status class.", "short",
			q{expr: fmt.Sprintf(`sum by (org, code) (increase(%s{%s, channel="%s"}[$__rate_interval]))`, providerErrors, orgSel, appt.Webhook),
				legend: "{{org}} {{code}}"})).
		WithPanel(series("Manual retries", "Manual retries the workflows accepted (starter retry, the retry update or signal).", "short",
			q{expr: fmt.Sprintf(`sum by (org) (increase(%s{%s}[$__rate_interval]))`, manualRetries, orgSel), legend: "{{org}}"}))

	b = b.WithRow(dashboard.NewRowBuilder("Receipts and suppressions: did SMS arrive, and who opted out?")).
		WithPanel(series("SMS receipt lag p50 and p95", "From the send to Twilio's final status (delivered, undelivered, failed).", "s",
			q{expr: fmt.Sprintf(`histogram_quantile(0.95, sum by (le, receipt) (rate(%s_bucket{%s}[$__rate_interval])))`, receiptLag, orgSel), legend: "p95 {{receipt}}"},
			q{expr: fmt.Sprintf(`histogram_quantile(0.5, sum by (le, receipt) (rate(%s_bucket{%s}[$__rate_interval])))`, receiptLag, orgSel), legend: "p50 {{receipt}}"})).
		WithPanel(stacked("Final SMS receipts by status", "Twilio's final statuses as they arrive.", "short",
			q{expr: fmt.Sprintf(`sum by (receipt) (increase(%s_count{%s}[$__rate_interval]))`, receiptLag, orgSel), legend: "{{receipt}}"})).
		WithPanel(stacked("Not sent, by reason", "Every outcome other than sent and failed: skipped_* and the suppressions, by status.", "short",
			q{expr: fmt.Sprintf(`sum by (status) (increase(%s{%s, status!~"%s|%s"}[$__rate_interval]))`, notifications, sel, appt.Sent, appt.Failed),
				legend: "{{status}}"})).
		WithPanel(single("SMS opt-outs over the range", "SMS refused because the recipient replied STOP (Twilio 21610).", "short",
			q{expr: fmt.Sprintf(`sum(increase(%s{%s, error_type="%s"}[$__range]))`, providerErrors, orgSel, activities.ErrOptedOut), instant: true})).
		WithPanel(single("Receipts waiting in the spool", "Receipts the callback listener holds until Temporal takes them (with --callback-listen).", "short",
			q{expr: "sum(" + receipts.SpoolPendingMetric + ")", instant: true}))

	b = b.WithRow(dashboard.NewRowBuilder("Worker health: is the worker keeping up?")).
		WithPanel(series("Workflow task schedule-to-start p99", "How long workflow tasks wait for a worker (the SDK's summary). A reminder is decided in a workflow task; the deliveries are local activities, which have no schedule-to-start.", "s",
			q{expr: `max by (instance) (temporal_workflow_task_schedule_to_start_latency_seconds{quantile="0.99"})`, legend: "{{instance}}"}).
			Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
				{Color: "green"}, {Value: cog.ToPtr(10.0), Color: "orange"}, {Value: cog.ToPtr(30.0), Color: "red"}})).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine))).
		WithPanel(series("Task slots used and available", "Executor slots by worker type: none available means the worker is saturated.", "short",
			q{expr: `sum by (instance, worker_type) (temporal_worker_task_slots_used)`, legend: "used {{instance}} {{worker_type}}"},
			q{expr: `sum by (instance, worker_type) (temporal_worker_task_slots_available)`, legend: "available {{instance}} {{worker_type}}"})).
		WithPanel(series("Sticky cache", "Hit ratio of the workflow cache, its size, and forced evictions (a cache too small for the open appointments).", "short",
			q{expr: `sum by (instance) (rate(temporal_sticky_cache_hit_total[$__rate_interval])) / (sum by (instance) (rate(temporal_sticky_cache_hit_total[$__rate_interval])) + sum by (instance) (rate(temporal_sticky_cache_miss_total[$__rate_interval])))`,
				legend: "hit ratio {{instance}}"},
			q{expr: `max by (instance) (temporal_sticky_cache_size)`, legend: "size {{instance}}"},
			q{expr: `sum by (instance) (rate(temporal_sticky_cache_total_forced_eviction_total[$__rate_interval]))`, legend: "forced evictions/s {{instance}}"})).
		WithPanel(series("Poll success", "Share of workflow-task polls that got a task; low is idle, not a fault. Failed workflow tasks next to it.", "percentunit",
			q{expr: `sum by (instance) (rate(temporal_workflow_task_queue_poll_succeed_total[$__rate_interval])) / (sum by (instance) (rate(temporal_workflow_task_queue_poll_succeed_total[$__rate_interval])) + sum by (instance) (rate(temporal_workflow_task_queue_poll_empty_total[$__rate_interval])))`,
				legend: "poll success {{instance}}"},
			q{expr: `sum by (instance) (rate(temporal_workflow_task_execution_failed_total[$__rate_interval]))`, legend: "failed tasks/s {{instance}}"}))
	return b.Build()
}

// JSON is the dashboard as Grafana loads it from a provisioned file, indented, with a final newline.
func JSON() ([]byte, error) {
	d, err := Build()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
