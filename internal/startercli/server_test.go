package startercli_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/devserver"
	"github.com/apptnotify/apptnotify/internal/startercli"
	"github.com/apptnotify/apptnotify/internal/uitest"
)

// starter runs the starter against a server, as the built binary would.
type starter struct {
	t      *testing.T
	addr   string
	getenv func(string) string
}

func (s starter) run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	quiet := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	code = startercli.Run(context.Background(), args, startercli.Env{
		Stdout: &out, Stderr: &errb, Getenv: s.getenv, Now: time.Now,
		Dial: func(ring *codec.KeyRing) (client.Client, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			opts := client.Options{HostPort: s.addr, Logger: quiet}
			api.Encrypt(&opts, ring, nil)
			return client.DialContext(ctx, opts)
		},
		Address: func() string { return s.addr },
	})
	return code, out.String(), errb.String()
}

func (s starter) ok(args ...string) string {
	s.t.Helper()
	code, out, errs := s.run(args...)
	require.Equal(s.t, startercli.ExitOK, code, "%v: %s%s", args, out, errs)
	return out
}

// TestStarterAgainstARealServer runs the verbs an operator scripts against an embedded server and a worker:
// list by organisation, state (a cancelled appointment is told apart from an ended one) and start window;
// schedule of an existing ID that names what differs and changes nothing; status text that lists every pending
// timer, expiry included, and "none" when nothing is pending.
func TestStarterAgainstARealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an embedded server: skipped with -short")
	}
	s := startStack(t)

	base := time.Now().Add(2 * time.Hour).Truncate(time.Hour)
	at := func(d time.Duration) string { return base.Add(d).UTC().Format(time.RFC3339) }
	const p = "id=c1,name=Ann Lee,email=ann@example.com"
	s.ok("schedule", "--id", "L1", "--org", "demo", "--start", at(0), "--participant", p)
	s.ok("schedule", "--id", "L2", "--org", "demo", "--start", at(time.Hour), "--participant", p)
	s.ok("schedule", "--id", "L3", "--org", "demo", "--start", at(2*time.Hour), "--participant", p)
	s.ok("cancel", "--id", "L2", "--reason", "customer asked")
	s.ok("call-started", "--id", "L3")
	s.ok("call-ended", "--id", "L3")

	// The visibility store follows the upserts within moments; poll until it has them all.
	var all string
	require.Eventually(t, func() bool {
		all = s.ok("list", "--org", "demo")
		return strings.Contains(all, "L1") && strings.Contains(all, "cancelled") && strings.Contains(all, "ended")
	}, 30*time.Second, 250*time.Millisecond, "list never showed the three: %s", all)
	lines := strings.Split(strings.TrimSpace(all), "\n")
	require.Len(t, lines, 4, all)
	assert.Regexp(t, `^APPOINTMENT\s+ORG\s+STATE\s+START\s+WORKFLOW$`, lines[0])
	assert.Regexp(t, `^L1\s+demo\s+active\s+`+at(0)+`\s+running$`, lines[1])
	assert.Regexp(t, `^L2\s+demo\s+cancelled\s+`+at(time.Hour)+`\s+completed$`, lines[2])
	assert.Regexp(t, `^L3\s+demo\s+ended\s+`+at(2*time.Hour)+`\s+completed$`, lines[3])

	only := func(out string, ids ...string) {
		t.Helper()
		for _, id := range []string{"L1", "L2", "L3"} {
			want := false
			for _, x := range ids {
				want = want || x == id
			}
			assert.Equal(t, want, strings.Contains(out, id+" "), "%s in %q", id, out)
		}
	}
	only(s.ok("list", "--state", "cancelled"), "L2")
	only(s.ok("list", "--state", "ended"), "L3")
	only(s.ok("list", "--from", at(30*time.Minute), "--to", at(time.Hour)), "L2")
	only(s.ok("list", "--from", at(time.Hour)), "L2", "L3")
	assert.Equal(t, "no appointment matches\n", s.ok("list", "--state", "expired"))
	code, _, errs := s.run("list", "--state", "finished")
	assert.Equal(t, startercli.ExitBadInput, code)
	assert.Contains(t, errs, `error: state: "finished" is not one of scheduled, active, in_call, ended, cancelled, expired, rejected`)
	code, _, errs = s.run("list", "--from", at(time.Hour), "--to", at(0))
	assert.Equal(t, startercli.ExitBadInput, code)
	assert.Contains(t, errs, "from: is after --to")

	// Scheduling an existing ID: the same request says only that; a different one also names what differs.
	assert.Equal(t, "already scheduled\n", s.ok("schedule", "--id", "L1", "--org", "demo", "--start", at(0), "--participant", p))
	out := s.ok("schedule", "--id", "L1", "--org", "demo", "--start", at(30*time.Minute),
		"--participant", p+",phone=+15551234567", "--participant", "id=c2,email=bob@example.com")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	assert.Equal(t, "already scheduled", lines[0])
	assert.Equal(t, "the existing appointment differs and was not changed: start (existing "+at(0)+", requested "+
		at(30*time.Minute)+"); participants (c1: phone differs; c2 is not in the existing appointment)", lines[1])
	assert.NotContains(t, out, "+1555", "a difference is named, never shown")
	status := s.ok("status", "--id", "L1")
	assert.Contains(t, status, "start "+at(0), "the second schedule changed nothing")

	// Every pending timer, expiry included; "none" once nothing is pending.
	assert.Regexp(t, `(?m)^PENDING\s+DUE\s+DETAIL\n^REMINDER\s+`+at(-2*time.Minute)+`\s+2m0s before the start\n^EXPIRY\s+`+
		at(30*time.Minute+24*time.Hour)+`\s+ends the appointment if no call-ended arrives$`, status)
	assert.Contains(t, s.ok("status", "--id", "L2"), "\nPENDING: none\n")
}

// startStack starts an embedded server and a worker (uitest.StartStack) for the test, and returns a starter that
// uses it with uitest.StackConfig, the stack's key ring, and every secret the worker would have.
func startStack(t *testing.T) starter {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stack, err := uitest.StartStack(ctx, t.TempDir(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(stack.Stop)
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(uitest.StackConfig), 0o644))
	return starter{t: t, addr: stack.Server.FrontendAddress(), getenv: func(k string) string {
		return map[string]string{"APPTNOTIFY_CONFIG": cfgFile, codec.KeysEnv: stack.Keys, "DEMO_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
			"TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000", "TWILIO_AUTH_TOKEN": "test"}[k]
	}}
}

// TestConnectionErrorNamesTheAddress: with nothing listening, the starter names the address and says that the
// local worker hosts the server, instead of gRPC's text, and exits 1.
func TestConnectionErrorNamesTheAddress(t *testing.T) {
	port, err := devserver.FreePort()
	require.NoError(t, err)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	keys, err := codec.NewKeyRingText(time.Now())
	require.NoError(t, err)
	s := starter{t: t, addr: addr, getenv: func(k string) string { return map[string]string{codec.KeysEnv: keys}[k] }}
	code, _, errs := s.run("status", "--id", "A1")
	assert.Equal(t, startercli.ExitOther, code)
	assert.Equal(t, "error: cannot reach Temporal at "+addr+" (connection refused): is the worker running? Locally it hosts the Temporal server\n", errs)
	assert.NotContains(t, errs, "rpc error")
}
