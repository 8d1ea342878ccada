package startercli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/startercli"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

var errDialed = errors.New("dialed")

// testKeys is a key ring in APPTNOTIFY_ENCRYPTION_KEYS's format (32 zero bytes: a test key, never a real one).
const testKeys = "test=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

// runNoDial runs the starter with a Dial that records whether it was called: bad input must never get that far.
// The environment holds only a key ring: no secret of the worker.
func runNoDial(args ...string) (code int, stderr string, dialed bool) {
	code, stderr, dialed, _ = runEnv(map[string]string{codec.KeysEnv: testKeys}, args...)
	return code, stderr, dialed
}

// runEnv runs the starter with the given environment and returns the key ring it dialed with.
func runEnv(environ map[string]string, args ...string) (code int, stderr string, dialed bool, ring *codec.KeyRing) {
	var out, errb bytes.Buffer
	code = startercli.Run(context.Background(), args, startercli.Env{
		Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return environ[k] }, Now: func() time.Time { return now },
		Dial: func(r *codec.KeyRing) (client.Client, error) { dialed = true; ring = r; return nil, errDialed },
	})
	return code, errb.String(), dialed, ring
}

const good = "id=c1,name=Ann Lee,email=ann@example.com,phone=+15551234567,tz=Europe/Berlin,locale=de,role=customer"

func TestBadInputNeverDials(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		field string
	}{
		{"no verb", nil, "a verb is required"},
		{"unknown verb", []string{"launch"}, "unknown verb"},
		{"missing id", []string{"schedule", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--participant", good}, "id: is required"},
		{"bad id", []string{"schedule", "--id", "a b", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--participant", good}, "id:"},
		{"malformed org", []string{"schedule", "--id", "A1", "--org", "no pe!", "--start", "2026-05-02T10:00:00Z", "--participant", good}, "org:"},
		{"bad start", []string{"schedule", "--id", "A1", "--org", "demo", "--start", "tomorrow", "--participant", good}, "start:"},
		{"past start", []string{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-04-01T10:00:00Z", "--participant", good}, "start:"},
		{"bad duration", []string{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--duration", "long", "--participant", good}, "duration:"},
		{"negative duration", []string{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--duration", "-5m", "--participant", good}, "duration:"},
		{"no participant", []string{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z"}, "participant:"},
		{"bad email", []string{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--participant", "id=c1,email=x@"}, "participant[0].email"},
		{"bad phone", []string{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--participant", "id=c1,phone=555"}, "participant[0].phone"},
		{"unknown participant key", []string{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--participant", "id=c1,shoe=9"}, "participant[0]"},
		{"bad metadata", []string{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--participant", good, "--metadata", "novalue"}, "metadata"},
		{"bad join url", []string{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--participant", good, "--join-url", "nope"}, "join-url"},
		{"stray argument", []string{"cancel", "--id", "A1", "extra"}, "unexpected argument"},
		{"unknown flag", []string{"cancel", "--id", "A1", "--force"}, "flag provided but not defined"},
		{"reschedule into the past", []string{"reschedule", "--id", "A1", "--start", "2026-04-01T10:00:00Z"}, "start:"},
		{"start over 400 days ahead", []string{"schedule", "--id", "A1", "--org", "demo", "--start", "2027-06-06T12:00:01Z", "--participant", good}, "more than 400 days ahead"},
		{"reschedule over 400 days ahead", []string{"reschedule", "--id", "A1", "--start", "2027-06-06T12:00:01Z"}, "more than 400 days ahead"},
		{"joined without participant", []string{"joined", "--id", "A1"}, "participant: is required"},
		{"update without metadata", []string{"update", "--id", "A1"}, "metadata"},
		{"retry without entry", []string{"retry", "--id", "A1"}, "entry: is required"},
		{"status with bad id", []string{"status", "--id", "x/y"}, "id:"},
		{"notifications without sub-verb", []string{"notifications", "--org", "demo"}, "enable or disable"},
		{"notifications malformed org", []string{"notifications", "enable", "--org", "no pe!"}, "org:"},
		{"auto-activate off", []string{"auto-activate", "disable", "--org", "demo"}, "cannot be turned off"},
		{"missing config file", []string{"status", "--id", "A1", "--config", "/nonexistent.yaml"}, "config"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { requireBadInput(t, c.args, c.field) })
	}
}

// requireBadInput runs the starter with args and requires exit 2, no dial, and one line on stderr that contains
// field.
func requireBadInput(t *testing.T, args []string, field string) {
	t.Helper()
	code, stderr, dialed := runNoDial(args...)
	assert.Equal(t, startercli.ExitBadInput, code, stderr)
	assert.False(t, dialed, "nothing may be started, signalled, issued or revoked after bad input")
	assert.Contains(t, stderr, field)
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
}

func TestGoodInputDials(t *testing.T) {
	for _, args := range [][]string{
		{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--participant", good, "--metadata", "k=v"},
		{"reschedule", "--id", "A1", "--start", "2026-05-03T10:00:00Z", "--duration", "45m"},
		{"cancel", "--id", "A1", "--reason", "moved"},
		{"joined", "--id", "A1", "--participant", "c1"},
		{"status", "--id", "A1", "--json"},
		{"notifications", "disable", "--org", "demo"},
		{"auto-activate", "enable", "--org", "demo"},
	} {
		code, stderr, dialed := runNoDial(args...)
		assert.True(t, dialed, "%v: %s", args, stderr)
		assert.Equal(t, startercli.ExitOther, code, "a connection failure is exit 1")
	}
}

func TestParseParticipant(t *testing.T) {
	p, err := startercli.ParseParticipant(`id=c1,name=Lee\, Ann,email=ann@example.com,role=agent,tz=Europe/Berlin,locale=de,phone=+15551234567`)
	require.NoError(t, err)
	assert.Equal(t, appt.Participant{ID: "c1", Name: "Lee, Ann", Email: "ann@example.com", Role: appt.Agent,
		TZ: "Europe/Berlin", Locale: "de", Phone: "+15551234567"}, p)
	_, err = startercli.ParseParticipant("name=x")
	assert.ErrorContains(t, err, "id= is required")
	_, err = startercli.ParseParticipant("id=a,id=b")
	assert.ErrorContains(t, err, "twice")
}

// FuzzStarterArgs: any argument list either parses and validates, or exits 2 with one line naming the problem;
// nothing panics and, on error, nothing is dialed (so no workflow is started or signalled). The seeds are below and
// in testdata/fuzz/FuzzStarterArgs; .ci/run fuzzes for a short while on every run. Inputs that pass --config are
// skipped: the loader would read whatever file the fuzzer names (/dev/stdin, /dev/zero), and FuzzConfigParse covers
// the config's contents.
func FuzzStarterArgs(f *testing.F) {
	f.Add("schedule", "--id", "A1", "--start", "2026-05-02T10:00:00Z", "--participant", good)
	f.Add("reschedule", "--id", "A1", "--start", "2026-05-02T10:00:00Z", "--duration", "1h")
	f.Add("joined", "--id", "A1", "--participant", "c1", "--", "x")
	f.Add("update", "--metadata", "a=b", "--metadata", "a=c", "--id", "Z")
	f.Add("notifications", "enable", "--org", "demo", "", "", "")
	// The shapes of docs/validation.md: Latin specials, CJK, emoji, right-to-left, combining marks, control
	// characters, an encoded-word, and lengths at and past the limits.
	f.Add("schedule", "--id", "A1", "--start", "2026-05-02T10:00:00Z", "--participant", `id=c1,name=Liam O"Neil\, Jr. \\,email=liam@example.com`)
	f.Add("schedule", "--id", "A1", "--start", "2026-05-02T10:00:00Z", "--participant", "id=c1,name=Eve Stone\r\nBcc: someone@example.net,email=eve@example.com")
	f.Add("schedule", "--id", "A1", "--start", "2026-05-02T10:00:00Z", "--participant", "id=c1,name=山田 مريم\u200f 👩🏽\u200d⚕️ Zoe\u0308,email=山田@例え.jp,locale=ar-EG")
	f.Add("schedule", "--id", "A1", "--start", "2026-05-02T10:00:00Z", "--participant", "id=c1,name="+strings.Repeat("山", 201))
	f.Add("schedule", "--id", "A1", "--start", "2026-05-02T10:00:00Z", "--participant", "id=c1,name==?utf-8?q?Bank?=")
	f.Add("schedule", "--id", "A1", "--start", "2026-05-02T10:00:00Z", "--join-url", "https://video.example/j/山田\u2028")
	f.Add("update", "--id", "A1", "--metadata", "note=a\u0085b", "--metadata", "k="+strings.Repeat("😀", 257))
	f.Add("cancel", "--id", "A1", "--reason", "\x1b[2Jcustomer \"left\"", "", "")
	f.Fuzz(func(t *testing.T, verb, a1, a2, a3, a4, a5, a6 string) {
		args := []string{verb, a1, a2, a3, a4, a5, a6}
		for _, a := range args {
			if strings.HasPrefix(a, "-") && strings.HasPrefix(strings.TrimLeft(a, "-"), "config") {
				t.Skip("--config names a file to read")
			}
		}
		if verb == "schedule" {
			args = append(args, "--org", "demo")
		}
		code, stderr, dialed := runNoDial(args...)
		switch {
		case dialed && code == startercli.ExitOther:
		case dialed && code == startercli.ExitOK:
			t.Fatalf("dial failed yet exit 0")
		case !dialed && (code == startercli.ExitBadInput || code == startercli.ExitOK):
			if code == startercli.ExitBadInput && (stderr == "" || strings.Count(strings.TrimSpace(stderr), "\n") > 0 ||
				strings.Contains(stderr, "\r")) {
				t.Fatalf("not one line: %q", stderr)
			}
		default:
			t.Fatalf("args %q: code %d dialed %v stderr %q", args, code, dialed, stderr)
		}
	})
}

// Every verb needs a key ring: without APPTNOTIFY_ENCRYPTION_KEYS, a key file in --data-dir or --plaintext-history,
// it exits 2 with one line and dials nothing.
func TestKeyRingRequired(t *testing.T) {
	verbs := [][]string{
		{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--participant", good},
		{"reschedule", "--id", "A1", "--start", "2026-05-03T10:00:00Z"},
		{"cancel", "--id", "A1"}, {"activate", "--id", "A1"}, {"call-started", "--id", "A1"},
		{"joined", "--id", "A1", "--participant", "c1"}, {"call-ended", "--id", "A1"},
		{"update", "--id", "A1", "--metadata", "k=v"}, {"retry", "--id", "A1", "--entry", "e1"},
		{"status", "--id", "A1"}, {"notifications", "enable", "--org", "demo"}, {"auto-activate", "enable", "--org", "demo"},
	}
	empty := t.TempDir()
	for _, args := range verbs {
		code, stderr, dialed, _ := runEnv(nil, append(args, "--data-dir", empty)...)
		assert.Equal(t, startercli.ExitBadInput, code, "%v", args)
		assert.False(t, dialed, "%v", args)
		assert.Equal(t, "error: APPTNOTIFY_ENCRYPTION_KEYS is not set (or pass --plaintext-history)\n", stderr, "%v", args)

		code, stderr, dialed, ring := runEnv(nil, append(args, "--data-dir", empty, "--plaintext-history")...)
		assert.True(t, dialed, "%v: %s", args, stderr)
		assert.Nil(t, ring, "--plaintext-history dials without encryption")
		assert.Equal(t, startercli.ExitOther, code)
		assert.Contains(t, stderr, "warning: --plaintext-history")
	}
}

// The starter takes the key ring from the variable, else from the local worker's key file in --data-dir.
func TestKeyRingSources(t *testing.T) {
	args := []string{"status", "--id", "A1"}
	_, stderr, dialed, ring := runEnv(map[string]string{codec.KeysEnv: "new=" + strings.Repeat("A", 43) + "=,old=" + strings.Repeat("B", 43) + "="}, args...)
	require.True(t, dialed, stderr)
	assert.Equal(t, []string{"new", "old"}, ring.IDs())

	dir := t.TempDir()
	_, created, err := codec.LoadOrCreateKeyFile(filepath.Join(dir, codec.KeyFileName), now)
	require.NoError(t, err)
	require.True(t, created)
	_, stderr, dialed, ring = runEnv(nil, append(args, "--data-dir", dir)...)
	require.True(t, dialed, stderr)
	assert.Equal(t, []string{"k20260501"}, ring.IDs())

	code, stderr, dialed, _ := runEnv(map[string]string{codec.KeysEnv: "short=AAAA"}, args...)
	assert.Equal(t, startercli.ExitBadInput, code)
	assert.False(t, dialed)
	assert.Contains(t, stderr, "APPTNOTIFY_ENCRYPTION_KEYS: entry 1 (key \"short\"): the key is 3 bytes; AES-256 needs 32")
}

// The starter never reads a secret of the worker: every verb runs against a config whose *_env variables are all
// unset (SMTP password, Twilio credentials, webhook secrets).
func TestStarterNeedsNoWorkerSecret(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`smtp: {host: 127.0.0.1, port: 2525, username: mailer, password_env: SMTP_PASSWORD}
twilio: {account_sid_env: TWILIO_ACCOUNT_SID, auth_token_env: TWILIO_AUTH_TOKEN}
organizations:
  - id: acme
    platform: genesys
    email_from: "Acme <care@acme.example>"
    sms_from: "+15550000000"
    webhooks: [{url: "https://hooks.acme.example/a", secret_env: ACME_WEBHOOK_SECRET}]
`), 0o600))
	for _, args := range [][]string{
		{"schedule", "--id", "A1", "--org", "acme", "--start", "2026-05-02T10:00:00Z", "--participant", good},
		{"reschedule", "--id", "A1", "--start", "2026-05-03T10:00:00Z"},
		{"cancel", "--id", "A1"}, {"activate", "--id", "A1"}, {"call-started", "--id", "A1"},
		{"joined", "--id", "A1", "--participant", "c1"}, {"call-ended", "--id", "A1"},
		{"update", "--id", "A1", "--metadata", "k=v"}, {"retry", "--id", "A1", "--entry", "e1"},
		{"status", "--id", "A1"}, {"notifications", "disable", "--org", "acme"}, {"auto-activate", "enable", "--org", "acme"},
	} {
		code, stderr, dialed := runNoDial(append(args, "--config", cfg)...)
		assert.True(t, dialed, "%v: %s", args, stderr)
		assert.Equal(t, startercli.ExitOther, code, "%v: only the (test) connection fails: %s", args, stderr)
	}
}
