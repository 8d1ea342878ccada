package workerapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The worker's wait for its cluster (docs/production.md#start-order): with compose or Kubernetes, the server,
// the job that registers the namespace and the workers start together, and a worker that finds the frontend down
// or the namespace missing waits for them instead of exiting.
const (
	// DefaultClusterWait is --cluster-wait: how long a worker on a cluster waits for the frontend and the namespace
	// before it gives up. A new cluster on PostgreSQL (schema, server start, namespace and search attributes) took
	// 14 s in the cluster test; 5 minutes leaves room for a slow database start and for image pulls.
	DefaultClusterWait = 5 * time.Minute
	// ClusterWaitEnv sets --cluster-wait when the flag is not given.
	ClusterWaitEnv = "APPTNOTIFY_CLUSTER_WAIT"
)

// clusterBackoff is the pause between two attempts: the first pause, then doubling up to the cap. Each attempt
// is bounded by attempt. Tests shorten them.
var clusterBackoff = struct{ first, max, attempt time.Duration }{first: time.Second, max: 15 * time.Second, attempt: 5 * time.Second}

// dialCluster connects to the cluster and returns a client once the frontend answers for the namespace. While
// the frontend cannot be reached or the namespace does not exist yet, it retries with a capped exponential backoff
// and logs each wait in one line (the address, the namespace and gRPC's short reason: no personal data). It gives
// up once limit has passed, after a last attempt at the limit (0: after the first failure), and on any other error
// at once: a refused credential or a bad TLS setting does not fix itself.
func dialCluster(ctx context.Context, copts client.Options, limit time.Duration, logger *slog.Logger) (client.Client, error) {
	ns := copts.Namespace
	if ns == "" {
		ns = client.DefaultNamespace
	}
	start := time.Now()
	pause := clusterBackoff.first
	for attempt := 1; ; attempt++ {
		c, err := dialOnce(ctx, copts, ns)
		if err == nil {
			if attempt > 1 {
				logger.Info("the Temporal cluster is ready", "address", copts.HostPort, "namespace", ns,
					"waited", time.Since(start).Round(time.Millisecond))
			}
			return c, nil
		}
		waited := time.Since(start)
		notReady := clusterNotReady(err)
		if !notReady || ctx.Err() != nil || waited >= limit {
			if notReady && ctx.Err() == nil && attempt > 1 {
				return nil, fmt.Errorf("connecting to Temporal at %s: gave up after %s and %d attempts (--cluster-wait %s): %w",
					copts.HostPort, waited.Round(time.Second), attempt, limit, err)
			}
			return nil, fmt.Errorf("connecting to Temporal at %s: %w", copts.HostPort, err)
		}
		sleep := min(pause, limit-waited) // the last attempt is made at the limit
		logger.Warn("waiting for the Temporal cluster", "address", copts.HostPort, "namespace", ns,
			"reason", shortReason(err), "attempt", attempt, "retryIn", sleep.Round(time.Millisecond),
			"waited", waited.Round(time.Second), "giveUpAfter", limit)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to Temporal at %s: %w", copts.HostPort, ctx.Err())
		case <-time.After(sleep):
		}
		pause = min(2*pause, clusterBackoff.max)
	}
}

// dialOnce is one attempt: dial (which checks that the frontend answers) and describe the namespace.
func dialOnce(ctx context.Context, copts client.Options, ns string) (client.Client, error) {
	actx, cancel := context.WithTimeout(ctx, clusterBackoff.attempt)
	defer cancel()
	c, err := client.DialContext(actx, copts)
	if err != nil {
		return nil, err
	}
	if _, err := c.WorkflowService().DescribeNamespace(actx, &workflowservice.DescribeNamespaceRequest{Namespace: ns}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// clusterNotReady reports whether err means the cluster is still coming up: the frontend cannot be reached or is
// not serving yet (Unavailable, DeadlineExceeded, or the dial timing out), or the namespace is not registered yet
// (NotFound).
func clusterNotReady(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	code := status.Code(err) // a gRPC status, wrapped or not
	var se interface{ Status() *status.Status }
	if errors.As(err, &se) { // the API's service errors (serviceerror.Unavailable, NamespaceNotFound, …)
		code = se.Status().Code()
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.NotFound:
		return true
	}
	return false
}

// shortReason is the error's first line, cut to 200 characters: gRPC's dial errors can be long.
func shortReason(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
