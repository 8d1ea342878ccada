// Command starter schedules appointments and tells their workflows what happened (docs/rules.md#the-starter). Run it with no
// arguments for the list of verbs.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/startercli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := startercli.Run(ctx, os.Args[1:], startercli.Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now,
		Dial: func(ring *codec.KeyRing) (client.Client, error) {
			opts, err := api.ClientOptionsWithKeys(ring)
			if err != nil {
				return nil, err
			}
			opts.Logger = log.NewStructuredLogger(slog.New(slog.DiscardHandler)) // one line per outcome, no SDK logs
			return client.Dial(opts)
		},
		Address: func() string {
			if opts, err := api.ClientOptions(); err == nil {
				return opts.HostPort
			}
			return api.DefaultAddress
		},
		Namespace: func() string {
			if opts, err := api.ClientOptions(); err == nil && opts.Namespace != "" {
				return opts.Namespace
			}
			return "default"
		},
	})
	stop()
	os.Exit(code)
}
