package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/server/common/dynamicconfig"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/devserver"
	"github.com/apptnotify/apptnotify/internal/seal"
	"github.com/apptnotify/apptnotify/internal/suppress"
	"github.com/apptnotify/apptnotify/internal/templates"
	"github.com/apptnotify/apptnotify/internal/workerapp"
	"github.com/apptnotify/apptnotify/workflows"
)

const (
	benchOrg     = "bench"
	lifeOrg      = "life"
	idleOrg      = "idle"
	benchFrom    = "Bench Clinic <bench@bench.example>"
	benchSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	bareQueue    = "bench-bare"
	herdOffset   = 10 * time.Minute
	startTimeout = 2 * time.Minute
)

// env is one server (embedded, or the cluster of --temporal-address), one worker with the options under test,
// and the sinks.
type env struct {
	o      Options
	srv    *devserver.Server
	c      client.Client
	w      worker.Worker
	acts   *activities.Activities
	bare   worker.Worker
	sinks  *sinks
	cfg    *config.Config
	api    *api.Client
	counts *counters
	sdk    *sdkStats
	series *seriesWriter // --series-out, in the herd
	// supp is the suppression list the activities check every email and SMS against, as the worker's; stopSupp
	// ends its cache's refresh.
	supp     *suppress.List
	stopSupp func()
	// metricsURL is the embedded server's Prometheus endpoint ("" on a cluster).
	metricsURL string
	bareRec    recorder
	dir        string
}

func (o Options) newEnv(ctx context.Context) (*env, error) {
	e := &env{o: o, counts: &counters{m: map[string]int64{}}, sdk: newSDKStats()}
	var err error
	if e.sinks, err = startSinks(); err != nil {
		return nil, err
	}
	host, port, _ := strings.Cut(e.sinks.smtpAddr, ":")
	// The herd's organisation, from the file (herd-orgs writes its 99 siblings through the API: putHerdOrgs).
	herdOrgYAML := func(id string) string {
		return fmt.Sprintf(`  - id: %s
    platform: genesys
    email_from: "%s"
    sms_from: "+15550000000"
    reminder_offsets: [%s]
    auto_activate: true
    max_attempts: 3
    reminder_spread: %s
    webhooks: [{url: "%s/hooks", secret_env: BENCH_SECRET}]
    allow_private_webhook_addresses: true
`, id, benchFrom, herdOffset, o.Spread, e.sinks.httpURL)
	}
	y := fmt.Sprintf(`smtp: {host: %s, port: %s, tls: none}
twilio: {base_url: "%s"}
organizations:
%s  - id: %s
    platform: genesys
    email_from: "%s"
    sms_from: "+15550000000"
    reminder_offsets: [8s, 4s]
    auto_activate: true
    webhooks: [{url: "%s/hooks", secret_env: BENCH_SECRET}]
    allow_private_webhook_addresses: true
  - id: %s
    platform: genesys
    email_from: "%s"
    reminder_offsets: [24h, 1h]
    auto_activate: true
`, host, port, e.sinks.httpURL, herdOrgYAML(benchOrg), lifeOrg, benchFrom, e.sinks.httpURL, idleOrg, benchFrom)
	e.cfg, err = config.ParseWorker([]byte(y), func(k string) string {
		return map[string]string{"BENCH_SECRET": benchSecret, "TWILIO_ACCOUNT_SID": "ACbench", "TWILIO_AUTH_TOKEN": "bench"}[k]
	})
	if err != nil {
		return nil, err
	}
	tpl, err := templates.Load(e.cfg)
	if err != nil {
		return nil, err
	}
	logger := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	if o.LogFile != "" {
		f, err := os.OpenFile(o.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		logger = log.NewStructuredLogger(slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	mh := &metricsHandler{c: e.counts}
	if o.collectMetrics() {
		mh.all = e.sdk
	}
	var handler client.MetricsHandler = mh
	if o.series && o.SeriesOut != "" {
		if e.series, err = newSeriesWriter(o.SeriesOut, []string{benchOrg, lifeOrg}); err != nil {
			return nil, err
		}
		handler = teeHandler{mh, e.series.pm.Handler}
	}
	copts := client.Options{Logger: logger, MetricsHandler: handler}
	o.Worker.ApplyProcessSettings() // before the embedded server's own SDK workers create the shared sticky cache
	if o.TemporalAddress == "" {
		if e.dir, err = os.MkdirTemp(o.DataDir, "bench-"); err != nil {
			return nil, err
		}
		attrs := map[string]string{}
		if o.Journal != "" {
			attrs["journal_mode"] = o.Journal
		}
		if o.Sync != "" {
			attrs["synchronous"] = o.Sync
		}
		for k, v := range o.Pragmas {
			attrs[k] = v
		}
		port, err := devserver.FreePort()
		if err != nil {
			return nil, err
		}
		mport := 0
		if o.collectMetrics() {
			mport, err = devserver.FreePort()
			for err == nil && mport == port {
				mport, err = devserver.FreePort()
			}
			if err != nil {
				return nil, err
			}
			e.metricsURL = fmt.Sprintf("http://%s:%d/metrics", devserver.DefaultIP, mport)
		}
		dc := map[dynamicconfig.Key]any{}
		if o.Worker.HistoryCacheSize > 0 {
			dc[dynamicconfig.HistoryCacheHostLevelMaxSize.Key()] = o.Worker.HistoryCacheSize
		}
		if o.Partitions > 0 {
			dc[dynamicconfig.MatchingNumTaskqueueReadPartitions.Key()] = o.Partitions
			dc[dynamicconfig.MatchingNumTaskqueueWritePartitions.Key()] = o.Partitions
		}
		for k, v := range o.DynamicConfig {
			dc[dynamicconfig.MakeKey(k)] = dynamicValue(v)
		}
		sctx, cancel := context.WithTimeout(ctx, startTimeout)
		e.srv, err = devserver.Start(sctx, devserver.Options{
			DynamicConfig: dc, SQLiteMaxConns: o.SQLiteConns,
			DataDir: e.dir, IP: devserver.DefaultIP, Port: port, UIPort: 0, MetricsPort: mport,
			Namespace: devserver.DefaultNamespace, SearchAttributes: workerapp.SearchAttributes,
			NumHistoryShards: o.Shards, ConnectAttributes: attrs,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("starting the embedded server: %w", err)
		}
		copts.HostPort, copts.Namespace = e.srv.FrontendAddress(), e.srv.Namespace()
		copts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{} // as the worker does with its embedded server
	} else {
		copts.HostPort, copts.Namespace = o.TemporalAddress, o.Namespace
	}
	if !o.Plaintext {
		text, err := codec.NewKeyRingText(time.Now())
		if err != nil {
			e.close()
			return nil, err
		}
		ring, err := codec.ParseKeyRing(text)
		if err != nil {
			e.close()
			return nil, err
		}
		api.Encrypt(&copts, ring, nil)
	}
	if e.c, err = client.DialContext(ctx, copts); err != nil {
		e.close()
		return nil, err
	}
	acts, err := activities.NewActivities(e.cfg, tpl, e.c)
	if err != nil {
		e.close()
		return nil, err
	}
	acts.RemoteDelivery = o.RemoteDelivery
	e.acts = acts
	// The send-time reads of the worker, wired as the worker wires them: the organisation directory (documents
	// written through the API, their sealed secrets opened with the bench's seal key) and the suppression list.
	sealKey, err := seal.NewPrivateKey()
	if err != nil {
		e.close()
		return nil, err
	}
	opener, err := seal.ParsePrivateKeys(sealKey)
	if err != nil {
		e.close()
		return nil, err
	}
	addrKey := make([]byte, addrhash.KeySize)
	_, _ = rand.Read(addrKey)
	keys := map[string]string{seal.PrivateKeysEnv: sealKey, addrhash.EnvVar: base64.StdEncoding.EncodeToString(addrKey)}
	getenv := func(k string) string { return keys[k] }
	slogger := slog.New(slog.DiscardHandler)
	if err := workerapp.OrgDirectory(acts, e.cfg, tpl, getenv, "", false, slogger); err != nil {
		e.close()
		return nil, err
	}
	if e.supp, e.stopSupp, err = workerapp.StartSuppressions(e.cfg, "", false, getenv, e.c, slogger); err != nil {
		e.close()
		return nil, err
	}
	acts.Suppressions = e.supp
	e.w = worker.New(e.c, appt.TaskQueue, o.Worker.WorkerOptions())
	workflows.Register(e.w)
	activities.Register(e.w, acts)
	e.bare = worker.New(e.c, bareQueue, o.Worker.WorkerOptions())
	e.bare.RegisterWorkflowWithOptions(BareWorkflow, workflow.RegisterOptions{Name: "BareWorkflow"})
	e.bare.RegisterActivity(&bareActivities{rec: &e.bareRec})
	if err := e.w.Start(); err != nil {
		e.close()
		return nil, err
	}
	if err := e.bare.Start(); err != nil {
		e.close()
		return nil, err
	}
	e.api = api.New(e.c, e.cfg)
	e.api.UseOrgDirectory(opener.Sealer(), nil) // as the starter and the HTTP API do
	if err := e.putHerdOrgs(ctx); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// putHerdOrgs writes the herd's sibling organisations (herd-orgs: bench-001 … bench-099) through the Go API, as a
// vendor onboards a tenant at run time, with the settings of the file's bench organisation: the worker reads them
// through its organisation directory at send time and signs their webhooks with the sealed secret.
func (e *env) putHerdOrgs(ctx context.Context) error {
	offset, spread := config.Duration(herdOffset), config.Duration(e.o.Spread)
	auto, attempts := true, 3
	for i := 1; i < e.o.orgs; i++ {
		doc := &config.Org{ID: e.o.herdOrg(i), Platform: appt.Genesys, EmailFrom: benchFrom, SMSFrom: "+15550000000",
			ReminderOffsets: []config.Duration{offset}, AutoActivate: &auto, MaxAttempts: &attempts,
			ReminderSpread: &spread, AllowPrivateWebhookAddresses: true,
			Webhooks: []config.Webhook{{URL: e.sinks.httpURL + "/hooks", Secret: benchSecret}}}
		if _, err := e.api.PutOrg(ctx, "bench", doc, nil); err != nil {
			return fmt.Errorf("writing organisation %s through the API: %w", doc.ID, err)
		}
	}
	return nil
}

func (e *env) close() {
	if e.w != nil {
		e.w.Stop()
	}
	if e.bare != nil {
		e.bare.Stop()
	}
	if e.acts != nil {
		e.acts.Close()
	}
	if e.stopSupp != nil {
		e.stopSupp()
	}
	if e.c != nil {
		e.c.Close()
	}
	if e.srv != nil {
		e.srv.Stop()
	}
	if e.sinks != nil {
		e.sinks.close()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
	if e.series != nil {
		e.series.close()
	}
}

// parallel runs f(i) for i in [0, n) on c goroutines and returns the first error.
func parallel(n, c int, f func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(ctx context.Context, deadline time.Time, cond func() bool) bool {
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// counters is a client.MetricsHandler that keeps the workflow's notification counters in memory, so the bench can
// count skipped_missed without querying every workflow.
type counters struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *counters) dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %d\n", k, c.m[k])
	}
	return b.String()
}

func (c *counters) get(key string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}

type metricsHandler struct {
	c    *counters
	all  *sdkStats
	tags map[string]string
}

func (h *metricsHandler) WithTags(t map[string]string) client.MetricsHandler {
	m := make(map[string]string, len(h.tags)+len(t))
	for k, v := range h.tags {
		m[k] = v
	}
	for k, v := range t {
		m[k] = v
	}
	return &metricsHandler{c: h.c, all: h.all, tags: m}
}

func (h *metricsHandler) Counter(name string) client.MetricsCounter {
	if name != workflows.NotificationsMetric {
		if h.all == nil {
			return client.MetricsNopHandler.Counter(name)
		}
		return sdkCounter{s: h.all, name: name}
	}
	keys := make([]string, 0, len(h.tags))
	for k := range h.tags {
		if k == "type" || k == "channel" || k == "status" {
			keys = append(keys, k+"="+h.tags[k])
		}
	}
	sort.Strings(keys)
	return &counter{c: h.c, key: strings.Join(keys, ",")}
}

func (h *metricsHandler) Gauge(name string) client.MetricsGauge {
	if h.all == nil {
		return client.MetricsNopHandler.Gauge(name)
	}
	return sdkGauge{s: h.all, name: name}
}
func (h *metricsHandler) Timer(name string) client.MetricsTimer {
	if h.all == nil {
		return client.MetricsNopHandler.Timer(name)
	}
	return sdkTimer{s: h.all, name: name}
}

type counter struct {
	c   *counters
	key string
}

func (c *counter) Inc(n int64) {
	c.c.mu.Lock()
	c.c.m[c.key] += n
	c.c.mu.Unlock()
}

func countKey(t appt.NotificationType, ch appt.Channel, st appt.DeliveryStatus) string {
	return "channel=" + string(ch) + ",status=" + string(st) + ",type=" + string(t)
}

// BareWorkflow is the engine's baseline: sleep until a time, then run one no-op activity (or run it at once).
func BareWorkflow(ctx workflow.Context, until time.Time) error {
	if d := until.Sub(workflow.Now(ctx)); d > 0 {
		if err := workflow.Sleep(ctx, d); err != nil {
			return err
		}
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	return workflow.ExecuteActivity(ctx, "Noop").Get(ctx, nil)
}

type bareActivities struct{ rec *recorder }

// Noop records when it ran.
func (b *bareActivities) Noop(ctx context.Context) error {
	b.rec.add("", time.Now())
	return nil
}

// dynamicValue reads a --dc value as the first type it parses as: int, float,
// bool, duration, else string.
func dynamicValue(v string) any {
	if i, err := strconv.Atoi(v); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f
	}
	if b, err := strconv.ParseBool(v); err == nil {
		return b
	}
	if d, err := time.ParseDuration(v); err == nil {
		return d
	}
	return v
}
