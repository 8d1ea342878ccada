// Package devserver runs an embedded, file-backed Temporal server (SQLite)
// plus the Temporal Web UI inside the worker process, like
// `temporal server start-dev --db-filename`.
//
// State lives in <DataDir>/temporal.db (WAL journal, synchronous=NORMAL), so
// stopping and starting again on the same DataDir resumes every workflow.
// With Options.Postgres, state lives in PostgreSQL instead (postgres.go).
package devserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/proto"
)

// Defaults used when the corresponding Options field is zero.
const (
	DefaultIP        = "127.0.0.1"
	DefaultPort      = 7233
	DefaultUIPort    = 8233 // UIPort has no zero default: 0 means "no UI"; see DefaultOptions.
	DefaultNamespace = "default"
	// DBFileName is the SQLite file created inside Options.DataDir.
	DBFileName = "temporal.db"

	clusterName = "active"
	// startTimeout bounds the wait for readiness when ctx has no deadline.
	startTimeout = 2 * time.Minute
)

// Options configures Start. The zero value of every field except DataDir has
// a usable default; note that UIPort <= 0 disables the UI.
type Options struct {
	// DataDir holds the SQLite database (DataDir/temporal.db). Created if
	// missing. Required, unless Postgres is set.
	DataDir string
	// Postgres, when set, stores everything in PostgreSQL instead of SQLite;
	// DataDir and ConnectAttributes are then not used. See PostgresOptions.
	Postgres *PostgresOptions
	// IP the frontend (and UI) listen on. Default 127.0.0.1. The history,
	// matching and worker services always listen on 127.0.0.1.
	IP string
	// Port is the frontend gRPC port. Default 7233.
	Port int
	// UIPort is the Web UI's HTTP port. 0 or negative: no UI.
	UIPort int
	// Namespace is created if missing. Default "default".
	Namespace string
	// SearchAttributes are registered on Namespace (idempotently). A name that
	// is already registered with another type is an error.
	SearchAttributes map[string]enumspb.IndexedValueType
	// NumHistoryShards is used when the database is created (default 1). On
	// an existing database the persisted value wins (the server logs a
	// warning if they differ).
	NumHistoryShards int32
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// LogLevel is the minimum level forwarded from the server to Logger.
	// Default slog.LevelWarn, so the console stays quiet.
	LogLevel slog.Leveler
	// DynamicConfig overrides server dynamic config, e.g.
	// {dynamicconfig.HistoryPersistenceMaxQPS.Key(): 5000}. A value may be
	// a plain value or a []dynamicconfig.ConstrainedValue.
	DynamicConfig map[dynamicconfig.Key]any
	// ConnectAttributes are added to (and override) the SQLite connect
	// attributes. Non-URI keys become pragmas. Defaults: mode=rwc,
	// journal_mode=wal, synchronous=NORMAL.
	ConnectAttributes map[string]string
	// SQLiteMaxConns is the size of the SQLite connection pool. 0: one
	// connection (SQLite has a single writer).
	SQLiteMaxConns int
	// MetricsPort, when > 0, serves Prometheus metrics on IP:MetricsPort/metrics.
	MetricsPort int
	// CodecEndpoint, when set, is the codec endpoint (http://host:port) the Web UI decodes payloads through.
	CodecEndpoint string
}

// DefaultOptions returns the options of docs/rules.md#the-worker: 127.0.0.1:7233, UI on 8233,
// namespace "default", data in dataDir.
func DefaultOptions(dataDir string) Options {
	return Options{
		DataDir:   dataDir,
		IP:        DefaultIP,
		Port:      DefaultPort,
		UIPort:    DefaultUIPort,
		Namespace: DefaultNamespace,
	}
}

// Server is a running embedded Temporal server. Stop it with Stop.
type Server struct {
	opts         Options
	dbPath       string
	frontendAddr string
	uiAddr       string
	ports        map[string]int
	logger       *slog.Logger

	srv    temporal.Server
	ui     *uiserver.Server
	uiDone chan struct{}

	stopOnce sync.Once
	quiet    atomic.Bool
}

// Start starts the server and returns once the frontend answers for the
// namespace, the search attributes are registered and (if enabled) the UI
// answers. Stop it with Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}

	s := &Server{opts: opts, logger: opts.Logger, ports: map[string]int{}}
	dialHost := dialHostFor(opts.IP)
	s.frontendAddr = net.JoinHostPort(dialHost, strconv.Itoa(opts.Port))
	if opts.UIPort > 0 {
		s.uiAddr = "http://" + net.JoinHostPort(dialHost, strconv.Itoa(opts.UIPort))
	}

	// Ports: fail early and clearly if a requested port is taken (the
	// server's listener would otherwise "fatal" and the UI would os.Exit).
	if err := checkPortFree("Temporal frontend", opts.IP, opts.Port); err != nil {
		return nil, err
	}
	if opts.UIPort > 0 {
		if opts.UIPort == opts.Port {
			return nil, fmt.Errorf("devserver: UI port and frontend port are both %d", opts.Port)
		}
		if err := checkPortFree("Temporal Web UI", opts.IP, opts.UIPort); err != nil {
			return nil, err
		}
	}
	if opts.MetricsPort > 0 {
		if err := checkPortFree("Temporal metrics", opts.IP, opts.MetricsPort); err != nil {
			return nil, err
		}
	}
	exclude := map[int]bool{opts.Port: true, opts.UIPort: true, opts.MetricsPort: true}
	httpPort, err := freePorts(opts.IP, 1, exclude)
	if err != nil {
		return nil, err
	}
	exclude[httpPort[0]] = true
	internal, err := freePorts(internalHost, 3, exclude)
	if err != nil {
		return nil, err
	}
	s.ports["frontend"] = opts.Port
	s.ports["frontend-http"] = httpPort[0]
	s.ports["history"] = internal[0]
	s.ports["matching"] = internal[1]
	s.ports["worker"] = internal[2]

	// Persistence: schema only for a new file, namespace if missing.
	var persistence config.Persistence
	if opts.Postgres != nil {
		persistence, err = s.preparePostgres(ctx)
	} else {
		var sqlCfg *config.SQL
		if sqlCfg, err = s.prepareDatabase(); err == nil {
			persistence = s.sqlitePersistence(sqlCfg)
		}
	}
	if err != nil {
		return nil, err
	}

	srv, err := temporal.NewServer(s.serverOptions(persistence)...)
	if err != nil {
		return nil, fmt.Errorf("devserver: creating Temporal server: %w", err)
	}
	s.srv = srv
	if err := srv.Start(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("devserver: starting Temporal server: %w", err)
	}

	if err := s.finishStart(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// finishStart waits for the frontend, registers search attributes and starts
// the UI.
func (s *Server) finishStart(ctx context.Context) error {
	if s.opts.Postgres != nil {
		// SQLite's namespace was created before the start; this one can
		// only be registered through the running frontend.
		if err := s.ensurePostgresNamespace(ctx); err != nil {
			return err
		}
	}
	c, err := waitForFrontend(ctx, s.frontendAddr, s.opts.Namespace)
	if err != nil {
		return err
	}
	defer c.Close()

	if err := registerSearchAttributes(ctx, c, s.opts.Namespace, s.opts.SearchAttributes, s.namespaceRefreshInterval()); err != nil {
		return err
	}

	if s.opts.UIPort > 0 {
		if err := s.startUI(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops the UI and the server. It is safe to call more than once.
// Stop SDK workers and clients that use the server first.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.quiet.Store(true)
		if s.ui != nil {
			s.ui.Stop()
			select {
			case <-s.uiDone:
			case <-time.After(10 * time.Second):
				s.logger.Warn("devserver: Web UI did not stop within 10s")
			}
		}
		if s.srv != nil {
			if err := s.srv.Stop(); err != nil {
				s.logger.Warn("devserver: stopping Temporal server", "error", err)
			}
		}
	})
}

// FrontendAddress is the host:port of the frontend gRPC service, suitable
// for client.Options.HostPort.
func (s *Server) FrontendAddress() string { return s.frontendAddr }

// UIAddress is the Web UI's base URL (http://IP:UIPort), or "" when the UI is
// disabled.
func (s *Server) UIAddress() string { return s.uiAddr }

// Namespace is the namespace that was created or found at start.
func (s *Server) Namespace() string { return s.opts.Namespace }

// DBPath is the absolute path of the SQLite database file ("" with Postgres).
func (s *Server) DBPath() string { return s.dbPath }

// Ports returns the ports in use, by role: frontend, frontend-http, history,
// matching, worker (and ui, metrics when enabled).
func (s *Server) Ports() map[string]int {
	out := make(map[string]int, len(s.ports)+2)
	for k, v := range s.ports {
		out[k] = v
	}
	if s.opts.UIPort > 0 {
		out["ui"] = s.opts.UIPort
	}
	if s.opts.MetricsPort > 0 {
		out["metrics"] = s.opts.MetricsPort
	}
	return out
}

const internalHost = "127.0.0.1"

func (o *Options) normalize() error {
	if o.Postgres != nil {
		p := *o.Postgres // don't write defaults into the caller's struct
		if err := p.normalize(); err != nil {
			return err
		}
		o.Postgres = &p
	} else if o.DataDir == "" {
		return errors.New("devserver: Options.DataDir is required")
	}
	if o.IP == "" {
		o.IP = DefaultIP
	}
	if net.ParseIP(o.IP) == nil {
		return fmt.Errorf("devserver: Options.IP %q is not an IP address", o.IP)
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("devserver: invalid frontend port %d", o.Port)
	}
	if o.UIPort > 65535 {
		return fmt.Errorf("devserver: invalid UI port %d", o.UIPort)
	}
	if o.MetricsPort > 65535 {
		return fmt.Errorf("devserver: invalid metrics port %d", o.MetricsPort)
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.NumHistoryShards <= 0 {
		o.NumHistoryShards = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogLevel == nil {
		o.LogLevel = slog.LevelWarn
	}
	return nil
}

// dialHostFor returns the address clients should dial for a listen IP.
func dialHostFor(ip string) string {
	if parsed := net.ParseIP(ip); parsed != nil && parsed.IsUnspecified() {
		return "127.0.0.1"
	}
	return ip
}

// prepareDatabase creates DataDir, sets up the schema when the DB file is
// new and creates the namespace when missing.
func (s *Server) prepareDatabase() (*config.SQL, error) {
	if err := os.MkdirAll(s.opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("devserver: creating data dir: %w", err)
	}
	dir, err := filepath.Abs(s.opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("devserver: data dir: %w", err)
	}
	s.dbPath = filepath.Join(dir, DBFileName)
	if strings.ContainsAny(s.dbPath, "?#") {
		return nil, fmt.Errorf("devserver: data dir path %q must not contain '?' or '#'", dir)
	}

	attrs := map[string]string{
		"mode": "rwc",
		// Applied as PRAGMAs by the sqlite plugin. Without these the file
		// store was measured ~3x slower. Do not prefix with "_".
		"journal_mode": "wal",
		"synchronous":  "NORMAL",
	}
	if s.opts.SQLiteMaxConns > 1 {
		// Several connections share one writer: wait for it instead of
		// failing with SQLITE_BUSY at once.
		attrs["busy_timeout"] = "10000"
	}
	for k, v := range s.opts.ConnectAttributes {
		attrs[k] = v
	}
	sqlCfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      s.dbPath,
		ConnectAttributes: attrs,
		MaxConns:          s.opts.SQLiteMaxConns,
		MaxIdleConns:      s.opts.SQLiteMaxConns,
	}

	if _, err := os.Stat(s.dbPath); errors.Is(err, os.ErrNotExist) {
		s.logger.Debug("devserver: creating SQLite schema", "path", s.dbPath)
		if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
			// Don't leave a half-initialised file that a restart would trust.
			for _, suffix := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(s.dbPath + suffix)
			}
			return nil, fmt.Errorf("devserver: setting up SQLite schema in %s: %w", s.dbPath, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	} else if n, err := persistedShardCount(s.dbPath); err == nil && n > 0 {
		// The shard count is fixed when the database is created; adopt it so
		// that a changed default does not log a mismatch on every start.
		s.opts.NumHistoryShards = n
	}

	// Seeding the search attributes into a new namespace makes them usable
	// from the first request; on an existing namespace this is a no-op and
	// registerSearchAttributes adds anything missing through the operator API.
	nsCfg, err := sqliteschema.NewNamespaceConfig(clusterName, s.opts.Namespace, false, s.opts.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(sqlCfg, nsCfg); err != nil {
		return nil, fmt.Errorf("devserver: creating namespace %q: %w", s.opts.Namespace, err)
	}
	return sqlCfg, nil
}

// sqlitePersistence uses the SQLite file for both stores.
func (s *Server) sqlitePersistence(sqlCfg *config.SQL) config.Persistence {
	const store = "sqlite-default"
	return config.Persistence{
		DefaultStore:     store,
		VisibilityStore:  store,
		NumHistoryShards: s.opts.NumHistoryShards,
		DataStores:       map[string]config.DataStore{store: {SQL: sqlCfg}},
	}
}

func (s *Server) serverConfig(persistence config.Persistence) *config.Config {
	frontendHTTP := net.JoinHostPort(dialHostFor(s.opts.IP), strconv.Itoa(s.ports["frontend-http"]))

	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = internalHost
	if s.opts.MetricsPort > 0 {
		conf.Global.Metrics = &metrics.Config{
			Prometheus: &metrics.PrometheusConfig{
				ListenAddress: net.JoinHostPort(s.opts.IP, strconv.Itoa(s.opts.MetricsPort)),
				HandlerPath:   "/metrics",
			},
		}
	}
	conf.Persistence = persistence
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             s.frontendAddr,
				HTTPAddress:            frontendHTTP,
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{
		"frontend": {RPC: config.RPC{GRPCPort: s.opts.Port, HTTPPort: s.ports["frontend-http"], BindOnIP: s.opts.IP}},
		"history":  {RPC: config.RPC{GRPCPort: s.ports["history"], BindOnIP: internalHost}},
		"matching": {RPC: config.RPC{GRPCPort: s.ports["matching"], BindOnIP: internalHost}},
		"worker":   {RPC: config.RPC{GRPCPort: s.ports["worker"], BindOnIP: internalHost}},
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = s.frontendAddr
	return &conf
}

func (s *Server) serverOptions(persistence config.Persistence) []temporal.ServerOption {
	conf := s.serverConfig(persistence)
	logger := slogLogger{log: s.logger, level: s.opts.LogLevel, quiet: &s.quiet}

	// Static membership: one process, no ringpop, no membership ports and no
	// stale membership rows after a restart.
	host := func(svc string) static.Hosts {
		return static.SingleLocalHost(net.JoinHostPort(internalHost, strconv.Itoa(s.ports[svc])))
	}
	hosts := map[primitives.ServiceName]static.Hosts{
		primitives.FrontendService: static.SingleLocalHost(s.frontendAddr),
		primitives.HistoryService:  host("history"),
		primitives.MatchingService: host("matching"),
		primitives.WorkerService:   host("worker"),
	}

	// Default authorizer (allow all) and claim mapper, as in the CLI dev server.
	authorizer := authorization.NewNoopAuthorizer()
	claimMapper := authorization.NewNoopClaimMapper()

	return []temporal.ServerOption{
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(s.dynamicConfig()),
	}
}

func (s *Server) dynamicConfig() dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{
		// As the CLI dev server: a bigger mutable-state cache and more
		// visibility RPS for the UI.
		// A reminder herd of 10,000 keeps 10,000 mutable states busy at once: a cache smaller than the herd
		// reloads them from SQLite and the single writer falls behind (docs/performance.md).
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 20000,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// One process serves every task queue: partitions only add forwarding between them.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
	}
	for k, v := range s.opts.DynamicConfig {
		dc[k] = v
	}
	return dc
}

// namespaceRefreshInterval is how long the server may take to see a
// namespace change (used after adding search attributes).
func (s *Server) namespaceRefreshInterval() time.Duration {
	dc := dynamicconfig.NewCollection(s.dynamicConfig(), log.NewNoopLogger())
	return dynamicconfig.NamespaceCacheRefreshInterval.Get(dc)()
}

// waitForFrontend dials until the frontend answers DescribeNamespace.
func waitForFrontend(ctx context.Context, addr, namespace string) (client.Client, error) {
	quiet := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	var lastErr error
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := client.DialContext(attemptCtx, client.Options{HostPort: addr, Namespace: namespace, Logger: quiet})
		if err == nil {
			_, err = c.WorkflowService().DescribeNamespace(attemptCtx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
			if err == nil {
				cancel()
				return c, nil
			}
			c.Close()
		}
		cancel()
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("devserver: frontend %s not ready: %w (last error: %v)", addr, ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Server) startUI(ctx context.Context) error {
	uiHost := s.opts.IP
	if strings.Contains(uiHost, ":") {
		uiHost = "[" + uiHost + "]" // the UI server formats "%s:%d"
	}
	s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		TemporalGRPCAddress: s.frontendAddr,
		Host:                uiHost,
		Port:                s.opts.UIPort,
		EnableUI:            true,
		DefaultNamespace:    s.opts.Namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
		Codec:               uiconfig.Codec{Endpoint: s.opts.CodecEndpoint},
	}))
	s.uiDone = make(chan struct{})
	go func() {
		defer close(s.uiDone)
		// Start blocks until Stop. On a listen error it calls os.Exit via
		// echo's Logger.Fatal, which is why Start checks the port first.
		if err := s.ui.Start(); err != nil {
			s.logger.Error("devserver: Web UI stopped", "error", err)
		}
	}()

	// Wait until it answers.
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.uiAddr+"/healthz", nil)
		if err != nil {
			return fmt.Errorf("devserver: UI health request: %w", err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: Web UI at %s not ready: %w (last error: %v)", s.uiAddr, ctx.Err(), err)
		case <-s.uiDone:
			return fmt.Errorf("devserver: Web UI at %s exited during start", s.uiAddr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// persistedShardCount reads the history shard count an existing SQLite
// database was created with.
func persistedShardCount(dbPath string) (int32, error) {
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var data []byte
	var encoding string
	err = db.QueryRow(`SELECT data, data_encoding FROM cluster_metadata_info WHERE metadata_partition = 0 AND cluster_name = ?`, clusterName).
		Scan(&data, &encoding)
	if err != nil {
		return 0, err
	}
	if !strings.EqualFold(encoding, "proto3") {
		return 0, fmt.Errorf("cluster metadata encoding %q", encoding)
	}
	var md persistencespb.ClusterMetadata
	if err := proto.Unmarshal(data, &md); err != nil {
		return 0, err
	}
	return md.GetHistoryShardCount(), nil
}
