// Command worker runs apptnotify: the appointment workflows and their delivery activities on task queue
// "appointments". With no TEMPORAL_ADDRESS it starts an embedded Temporal server and its Web UI (docs/rules.md#the-worker).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/apptnotify/apptnotify/internal/workerapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := workerapp.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
