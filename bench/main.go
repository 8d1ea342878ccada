// Command bench measures apptnotify on this machine: the reminder herd, the engine's bare-workflow baseline,
// scheduling throughput, and the footprint of idle appointments. Run it with -h for the flags;
// docs/performance.md has the figures.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/apptnotify/apptnotify/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
