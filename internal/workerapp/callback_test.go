package workerapp

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
