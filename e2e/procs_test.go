package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// builds holds the binaries built by this test binary, one build per package (worker, starter, bench/server).
var (
	buildMu sync.Mutex
	builds  = map[string]*buildResult{}
	binDir  string
)

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// binary builds ./pkg of the module once per test binary and returns the path of the executable.
func binary(t *testing.T, pkg string) string {
	t.Helper()
	buildMu.Lock()
	b := builds[pkg]
	if b == nil {
		b = &buildResult{}
		builds[pkg] = b
	}
	if binDir == "" {
		dir, err := os.MkdirTemp("", "apptnotify-e2e-bin")
		require.NoError(t, err)
		binDir = dir
	}
	dir := binDir
	buildMu.Unlock()
	b.once.Do(func() {
		b.path = filepath.Join(dir, strings.ReplaceAll(pkg, "/", "-"))
		cmd := exec.Command("go", "build", "-o", b.path, "./"+pkg)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./%s: %v\n%s", pkg, err, out)
		}
	})
	require.NoError(t, b.err)
	return b.path
}

// binaries are the worker and starter.
func binaries(t *testing.T) (worker, starter string) {
	t.Helper()
	return binary(t, "worker"), binary(t, "starter")
}

// env is a test's world: Mailpit, a webhook receiver, a fake Twilio, a config file, a data directory and ports.
type env struct {
	t                  *testing.T
	mail               *testenv.Mailpit
	hooks              *testenv.WebhookReceiver
	twilio             *testenv.Twilio
	config             string
	dataDir            string
	port, uiPort       int
	workerBin, starter string
	worker             *workerProc // the worker that hosts the embedded server
	// starterEnv, when set, is the starter's whole environment (TEMPORAL_ADDRESS is added); by default the starter
	// gets the worker's (environ).
	starterEnv []string

	clientOnce sync.Once
	tc         client.Client
	cfg        *config.Config
}

// newEnv is an env whose config has one organisation, acme: genesys, email through Mailpit, one webhook subscriber
// (the receiver), no SMS, plus the given lines of YAML for acme.
func newEnv(t *testing.T, orgYAML string) *env {
	return newEnvConfig(t, func(e *env) string {
		return fmt.Sprintf(`smtp: {host: 127.0.0.1, port: %d, tls: none}
organizations:
  - id: acme
    platform: genesys
    email_from: "Acme Care <care@acme.example>"
    webhooks:
      - {url: "%s/hooks", secret_env: E2E_WEBHOOK_SECRET}
    allow_private_webhook_addresses: true
%s`, e.mail.SMTPPort, e.hooks.URL, orgYAML)
	})
}

// newEnvConfig is an env whose config file is what cfg returns for it (its Mailpit, receiver and fake Twilio are
// running by then). The webhook secret is in E2E_WEBHOOK_SECRET, the Twilio credentials in TWILIO_ACCOUNT_SID and
// TWILIO_AUTH_TOKEN.
func newEnvConfig(t *testing.T, cfg func(e *env) string) *env {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	w, s := binaries(t)
	e := &env{t: t, mail: testenv.StartMailpit(t), hooks: testenv.StartWebhookReceiver(t), twilio: testenv.StartTwilio(t),
		dataDir: t.TempDir(), port: testenv.FreePort(t), uiPort: testenv.FreePort(t), workerBin: w, starter: s}
	e.config = filepath.Join(t.TempDir(), "apptnotify.yaml")
	require.NoError(t, os.WriteFile(e.config, []byte(cfg(e)), 0o600))
	t.Cleanup(func() {
		if e.tc != nil {
			e.tc.Close()
		}
	})
	return e
}

// e2eKeys is the key ring every process of the tests encrypts with (a test key, never a real one).
var e2eKeys = "e2e=" + base64.StdEncoding.EncodeToString([]byte("apptnotify-e2e-test-key-32-bytes"))

func (e *env) getenv(k string) string {
	return map[string]string{"E2E_WEBHOOK_SECRET": testenv.WebhookSecret, "TWILIO_ACCOUNT_SID": testenv.TwilioAccountSID,
		"TWILIO_AUTH_TOKEN": testenv.TwilioAuthToken, codec.KeysEnv: e2eKeys}[k]
}

func (e *env) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "APPTNOTIFY_") && !strings.HasPrefix(kv, "TWILIO_") {
			out = append(out, kv)
		}
	}
	for _, k := range []string{"E2E_WEBHOOK_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", codec.KeysEnv} {
		out = append(out, k+"="+e.getenv(k))
	}
	// Every process shares the worker's data-key store (its default place), as processes on one host do.
	return append(out, codec.DataKeysEnv+"="+filepath.Join(e.dataDir, codec.DataKeysFileName))
}

// frontend is the address of the embedded server's frontend.
func (e *env) frontend() string { return "127.0.0.1:" + strconv.Itoa(e.port) }

// api returns the Go API over a Temporal client of the test process, connected to the embedded server. The client
// reconnects by itself after the server restarts.
func (e *env) api() *api.Client {
	e.t.Helper()
	e.clientOnce.Do(func() {
		var err error
		e.cfg, err = config.Load(e.config)
		require.NoError(e.t, err)
		quiet := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
		ring, err := codec.ParseKeyRing(e2eKeys)
		require.NoError(e.t, err)
		// The worker's data-key store, as the starter on the same host finds it in the data directory.
		dk, err := codec.OpenDataKeys(context.Background(), filepath.Join(e.dataDir, codec.DataKeysFileName), ring)
		require.NoError(e.t, err)
		e.t.Cleanup(func() { dk.Close() })
		ring = ring.WithDataKeys(dk)
		opts := client.Options{HostPort: e.frontend(), Namespace: "default", Logger: quiet}
		api.Encrypt(&opts, ring, nil)
		e.tc, err = client.Dial(opts)
		require.NoError(e.t, err)
	})
	require.NotNil(e.t, e.tc, "the Temporal client did not connect")
	return api.New(e.tc, e.cfg)
}

// apptClient reads appointments' status documents: the Go API (*api.Client) over a client of the test process, or
// the starter binary (starterClient).
type apptClient interface {
	Status(ctx context.Context, id string) (*appt.Status, error)
}

// appts is the client the env's tests read appointments with: the starter binary when the starter has an
// environment of its own (starterEnv), as a backend host without the worker's secrets would; else the Go API.
func (e *env) appts() apptClient {
	if e.starterEnv != nil {
		return starterClient{e}
	}
	return e.api()
}

// workerProc is a running subprocess: a worker, or the Temporal server of the cluster test.
type workerProc struct {
	name   string
	cmd    *exec.Cmd
	out    *bytes.Buffer
	mu     *sync.Mutex
	exited chan struct{}
}

// startWorker starts the worker that hosts the embedded server, on the env's data directory, with extra flags if
// any, and waits until it polls.
func (e *env) startWorker(args ...string) {
	e.t.Helper()
	e.worker = e.launch("worker", nil, args...)
}

// startClusterWorker starts another worker process that connects to the first one's embedded server with
// TEMPORAL_ADDRESS, as a worker of a cluster does, and waits until it polls.
func (e *env) startClusterWorker(name string, args ...string) *workerProc {
	e.t.Helper()
	return e.launch(name, []string{"TEMPORAL_ADDRESS=" + e.frontend()}, args...)
}

// launch starts a worker process with the env's flags, then args (a later flag wins), and waits until it polls.
func (e *env) launch(name string, extraEnv []string, args ...string) *workerProc {
	e.t.Helper()
	return startProcess(e.t, name, e.workerBin, append([]string{"--config", e.config, "--data-dir", e.dataDir,
		"--port", strconv.Itoa(e.port), "--ui-port", strconv.Itoa(e.uiPort), "--codec-port", "0", "--log-level", "warn"}, args...),
		append(e.environ(), extraEnv...), "worker polling task queue")
}

// startProcess starts a program and waits until a line of its output contains ready. The process is killed when
// the test ends.
func startProcess(t *testing.T, name, path string, args, environ []string, ready string) *workerProc {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = environ
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	p := &workerProc{name: name, cmd: cmd, out: &bytes.Buffer{}, mu: &sync.Mutex{}, exited: make(chan struct{})}
	readyc := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if strings.Contains(sc.Text(), ready) {
				once.Do(func() { close(readyc) })
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() { _ = cmd.Wait(); pw.Close(); close(p.exited) }()
	t.Cleanup(p.kill)
	select {
	case <-readyc:
	case <-p.exited:
		t.Fatalf("%s exited at start:\n%s", name, p.logs())
	case <-time.After(3 * time.Minute):
		t.Fatalf("%s did not start in 3 minutes:\n%s", name, p.logs())
	}
	return p
}

func (p *workerProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill stops the process with SIGKILL, as a crash would, and waits until it is gone. Killing a process that has
// exited already does nothing.
func (p *workerProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// kill stops the worker that hosts the embedded server with SIGKILL.
func (e *env) kill() {
	if e.worker == nil {
		return
	}
	e.worker.kill()
	e.worker = nil
}

// stop stops the worker with SIGTERM and checks that it exits cleanly.
func (e *env) stop() {
	e.t.Helper()
	require.NoError(e.t, e.worker.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-e.worker.exited:
	case <-time.After(time.Minute):
		e.t.Fatalf("the worker did not stop within a minute of SIGTERM:\n%s", e.worker.logs())
	}
	require.Equal(e.t, 0, e.worker.cmd.ProcessState.ExitCode(), e.worker.logs())
	e.worker = nil
}

// run runs the starter and returns its exit code, stdout and stderr.
func (e *env) run(args ...string) (int, string, string) {
	e.t.Helper()
	return e.runEnv(nil, args...)
}

// runEnv runs the starter with extra environment variables (they win over the env's) and returns its exit code,
// stdout and stderr.
func (e *env) runEnv(extra []string, args ...string) (int, string, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code, out, errs, err := e.starterRun(ctx, extra, args...)
	require.NoError(e.t, err)
	return code, out, errs
}

// starterRun runs the starter with the env's config, connected to the env's frontend, and returns its exit code,
// stdout and stderr; err is set only when it could not run. It is safe to call from any goroutine. Its environment is
// starterEnv when that is set, else the worker's (environ), then extra.
func (e *env) starterRun(ctx context.Context, extra []string, args ...string) (int, string, string, error) {
	cmd := exec.CommandContext(ctx, e.starter, append(args, "--config", e.config)...)
	environ := e.starterEnv
	if environ == nil {
		environ = e.environ()
	}
	cmd.Env = append(append(append([]string(nil), environ...), "TEMPORAL_ADDRESS="+e.frontend()), extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String(), nil
	}
	return 0, out.String(), errb.String(), err
}

// ok runs the starter and requires exit 0.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	code, out, errs := e.run(args...)
	require.Equal(e.t, 0, code, "starter %v: %s%s", args, out, errs)
	return out
}

// status returns an appointment's status document.
func (e *env) status(id string) appt.Status {
	e.t.Helper()
	var st appt.Status
	require.NoError(e.t, json.Unmarshal([]byte(e.ok("status", "--id", id, "--json")), &st))
	return st
}

// eventually polls cond every 250 ms until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func participant(id, email string) string {
	return "id=" + id + ",name=Ann Lee,email=" + email + ",tz=Europe/Berlin,locale=de"
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
