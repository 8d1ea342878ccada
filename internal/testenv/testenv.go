// Package testenv starts the real servers the tests talk to (Mailpit for SMTP, Prism for Twilio's API) on
// 127.0.0.1. A missing tool skips the test on a developer's machine and fails it in CI (when $CI is set), so CI can
// never pass by silently testing nothing.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/freeport"
)

// startupTimeout is how long a server may take to start listening. It only bounds a failure; no test asserts on it.
const startupTimeout = 60 * time.Second

// Missing skips the test, or fails it when $CI is set.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this is a failure, not a skip)", msg)
	}
	t.Skip(msg)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, below the ephemeral range
// (internal/freeport), so that no outgoing connection takes it before the server binds it.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.One()
	require.NoError(t, err)
	return p
}

// WaitTCP waits until addr accepts connections or the process exits.
func waitTCP(t testing.TB, addr string, exited <-chan struct{}, logs *SyncBuffer) {
	t.Helper()
	deadline := time.Now().Add(startupTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("the server for %s exited while starting:\n%s", addr, logs.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after %s:\n%s", addr, startupTimeout, logs.String())
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers: a process's or a logger's output read by a test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what has been written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a server process until the test ends.
func start(t testing.TB, name string, args []string, addrs ...string) *SyncBuffer {
	t.Helper()
	logs := &SyncBuffer{}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	for _, a := range addrs {
		waitTCP(t, a, exited, logs)
	}
	return logs
}

// MailpitBinary finds mailpit on $PATH or in $(go env GOPATH)/bin.
func MailpitBinary() (string, bool) {
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, true
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "mailpit")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, true
		}
	}
	return "", false
}

// Mailpit is a running Mailpit with chaos enabled.
type Mailpit struct {
	SMTPHost string
	SMTPPort int
	API      string // http://127.0.0.1:PORT/api/v1
}

// StartMailpit starts a private Mailpit (its own ports and database) for the test.
func StartMailpit(t testing.TB) *Mailpit {
	t.Helper()
	bin, ok := MailpitBinary()
	if !ok {
		Missing(t, "mailpit is not installed (go install github.com/axllent/mailpit@v1.33.1)")
	}
	smtpPort, httpPort := FreePort(t), FreePort(t)
	smtpAddr, httpAddr := "127.0.0.1:"+strconv.Itoa(smtpPort), "127.0.0.1:"+strconv.Itoa(httpPort)
	start(t, bin, []string{
		"--smtp", smtpAddr, "--listen", httpAddr,
		"--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--enable-chaos", "--disable-version-check", "--smtp-disable-rdns", "--quiet",
		"--max", "0", // keep every message (the default keeps the newest 500)
	}, smtpAddr, httpAddr)
	return &Mailpit{SMTPHost: "127.0.0.1", SMTPPort: smtpPort, API: "http://" + httpAddr + "/api/v1"}
}

// MailpitAddress is an address as Mailpit's API shows it.
type MailpitAddress struct {
	Name    string
	Address string
}

// MailpitMessage is a message as Mailpit's API shows it.
type MailpitMessage struct {
	ID        string
	MessageID string
	From      MailpitAddress
	To        []MailpitAddress
	Subject   string
	Text      string
	HTML      string
}

// mailpitClient opens a connection per API call: a kept connection that Mailpit closes just as a PUT reuses it
// fails the call ("readLoopPeekFailLocked"), and Go does not retry a PUT.
var mailpitClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

func (m *Mailpit) do(t testing.TB, method, path string, body any, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, m.API+path, r)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := mailpitClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), "%s", b)
	}
}

// Messages lists the stored messages, newest first, in full.
func (m *Mailpit) Messages(t testing.TB) []MailpitMessage {
	t.Helper()
	var list struct {
		Messages []struct{ ID string }
	}
	m.do(t, http.MethodGet, "/messages", nil, &list)
	out := make([]MailpitMessage, 0, len(list.Messages))
	for _, s := range list.Messages {
		var msg MailpitMessage
		m.do(t, http.MethodGet, "/message/"+s.ID, nil, &msg)
		out = append(out, msg)
	}
	return out
}

// Headers returns a stored message's headers.
func (m *Mailpit) Headers(t testing.TB, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	m.do(t, http.MethodGet, "/message/"+id+"/headers", nil, &h)
	return h
}

// Raw returns a stored message exactly as it arrived over SMTP: its headers and body bytes.
func (m *Mailpit) Raw(t testing.TB, id string) []byte {
	t.Helper()
	resp, err := http.Get(m.API + "/message/" + id + "/raw")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	return b
}

// ChaosTrigger makes Mailpit answer one SMTP stage with an error code, always.
type ChaosTrigger struct {
	ErrorCode   int
	Probability int
}

// Chaos sets Mailpit's chaos triggers; stages left out are reset (never fail).
func (m *Mailpit) Chaos(t testing.TB, triggers map[string]ChaosTrigger) {
	t.Helper()
	m.do(t, http.MethodPut, "/chaos", triggers, nil)
}

// PrismEnv names the directory that holds node_modules with @stoplight/prism-cli and @twilio/cli-core (see
// .ci/prism.sh).
const PrismEnv = "APPTNOTIFY_PRISM_DIR"

// TwilioSpec is Twilio's OpenAPI description of the 2010-04-01 API, inside @twilio/cli-core.
const TwilioSpec = "node_modules/@twilio/cli-core/src/services/twilio-api/twilio_api_v2010.json"

// StartPrism serves Twilio's OpenAPI description with Prism's mock server and returns its base URL. It finds
// Prism in $APPTNOTIFY_PRISM_DIR, else in the repository's .ci/node (where .ci/run installs it).
func StartPrism(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(PrismEnv)
	if dir == "" {
		dir = repoPrismDir()
	}
	if dir == "" {
		Missing(t, "Prism is not installed: run bash .ci/prism.sh .ci/node (or set %s)", PrismEnv)
	}
	bin := filepath.Join(dir, "node_modules", ".bin", "prism")
	spec := filepath.Join(dir, TwilioSpec)
	for _, p := range []string{bin, spec} {
		if _, err := os.Stat(p); err != nil {
			Missing(t, "%s is missing (bash .ci/prism.sh %s)", p, dir)
		}
	}
	port := FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	start(t, bin, []string{"mock", "-p", strconv.Itoa(port), "-h", "127.0.0.1", spec}, addr)
	return "http://" + addr
}

// repoPrismDir returns the repository's .ci/node, found by walking up from the working directory to go.mod, or "".
func repoPrismDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".ci", "node")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
