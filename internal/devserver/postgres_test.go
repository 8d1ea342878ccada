package devserver

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/server/common/dynamicconfig"

	"github.com/apptnotify/apptnotify/internal/devserver/pgtest"
)

// TestPostgresStartWorkflowRestart runs the server on a private PostgreSQL: a workflow with a timer and an
// activity, the search attributes, then a stop and a restart on the same databases (schema setup and namespace
// registration must be no-ops) that resumes a workflow started before it. It skips when PostgreSQL is not
// installed, even in CI (see pgtest.ForTest).
func TestPostgresStartWorkflowRestart(t *testing.T) {
	pg := pgtest.ForTest(t, pgtest.Options{NoFsync: true})

	sas := map[string]enumspb.IndexedValueType{
		"AppointmentOrg":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"AppointmentState": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"AppointmentStart": enumspb.INDEXED_VALUE_TYPE_DATETIME,
	}
	opts := Options{
		Port:             mustFreePort(t),
		Postgres:         &PostgresOptions{Addr: pg.Addr(), User: pg.User(), Database: "temporal_test", MaxConns: 10},
		SearchAttributes: sas,
		NumHistoryShards: 2,
		Logger:           testLogger(t),
		// The first start adds the search attributes through the operator API and then waits one refresh.
		DynamicConfig: map[dynamicconfig.Key]any{
			dynamicconfig.NamespaceCacheRefreshInterval.Key(): 500 * time.Millisecond,
		},
	}

	s := startServer(t, opts)
	stopped := false
	defer func() {
		if !stopped {
			s.Stop()
		}
	}()
	if s.DBPath() != "" {
		t.Errorf("DBPath = %q with Postgres, want empty", s.DBPath())
	}
	if opts.Postgres.MaxConns != 10 || opts.Postgres.Addr != pg.Addr() {
		t.Errorf("Start changed the caller's PostgresOptions: %+v", *opts.Postgres)
	}

	c := dial(t, s)
	checkSearchAttributes(t, c, s.Namespace(), sas)
	desc, err := c.WorkflowService().DescribeNamespace(context.Background(), &workflowservice.DescribeNamespaceRequest{Namespace: s.Namespace()})
	if err != nil {
		t.Fatalf("DescribeNamespace: %v", err)
	}
	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 24*time.Hour {
		t.Errorf("retention = %v, want 24h", got)
	}

	// A complete workflow: one timer, one activity, with search attributes.
	w := startWorker(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        "wf-quick",
		TaskQueue: testTaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			saOrg.ValueSet("acme"), saState.ValueSet("scheduled")),
	}, TimerThenActivity, false, time.Second, "quick")
	if err != nil {
		t.Fatalf("start wf-quick: %v", err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "hello quick" {
		t.Fatalf("wf-quick: %q, %v", out, err)
	}
	waitFor(t, 30*time.Second, "visibility query AppointmentOrg = 'acme'", func() bool {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: s.Namespace(), Query: "AppointmentOrg = 'acme' AND AppointmentState = 'scheduled'"})
		return err == nil && resp.GetCount() == 1
	})

	// One that can only finish after the restart: a timer of a few seconds.
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-timer", TaskQueue: testTaskQueue},
		TimerThenActivity, false, 4*time.Second, "timer"); err != nil {
		t.Fatalf("start wf-timer: %v", err)
	}
	waitFor(t, 30*time.Second, "wf-timer timer scheduled", func() bool {
		d, err := c.DescribeWorkflowExecution(ctx, "wf-timer", "")
		return err == nil && d.GetWorkflowExecutionInfo().GetHistoryLength() >= 5
	})

	w.Stop()
	c.Close()
	stopBegan := time.Now()
	s.Stop()
	stopped = true
	t.Logf("Stop took %v", time.Since(stopBegan).Round(time.Millisecond))

	// Restart on the same databases and port.
	s = startServer(t, opts)
	stopped = false
	c = dial(t, s)
	defer c.Close()
	checkSearchAttributes(t, c, s.Namespace(), sas)
	w = startWorker(t, c)
	defer w.Stop()
	if err := c.GetWorkflow(ctx, "wf-timer", "").Get(ctx, &out); err != nil || out != "hello timer" {
		t.Errorf("wf-timer after restart: %q, %v (want %q)", out, err, "hello timer")
	}
}
