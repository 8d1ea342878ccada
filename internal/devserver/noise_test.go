package devserver

import (
	"github.com/apptnotify/apptnotify/internal/testenv"

	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/primitives"
)

// TestHistoryPageSizeWarningIsQuiet asks the embedded server for a history page larger than its fixed maximum, as
// the Web UI does on every history view: the server's warning must not reach the log.
func TestHistoryPageSizeWarningIsQuiet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded server: skipped with -short")
	}
	var buf testenv.SyncBuffer
	s := startServer(t, Options{DataDir: t.TempDir(), Port: mustFreePort(t), UIPort: 0,
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), LogLevel: slog.LevelWarn})
	defer s.Stop()
	c := dial(t, s)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		// The workflow need not exist: the frontend checks the page size before it reads the history.
		_, _ = c.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
			Namespace:       s.Namespace(),
			Execution:       &commonpb.WorkflowExecution{WorkflowId: "appointment:none"},
			MaximumPageSize: primitives.GetHistoryMaxPageSize * 4,
		})
	}
	if strings.Contains(buf.String(), "page size is larger than threshold") {
		t.Errorf("the page-size warning reached the log:\n%s", buf.String())
	}
}
