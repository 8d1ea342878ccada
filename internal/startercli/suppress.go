package startercli

import (
	"errors"
	"io/fs"

	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/suppress"
)

// suppressionList is the HTTP API's view of the suppression lists: the address key from APPTNOTIFY_ADDRESS_KEY or
// the local worker's <data-dir>/address-key (never created here), and the organisations' suppression workflows.
// Without a key it is nil and the suppression operations answer 503; a malformed key is an error.
func suppressionList(cfg *config.Config, tc client.Client, dataDir string, env Env) (*suppress.List, error) {
	key, err := addrhash.Load(env.Getenv, dataDir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	h, err := addrhash.New(key)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	return suppress.NewList(cfg, h, suppress.TemporalStore{C: tc}, nil), nil
}
