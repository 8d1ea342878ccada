package workerapp

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/devserver"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// eventually polls cond until it holds or the deadline passes (no timed assertion: only an upper bound).
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fastBackoff shortens the pauses between attempts for the test, and restores them after it.
func fastBackoff(t *testing.T) {
	saved := clusterBackoff
	clusterBackoff.first, clusterBackoff.max = 100*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { clusterBackoff = saved })
}

// clusterEnv points the worker at addr, as compose does, with a key ring.
func clusterEnv(t *testing.T, addr string) {
	t.Setenv("TEMPORAL_ADDRESS", addr) // api.ClientOptions reads the process environment, as the SDK's envconfig does
	t.Setenv("TEMPORAL_NAMESPACE", "")
	t.Setenv(codec.KeysEnv, "k="+strings.Repeat("A", 43)+"=")
}

// waitLines are the worker's "waiting for the Temporal cluster" lines.
func waitLines(logs string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "waiting for the Temporal cluster") {
			out = append(out, l)
		}
	}
	return out
}

// A worker started before its cluster waits for it: first for a frontend that does not answer yet, then, once a
// real Temporal server is up without the namespace, for the namespace; it starts polling as soon as the namespace
// is registered, having logged each wait in one line. Before, it exited with "failed reaching server: Namespace
// default is not found".
func TestWorkerWaitsForTheServerAndTheNamespace(t *testing.T) {
	fastBackoff(t)
	port, err := devserver.FreePort()
	require.NoError(t, err)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	clusterEnv(t, addr)
	o, err := ParseFlags([]string{"--metrics", "", "--workflow-pollers", "2"}, os.Getenv)
	require.NoError(t, err)
	assert.Equal(t, DefaultClusterWait, o.ClusterWait)

	var logs, stdout testenv.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o, os.Getenv, logger, &stdout) }()
	waiting := func() {
		select {
		case err := <-done:
			t.Fatalf("the worker stopped instead of waiting: %v\n%s", err, logs.String())
		default:
		}
	}

	// 1. Nothing listens on the port yet.
	eventually(t, time.Minute, "a wait for the unreachable frontend", func() bool { waiting(); return len(waitLines(logs.String())) >= 2 })

	// 2. A real server comes up with another namespace only.
	srv, err := devserver.Start(context.Background(), devserver.Options{DataDir: t.TempDir(), Port: port, UIPort: -1,
		Namespace: "staging", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer srv.Stop()
	eventually(t, time.Minute, "a wait for the missing namespace", func() bool {
		waiting()
		return strings.Contains(logs.String(), "Namespace default is not found")
	})
	waiting()
	assert.NotContains(t, stdout.String(), "worker polling")

	// 3. The namespace is registered: the worker starts.
	admin, err := client.Dial(client.Options{HostPort: addr, Namespace: "staging", Logger: quietSDK()})
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.WorkflowService().RegisterNamespace(context.Background(), &workflowservice.RegisterNamespaceRequest{
		Namespace: "default", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
	require.NoError(t, err)
	eventually(t, 2*time.Minute, "the worker polling once the namespace exists", func() bool {
		return strings.Contains(stdout.String(), "worker polling task queue")
	})
	assert.Contains(t, logs.String(), "the Temporal cluster is ready")

	t.Logf("the worker's waits:\n%s", strings.Join(waitLines(logs.String()), "\n"))
	for _, l := range waitLines(logs.String()) {
		for _, k := range []string{"address=" + addr, "namespace=default", "reason=", "retryIn=", "giveUpAfter=5m0s"} {
			assert.Contains(t, l, k)
		}
	}

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("the worker did not stop")
	}
}

// A worker gives up once --cluster-wait has passed, and says how long it waited; with 0 it does not wait at all.
func TestWorkerGivesUpAfterClusterWait(t *testing.T) {
	fastBackoff(t)
	port, err := devserver.FreePort()
	require.NoError(t, err)
	clusterEnv(t, "127.0.0.1:"+strconv.Itoa(port))
	for _, tc := range []struct {
		wait  string
		waits bool
	}{{"1s", true}, {"0", false}} {
		var out, errb testenv.SyncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		start := time.Now()
		code := Main(ctx, []string{"--cluster-wait", tc.wait}, os.Getenv, &out, &errb)
		took := time.Since(start)
		cancel()
		assert.Equal(t, 1, code, errb.String())
		assert.Contains(t, errb.String(), "error: connecting to Temporal at 127.0.0.1:"+strconv.Itoa(port))
		if tc.waits {
			assert.NotEmpty(t, waitLines(errb.String()))
			assert.Contains(t, errb.String(), "gave up after")
			assert.Contains(t, errb.String(), "(--cluster-wait 1s)")
			assert.GreaterOrEqual(t, took, time.Second, "it gave up before the limit")
		} else {
			assert.Empty(t, waitLines(errb.String()))
		}
	}
}

// --cluster-wait defaults to 5 minutes, APPTNOTIFY_CLUSTER_WAIT replaces the default, the flag wins over both.
func TestClusterWaitFlag(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	o, err := ParseFlags(nil, getenv)
	require.NoError(t, err)
	assert.Equal(t, 5*time.Minute, o.ClusterWait)
	env[ClusterWaitEnv] = "10m"
	o, err = ParseFlags(nil, getenv)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute, o.ClusterWait)
	o, err = ParseFlags([]string{"--cluster-wait", "30s"}, getenv)
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, o.ClusterWait)
	env[ClusterWaitEnv] = "soon"
	_, err = ParseFlags(nil, getenv)
	assert.ErrorContains(t, err, ClusterWaitEnv)
	env[ClusterWaitEnv] = ""
	_, err = ParseFlags([]string{"--cluster-wait", "-1s"}, getenv)
	assert.Error(t, err)
}

// Only a cluster that is still coming up is waited for; a refused credential is not.
func TestClusterNotReady(t *testing.T) {
	for _, err := range []error{context.DeadlineExceeded, status.Error(codes.Unavailable, "connection refused"),
		fmt.Errorf("failed reaching server: %w", serviceerror.NewNamespaceNotFound("default")),
		fmt.Errorf("failed reaching server: %w", serviceerror.NewUnavailable("connection refused"))} {
		assert.True(t, clusterNotReady(err), "%v", err)
	}
	for _, err := range []error{context.Canceled, status.Error(codes.Unauthenticated, "no token"),
		fmt.Errorf("failed reaching server: %w", serviceerror.NewPermissionDenied("no", ""))} {
		assert.False(t, clusterNotReady(err), "%v", err)
	}
}

func quietSDK() sdklog.Logger { return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)) }
