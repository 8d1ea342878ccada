// Command server runs only the embedded Temporal server (no apptnotify worker), for the bench's
// --temporal-address: on PostgreSQL (a server you run, or a private one it starts with --start-postgres) or on the
// SQLite file. It registers the apptnotify search attributes in the namespace, prints the frontend address and
// runs until SIGINT or SIGTERM.
//
//	go run ./bench/server --start-postgres /tmp/pgbench --port 17233
//	go run ./bench --temporal-address 127.0.0.1:17233 ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/apptnotify/apptnotify/internal/devserver"
	"github.com/apptnotify/apptnotify/internal/devserver/pgtest"
	"github.com/apptnotify/apptnotify/internal/workerapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, stop, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	port, uiPort    int
	shards          int
	namespace       string
	logLevel        string
	sqliteDir       string
	startPostgres   string
	pgNoFsync       bool
	pg              devserver.PostgresOptions
	pgAddrGiven     bool
	startTimeoutArg time.Duration
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: server (--start-postgres DIR | --postgres-addr HOST:PORT | --sqlite-dir DIR) [flags]\n\n"+
			"Runs only the embedded Temporal server, for `go run ./bench --temporal-address`.\n\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&o.port, "port", devserver.DefaultPort, "frontend gRPC port on 127.0.0.1")
	fs.IntVar(&o.uiPort, "ui-port", 0, "Web UI port (0: no UI)")
	fs.IntVar(&o.shards, "history-shards", 4, "history shards (used when the database is created)")
	fs.StringVar(&o.namespace, "namespace", devserver.DefaultNamespace, "namespace to create and register the search attributes in")
	fs.StringVar(&o.logLevel, "log-level", "warn", "minimum level of the server's logs: debug, info, warn, error")
	fs.StringVar(&o.sqliteDir, "sqlite-dir", "", "use the SQLite file backend in this directory")
	fs.StringVar(&o.startPostgres, "start-postgres", "", "start a private PostgreSQL in this directory (reused if it holds one) and use it; stopped on exit")
	fs.BoolVar(&o.pgNoFsync, "postgres-no-fsync", false, "with --start-postgres: fsync=off (synchronous_commit is always off)")
	fs.StringVar(&o.pg.Addr, "postgres-addr", "", "use the PostgreSQL server at this address, e.g. "+devserver.DefaultPostgresAddr)
	fs.StringVar(&o.pg.User, "postgres-user", devserver.DefaultPostgresUser, "PostgreSQL user (with --start-postgres: the superuser of a new cluster)")
	fs.StringVar(&o.pg.Password, "postgres-password", "", "PostgreSQL password")
	fs.StringVar(&o.pg.Database, "postgres-db", devserver.DefaultPostgresDatabase, "PostgreSQL database (visibility uses <db>_visibility)")
	fs.IntVar(&o.pg.MaxConns, "postgres-max-conns", devserver.DefaultPostgresMaxConns, "connection pool size per server service and store")
	fs.DurationVar(&o.startTimeoutArg, "start-timeout", 3*time.Minute, "give up starting after this long")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	o.pgAddrGiven = o.pg.Addr != ""
	n := 0
	for _, set := range []bool{o.sqliteDir != "", o.startPostgres != "", o.pgAddrGiven} {
		if set {
			n++
		}
	}
	if n != 1 {
		return o, errors.New("give exactly one of --start-postgres, --postgres-addr and --sqlite-dir")
	}
	if o.pgNoFsync && o.startPostgres == "" {
		return o, errors.New("--postgres-no-fsync needs --start-postgres")
	}
	if o.shards <= 0 {
		return o, errors.New("--history-shards must be positive")
	}
	return o, nil
}

func run(ctx context.Context, stopSignals func(), args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintf(stderr, "server: --log-level: %v\n", err)
		return 2
	}
	// Info for devserver's own messages (schema, namespace); the server's logs are filtered at --log-level.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: min(level, slog.LevelInfo)}))

	startCtx, cancel := context.WithTimeout(ctx, o.startTimeoutArg)
	defer cancel()

	opts := devserver.Options{
		IP:               devserver.DefaultIP,
		Port:             o.port,
		UIPort:           o.uiPort,
		Namespace:        o.namespace,
		SearchAttributes: workerapp.SearchAttributes,
		NumHistoryShards: int32(o.shards),
		Logger:           logger,
		LogLevel:         level,
	}
	var pg *pgtest.Server
	switch {
	case o.sqliteDir != "":
		opts.DataDir = o.sqliteDir
	case o.startPostgres != "":
		began := time.Now()
		pg, err = pgtest.Start(startCtx, pgtest.Options{Dir: o.startPostgres, User: o.pg.User, NoFsync: o.pgNoFsync})
		if err != nil {
			fmt.Fprintf(stderr, "server: %v\n", err)
			return 1
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				fmt.Fprintf(stderr, "server: %v\n", err)
			}
			fmt.Fprintln(stdout, "PostgreSQL stopped")
		}()
		fmt.Fprintf(stdout, "PostgreSQL %s on %s (data %s/data, log %s), started in %v\n",
			pg.User(), pg.Addr(), pg.Dir(), pg.LogPath(), time.Since(began).Round(time.Millisecond))
		o.pg.Addr = pg.Addr()
		opts.Postgres = &o.pg
	default:
		opts.Postgres = &o.pg
	}

	began := time.Now()
	srv, err := devserver.Start(startCtx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	backend := "SQLite " + srv.DBPath()
	if opts.Postgres != nil {
		backend = fmt.Sprintf("PostgreSQL %s, databases %s and %s_visibility", opts.Postgres.Addr, opts.Postgres.Database, opts.Postgres.Database)
	}
	fmt.Fprintf(stdout, "Temporal server started in %v (%s; %d history shards; namespace %s)\n",
		time.Since(began).Round(time.Millisecond), backend, o.shards, srv.Namespace())
	if srv.UIAddress() != "" {
		fmt.Fprintf(stdout, "Web UI %s\n", srv.UIAddress())
	}
	fmt.Fprintf(stdout, "frontend %s\n", srv.FrontendAddress())

	<-ctx.Done()
	stopSignals() // a second Ctrl-C kills the process
	fmt.Fprintln(stdout, "stopping")
	began = time.Now()
	srv.Stop()
	fmt.Fprintf(stdout, "Temporal server stopped in %v\n", time.Since(began).Round(time.Millisecond))
	return 0
}
