package workerapp

import (
	"context"
	"log/slog"

	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/orgs"
	"github.com/apptnotify/apptnotify/internal/seal"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// OrgDirectory gives the activities the organisations as they are in force at send time (docs/rules.md#organisations):
// the config file's, replaced by the API's document once one is written, read through the settings cache; and the
// seal keys that open the subscriber secrets written through the API. With the embedded server the keys are
// APPTNOTIFY_SEAL_KEYS or <data-dir>/seal-keys (created on the first start, its public key written beside it for
// the starter); on a cluster only the variable counts.
func OrgDirectory(acts *activities.Activities, cfg *config.Config, tpl *templates.Set, getenv func(string) string,
	dataDir string, embedded bool, logger *slog.Logger) error {
	dir := ""
	if embedded {
		dir = dataDir
	}
	opener, err := seal.WorkerKeys(getenv, dir)
	if err != nil {
		return err
	}
	if opener == nil {
		logger.Warn(seal.PrivateKeysEnv + " is not set: webhooks of organisations written through the API cannot be signed")
	} else {
		logger.Info("seal keys loaded: the API and the starter seal subscriber secrets with this public key", "publicKey", opener.PublicKey())
	}
	acts.Orgs = orgs.NewDirectory(cfg, acts.Settings.Settings, orgs.DirectoryOptions{Opener: opener, Templates: tpl, Logger: logger})
	return nil
}

// apiRevisions lists the organisations written through the API with their revisions (api.Client.ListOrgs), for
// the sender index (orgs.Senders).
func apiRevisions(c client.Client, cfg *config.Config, ring *codec.KeyRing) orgs.Revisions {
	a := api.New(c, cfg)
	if ring != nil {
		a.DataConverter = codec.DataConverter(ring, nil) // the memos are encrypted
	}
	return func(ctx context.Context) (map[string]int64, error) {
		list, err := a.ListOrgs(ctx)
		if err != nil {
			return nil, err
		}
		out := map[string]int64{}
		for _, o := range list {
			if o.Source == orgs.SourceAPI {
				out[o.ID] = o.Revision
			}
		}
		return out, nil
	}
}
