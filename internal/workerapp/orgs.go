package workerapp

import (
	"log/slog"

	"github.com/apptnotify/apptnotify/activities"
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
