package workflows_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

type putOutcome struct {
	rejected error
	err      error
	result   *appt.PutOrgResult
}

func (h *harness) putOrg(d time.Duration, req appt.PutOrgRequest, out *putOutcome) {
	h.at(d, func() {
		h.env.UpdateWorkflow(appt.UpdatePutOrg, "put"+d.String(), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { out.rejected = err },
			OnComplete: func(v any, err error) {
				out.err = err
				if r, ok := v.(*appt.PutOrgResult); ok {
					out.result = r
				}
			},
		}, req)
	})
}

func orgJSON(t *testing.T, o config.Org) json.RawMessage {
	b, err := json.Marshal(o)
	require.NoError(t, err)
	return b
}

func rev(n int64) *int64 { return &n }

// The organisation document in the settings workflow (docs/production.md#organisations): a write with a stale
// If-Match revision, or a new subscriber without a secret, is rejected by the validator and changes nothing; an
// accepted write bumps the revision and records who, when and which fields (never a value); writing the same
// document again changes nothing; a new secret for a subscriber keeps the old one for config.SecretOverlap;
// disabling is a change of its own.
func TestOrgDocument(t *testing.T) {
	h := newHarness(t)
	hook := config.Webhook{URL: "https://hooks.acme.example/a", Sealing: config.Sealing{SealedSecret: "seal1.k.one", SecretDigest: "d1"}}
	v1 := config.Org{ID: "acme", Platform: appt.Genesys, EmailFrom: "care@acme.example", Webhooks: []config.Webhook{hook}}
	v2 := v1
	v2.EmailFrom = "desk@acme.example"
	v2.Webhooks = []config.Webhook{{URL: hook.URL, Sealing: config.Sealing{SealedSecret: "seal1.k.two", SecretDigest: "d2"}}}
	noSecret := v1
	noSecret.Webhooks = []config.Webhook{{URL: "https://hooks.acme.example/new"}}

	var create, same, stale, missing, rotate, disable putOutcome
	h.putOrg(time.Minute, appt.PutOrgRequest{Document: orgJSON(t, v1), IfMatch: rev(0), Who: "env-aaa", Action: "created"}, &create)
	h.putOrg(2*time.Minute, appt.PutOrgRequest{Document: orgJSON(t, v1), Who: "env-aaa", Action: "replaced"}, &same)
	h.putOrg(3*time.Minute, appt.PutOrgRequest{Document: orgJSON(t, v2), IfMatch: rev(0), Who: "env-bbb", Action: "replaced"}, &stale)
	h.putOrg(4*time.Minute, appt.PutOrgRequest{Document: orgJSON(t, noSecret), Who: "env-bbb", Action: "replaced"}, &missing)
	h.putOrg(5*time.Minute, appt.PutOrgRequest{Document: orgJSON(t, v2), IfMatch: rev(1), Who: "env-bbb", Action: "patched"}, &rotate)
	h.putOrg(6*time.Minute, appt.PutOrgRequest{IfMatch: rev(2), Who: "env-ccc", Action: "disabled", Disabled: true}, &disable)
	var s appt.OrgSettings
	var changes []appt.OrgChange
	h.at(7*time.Minute, func() {
		v, err := h.env.QueryWorkflow(appt.QueryOrgSettings)
		require.NoError(t, err)
		require.NoError(t, v.Get(&s))
		v, err = h.env.QueryWorkflow(appt.QueryOrgChanges)
		require.NoError(t, err)
		require.NoError(t, v.Get(&changes))
		h.env.CancelWorkflow()
	})
	h.env.ExecuteWorkflow(appt.OrgSettingsWorkflowType, &appt.OrgSettingsInput{Org: "acme", Settings: appt.DefaultOrgSettings(false)})

	require.NoError(t, create.err)
	assert.Equal(t, int64(1), create.result.Revision)
	require.NoError(t, same.err)
	assert.Equal(t, int64(1), same.result.Revision, "the same document again is no change")
	assert.Nil(t, same.result.Change)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(stale.rejected, &appErr), "a stale If-Match is rejected: %v", stale.rejected)
	assert.Equal(t, appt.OrgPreconditionFailed, appErr.Type())
	require.Error(t, missing.rejected)
	assert.Contains(t, missing.rejected.Error(), "webhooks[0].secret")
	require.NoError(t, rotate.err)
	assert.Equal(t, []string{"email_from", "webhooks[0].secret"}, rotate.result.Change.Fields)
	require.NoError(t, disable.err)
	assert.Equal(t, int64(3), disable.result.Revision)

	assert.True(t, s.Disabled)
	assert.Equal(t, int64(3), s.Revision)
	var got config.Org
	require.NoError(t, json.Unmarshal(s.Document, &got))
	w := got.Webhooks[0]
	assert.Equal(t, "seal1.k.two", w.SealedSecret)
	assert.Equal(t, "seal1.k.one", w.PreviousSealedSecret, "the old secret keeps signing during the overlap")
	require.NotNil(t, w.PreviousSecretUntil)
	assert.Equal(t, config.SecretOverlap, w.PreviousSecretUntil.Sub(*w.SecretChangedAt))

	require.Len(t, changes, 3)
	assert.Equal(t, "env-aaa", changes[0].Who)
	assert.Equal(t, "created", changes[0].Action)
	assert.Contains(t, changes[0].Fields, "webhooks[0].secret")
	assert.Equal(t, "env-ccc", changes[2].Who)
	assert.Equal(t, []string{"disabled"}, changes[2].Fields)
	for _, c := range changes {
		for _, f := range c.Fields {
			assert.NotContains(t, f, "seal1", "the trail names fields, never values")
		}
	}
}
