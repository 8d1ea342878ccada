package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/config"
	postgresplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/common/primitives"
	toolschema "go.temporal.io/server/tools/common/schema"
	toolsql "go.temporal.io/server/tools/sql"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Defaults for PostgresOptions.
const (
	DefaultPostgresAddr     = "127.0.0.1:5432"
	DefaultPostgresUser     = "postgres"
	DefaultPostgresDatabase = "temporal"
	DefaultPostgresMaxConns = 20

	// postgresRetention is the retention of a namespace registered on PostgreSQL (the SQLite path's
	// NewNamespaceConfig uses the same 24 hours).
	postgresRetention = 24 * time.Hour

	postgresSchema           = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"
)

// PostgresOptions selects PostgreSQL persistence (plugin postgres12) instead of the SQLite file. The server uses
// two databases, Database for the default store and Database+"_visibility" for visibility; Start creates them
// and sets up or updates their schema as needed (idempotent on restart), registers Options.Namespace if missing
// and registers Options.SearchAttributes.
type PostgresOptions struct {
	// Addr is host:port. Default 127.0.0.1:5432.
	Addr string
	// User and Password to connect with. User default "postgres". The user must be allowed to create databases
	// (only on the first start).
	User, Password string
	// Database is the default store's database. Default "temporal". Lower-case letters, digits and '_'.
	Database string
	// MaxConns is the size of each connection pool (also its idle size). Default 20. Each server service
	// (frontend, history, matching, worker) has its own pool per store, so the server may open up to
	// 4 × 2 × MaxConns connections.
	MaxConns int
}

var postgresDatabaseName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func (p *PostgresOptions) normalize() error {
	if p.Addr == "" {
		p.Addr = DefaultPostgresAddr
	}
	if _, _, err := net.SplitHostPort(p.Addr); err != nil {
		return fmt.Errorf("devserver: PostgresOptions.Addr %q: %w", p.Addr, err)
	}
	if p.User == "" {
		p.User = DefaultPostgresUser
	}
	if p.Database == "" {
		p.Database = DefaultPostgresDatabase
	}
	if !postgresDatabaseName.MatchString(p.Database) || len(p.Database) > 63-len("_visibility") {
		return fmt.Errorf("devserver: PostgresOptions.Database %q: use at most %d lower-case letters, digits and '_'", p.Database, 63-len("_visibility"))
	}
	if p.MaxConns <= 0 {
		p.MaxConns = DefaultPostgresMaxConns
	}
	return nil
}

// preparePostgres creates the two databases and sets up or updates their schema, the way temporal-sql-tool's
// create-database, setup-schema -v 0.0 and update-schema --schema-name … do (all three are no-ops on an
// up-to-date database). It returns the persistence config.
//
// It calls the functions behind tools/sql.RunTool rather than RunTool itself: RunTool's handlers call
// os.Exit(1) on an error, or with --quiet return nil, so the caller could not see the error.
func (s *Server) preparePostgres(ctx context.Context) (config.Persistence, error) {
	pg := s.opts.Postgres
	base := config.SQL{
		PluginName:      postgresplugin.PluginName,
		ConnectAddr:     pg.Addr,
		ConnectProtocol: "tcp",
		User:            pg.User,
		Password:        pg.Password,
		MaxConns:        pg.MaxConns,
		MaxIdleConns:    pg.MaxConns,
		MaxConnLifetime: time.Hour,
	}
	defaultCfg, visibilityCfg := base, base
	defaultCfg.DatabaseName = pg.Database
	visibilityCfg.DatabaseName = pg.Database + "_visibility"

	began := time.Now()
	for _, db := range []struct {
		cfg    config.SQL
		schema string
	}{{defaultCfg, postgresSchema}, {visibilityCfg, postgresVisibilitySchema}} {
		if err := ctx.Err(); err != nil {
			return config.Persistence{}, err
		}
		if err := s.setupPostgresDatabase(db.cfg, db.schema); err != nil {
			return config.Persistence{}, fmt.Errorf("devserver: PostgreSQL database %q on %s: %w", db.cfg.DatabaseName, pg.Addr, err)
		}
	}
	s.logger.Info("devserver: PostgreSQL schema ready", "addr", pg.Addr,
		"databases", []string{defaultCfg.DatabaseName, visibilityCfg.DatabaseName}, "took", time.Since(began).Round(time.Millisecond))

	const defaultStore, visibilityStore = "postgres-default", "postgres-visibility"
	return config.Persistence{
		DefaultStore:     defaultStore,
		VisibilityStore:  visibilityStore,
		NumHistoryShards: s.opts.NumHistoryShards,
		DataStores: map[string]config.DataStore{
			defaultStore:    {SQL: &defaultCfg},
			visibilityStore: {SQL: &visibilityCfg},
		},
	}, nil
}

// setupPostgresDatabase is create-database, setup-schema -v 0.0 and update-schema --schema-name schemaName.
func (s *Server) setupPostgresDatabase(cfg config.SQL, schemaName string) error {
	logger := slogLogger{log: s.logger, level: s.opts.LogLevel, quiet: &s.quiet}

	// create-database: connects to the default database ("postgres") and creates cfg.DatabaseName if missing.
	createCfg := cfg
	if err := toolsql.DoCreateDatabase(&createCfg, "", logger); err != nil {
		return fmt.Errorf("creating the database: %w", err)
	}

	conn, err := toolsql.NewConnection(&cfg, logger)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	// setup-schema -v 0.0: the version tables; keeps a higher recorded version.
	setup := &toolschema.SetupConfig{InitialVersion: "0.0"}
	if err := toolschema.NewSetupSchemaTask(conn, setup, logger).Run(); err != nil {
		return fmt.Errorf("setting up the schema version tables: %w", err)
	}
	// update-schema: applies the embedded versioned scripts above the recorded version.
	update := &toolschema.UpdateConfig{DBName: cfg.DatabaseName, SchemaName: schemaName}
	if err := toolschema.NewUpdateSchemaTask(conn, update, logger).Run(); err != nil {
		return fmt.Errorf("updating the schema (%s): %w", schemaName, err)
	}
	return nil
}

// ensurePostgresNamespace registers Options.Namespace through the frontend if it is missing (SQL stores other
// than SQLite have no offline helper), then waits until the frontend serves requests on it.
func (s *Server) ensurePostgresNamespace(ctx context.Context) error {
	ns := s.opts.Namespace
	// The system namespace exists as soon as the server runs.
	c, err := waitForFrontend(ctx, s.frontendAddr, primitives.SystemLocalNamespace)
	if err != nil {
		return err
	}
	defer c.Close()
	svc := c.WorkflowService()

	var notFound *serviceerror.NamespaceNotFound
	var notFound2 *serviceerror.NotFound
	err = retryUnavailable(ctx, func(ctx context.Context) error {
		_, err := svc.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
		return err
	})
	switch {
	case err == nil:
		return nil
	case errors.As(err, &notFound), errors.As(err, &notFound2):
	default:
		return fmt.Errorf("devserver: describing namespace %q: %w", ns, err)
	}

	err = retryUnavailable(ctx, func(ctx context.Context) error {
		_, err := svc.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        ns,
			WorkflowExecutionRetentionPeriod: durationpb.New(postgresRetention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if errors.As(err, &exists) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("devserver: registering namespace %q: %w", ns, err)
	}
	s.logger.Info("devserver: registered namespace", "namespace", ns, "retention", postgresRetention)

	// Usable: the frontend's namespace registry resolves it (a visibility count goes through the registry,
	// unlike DescribeNamespace, which reads the database).
	for {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := svc.CountWorkflowExecutions(qctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: ns})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: namespace %q not usable yet: %w (last error: %v)", ns, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
