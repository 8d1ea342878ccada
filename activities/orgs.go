package activities

import (
	"context"

	"github.com/apptnotify/apptnotify/internal/orgs"
)

// lookup finds an organisation as it is in force for this send (docs/rules.md#organisations): its document
// (provisioning, templates, webhook subscriptions, the API's copy once it has one) and its live settings, read
// through the settings cache (at most MaxSettingsAge old).
func (a *Activities) lookup(ctx context.Context, id string) (orgs.View, error) {
	d := a.Orgs
	if d == nil {
		var q orgs.Query
		if a.Settings != nil {
			q = a.Settings.Settings
		}
		d = orgs.NewDirectory(a.Config, q, orgs.DirectoryOptions{})
	}
	return d.Lookup(ctx, id)
}
