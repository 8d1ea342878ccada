package workerapp

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/suppress"
)

// StartSuppressions loads the address key (APPTNOTIFY_ADDRESS_KEY, or <data-dir>/address-key, created on the first
// start with the embedded server) and starts the suppression cache's refresh loop; stop ends it. The worker checks
// every email and SMS against the list, and its callback listener feeds it. A cluster worker without the key runs
// with no suppression list (nil), and says so at start: a bad key is an error.
func StartSuppressions(cfg *config.Config, dataDir string, embedded bool, getenv func(string) string, c client.Client,
	logger *slog.Logger) (*suppress.List, func(), error) {
	dir := ""
	if embedded {
		dir = dataDir
	}
	key, err := addrhash.Load(getenv, dir, embedded)
	if err != nil && !embedded && getenv(addrhash.EnvVar) == "" {
		logger.Warn("suppression list off: " + addrhash.EnvVar + " is not set (docs/security.md#the-suppression-list)")
		return nil, func() {}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("the suppression list needs the address key: %w", err)
	}
	h, err := addrhash.New(key)
	if err != nil {
		return nil, nil, err
	}
	store := suppress.TemporalStore{C: c}
	cache := suppress.NewCache(store)
	cache.Logger = logger
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cache.Run(ctx)
	}()
	return suppress.NewList(cfg, h, store, cache), func() { cancel(); <-done }, nil
}
