package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// bins are the worker and starter, built once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t *testing.T) (worker, starter string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "apptnotify-e2e-bin")
		if buildErr != nil {
			return
		}
		for _, name := range []string{"worker", "starter"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "./"+name)
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build ./%s: %v\n%s", name, err, out)
				return
			}
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(binDir, "worker"), filepath.Join(binDir, "starter")
}

// env is a test's world: Mailpit, a webhook receiver, a config file, a data directory and ports.
type env struct {
	t                  *testing.T
	mail               *testenv.Mailpit
	hooks              *testenv.WebhookReceiver
	config             string
	dataDir            string
	port, uiPort       int
	workerBin, starter string
	worker             *workerProc
}

func newEnv(t *testing.T, orgYAML string) *env {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	w, s := binaries(t)
	e := &env{t: t, mail: testenv.StartMailpit(t), hooks: testenv.StartWebhookReceiver(t), dataDir: t.TempDir(),
		port: testenv.FreePort(t), uiPort: testenv.FreePort(t), workerBin: w, starter: s}
	cfg := fmt.Sprintf(`smtp: {host: 127.0.0.1, port: %d, tls: none}
organizations:
  - id: acme
    platform: genesys
    email_from: "Acme Care <care@acme.example>"
    webhooks:
      - {url: "%s/hooks", secret_env: E2E_WEBHOOK_SECRET}
    allow_private_webhook_addresses: true
%s`, e.mail.SMTPPort, e.hooks.URL, orgYAML)
	e.config = filepath.Join(t.TempDir(), "apptnotify.yaml")
	require.NoError(t, os.WriteFile(e.config, []byte(cfg), 0o600))
	return e
}

func (e *env) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "APPTNOTIFY_") {
			out = append(out, kv)
		}
	}
	return append(out, "E2E_WEBHOOK_SECRET="+testenv.WebhookSecret)
}

// workerProc is a running worker subprocess.
type workerProc struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer
	mu     *sync.Mutex
	exited chan struct{}
}

// startWorker starts the worker on the env's data directory and waits until it polls.
func (e *env) startWorker() {
	e.t.Helper()
	cmd := exec.Command(e.workerBin, "--config", e.config, "--data-dir", e.dataDir,
		"--port", strconv.Itoa(e.port), "--ui-port", strconv.Itoa(e.uiPort), "--log-level", "warn")
	cmd.Env = e.environ()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(e.t, cmd.Start())
	p := &workerProc{cmd: cmd, out: &bytes.Buffer{}, mu: &sync.Mutex{}, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if strings.Contains(sc.Text(), "worker polling task queue") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { _ = cmd.Wait(); pw.Close(); close(p.exited) }()
	e.worker = p
	e.t.Cleanup(func() { e.kill() })
	select {
	case <-ready:
	case <-p.exited:
		e.t.Fatalf("the worker exited at start:\n%s", p.logs())
	case <-time.After(2 * time.Minute):
		e.t.Fatalf("the worker did not start in 2 minutes:\n%s", p.logs())
	}
}

func (p *workerProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill stops the worker with SIGKILL, as a crash would.
func (e *env) kill() {
	if e.worker == nil {
		return
	}
	_ = e.worker.cmd.Process.Signal(syscall.SIGKILL)
	<-e.worker.exited
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.starter, append(args, "--config", e.config)...)
	cmd.Env = append(e.environ(), "TEMPORAL_ADDRESS=127.0.0.1:"+strconv.Itoa(e.port))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(e.t, err)
	}
	return code, out.String(), errb.String()
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
