// Package workerapp is the worker command: it loads the config, starts the embedded Temporal server (or connects to
// a cluster named by TEMPORAL_ADDRESS), and runs the apptnotify workflows and activities until it is told to stop.
package workerapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/common/dynamicconfig"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/devserver"
	"github.com/apptnotify/apptnotify/internal/orgs"
	"github.com/apptnotify/apptnotify/internal/receipts"
	"github.com/apptnotify/apptnotify/internal/suppress"
	"github.com/apptnotify/apptnotify/internal/templates"
	"github.com/apptnotify/apptnotify/workflows"
)

// Options are the worker's flags.
type Options struct {
	ConfigPath string
	DataDir    string
	Port       int
	UIPort     int
	Metrics    string // host:port of the Prometheus endpoint; empty = off
	LogLevel   slog.Level
	// RemoteDelivery sends fan-outs as regular activities (see activities.OrgPolicy.RemoteDelivery).
	RemoteDelivery bool
	// CallbackListen is host:port of the Twilio status-callback listener (POST /twilio/status); empty = off.
	CallbackListen string
	// Tuning (issue 6 measures these).
	WorkflowPollers, ActivityPollers int
	MaxConcurrentWorkflowTasks       int
	MaxConcurrentActivities          int
	StickyCacheSize                  int
	StickyTimeout                    time.Duration
	HistoryShards                    int32
	// HistoryCacheSize is the embedded server's mutable-state cache (dynamic config history.hostLevelCacheMaxSize),
	// in workflows.
	HistoryCacheSize int
	// MemoryLimit is the process's soft memory limit in bytes (GOMEMLIMIT), 0 for none; SizeCaches sizes the
	// caches from it unless their flags were given.
	MemoryLimit int64
	// Plaintext writes payloads to Temporal unencrypted (--plaintext-history).
	Plaintext bool
	// CodecPort serves the codec endpoint; -1 (the default) means codec.DefaultPort with the embedded server and
	// off (0) on a cluster.
	CodecPort         int
	CodecIP           string
	CodecCORSOrigin   string // default: the embedded Web UI's origin
	CodecOIDCIssuer   string
	CodecOIDCAudience string
	// CodecNoToken lets a worker on a cluster serve the codec endpoint without APPTNOTIFY_CODEC_TOKEN, as the
	// embedded server's worker does: development only (docker-compose.yml's codec service, published on localhost).
	CodecNoToken bool
	// ClusterWait is how long a worker on a cluster waits for the frontend and the namespace at start (0: it gives
	// up at the first failure); see dialCluster.
	ClusterWait time.Duration
}

// Worker defaults, measured by the bench (docs/performance.md): the SDK's 2 pollers serialise a herd's dispatch;
// a sticky cache smaller than the herd replays whole histories; the SDK's 5 s sticky timeout sends a herd's
// backlogged tasks to the normal queue, where each one costs a timeout, a second dispatch and a full replay; one
// history shard serialises the embedded server's persistence (one write at a time per shard).
const (
	// DefaultWorkflowPollers is the workflow task pollers with the embedded server. A herd's timers fire through
	// the same history shards and SQLite connection that start and complete its workflow tasks, and each side gets
	// a share roughly in proportion to how many requests it has waiting: the server's 512 timer-queue workers
	// against 16 pollers left the tasks a small share of the writes while the timers fired (20,000 herds sent 430
	// to 724 reminders in their first 30 s). 128 pollers raised that to 2,069 and 2,861; 512 cost more CPU than
	// they gained (docs/performance.md#what-changed).
	DefaultWorkflowPollers = 128
	// ClusterWorkflowPollers is the default on a cluster, where the history service and its database have hosts
	// of their own; more pollers there were not measured, and each worker adds its own.
	ClusterWorkflowPollers = 16
	DefaultActivityPollers = 8
	DefaultStickyCache     = 20000
	// DefaultStickyTimeout is the longest a reminder can usefully wait: the spread plus the tolerance. A workflow
	// task that waited that long on its worker's sticky queue can only be a missed reminder, so the timeout never
	// re-dispatches a task that could still be sent on time (docs/performance.md#the-cause-of-the-cliff).
	DefaultStickyTimeout = workflows.MaxReminderSpread + workflows.ReminderTolerance
	// ClusterStickyTimeout is the default on a cluster, where other workers can take a task: a killed worker's
	// queued tasks move to them after at most this long, early enough for a reminder's tolerance.
	ClusterStickyTimeout = 20 * time.Second
	DefaultHistoryShards = 8
	// DefaultGCPercent replaces Go's GOGC=100 unless GOGC is set: a herd allocates fast, and collecting half as
	// often cut its CPU by about a quarter for about 1.5x the memory (docs/performance.md).
	DefaultGCPercent = 200
)

// TuneGC sets the garbage collector to DefaultGCPercent unless the environment sets GOGC (which then wins, as
// usual). It returns the GOGC in force, as text.
func TuneGC(getenv func(string) string) string {
	if v := getenv("GOGC"); v != "" {
		return v
	}
	debug.SetGCPercent(DefaultGCPercent)
	return strconv.Itoa(DefaultGCPercent)
}

// SearchAttributes are the custom search attributes the appointment workflow upserts.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	appt.SearchAttrOrg:   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	appt.SearchAttrState: enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	appt.SearchAttrStart: enumspb.INDEXED_VALUE_TYPE_DATETIME,
	// Set at start by the starter and the API (docs/security.md#erasure).
	appt.SearchAttrAddressHashes: enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}

// ParseFlags parses the worker's command line.
func ParseFlags(args []string, getenv func(string) string) (Options, error) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := Options{}
	var level string
	fs.StringVar(&o.ConfigPath, "config", "", "config file (or $"+config.EnvVar+"); none runs the demo organisation")
	fs.StringVar(&o.DataDir, "data-dir", ".data", "where the embedded Temporal server keeps its SQLite file, and the callback listener its receipt spool")
	fs.IntVar(&o.Port, "port", devserver.DefaultPort, "embedded Temporal frontend port")
	fs.IntVar(&o.UIPort, "ui-port", devserver.DefaultUIPort, "embedded Temporal Web UI port (0: no UI)")
	fs.StringVar(&o.Metrics, "metrics", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:9090")
	fs.StringVar(&o.CallbackListen, "callback-listen", "", "serve Twilio status callbacks (POST "+config.StatusCallbackPath+") on this address, e.g. 127.0.0.1:8088; needs twilio.status_callback_url")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&o.WorkflowPollers, "workflow-pollers", 0, "workflow task pollers (default: 128 with the embedded server, 16 on a cluster)")
	fs.IntVar(&o.ActivityPollers, "activity-pollers", DefaultActivityPollers, "activity task pollers (0: the SDK default, 2)")
	fs.IntVar(&o.MaxConcurrentWorkflowTasks, "max-workflow-tasks", 0, "concurrent workflow tasks (0: the SDK default)")
	fs.IntVar(&o.MaxConcurrentActivities, "max-activities", 0, "concurrent activities (0: the SDK default)")
	fs.IntVar(&o.StickyCacheSize, "sticky-cache", DefaultStickyCache, "workflows cached between tasks (0: the SDK default, 10000)")
	fs.DurationVar(&o.StickyTimeout, "sticky-timeout", 0, "how long a workflow task waits for its cached worker before any worker takes it (default: 1m30s with the embedded server, 20s on a cluster)")
	fs.IntVar(&o.HistoryCacheSize, "history-cache", DefaultHistoryCache, "embedded server: workflow states cached between tasks")
	fs.Func("memory-limit", "soft memory limit of the process, e.g. 2GiB: sets GOMEMLIMIT and sizes both caches from it (explicit --sticky-cache and --history-cache win)", func(v string) error {
		n, err := ParseMemoryLimit(v)
		o.MemoryLimit = n
		return err
	})
	var shards int
	fs.IntVar(&shards, "history-shards", DefaultHistoryShards, "history shards of the embedded server (fixed when its database is created)")
	fs.BoolVar(&o.Plaintext, codec.PlaintextFlag, false, "write payloads to Temporal unencrypted (not for customer data)")
	fs.IntVar(&o.CodecPort, "codec-port", -1, "codec endpoint port for the Web UI and CLI (default 8234 with the embedded server, off with TEMPORAL_ADDRESS; 0: off)")
	fs.StringVar(&o.CodecIP, "codec-ip", "127.0.0.1", "codec endpoint bind address")
	fs.StringVar(&o.CodecCORSOrigin, "codec-cors-origin", "", "the one browser origin allowed to call the codec endpoint (default: the embedded Web UI's)")
	fs.StringVar(&o.CodecOIDCIssuer, "codec-oidc-issuer", "", "also accept OIDC access tokens of this issuer at the codec endpoint")
	fs.StringVar(&o.CodecOIDCAudience, "codec-oidc-audience", "", "the audience those tokens must carry (default: not checked)")
	fs.BoolVar(&o.CodecNoToken, "codec-no-token", false, "development only: serve the codec endpoint on a cluster without "+codec.TokenEnv)
	clusterWait := DefaultClusterWait
	if v := getenv(ClusterWaitEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return o, fmt.Errorf("%s: %q is not a duration such as 5m (0: do not wait)", ClusterWaitEnv, v)
		}
		clusterWait = d
	}
	fs.DurationVar(&o.ClusterWait, "cluster-wait", clusterWait, "on a cluster: how long to wait at start for the frontend and the namespace, e.g. 10m (or $"+ClusterWaitEnv+"; 0: do not wait)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := o.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return o, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	if o.Port < 1 || o.Port > 65535 || o.UIPort < 0 || o.UIPort > 65535 {
		return o, errors.New("--port and --ui-port must be port numbers")
	}
	if o.CodecPort < -1 || o.CodecPort > 65535 {
		return o, errors.New("--codec-port must be a port number, or 0 for none")
	}
	if o.ClusterWait < 0 {
		return o, errors.New("--cluster-wait must be 0 or more")
	}
	if net.ParseIP(o.CodecIP) == nil {
		return o, fmt.Errorf("--codec-ip: %q is not an IP address", o.CodecIP)
	}
	o.HistoryShards = int32(shards)
	if o.StickyCacheSize < 0 || o.HistoryCacheSize < 0 {
		return o, errors.New("--sticky-cache and --history-cache must be 0 or more")
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	o.SizeCaches(explicit["sticky-cache"], explicit["history-cache"])
	if o.ConfigPath == "" {
		o.ConfigPath = getenv(config.EnvVar)
	}
	return o, nil
}

// Main runs the worker command and returns its exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := ParseFlags(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "usage: worker [--config FILE] [--data-dir .data] [--port 7233] [--ui-port 8233] [--metrics 127.0.0.1:9090] [--callback-listen 127.0.0.1:8088] [--cluster-wait 5m]")
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "error: "+err.Error())
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.LogLevel}))
	TuneGC(getenv)
	if err := Run(ctx, o, getenv, logger, stdout); err != nil {
		fmt.Fprintln(stderr, "error: "+strings.Join(strings.Fields(err.Error()), " "))
		var fe *appt.FieldError
		if errors.Is(err, codec.ErrNoKeys) || errors.As(err, &fe) {
			return 2
		}
		return 1
	}
	return 0
}

// Run runs the worker until ctx is done, then stops gracefully: the worker finishes its tasks in flight, and the
// embedded server, if any, shuts down after it.
func Run(ctx context.Context, o Options, getenv func(string) string, logger *slog.Logger, stdout io.Writer) error {
	cfg, err := config.Resolve(o.ConfigPath, getenv)
	if err == nil {
		err = cfg.ResolveSecrets(getenv)
	}
	if err != nil {
		return err
	}
	tpl, err := templates.Load(cfg)
	if err != nil {
		return err
	}
	if err := checkCallbackListen(o, cfg); err != nil {
		return err
	}
	var sp *receipts.Spool
	if o.CallbackListen != "" {
		// Receipts that arrive while Temporal cannot be reached wait in <data-dir>/receipts.spool, and are
		// forwarded when it answers again (docs/calendar-and-receipts.md). Opened first, before anything starts:
		// a second worker on the same --data-dir stops here (the spool is locked), with nothing started.
		if sp, err = receipts.OpenSpool(filepath.Join(o.DataDir, receipts.SpoolFileName), receipts.DefaultSpoolMax); err != nil {
			return fmt.Errorf("--callback-listen: %w", err)
		}
		defer sp.Close()
		if n := sp.Len(); n > 0 {
			logger.Info("receipt spool: receipts from an earlier run wait to be forwarded", "pending", n)
		}
		if n := sp.SetAside(); n > 0 {
			logger.Warn("receipt spool: damaged lines set aside, not forwarded", "lines", n, "file", sp.Path()+receipts.BadSuffix)
		}
	}
	embedded := getenv("TEMPORAL_ADDRESS") == ""
	ring, codecEP, err := startCodec(ctx, o, embedded, getenv, logger)
	if err != nil {
		return err
	}
	if codecEP != nil {
		defer codecEP.Close()
		fmt.Fprintf(stdout, "apptnotify: codec endpoint at http://%s (the Web UI decodes through it)\n", codecEP.Addr())
	}
	copts := client.Options{}
	o.ResolveServerDefaults(embedded)
	o.ApplyProcessSettings()
	if embedded {
		dopts := devserver.Options{
			DataDir: o.DataDir, IP: devserver.DefaultIP, Port: o.Port, UIPort: o.UIPort,
			Namespace: devserver.DefaultNamespace, SearchAttributes: SearchAttributes,
			NumHistoryShards: o.HistoryShards, Logger: logger,
		}
		if o.HistoryCacheSize > 0 {
			dopts.DynamicConfig = map[dynamicconfig.Key]any{dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): o.HistoryCacheSize}
		}
		if codecEP != nil {
			dopts.CodecEndpoint = "http://" + reachable(codecEP.Addr())
		}
		srv, err := devserver.Start(ctx, dopts)
		if err != nil {
			return fmt.Errorf("starting the embedded Temporal server: %w", err)
		}
		defer srv.Stop()
		copts.HostPort = srv.FrontendAddress()
		copts.Namespace = srv.Namespace()
		// Loopback inside one process: gzip would only burn CPU (~4 % of a herd's).
		copts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
		fmt.Fprintf(stdout, "apptnotify: embedded Temporal server at %s (data in %s)\n", srv.FrontendAddress(), o.DataDir)
		if srv.UIAddress() != "" {
			fmt.Fprintf(stdout, "apptnotify: Temporal Web UI at %s\n", srv.UIAddress())
		}
	} else {
		if copts, err = api.ClientOptionsWithKeys(nil); err != nil { // encryption is set below, with the worker's reporter
			return err
		}
		fmt.Fprintf(stdout, "apptnotify: connecting to the Temporal cluster at %s\n", copts.HostPort)
	}
	copts.Logger = log.NewStructuredLogger(logger)
	if o.Metrics != "" {
		h, stop, addr, err := serveMetrics(o.Metrics, logger, orgIDs(cfg))
		if err != nil {
			return err
		}
		defer stop()
		copts.MetricsHandler = h
		fmt.Fprintf(stdout, "apptnotify: Prometheus metrics at http://%s/metrics\n", addr)
	}
	api.Encrypt(&copts, ring, &codec.LogReporter{Logger: logger, Metrics: copts.MetricsHandler})
	var c client.Client
	if embedded {
		if c, err = client.DialContext(ctx, copts); err != nil {
			return fmt.Errorf("connecting to Temporal at %s: %w", copts.HostPort, err)
		}
	} else if c, err = dialCluster(ctx, copts, o.ClusterWait, logger); err != nil {
		return err
	}
	defer c.Close()
	supp, stopSupp, err := StartSuppressions(cfg, o.DataDir, embedded, getenv, c, logger)
	if err != nil {
		return err
	}
	defer stopSupp()
	acts, err := activities.NewActivities(cfg, tpl, c)
	if err != nil {
		return err
	}
	acts.RemoteDelivery = o.RemoteDelivery
	if err := OrgDirectory(acts, cfg, tpl, getenv, o.DataDir, embedded, logger); err != nil {
		return err
	}
	if supp != nil {
		// Organisations written through the API have suppression lists too: the list finds them through the
		// directory, and routes STOP and START by the sender numbers of every organisation.
		supp.Orgs = acts.Orgs
		senders := orgs.NewSenders(cfg, acts.Orgs, apiRevisions(c, cfg, ring))
		senders.Logger = logger
		supp.Senders = senders
		acts.Suppressions = supp
		if o.CallbackListen != "" { // it routes STOP and START: build its index before the first one arrives
			go func() {
				if err := senders.Warm(ctx); err != nil && ctx.Err() == nil {
					logger.Warn("the SMS sender index could not be built at start; the first STOP builds it", "error", err.Error())
				}
			}()
		}
	}
	if o.CallbackListen != "" {
		h, err := receipts.NewHandler(cfg.Twilio.StatusCallbackURL, cfg.Twilio.AuthToken, c, logger)
		if err != nil {
			return err
		}
		if supp != nil {
			if err := h.SetOptOuts(supp); err != nil {
				return err
			}
			h.Handle(config.EventsPath, suppress.NewRelays(supp, logger))
		}
		sp.SetMetrics(copts.MetricsHandler)
		h.SetSpool(sp)
		fctx, stopForward := context.WithCancel(context.Background())
		forwarded := make(chan struct{})
		go func() {
			defer close(forwarded)
			sp.Forward(fctx, c, logger, receipts.ForwardOptions{})
		}()
		defer func() { stopForward(); <-forwarded }()
		ls, err := receipts.Listen(o.CallbackListen, h)
		if err != nil {
			return fmt.Errorf("--callback-listen: %w", err)
		}
		defer ls.Close()
		fmt.Fprintf(stdout, "apptnotify: Twilio status callbacks at http://%s%s (public URL %s)\n", ls.Addr(),
			config.StatusCallbackPath, cfg.Twilio.StatusCallbackURL)
	}
	er, err := newErasure(ctx, c, copts.Namespace, ring, acts, embedded, o.DataDir, getenv)
	if err != nil {
		return err
	}
	w := worker.New(c, appt.TaskQueue, o.WorkerOptions())
	workflows.Register(w)
	activities.Register(w, acts)
	activities.RegisterErasure(w, er)
	if err := w.Start(); err != nil {
		return fmt.Errorf("starting the worker: %w", err)
	}
	fmt.Fprintf(stdout, "apptnotify: worker polling task queue %q with %d organisation(s)\n", appt.TaskQueue, len(cfg.Organizations))
	go warnAutoActivate(ctx, api.New(c, cfg), cfg, logger)
	<-ctx.Done()
	logger.Info("stopping: finishing the tasks in flight")
	w.Stop()
	acts.Close()
	return nil
}

// startCodec resolves the worker's key ring and, when the worker has a codec port, starts the codec endpoint.
// With the embedded server and no APPTNOTIFY_ENCRYPTION_KEYS, the ring is <data-dir>/encryption-keys, created on
// the first start; on a cluster only the variable counts. A cluster worker with a codec port requires
// APPTNOTIFY_CODEC_TOKEN.
func startCodec(ctx context.Context, o Options, embedded bool, getenv func(string) string, logger *slog.Logger) (*codec.KeyRing, *codec.Endpoint, error) {
	src := codec.Source{Getenv: getenv, Plaintext: o.Plaintext}
	if embedded {
		src.KeyFile, src.CreateKeyFile = filepath.Join(o.DataDir, codec.KeyFileName), true
		src.DataKeysFile, src.CreateDataKeys = filepath.Join(o.DataDir, codec.DataKeysFileName), true
	}
	ring, from, err := src.Resolve(time.Now())
	if err != nil {
		return nil, nil, err
	}
	if ring == nil {
		logger.Warn("--" + codec.PlaintextFlag + ": payloads go to Temporal unencrypted, customer data included; the codec endpoint is off")
		return nil, nil, nil
	}
	logger.Info("payload encryption on", "keys", from, "encryptsWith", ring.IDs()[0], "keyIds", strings.Join(ring.IDs(), ","),
		"dataKeysPerAppointment", ring.DataKeys() != nil)
	if ring.DataKeys() == nil {
		logger.Warn(codec.DataKeysEnv + " is not set: appointments are sealed with the key ring alone, so an erasure deletes their histories but cannot crypto-shred copies of them (docs/security.md#erasure)")
	}
	port := o.CodecPort
	if port < 0 {
		port = 0
		if embedded {
			port = codec.DefaultPort
		}
	}
	if port == 0 {
		return ring, nil, nil
	}
	eo := codec.EndpointOptions{Token: getenv(codec.TokenEnv), AllowedOrigin: o.CodecCORSOrigin}
	if !embedded && eo.Token == "" && !o.CodecNoToken {
		return nil, nil, &appt.FieldError{Field: "--codec-port", Msg: codec.TokenEnv + " is not set: a codec endpoint on a cluster requires a token (or --codec-port 0; --codec-no-token for development only)"}
	}
	if eo.AllowedOrigin == "" && embedded && o.UIPort > 0 {
		eo.AllowedOrigin = "http://" + net.JoinHostPort(devserver.DefaultIP, strconv.Itoa(o.UIPort))
	}
	if o.CodecOIDCIssuer != "" {
		if eo.Verifier, err = codec.NewOIDCVerifier(ctx, o.CodecOIDCIssuer, o.CodecOIDCAudience); err != nil {
			return nil, nil, err
		}
	}
	if eo.Open() {
		logger.Warn("the codec endpoint needs no token (local development only); set " + codec.TokenEnv + " to require one")
	}
	ep, err := codec.Listen(net.JoinHostPort(o.CodecIP, strconv.Itoa(port)), "codec-port", codec.Handler(codec.New(ring, nil).WithErasedPlaceholders(), eo), logger)
	if err != nil {
		return nil, nil, err
	}
	return ring, ep, nil
}

// reachable turns a listener's address into one a browser on the same host can reach (0.0.0.0 → 127.0.0.1).
func reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = devserver.DefaultIP
	}
	return net.JoinHostPort(host, port)
}

// checkCallbackListen stops the worker at start when --callback-listen is set without the config it needs: the
// public URL Twilio signs (twilio.status_callback_url) and the auth token that verifies the signature (read with
// the other Twilio secrets; see config.Config.resolveCallbackToken).
func checkCallbackListen(o Options, cfg *config.Config) error {
	if o.CallbackListen == "" {
		return nil
	}
	if cfg.Twilio.StatusCallbackURL == "" {
		return &appt.FieldError{Field: "config: twilio.status_callback_url", Msg: "is required with --callback-listen (the public URL Twilio calls and signs)"}
	}
	if cfg.Twilio.AuthToken == "" {
		return &appt.FieldError{Field: "config: twilio.auth_token_env", Msg: "--callback-listen needs a non-empty Twilio auth token to verify signatures"}
	}
	return nil
}

// WorkerOptions are the SDK worker options the tuning flags give.
func (o Options) WorkerOptions() worker.Options {
	wo := worker.Options{}
	if o.WorkflowPollers > 0 {
		wo.MaxConcurrentWorkflowTaskPollers = o.WorkflowPollers
	}
	if o.ActivityPollers > 0 {
		wo.MaxConcurrentActivityTaskPollers = o.ActivityPollers
	}
	if o.MaxConcurrentWorkflowTasks > 0 {
		wo.MaxConcurrentWorkflowTaskExecutionSize = o.MaxConcurrentWorkflowTasks
	}
	if o.MaxConcurrentActivities > 0 {
		wo.MaxConcurrentActivityExecutionSize = o.MaxConcurrentActivities
		wo.MaxConcurrentLocalActivityExecutionSize = o.MaxConcurrentActivities
	}
	if o.StickyTimeout > 0 {
		wo.StickyScheduleToStartTimeout = o.StickyTimeout
	}
	return wo
}

// stickyTimeout is --sticky-timeout, or its default: DefaultStickyTimeout with the embedded server (one worker: a
// timeout could only hand the task back to the same busy worker, at the price of a full replay) and
// ClusterStickyTimeout on a cluster (other workers can take over from a dead one).
func (o Options) stickyTimeout(embedded bool) time.Duration {
	switch {
	case o.StickyTimeout > 0:
		return o.StickyTimeout
	case embedded:
		return DefaultStickyTimeout
	default:
		return ClusterStickyTimeout
	}
}

// ResolveServerDefaults replaces the defaults that depend on the server (0 in the options) with their values:
// the sticky timeout and the workflow pollers, each larger with the embedded server than on a cluster.
func (o *Options) ResolveServerDefaults(embedded bool) {
	o.StickyTimeout = o.stickyTimeout(embedded)
	o.WorkflowPollers = o.workflowPollers(embedded)
}

// workflowPollers is --workflow-pollers, or its default: DefaultWorkflowPollers with the embedded server and
// ClusterWorkflowPollers on a cluster.
func (o Options) workflowPollers(embedded bool) int {
	switch {
	case o.WorkflowPollers > 0:
		return o.WorkflowPollers
	case embedded:
		return DefaultWorkflowPollers
	default:
		return ClusterWorkflowPollers
	}
}

// ApplyProcessSettings sets what the options decide for the whole process: the SDK's sticky cache size (shared by
// every worker in the process) and the soft memory limit. Call it before the embedded server starts: the server's
// own system workers create the SDK's shared cache when they start, and a size set after that is silently ignored.
func (o Options) ApplyProcessSettings() {
	if o.StickyCacheSize > 0 {
		worker.SetStickyWorkflowCacheSize(o.StickyCacheSize)
	}
	o.applyMemoryLimit()
}

// warnAutoActivate logs a warning for every organisation whose config says auto_activate: false while its live
// setting is on: auto-activate is one-way, so the config changes nothing (docs/rules.md#flags).
func warnAutoActivate(ctx context.Context, c *api.Client, cfg *config.Config, logger *slog.Logger) {
	for i := range cfg.Organizations {
		o := &cfg.Organizations[i]
		if *o.AutoActivate {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := c.OrgSettings(qctx, o.ID)
		cancel()
		if err == nil && s.AutoActivate {
			logger.Warn("auto_activate: false in the config is ignored: auto-activate is already on for the organisation and cannot be turned off",
				"org", o.ID)
		}
	}
}

// serveMetrics exposes the SDK's metrics and apptnotify's own (internal/metrics, PrometheusMetrics) on a Prometheus
// endpoint.
func serveMetrics(addr string, logger *slog.Logger, orgs []string) (client.MetricsHandler, func(), string, error) {
	pm, err := PrometheusMetrics(nil, orgs)
	if err != nil {
		return nil, nil, "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pm.Close()
		return nil, nil, "", fmt.Errorf("--metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", pm.HTTPHandler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics endpoint stopped", "error", err)
		}
	}()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		pm.Close()
	}
	return pm.Handler, stop, ln.Addr().String(), nil
}
