package activities_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/orgs"
	"github.com/apptnotify/apptnotify/internal/seal"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// An organisation that exists only as a document written through the API is read at send time (orgs.Directory):
// its subscriber's sealed secret is opened by the worker and signs the webhook the receiver verifies; once it is
// disabled, its notifications are skipped as under the global flag while lifecycle events still go out.
func TestOrgDocumentAtSendTime(t *testing.T) {
	rc := newReceiver(t)
	key, err := seal.NewPrivateKey()
	require.NoError(t, err)
	opener, err := seal.ParsePrivateKeys(key)
	require.NoError(t, err)
	sealed, err := opener.Sealer().Seal(orgs.SecretContext("gamma"), []byte(secret))
	require.NoError(t, err)
	doc, err := json.Marshal(config.Org{ID: "gamma", Platform: appt.Talkdesk, AllowPrivateWebhookAddresses: true,
		Webhooks: []config.Webhook{{URL: rc.URL + "/gamma", Sealing: config.Sealing{SealedSecret: sealed}}}})
	require.NoError(t, err)
	live := appt.OrgSettings{NotificationsEnabled: true, OrgDocument: appt.OrgDocument{Document: doc, Revision: 1}}
	query := func(_ context.Context, org string) (appt.OrgSettings, bool, error) { return live, org == "gamma", nil }
	file := config.Demo()
	acts := &activities.Activities{Config: file, Webhooks: activities.NewWebhookClient(),
		Orgs: orgs.NewDirectory(file, query, orgs.DirectoryOptions{Opener: opener, Templates: templates.Defaults()})}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	activities.Register(env, acts)
	deliver := func() []activities.Outcome {
		in := fanOut("gamma")
		in.Targets = []activities.Target{in.Targets[0], in.Targets[5]}
		val, err := env.ExecuteActivity(appt.ActivityDeliver, in)
		require.NoError(t, err)
		var res activities.DeliverResult
		require.NoError(t, val.Get(&res))
		return res.Outcomes
	}
	out := deliver()
	require.Equal(t, appt.Sent, out[0].Status, "%+v", out[0])
	require.Equal(t, appt.Sent, out[1].Status, "%+v", out[1])
	require.Len(t, rc.received(), 2)

	live.Disabled, live.Revision = true, 2
	out = deliver()
	require.Equal(t, appt.Sent, out[0].Status, "lifecycle events still go out")
	require.Equal(t, appt.SkippedDisabled, out[1].Status)
	require.Len(t, rc.received(), 3)
}
