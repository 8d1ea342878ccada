package workerapp_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/workerapp"
)

// mainWith runs the worker command with the given environment and arguments and returns its exit code and stderr.
func mainWith(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := workerapp.Main(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return code, errb.String()
}

// A worker on a cluster reads its key ring only from APPTNOTIFY_ENCRYPTION_KEYS: without it, it stops with the
// one-line refusal, before connecting anywhere.
func TestClusterWorkerNeedsKeys(t *testing.T) {
	code, stderr := mainWith(t, map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"}, "--data-dir", t.TempDir())
	assert.Equal(t, 2, code)
	assert.Equal(t, "error: APPTNOTIFY_ENCRYPTION_KEYS is not set (or pass --plaintext-history)\n", stderr)
}

// A cluster worker with a codec port but no APPTNOTIFY_CODEC_TOKEN refuses to start and names the variable.
func TestClusterCodecEndpointNeedsToken(t *testing.T) {
	env := map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1", codec.KeysEnv: "k=" + strings.Repeat("A", 43) + "="}
	code, stderr := mainWith(t, env, "--codec-port", "18234")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--codec-port")
	assert.Contains(t, stderr, codec.TokenEnv+" is not set")
}

// With --codec-no-token a cluster worker serves the codec endpoint without a token (docker-compose.yml's
// development-only codec service): it gets past the token check, warns, and only then fails to reach the cluster.
func TestClusterCodecEndpointNoTokenForDevelopment(t *testing.T) {
	env := map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1", codec.KeysEnv: "k=" + strings.Repeat("A", 43) + "="}
	for k, v := range env { // api.ClientOptions reads the process environment, as the SDK's envconfig does
		t.Setenv(k, v)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	code, stderr := mainWith(t, env, "--codec-port", strconv.Itoa(port), "--codec-no-token", "--cluster-wait", "0")
	assert.Equal(t, 1, code, "connecting to 127.0.0.1:1 fails, after the codec endpoint started: %s", stderr)
	assert.NotContains(t, stderr, codec.TokenEnv+" is not set")
	assert.Contains(t, stderr, "the codec endpoint needs no token (local development only)")
	assert.Contains(t, stderr, "connecting to Temporal")
}

// The worker still resolves every secret it uses and stops at start naming the field.
func TestWorkerNamesAMissingSecret(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`organizations:
  - id: acme
    platform: talkdesk
    webhooks: [{url: "https://hooks.acme.example/a", secret_env: ACME_WEBHOOK_SECRET}]
`), 0o600))
	env := map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1", codec.KeysEnv: "k=" + strings.Repeat("A", 43) + "="}
	code, stderr := mainWith(t, env, "--config", cfg)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "organizations[0].webhooks[0].secret_env: environment variable ACME_WEBHOOK_SECRET is not set")
}

func TestCodecFlags(t *testing.T) {
	o, err := workerapp.ParseFlags(nil, func(string) string { return "" })
	require.NoError(t, err)
	assert.Equal(t, -1, o.CodecPort, "automatic: 8234 embedded, off on a cluster")
	assert.Equal(t, "127.0.0.1", o.CodecIP)
	_, err = workerapp.ParseFlags([]string{"--codec-ip", "localhost"}, func(string) string { return "" })
	assert.ErrorContains(t, err, "--codec-ip")
	_, err = workerapp.ParseFlags([]string{"--codec-port", "70000"}, func(string) string { return "" })
	assert.ErrorContains(t, err, "--codec-port")
}
