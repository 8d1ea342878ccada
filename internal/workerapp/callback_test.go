package workerapp

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/devserver"
	"github.com/apptnotify/apptnotify/internal/receipts"
)

// --callback-listen needs the public URL Twilio signs, and status callbacks need a non-empty auth token: without
// them the worker stops at start, before it starts anything, naming the field.
func TestCallbackListenNeedsURLAndToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	noURL := write("no-url.yaml", "organizations: [{id: acme, platform: genesys, sms_from: \"+15550000000\"}]\n")
	withURL := write("url.yaml", "twilio: {status_callback_url: \"https://hooks.acme.example/twilio/status\"}\n"+
		"organizations: [{id: acme, platform: talkdesk}]\n")
	env := func(vals map[string]string) func(string) string { return func(k string) string { return vals[k] } }
	creds := map[string]string{"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "tok"}
	quiet := slog.New(slog.DiscardHandler)

	o, err := ParseFlags([]string{"--config", noURL, "--callback-listen", "127.0.0.1:0"}, env(nil))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:0", o.CallbackListen)
	err = Run(context.Background(), o, env(creds), quiet, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "twilio.status_callback_url")

	o, err = ParseFlags([]string{"--config", withURL, "--callback-listen", "127.0.0.1:0"}, env(nil))
	require.NoError(t, err)
	err = Run(context.Background(), o, env(nil), quiet, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "twilio.auth_token_env")

	o, err = ParseFlags(nil, env(nil))
	require.NoError(t, err)
	assert.Empty(t, o.CallbackListen, "off by default")
}

// With --callback-listen the worker opens <data-dir>/receipts.spool and forwards what an earlier run left there:
// a receipt for an appointment that has no workflow is dropped once Temporal says so, and the file is left empty.
func TestWorkerForwardsItsReceiptSpool(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an embedded Temporal server: skipped with -short")
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "worker.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("twilio: {status_callback_url: \"https://hooks.acme.example/twilio/status\"}\n"+
		"organizations: [{id: acme, platform: talkdesk}]\n"), 0o600))
	data := filepath.Join(dir, "data")
	spool := filepath.Join(data, receipts.SpoolFileName)
	require.NoError(t, os.MkdirAll(data, 0o700))
	require.NoError(t, os.WriteFile(spool, []byte(`{"appointmentId":"no-such-appointment","messageSid":"SM1","status":"delivered","at":"2026-03-01T09:00:07Z"}`+"\n"), 0o600))
	port, err := devserver.FreePort()
	require.NoError(t, err)
	env := func(k string) string {
		return map[string]string{"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "tok"}[k]
	}
	metricsPort, err := devserver.FreePort()
	require.NoError(t, err)
	metrics := "127.0.0.1:" + strconv.Itoa(metricsPort)
	o, err := ParseFlags([]string{"--config", cfgPath, "--data-dir", data, "--port", strconv.Itoa(port), "--ui-port", "0",
		"--codec-port", "0", "--callback-listen", "127.0.0.1:0", "--metrics", metrics}, env)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o, env, slog.New(slog.DiscardHandler), io.Discard) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(spool)
		return err == nil && len(b) == 0
	}, 2*time.Minute, 100*time.Millisecond, "the spooled receipt is forwarded (and dropped: no such workflow)")
	// The worker's /metrics shows the spool drained (the reporter publishes every second).
	require.Eventually(t, func() bool {
		res, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return err == nil && strings.Contains("\n"+string(b), "\n"+receipts.SpoolPendingMetric+" 0\n")
	}, 30*time.Second, 200*time.Millisecond, "%s 0 on /metrics", receipts.SpoolPendingMetric)
}

// A second worker with --callback-listen on a --data-dir whose spool another worker holds stops at start, before
// it connects to Temporal or starts anything, with a one-line error naming the spool; the holder's file is
// untouched.
func TestSecondWorkerOnOneDataDirStops(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "worker.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("twilio: {status_callback_url: \"https://hooks.acme.example/twilio/status\"}\n"+
		"organizations: [{id: acme, platform: talkdesk}]\n"), 0o600))
	data := filepath.Join(dir, "data")
	spoolPath := filepath.Join(data, receipts.SpoolFileName)
	held, err := receipts.OpenSpool(spoolPath, 10) // the first worker
	require.NoError(t, err)
	defer held.Close()
	// A cluster address nothing answers at: were the lock missing, the worker would get as far as dialling it.
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
	env := func(k string) string {
		return map[string]string{"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "tok", "TEMPORAL_ADDRESS": "127.0.0.1:1"}[k]
	}
	o, err := ParseFlags([]string{"--config", cfgPath, "--data-dir", data, "--plaintext-history", "--codec-port", "0",
		"--callback-listen", "127.0.0.1:0"}, env)
	require.NoError(t, err)
	err = Run(context.Background(), o, env, slog.New(slog.DiscardHandler), io.Discard)
	require.Error(t, err)
	assert.ErrorIs(t, err, receipts.ErrSpoolInUse)
	assert.Equal(t, "--callback-listen: receipt spool "+spoolPath+": in use by another worker process; each worker needs a --data-dir of its own", err.Error())
}
