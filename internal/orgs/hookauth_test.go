package orgs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/orgs"
	"github.com/apptnotify/apptnotify/internal/seal"
)

func authDoc(password, key string) *config.Org {
	o := &config.Org{ID: "acme", Platform: appt.Talkdesk, Webhooks: []config.Webhook{{
		URL: "https://a.example/h",
		DeliveryAuth: config.DeliveryAuth{
			BasicAuth: &config.BasicAuth{Username: "u", Password: config.Credential{Value: password}},
			Headers:   []config.WebhookHeader{{Name: "X-Plain", Value: "p"}, {Name: "X-Key", Secret: &config.Credential{Value: key}}},
		},
	}}}
	o.Webhooks[0].Sealing = config.Sealing{SealedSecret: "seal1.x.y", SecretDigest: "d"}
	return o
}

// sealDoc seals a written document's credentials as the API does before it reaches Temporal.
func sealDoc(t *testing.T, s *seal.Sealer, o *config.Org) *config.Org {
	t.Helper()
	stored := *o
	stored.Webhooks = append([]config.Webhook(nil), o.Webhooks...)
	for i := range stored.Webhooks {
		require.NoError(t, orgs.SealCredentials(s, o.ID, &stored.Webhooks[i]))
	}
	return &stored
}

// TestCredentialsSealed states the write-only rule of delivery-auth credentials (docs/security.md, "Seal keys"):
// what the API stores (and so what Temporal's history holds) has no credential in the clear, only its sealed value
// and digest; the written document keeps its values; the worker's Directory opens them; a read shows only set and
// changed_at; a sealed credential does not open as the organisation's signing secret nor for another organisation.
func TestCredentialsSealed(t *testing.T) {
	k, err := seal.NewPrivateKey()
	require.NoError(t, err)
	op, err := seal.ParsePrivateKeys(k)
	require.NoError(t, err)
	doc := authDoc("pw-secret-1", "key-secret-1")
	stored := sealDoc(t, op.Sealer(), doc)
	require.NoError(t, orgs.Merge(nil, stored, time.Unix(1_700_000_000, 0).UTC()))
	b, err := json.Marshal(stored)
	require.NoError(t, err)
	for _, s := range []string{"pw-secret-1", "key-secret-1"} {
		assert.NotContains(t, string(b), s)
	}
	assert.Equal(t, "pw-secret-1", doc.Webhooks[0].BasicAuth.Password.Value, "the caller's document is not changed")
	pw := stored.Webhooks[0].BasicAuth.Password
	require.True(t, seal.IsSealed(pw.Sealed))
	require.Equal(t, orgs.SecretDigest("pw-secret-1"), pw.Digest)
	require.NotNil(t, pw.ChangedAt)
	_, err = op.Open(orgs.SecretContext("acme"), pw.Sealed)
	require.Error(t, err, "not a signing secret")
	_, err = op.Open(orgs.CredentialContext("other"), pw.Sealed)
	require.Error(t, err, "not another organisation's")

	d := orgs.NewDirectory(&config.Config{}, func(context.Context, string) (appt.OrgSettings, bool, error) {
		return appt.OrgSettings{OrgDocument: appt.OrgDocument{Document: b, Revision: 1}}, true, nil
	}, orgs.DirectoryOptions{Opener: op})
	v, err := d.Lookup(context.Background(), "acme")
	require.Error(t, err, "the test document's signing secret is not sealed for this key")
	stored.Webhooks[0].Sealing = config.Sealing{}
	b, _ = json.Marshal(stored)
	d = orgs.NewDirectory(&config.Config{}, func(context.Context, string) (appt.OrgSettings, bool, error) {
		return appt.OrgSettings{OrgDocument: appt.OrgDocument{Document: b, Revision: 1}}, true, nil
	}, orgs.DirectoryOptions{Opener: op})
	v, err = d.Lookup(context.Background(), "acme")
	require.NoError(t, err)
	assert.Equal(t, "pw-secret-1", v.Org.Webhooks[0].BasicAuth.Password.Value)
	assert.Equal(t, "key-secret-1", v.Org.Webhooks[0].Headers[1].Secret.Value)

	red, err := json.Marshal(v.Org.Redacted())
	require.NoError(t, err)
	for _, s := range []string{"pw-secret-1", "key-secret-1", "seal1.", "digest"} {
		assert.NotContains(t, string(red), s)
	}
	assert.Contains(t, string(red), `"password":{"set":true,"changed_at":"2023-11-14T22:13:20Z"}`)
}

// TestCredentialsMerge states how a write completes credentials against the stored document (orgs.Merge): one
// written without a value keeps the stored one and its changed_at; the same value again changes nothing; a new
// value is stored with changed_at the write's time; a new credential without a value is refused, naming it.
func TestCredentialsMerge(t *testing.T) {
	k, _ := seal.NewPrivateKey()
	op, _ := seal.ParsePrivateKeys(k)
	t0, t1 := time.Unix(1_700_000_000, 0).UTC(), time.Unix(1_700_100_000, 0).UTC()
	cur := sealDoc(t, op.Sealer(), authDoc("pw-1", "key-1"))
	require.NoError(t, orgs.Merge(nil, cur, t0))

	omitted := sealDoc(t, op.Sealer(), authDoc("", ""))
	omitted.Webhooks[0].Sealing = config.Sealing{}
	require.NoError(t, orgs.Merge(cur, omitted, t1))
	assert.Equal(t, cur.Webhooks[0].BasicAuth.Password, omitted.Webhooks[0].BasicAuth.Password)
	assert.Equal(t, *cur.Webhooks[0].Headers[1].Secret, *omitted.Webhooks[0].Headers[1].Secret)

	same := sealDoc(t, op.Sealer(), authDoc("pw-1", "key-2"))
	same.Webhooks[0].Sealing = config.Sealing{}
	require.NoError(t, orgs.Merge(cur, same, t1))
	assert.Equal(t, cur.Webhooks[0].BasicAuth.Password, same.Webhooks[0].BasicAuth.Password, "the same password: no change")
	key := same.Webhooks[0].Headers[1].Secret
	assert.Equal(t, t1, *key.ChangedAt)
	pt, err := op.Open(orgs.CredentialContext("acme"), key.Sealed)
	require.NoError(t, err)
	assert.Equal(t, "key-2", string(pt))

	added := sealDoc(t, op.Sealer(), authDoc("", ""))
	added.Webhooks[0].Sealing = config.Sealing{}
	added.Webhooks[0].XSignature = &config.XSignature{}
	err = orgs.Merge(cur, added, t1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "webhooks[0].x_signature.secret.value")
	assert.False(t, strings.Contains(err.Error(), "basic_auth"), "the kept password is not missing: %v", err)
}

// TestTokenURLGuardAtWrite states that a document's oauth2.token_url is checked against the webhook address guard
// at write time, like its url, and the field is named.
func TestTokenURLGuardAtWrite(t *testing.T) {
	o := authDoc("pw", "k")
	o.Webhooks[0].BasicAuth = nil
	o.Webhooks[0].OAuth2 = &config.OAuth2Auth{TokenURL: "https://127.0.0.1/token", ClientID: "c", ClientSecret: config.Credential{Value: "s"}}
	var checked []string
	errs := orgs.Check(o, nil, func(raw string, _ bool) error {
		checked = append(checked, raw)
		if strings.Contains(raw, "127.0.0.1") {
			return assert.AnError
		}
		return nil
	})
	assert.Equal(t, []string{"https://a.example/h", "https://127.0.0.1/token"}, checked)
	require.Len(t, errs, 1)
	assert.Equal(t, "webhooks[0].oauth2.token_url", errs[0].Field)
}
