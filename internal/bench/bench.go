// Package bench measures the reminder herd, the engine's baseline, scheduling throughput and the footprint of idle
// appointments, on one machine, against the embedded server (or a cluster), with in-process sinks.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/workerapp"
)

// Options are the bench's flags.
type Options struct {
	N int
	// orgs spreads the herd over this many organisations of identical settings (bench, bench-001, …); 0 or 1:
	// one. Set by the herd-orgs scenario.
	orgs            int
	FootprintN      int
	Scenarios       []string
	JSON            bool
	TemporalAddress string
	Namespace       string
	DataDir         string
	Spread          time.Duration
	RemoteDelivery  bool
	Lead            time.Duration
	Concurrency     int
	Shards          int32
	Journal, Sync   string
	LogFile         string
	CPUProfile      string
	MemProfile      string
	Partitions      int
	// SQLiteConns is the embedded server's SQLite connection pool size (0: its default, 1).
	SQLiteConns int
	// GOGC is the garbage collector setting in force (reported only).
	GOGC string
	// DynamicConfig holds extra server dynamic-config overrides (--dc key=value).
	DynamicConfig map[string]string
	// Pragmas holds extra SQLite pragmas of the embedded server (--sqlite-pragma key=value), e.g. cache_size=-65536.
	Pragmas map[string]string
	Worker  workerapp.Options
	// Background is how many idle appointments (reminders days ahead) are open during the herd.
	Background int
	// MetricsOut receives every SDK and server metric that changed during the herd window (implies Metrics).
	MetricsOut string
	// Metrics collects the SDK's metrics and the embedded server's Prometheus metrics over the herd window and logs
	// the key ones. Off by default: the worker runs its embedded server without metrics, and the server's
	// Prometheus reporter costs CPU in every request (docs/performance.md).
	Metrics bool
	// SeriesOut receives apptnotify's own metrics once a second through the herd (seriesWriter), for tools/dashpng.
	SeriesOut string
	series    bool // set by the herd: its env writes SeriesOut
	// SuppressionEntries is the size of the bench organisation's suppression list, loaded before the herd
	// (herd-suppressed sets it from --suppression-entries; 0: no list).
	SuppressionEntries int
	suppressionSize    int // --suppression-entries
	// Plaintext runs without payload encryption (the herd-plaintext scenario sets it; --plaintext-history for all).
	Plaintext bool
}

// Result is one scenario's figures.
type Result struct {
	Scenario      string  `json:"scenario"`
	N             int     `json:"n"`
	Expected      int     `json:"expected,omitempty"`
	Received      int     `json:"received,omitempty"`
	Duplicates    int     `json:"duplicates,omitempty"`
	SkippedMissed int64   `json:"skippedMissed"`
	P50           float64 `json:"p50Seconds,omitempty"`
	P99           float64 `json:"p99Seconds,omitempty"`
	Max           float64 `json:"maxSeconds,omitempty"`
	CPUSeconds    float64 `json:"cpuSeconds,omitempty"`
	PeakRSSMiB    float64 `json:"peakRssMiB,omitempty"`
	StartRate     float64 `json:"startRatePerSecond,omitempty"`
	Rate          float64 `json:"ratePerSecond,omitempty"`
	BytesPerAppt  float64 `json:"rssBytesPerAppointment,omitempty"`
	HeapPerAppt   float64 `json:"heapBytesPerAppointment,omitempty"`
	HistoryEvents int     `json:"historyEvents,omitempty"`
	Background    int     `json:"background,omitempty"`
	// SMTPSessions and HTTPConns are the connections the senders opened to the sinks in the herd window.
	SMTPSessions int64   `json:"smtpSessions,omitempty"`
	HTTPConns    int64   `json:"httpConnections,omitempty"`
	Served       Serving `json:"served"`
	// herd-suppressed: the list's size, the reminder attempts the workflows counted as suppressed, those the
	// list should have stopped (the email and phone of each suppressed appointment), and deliveries that reached
	// a suppressed address (must be 0).
	SuppressionEntries    int    `json:"suppressionEntries,omitempty"`
	Suppressed            int64  `json:"suppressed,omitempty"`
	SuppressedExpected    int    `json:"suppressedExpected,omitempty"`
	DeliveredToSuppressed int    `json:"deliveredToSuppressed,omitempty"`
	Note                  string `json:"note,omitempty"`
}

// Report is a whole run.
type Report struct {
	Options map[string]string  `json:"options"`
	Results []Result           `json:"results"`
	Ratios  map[string]float64 `json:"ratios"`
}

// Main runs the bench command.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "error: "+err.Error())
		return 2
	}
	o.GOGC = workerapp.TuneGC(os.Getenv) // as the worker does
	rep, err := Run(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "error: "+err.Error())
		return 1
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.Print(stdout)
	}
	return 0
}

func parseFlags(args []string) (Options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o := Options{}
	var scenarios string
	var shards int
	fs.IntVar(&o.N, "n", 1000, "appointments (herd, baseline, throughput)")
	fs.IntVar(&o.Background, "background", 0, "herd: this many other appointments (email only, reminders days ahead) stay open and idle through the herd")
	fs.StringVar(&o.MetricsOut, "metrics-out", "", "herd: write every SDK and server metric that changed during the herd window to this file (implies --metrics)")
	fs.StringVar(&o.SeriesOut, "series-out", "", "herd: write apptnotify's own metrics (the dashboard's) once a second to this file; tools/dashpng renders it")
	fs.BoolVar(&o.Metrics, "metrics", false, "herd: collect the SDK's and the embedded server's metrics over the window and log the key ones (costs CPU; off as in the worker)")
	fs.IntVar(&o.FootprintN, "footprint-n", 10000, "idle open appointments for the footprint scenario")
	fs.StringVar(&scenarios, "scenarios", "herd,baseline,throughput,footprint,http", "comma-separated scenarios (also herd-plaintext: the herd without payload encryption; herd-orgs: the herd spread over 100 organisations; herd-suppressed: the herd with a suppression list of --suppression-entries holding 1 % of its addresses; http: scheduling over the HTTP API against the Go API)")
	fs.IntVar(&o.suppressionSize, "suppression-entries", DefaultSuppressionEntries, "herd-suppressed: entries in the bench organisation's suppression list (at least 2 per suppressed appointment: 1 % of the herd's)")
	fs.BoolVar(&o.Plaintext, "plaintext-history", false, "run every scenario without payload encryption (default: encrypted, as users run it)")
	fs.BoolVar(&o.JSON, "json", false, "print JSON")
	fs.StringVar(&o.TemporalAddress, "temporal-address", "", "use this cluster instead of a fresh embedded server per scenario")
	fs.StringVar(&o.Namespace, "namespace", "default", "namespace with --temporal-address")
	fs.StringVar(&o.DataDir, "data-dir", "", "where embedded servers keep their SQLite files (default: the temp dir)")
	fs.DurationVar(&o.Spread, "spread", 0, "reminder_spread of the bench organisation (0-30s)")
	fs.BoolVar(&o.RemoteDelivery, "remote-delivery", false, "fan-outs as regular activities instead of local ones")
	fs.DurationVar(&o.Lead, "lead", 0, "time from the start of scheduling to the herd's due time (default: from N)")
	fs.IntVar(&o.Concurrency, "concurrency", 32, "concurrent starts while scheduling")
	fs.IntVar(&shards, "shards", workerapp.DefaultHistoryShards, "history shards of the embedded server")
	fs.StringVar(&o.LogFile, "log", "", "append the worker's warnings and errors to this file")
	fs.IntVar(&o.Worker.HistoryCacheSize, "history-cache", workerapp.DefaultHistoryCache, "embedded server: workflow states cached between tasks")
	fs.Func("memory-limit", "soft memory limit, as the worker's --memory-limit: sets GOMEMLIMIT and sizes both caches (explicit cache flags win)", func(v string) error {
		n, err := workerapp.ParseMemoryLimit(v)
		o.Worker.MemoryLimit = n
		return err
	})
	fs.StringVar(&o.MemProfile, "memprofile", "", "write a heap profile at the end of the herd window to this file")
	fs.IntVar(&o.Partitions, "partitions", 0, "embedded server: task queue partitions (0: the embedded default, 1)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the herd window to this file")
	fs.StringVar(&o.Journal, "journal", "", "SQLite journal_mode (default: the embedded server's, wal)")
	fs.StringVar(&o.Sync, "sync", "", "SQLite synchronous (default: the embedded server's, NORMAL)")
	fs.IntVar(&o.SQLiteConns, "sqlite-conns", 0, "embedded server: SQLite connections (0: the embedded default, 1)")
	fs.Func("dc", "embedded server dynamic config override key=value (repeatable; value: int, float, bool, duration or string)", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("want key=value, got %q", v)
		}
		if o.DynamicConfig == nil {
			o.DynamicConfig = map[string]string{}
		}
		o.DynamicConfig[k] = val
		return nil
	})
	fs.Func("sqlite-pragma", "embedded server SQLite pragma key=value (repeatable), e.g. cache_size=-65536 (KiB when negative)", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" || val == "" {
			return fmt.Errorf("want key=value, got %q", v)
		}
		if o.Pragmas == nil {
			o.Pragmas = map[string]string{}
		}
		o.Pragmas[k] = val
		return nil
	})
	fs.IntVar(&o.Worker.WorkflowPollers, "workflow-pollers", workerapp.DefaultWorkflowPollers, "workflow task pollers (default: the worker's, 128 with the embedded server and 16 with --temporal-address)")
	fs.IntVar(&o.Worker.ActivityPollers, "activity-pollers", workerapp.DefaultActivityPollers, "activity task pollers (0: SDK default, 2)")
	fs.IntVar(&o.Worker.MaxConcurrentWorkflowTasks, "max-workflow-tasks", 0, "concurrent workflow tasks (0: SDK default)")
	fs.IntVar(&o.Worker.MaxConcurrentActivities, "max-activities", 0, "concurrent activities (0: SDK default)")
	fs.IntVar(&o.Worker.StickyCacheSize, "sticky-cache", workerapp.DefaultStickyCache, "sticky cache size (0: SDK default, 10000)")
	fs.DurationVar(&o.Worker.StickyTimeout, "sticky-timeout", workerapp.DefaultStickyTimeout, "sticky schedule-to-start timeout (0: SDK default, 5s)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Shards = int32(shards)
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if o.TemporalAddress != "" && !explicit["workflow-pollers"] {
		o.Worker.WorkflowPollers = workerapp.ClusterWorkflowPollers // as the worker on a cluster
	}
	o.Worker.SizeCaches(explicit["sticky-cache"], explicit["history-cache"])
	for _, s := range strings.Split(scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			switch s {
			case "herd", "herd-plaintext", "herd-orgs", "herd-suppressed", "baseline", "throughput", "footprint", "http":
				o.Scenarios = append(o.Scenarios, s)
			default:
				return o, fmt.Errorf("--scenarios: unknown scenario %q", s)
			}
		}
	}
	if o.N < 1 {
		return o, errors.New("--n must be at least 1")
	}
	if o.Spread < 0 || o.Spread > 30*time.Second {
		return o, errors.New("--spread must be between 0s and 30s")
	}
	return o, nil
}

func (o Options) lead() time.Duration {
	if o.Lead > 0 {
		return o.Lead
	}
	return 30*time.Second + time.Duration(o.N)*25*time.Millisecond + time.Duration(o.Background)*22*time.Millisecond
}

// Run runs the chosen scenarios, each on a fresh embedded server (or the given cluster).
func Run(ctx context.Context, o Options, log io.Writer) (*Report, error) {
	rep := &Report{Options: o.describe(), Ratios: map[string]float64{}}
	byName := map[string]Result{}
	for _, s := range o.Scenarios {
		fmt.Fprintf(log, "bench: %s ...\n", s)
		var rs []Result
		var err error
		switch s {
		case "herd":
			rs, err = o.herd(ctx, log)
		case "herd-plaintext":
			p := o
			p.Plaintext = true
			rs, err = p.herd(ctx, log)
			for i := range rs {
				rs[i].Scenario += "-plaintext"
			}
		case "herd-orgs":
			p := o
			p.orgs = HerdOrgs
			rs, err = p.herd(ctx, log)
			for i := range rs {
				rs[i].Scenario = "herd-orgs"
			}
		case "herd-suppressed":
			p := o
			p.SuppressionEntries = o.suppressionSize
			rs, err = p.herd(ctx, log)
			for i := range rs {
				rs[i].Scenario = "herd-suppressed"
			}
		case "baseline":
			rs, err = o.baseline(ctx, log)
		case "throughput":
			rs, err = o.throughput(ctx, log)
		case "footprint":
			rs, err = o.footprint(ctx, log)
		case "http":
			rs, err = o.httpScenario(ctx, log)
		}
		if err != nil {
			return rep, fmt.Errorf("%s: %w", s, err)
		}
		for _, r := range rs {
			byName[r.Scenario] = r
			rep.Results = append(rep.Results, r)
		}
	}
	if h, ok := byName["herd"]; ok {
		if b, ok := byName["baseline"]; ok && b.P99 > 0 {
			rep.Ratios["herd_p99_over_baseline_p99"] = round(h.P99/b.P99, 2)
		}
	}
	if h, ok := byName["herd"]; ok {
		if p, ok := byName["herd-plaintext"]; ok && p.CPUSeconds > 0 && p.P99 != 0 {
			rep.Ratios["herd_encrypted_cpu_over_plaintext"] = round(h.CPUSeconds/p.CPUSeconds, 3)
			rep.Ratios["herd_encrypted_p99_over_plaintext"] = round(h.P99/p.P99, 2)
		}
	}
	if h, ok := byName["herd"]; ok {
		if m, ok := byName["herd-orgs"]; ok && h.P99 > 0 && h.CPUSeconds > 0 {
			rep.Ratios["herd_orgs_p99_over_herd"] = round(m.P99/h.P99, 2)
			rep.Ratios["herd_orgs_cpu_over_herd"] = round(m.CPUSeconds/h.CPUSeconds, 3)
		}
	}
	if h, ok := byName["herd"]; ok {
		if m, ok := byName["herd-suppressed"]; ok && h.P99 > 0 && h.CPUSeconds > 0 {
			rep.Ratios["herd_suppressed_p99_over_herd"] = round(m.P99/h.P99, 2)
			rep.Ratios["herd_suppressed_cpu_over_herd"] = round(m.CPUSeconds/h.CPUSeconds, 3)
		}
	}
	if a, ok := byName["throughput"]; ok {
		if b, ok := byName["throughput-bare"]; ok && b.Rate > 0 {
			rep.Ratios["throughput_over_bare"] = round(a.Rate/b.Rate, 2)
		}
	}
	if g, ok := byName["schedule-go"]; ok {
		if h, ok := byName["schedule-http"]; ok && g.Rate > 0 {
			rep.Ratios["schedule_http_over_go"] = round(h.Rate/g.Rate, 2)
		}
	}
	return rep, nil
}

// collectMetrics reports whether the run collects the SDK's and the server's metrics: --metrics, or --metrics-out.
func (o Options) collectMetrics() bool { return o.Metrics || o.MetricsOut != "" }

func (o Options) describe() map[string]string {
	m := map[string]string{
		"n": strconv.Itoa(o.N), "spread": o.Spread.String(), "remoteDelivery": strconv.FormatBool(o.RemoteDelivery),
		"shards": strconv.Itoa(int(o.Shards)), "workflowPollers": strconv.Itoa(o.Worker.WorkflowPollers),
		"activityPollers": strconv.Itoa(o.Worker.ActivityPollers), "maxWorkflowTasks": strconv.Itoa(o.Worker.MaxConcurrentWorkflowTasks),
		"maxActivities": strconv.Itoa(o.Worker.MaxConcurrentActivities), "stickyCache": strconv.Itoa(o.Worker.StickyCacheSize),
		"stickyTimeout": strconv.Itoa(int(o.Worker.StickyTimeout.Seconds())),
		"journal":       o.Journal, "sync": o.Sync, "cpus": strconv.Itoa(runtime.NumCPU()),
		"historyCache": strconv.Itoa(o.Worker.HistoryCacheSize), "partitions": strconv.Itoa(o.Partitions),
		"sqliteConns": strconv.Itoa(o.SQLiteConns), "gogc": o.GOGC,
		"encryption": map[bool]string{false: "AES-256-GCM", true: "off"}[o.Plaintext], "background": strconv.Itoa(o.Background),
		"metrics": strconv.FormatBool(o.collectMetrics()),
	}
	for k, v := range o.DynamicConfig {
		m["dc:"+k] = v
	}
	for k, v := range o.Pragmas {
		m["pragma:"+k] = v
	}
	if o.Worker.MemoryLimit > 0 {
		m["memoryLimit"] = strconv.FormatInt(o.Worker.MemoryLimit>>20, 10) + "MiB"
	}
	if o.TemporalAddress != "" {
		m["temporalAddress"] = o.TemporalAddress
	} else {
		m["server"] = "embedded SQLite file"
	}
	return m
}

// Print writes the report as a plain table.
func (r *Report) Print(w io.Writer) {
	keys := make([]string, 0, len(r.Options))
	for k, v := range r.Options {
		if v != "" && v != "0" {
			keys = append(keys, k+"="+v)
		}
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "options: "+strings.Join(keys, " "))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tN\texpected\treceived\tdup\tskipped_missed\tp50 s\tp99 s\tmax s\tCPU s\tpeak RSS MiB\trate/s\t")
	for _, x := range r.Results {
		if x.Scenario == "footprint" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", x.Scenario, x.N, x.Expected, x.Received,
			x.Duplicates, x.SkippedMissed, f(x.P50), f(x.P99), f(x.Max), f(x.CPUSeconds), f(x.PeakRSSMiB), f(x.Rate))
	}
	tw.Flush()
	for _, x := range r.Results {
		if x.Scenario == "footprint" {
			fmt.Fprintf(w, "footprint: %d idle open appointments (cache purged): RSS %.0f B and Go heap %.0f B per appointment; %d history events per typical lifecycle\n",
				x.N, x.BytesPerAppt, x.HeapPerAppt, x.HistoryEvents)
		}
		if x.SuppressionEntries > 0 {
			fmt.Fprintf(w, "%s: suppression list of %d entries; %d reminder attempts suppressed (the list holds %d of the herd's addresses); %d deliveries reached a suppressed address\n",
				x.Scenario, x.SuppressionEntries, x.Suppressed, x.SuppressedExpected, x.DeliveredToSuppressed)
		}
		if len(x.Served.Sent) > 0 {
			fmt.Fprintf(w, "%s: %s\n", x.Scenario, x.Served.describe())
		}
		if x.Note != "" {
			fmt.Fprintf(w, "note (%s): %s\n", x.Scenario, x.Note)
		}
	}
	names := make([]string, 0, len(r.Ratios))
	for k := range r.Ratios {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "ratio %s: %.2f\n", k, r.Ratios[k])
	}
}

func f(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func round(v float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

// percentiles returns p50, p99 and max of ds, in seconds.
func percentiles(ds []time.Duration) (p50, p99, max float64) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) float64 {
		i := int(q*float64(len(ds))+0.5) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(ds) {
			i = len(ds) - 1
		}
		return round(ds[i].Seconds(), 2)
	}
	return at(0.50), at(0.99), round(ds[len(ds)-1].Seconds(), 2)
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the kernel's high-water mark of the process's RSS (Linux).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// procStatus reads a field of /proc/self/status in KiB.
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return v
		}
	}
	return 0
}

func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

// request is the i-th bench appointment: one customer with email and phone.
// HerdOrgs is how many organisations the herd-orgs scenario spreads its herd over (issue: the 10,000 herd over 100
// organisations, beside the herd of one).
const HerdOrgs = 100

// herdOrg is the organisation of the herd's i-th appointment: benchOrg when the herd has one organisation, else
// the i-th of o.orgs in turn (benchOrg, bench-001, …, bench-099).
func (o Options) herdOrg(i int) string {
	if o.orgs <= 1 || i%o.orgs == 0 {
		return benchOrg
	}
	return fmt.Sprintf("%s-%03d", benchOrg, i%o.orgs)
}

func request(prefix string, i int, org string, start time.Time) *appt.ScheduleRequest {
	id := fmt.Sprintf("%s-%06d", prefix, i)
	return &appt.ScheduleRequest{
		AppointmentID: id, Org: org, Start: start, End: start.Add(appt.DefaultDuration), Notifications: true,
		JoinURL: "https://video.example/j/" + id,
		Participants: []appt.Participant{{ID: "c1", Name: "Customer " + strconv.Itoa(i),
			Email: id + "@bench.example", Phone: phone(i), TZ: "Europe/Berlin", Locale: "en"}},
	}
}

func phone(i int) string { return fmt.Sprintf("+1555%07d", i) }

// reminderKeys are the sink keys of the i-th appointment's reminder, per channel.
func reminderKeys(req *appt.ScheduleRequest, offset time.Duration) (email, webhook string) {
	ev := appt.EventID(req.AppointmentID, appt.Reminder, 0, offset)
	return activities.MessageID(appt.NotificationID(ev, appt.Email, "c1"), benchFrom), ev
}

// historyEvents counts the events of a workflow's history.
func historyEvents(ctx context.Context, c client.Client, id string) (int, error) {
	it := c.GetWorkflowHistory(ctx, id, "", false, 0)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
