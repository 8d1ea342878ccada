// Package metrics names apptnotify's own Prometheus metrics and their labels, and wraps the worker's metrics handler
// so that they stay bounded: the org label keeps at most OrgCap organisations (the rest are folded into "other"),
// and the timers that are histograms get their buckets. The workflow records through workflow.GetMetricsHandler
// (which skips replays) and the activities through activity.GetMetricsHandler; both derive from the handler built
// here, so every metric passes the fold. docs/operations.md ("The dashboard") lists them with their labels.
package metrics

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// The metric names as the code records them. Served on /metrics, counters end in _total and timers in _seconds (the
// SDK's Prometheus naming).
const (
	// Notifications counts final delivery outcomes: {org, type, channel, status}, status one of appt's
	// DeliveryStatus values (sent, failed, skipped_missed, skipped_disabled, skipped_unprovisioned, ...).
	Notifications = "apptnotify_notifications"
	// Lateness is a histogram of how late a REMINDER or ROOM invite woke for its first attempt, in seconds after its
	// due time (negative: early, by the reminder spread): {org, type}.
	Lateness = "apptnotify_notification_lateness"
	// ProviderErrors counts failed send attempts, each attempt once: {org, channel, error_type, code}.
	ProviderErrors = "apptnotify_provider_errors"
	// ReceiptLag is a histogram of the time from an SMS's send to Twilio's final status for it, in seconds:
	// {org, receipt}, receipt delivered, undelivered or failed.
	ReceiptLag = "apptnotify_sms_receipt_lag"
	// ManualRetries counts manual retries the workflow accepted: {org}.
	ManualRetries = "apptnotify_manual_retries"
)

// Label names.
const (
	LabelOrg       = "org"
	LabelType      = "type"
	LabelChannel   = "channel"
	LabelStatus    = "status"
	LabelErrorType = "error_type"
	LabelCode      = "code"
	LabelReceipt   = "receipt"
)

// OrgCap is how many organisations a worker labels by their ID; metrics of every further organisation carry
// org="other". The configured organisations are admitted first (sorted by ID), then organisations in the order a
// worker first records them. Organisation IDs are the operator's own, never personal data.
const OrgCap = 50

// Other is the org label of the organisations beyond OrgCap.
const Other = "other"

// OrgFolder maps organisation IDs to org label values: the ID while it is among the first cap admitted, Other after.
// It is safe for concurrent use.
type OrgFolder struct {
	mu       sync.Mutex
	cap      int
	admitted map[string]bool
}

// NewOrgFolder admits the seed organisations (sorted by ID) up to cap.
func NewOrgFolder(cap int, seed []string) *OrgFolder {
	f := &OrgFolder{cap: cap, admitted: map[string]bool{}}
	seed = slices.Clone(seed)
	slices.Sort(seed)
	for _, org := range seed {
		f.Fold(org)
	}
	return f
}

// Fold returns the org label value of an organisation: its ID if admitted or if there is room, Other when the cap
// is reached. An empty ID stays empty.
func (f *OrgFolder) Fold(org string) string {
	if org == "" {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.admitted[org] {
		return org
	}
	if len(f.admitted) >= f.cap {
		return Other
	}
	f.admitted[org] = true
	return org
}

// Histogram is a timer that is served as a Prometheus histogram (the SDK's timers are summaries, whose quantiles
// cannot be added up across workers). Name is the timer's name in the code; the served name ends in _seconds.
// Labels are the tags it keeps (missing ones are empty); other tags (task_queue, workflow_type, ...) are dropped.
type Histogram struct {
	Name    string
	Help    string
	Labels  []string
	Buckets []float64 // upper bounds in seconds
}

// Served is the histogram's name on /metrics.
func (h Histogram) Served() string { return h.Name + "_seconds" }

// NewHandler wraps base: the org tag passes through folder, and the timers named in hists are recorded in
// Prometheus histograms registered on reg (a histogram already registered there, by an earlier worker in the same
// process, is reused).
func NewHandler(base client.MetricsHandler, reg prometheus.Registerer, folder *OrgFolder, hists ...Histogram) (client.MetricsHandler, error) {
	h := &handler{base: base, folder: folder, hists: map[string]*histogram{}}
	for _, spec := range hists {
		vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: spec.Served(), Help: spec.Help, Buckets: spec.Buckets}, spec.Labels)
		if err := reg.Register(vec); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return nil, err
			}
			existing, ok := already.ExistingCollector.(*prometheus.HistogramVec)
			if !ok {
				return nil, err
			}
			vec = existing
		}
		h.hists[spec.Name] = &histogram{spec: spec, vec: vec}
	}
	return h, nil
}

type histogram struct {
	spec Histogram
	vec  *prometheus.HistogramVec
}

type handler struct {
	base   client.MetricsHandler
	folder *OrgFolder
	hists  map[string]*histogram
	tags   map[string]string
}

func (h *handler) WithTags(tags map[string]string) client.MetricsHandler {
	if org, ok := tags[LabelOrg]; ok {
		tags = cloneWith(tags, LabelOrg, h.folder.Fold(org))
	}
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &handler{base: h.base.WithTags(tags), folder: h.folder, hists: h.hists, tags: merged}
}

func cloneWith(tags map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(tags))
	for key, val := range tags {
		out[key] = val
	}
	out[k] = v
	return out
}

func (h *handler) Counter(name string) client.MetricsCounter { return h.base.Counter(name) }
func (h *handler) Gauge(name string) client.MetricsGauge     { return h.base.Gauge(name) }

func (h *handler) Timer(name string) client.MetricsTimer {
	hist, ok := h.hists[name]
	if !ok {
		return h.base.Timer(name)
	}
	values := make([]string, len(hist.spec.Labels))
	for i, l := range hist.spec.Labels {
		values[i] = h.tags[l]
	}
	obs := hist.vec.WithLabelValues(values...)
	return TimerFunc(func(d time.Duration) { obs.Observe(d.Seconds()) })
}

// CounterFunc is a client.MetricsCounter that calls the function.
type CounterFunc func(int64)

// Inc calls f.
func (f CounterFunc) Inc(n int64) { f(n) }

// GaugeFunc is a client.MetricsGauge that calls the function.
type GaugeFunc func(float64)

// Update calls f.
func (f GaugeFunc) Update(v float64) { f(v) }

// TimerFunc is a client.MetricsTimer that calls the function.
type TimerFunc func(time.Duration)

// Record calls f.
func (f TimerFunc) Record(d time.Duration) { f(d) }
