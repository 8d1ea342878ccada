package devserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/dynamicconfig"
)

const testTaskQueue = "devserver-test"

var (
	saOrg   = temporal.NewSearchAttributeKeyKeyword("AppointmentOrg")
	saState = temporal.NewSearchAttributeKeyKeyword("AppointmentState")
	saStart = temporal.NewSearchAttributeKeyTime("AppointmentStart")
)

// TimerThenActivity waits for an optional "go" signal, sleeps, then runs one
// activity.
func TimerThenActivity(ctx workflow.Context, waitSignal bool, sleep time.Duration, name string) (string, error) {
	if waitSignal {
		var v string
		workflow.GetSignalChannel(ctx, "go").Receive(ctx, &v)
		name += "+" + v
	}
	if err := workflow.Sleep(ctx, sleep); err != nil {
		return "", err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, Greet, name).Get(ctx, &out)
	return out, err
}

// Greet is the test activity.
func Greet(ctx context.Context, name string) (string, error) {
	activity.GetLogger(ctx).Debug("greeting", "name", name)
	return "hello " + name, nil
}

func testLogger(t *testing.T) *slog.Logger {
	// Server warnings and errors go to the test log, so a failing run shows them.
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func mustFreePort(t *testing.T) int {
	t.Helper()
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	began := time.Now()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v; frontend %s, UI %q, ports %v, db %s", time.Since(began).Round(time.Millisecond), s.FrontendAddress(), s.UIAddress(), s.Ports(), s.DBPath())
	return s
}

func dial(t *testing.T, s *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.FrontendAddress(),
		Namespace: s.Namespace(),
		Logger:    sdklog.NewStructuredLogger(testLogger(t)),
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

func startWorker(t *testing.T, c client.Client) worker.Worker {
	t.Helper()
	w := worker.New(c, testTaskQueue, worker.Options{})
	w.RegisterWorkflow(TimerThenActivity)
	w.RegisterActivity(Greet)
	if err := w.Start(); err != nil {
		t.Fatalf("worker start: %v", err)
	}
	return w
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 20 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func checkSearchAttributes(t *testing.T, c client.Client, ns string, want map[string]enumspb.IndexedValueType) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatalf("ListSearchAttributes: %v", err)
	}
	for name, typ := range want {
		if got, ok := resp.GetCustomAttributes()[name]; !ok || got != typ {
			t.Errorf("search attribute %s: got %v (registered %v), want %v; all custom: %v", name, got, ok, typ, resp.GetCustomAttributes())
		}
	}
}

func TestStartWorkflowRestart(t *testing.T) {
	dir := t.TempDir()
	port, uiPort := mustFreePort(t), mustFreePort(t)
	for uiPort == port {
		uiPort = mustFreePort(t)
	}
	// The first start registers two attributes (seeded into the new
	// namespace); the restart adds the third through the operator API, as
	// happens when a later version of the worker needs a new attribute.
	sas1 := map[string]enumspb.IndexedValueType{
		"AppointmentOrg":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"AppointmentState": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
	sas2 := map[string]enumspb.IndexedValueType{
		"AppointmentOrg":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"AppointmentState": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"AppointmentStart": enumspb.INDEXED_VALUE_TYPE_DATETIME,
	}
	opts := Options{
		DataDir:          dir,
		Port:             port,
		UIPort:           uiPort,
		SearchAttributes: sas1,
		Logger:           testLogger(t),
		NumHistoryShards: 2,
		// Exercises the dynamic config hook; it also shortens the wait
		// after adding a search attribute on the restart below.
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
	if want := "127.0.0.1:" + strconv.Itoa(port); s.FrontendAddress() != want {
		t.Errorf("FrontendAddress = %q, want %q", s.FrontendAddress(), want)
	}
	if want := "http://127.0.0.1:" + strconv.Itoa(uiPort); s.UIAddress() != want {
		t.Errorf("UIAddress = %q, want %q", s.UIAddress(), want)
	}
	if _, err := os.Stat(s.DBPath()); err != nil {
		t.Fatalf("database file: %v", err)
	}
	// journal_mode=wal reached SQLite (a "_"-prefixed
	// pragma, as temporaltest writes it, would not create a -wal file).
	if _, err := os.Stat(s.DBPath() + "-wal"); err != nil {
		t.Errorf("no WAL file next to the database: %v", err)
	}

	// Web UI.
	if code, _ := httpGet(t, s.UIAddress()+"/"); code != http.StatusOK {
		t.Errorf("UI / answered %d", code)
	}
	if code, _ := httpGet(t, s.UIAddress()+"/namespaces/default/workflows"); code != http.StatusOK {
		t.Errorf("UI /namespaces/default/workflows answered %d", code)
	}
	code, body := httpGet(t, s.UIAddress()+"/api/v1/namespaces")
	if code != http.StatusOK || !strings.Contains(body, `"default"`) {
		t.Errorf("UI /api/v1/namespaces answered %d: %.300s", code, body)
	}

	c := dial(t, s)
	checkSearchAttributes(t, c, s.Namespace(), sas1)

	// A complete workflow: one timer, one activity, with search attributes.
	w := startWorker(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
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

	// Two workflows that can only finish after the restart: one waits on a
	// signal, one on a timer of a few seconds.
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-signal", TaskQueue: testTaskQueue},
		TimerThenActivity, true, time.Second, "signal"); err != nil {
		t.Fatalf("start wf-signal: %v", err)
	}
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-timer", TaskQueue: testTaskQueue},
		TimerThenActivity, false, 4*time.Second, "timer"); err != nil {
		t.Fatalf("start wf-timer: %v", err)
	}
	// Let the worker take the first workflow tasks, so the timer is
	// scheduled in history before the stop.
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

	// Restart on the same DataDir and the same ports, in the same process.
	// A different shard count is ignored: the database keeps its own.
	opts.SearchAttributes = sas2
	opts.NumHistoryShards = 4
	s = startServer(t, opts)
	stopped = false
	if n, err := persistedShardCount(s.DBPath()); err != nil || n != 2 || s.opts.NumHistoryShards != 2 {
		t.Errorf("shards after restart: persisted %d (%v), used %d; want 2", n, err, s.opts.NumHistoryShards)
	}
	c = dial(t, s)
	defer c.Close()
	checkSearchAttributes(t, c, s.Namespace(), sas2)
	w = startWorker(t, c)
	defer w.Stop()

	if err := c.SignalWorkflow(ctx, "wf-signal", "", "go", "now"); err != nil {
		t.Fatalf("signal: %v", err)
	}
	for id, want := range map[string]string{"wf-signal": "hello signal+now", "wf-timer": "hello timer"} {
		var got string
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &got); err != nil || got != want {
			t.Errorf("%s after restart: %q, %v (want %q)", id, got, err, want)
		}
	}

	// The new attribute is usable right away, and visibility finds by the
	// attributes.
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        "wf-after",
		TaskQueue: testTaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			saOrg.ValueSet("acme"), saState.ValueSet("scheduled"), saStart.ValueSet(start)),
	}, TimerThenActivity, false, time.Millisecond, "after")
	if err != nil {
		t.Fatalf("start wf-after: %v", err)
	}
	if err := run.Get(ctx, &out); err != nil {
		t.Fatalf("wf-after: %v", err)
	}
	// A range, not equality: SQLite visibility stores datetimes as
	// "…:SS.000+00:00" but formats whole-second literals without the
	// fraction, so `AppointmentStart = '<whole second>'` never matches.
	query := fmt.Sprintf("AppointmentOrg = 'acme' AND AppointmentStart >= '%s' AND AppointmentStart < '%s'",
		start.Add(-time.Minute).Format(time.RFC3339), start.Add(time.Minute).Format(time.RFC3339))
	waitFor(t, 30*time.Second, "visibility query "+query, func() bool {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: s.Namespace(), Query: query})
		return err == nil && resp.GetCount() == 1
	})
	waitFor(t, 30*time.Second, "visibility query AppointmentOrg = 'acme' finds 2", func() bool {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: s.Namespace(), Query: "AppointmentOrg = 'acme'"})
		return err == nil && resp.GetCount() == 2
	})
}

func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = Start(context.Background(), Options{DataDir: t.TempDir(), Port: port, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("Start on a taken port: err = %v, want a port-in-use error", err)
	}
	t.Logf("error: %v", err)

	_, err = Start(context.Background(), Options{DataDir: t.TempDir(), Port: mustFreePort(t), UIPort: port, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "Web UI") {
		t.Fatalf("Start on a taken UI port: err = %v, want a port-in-use error", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	if _, err := Start(context.Background(), Options{}); err == nil {
		t.Error("Start without DataDir succeeded")
	}
	if _, err := Start(context.Background(), Options{DataDir: t.TempDir(), IP: "localhost"}); err == nil {
		t.Error("Start with a host name as IP succeeded")
	}
	d := DefaultOptions("x")
	if d.Port != 7233 || d.UIPort != 8233 || d.IP != "127.0.0.1" || d.Namespace != "default" {
		t.Errorf("DefaultOptions = %+v", d)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRestartAcrossProcesses starts the server in a child process, starts
// workflows there, kills the child with SIGKILL (no Stop, no clean close of
// SQLite) and resumes them in this process on the same DataDir and port.
func TestRestartAcrossProcesses(t *testing.T) {
	if os.Getenv("DEVSERVER_HELPER_DIR") != "" {
		t.Skip("helper mode")
	}
	dir := t.TempDir()
	port := mustFreePort(t)
	sas := map[string]enumspb.IndexedValueType{
		"AppointmentOrg":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"AppointmentState": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"AppointmentStart": enumspb.INDEXED_VALUE_TYPE_DATETIME,
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "DEVSERVER_HELPER_DIR="+dir, "DEVSERVER_HELPER_PORT="+strconv.Itoa(port))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			t.Logf("child: %s", line)
			if strings.Contains(line, "HELPER-READY") {
				ready <- nil
			}
		}
		ready <- errors.New("child exited before it was ready")
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Wait()
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("child not ready after 90s")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s := startServer(t, Options{DataDir: dir, Port: port, SearchAttributes: sas, Logger: testLogger(t)})
	defer s.Stop()
	c := dial(t, s)
	defer c.Close()
	checkSearchAttributes(t, c, s.Namespace(), sas)
	w := startWorker(t, c)
	defer w.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.SignalWorkflow(ctx, "wf-cross-signal", "", "go", "later"); err != nil {
		t.Fatalf("signal: %v", err)
	}
	for id, want := range map[string]string{"wf-cross-signal": "hello cross+later", "wf-cross-timer": "hello cross-timer"} {
		var got string
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &got); err != nil || got != want {
			t.Errorf("%s after kill and restart: %q, %v (want %q)", id, got, err, want)
		}
	}
}

// TestHelperProcess is the child of TestRestartAcrossProcesses.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("DEVSERVER_HELPER_DIR")
	if dir == "" {
		t.Skip("only run as a child of TestRestartAcrossProcesses")
	}
	port, _ := strconv.Atoi(os.Getenv("DEVSERVER_HELPER_PORT"))
	s := startServer(t, Options{
		DataDir: dir,
		Port:    port,
		SearchAttributes: map[string]enumspb.IndexedValueType{
			"AppointmentOrg":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			"AppointmentState": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			"AppointmentStart": enumspb.INDEXED_VALUE_TYPE_DATETIME,
		},
		Logger: testLogger(t),
	})
	c := dial(t, s)
	startWorker(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-cross-signal", TaskQueue: testTaskQueue},
		TimerThenActivity, true, time.Second, "cross"); err != nil {
		t.Fatalf("start: %v", err)
	}
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-cross-timer", TaskQueue: testTaskQueue},
		TimerThenActivity, false, 3*time.Second, "cross-timer"); err != nil {
		t.Fatalf("start: %v", err)
	}
	waitFor(t, 30*time.Second, "wf-cross-timer timer scheduled", func() bool {
		d, err := c.DescribeWorkflowExecution(ctx, "wf-cross-timer", "")
		return err == nil && d.GetWorkflowExecutionInfo().GetHistoryLength() >= 5
	})
	fmt.Println("HELPER-READY")
	// Wait to be killed.
	time.Sleep(5 * time.Minute)
}
