package startercli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/config"
)

// TestApplyReadsCredentialsFromShell states how `starter org apply -f` carries delivery-auth credentials: each env
// is read from the applying shell and sent as the value (which the API seals), with env dropped; an unset variable
// is bad input (exit 2) naming the field and the variable; an invalid document exits 2 naming the field (the
// file's loader stops at its first failing field, as for every other key).
func TestApplyReadsCredentialsFromShell(t *testing.T) {
	file := filepath.Join(t.TempDir(), "orgs.yaml")
	doc := `organizations:
  - id: acme
    platform: talkdesk
    webhooks:
      - url: https://h.example/hook
        secret_env: HOOK
        oauth2: {token_url: "https://idp.example/token", client_id: c, client_secret: {env: HOOK_CS}, scopes: [a]}
        headers: [{name: X-Key, secret: {env: HOOK_KEY}}]
`
	require.NoError(t, os.WriteFile(file, []byte(doc), 0o600))
	env := map[string]string{"HOOK": "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3", "HOOK_CS": "cs-1", "HOOK_KEY": "k-1"}
	docs, err := readApplyFile(file, func(k string) string { return env[k] })
	require.NoError(t, err)
	w := docs[0].Webhooks[0]
	assert.Equal(t, config.Credential{Value: "cs-1"}, w.OAuth2.ClientSecret)
	assert.Equal(t, config.Credential{Value: "k-1"}, *w.Headers[0].Secret)
	require.Empty(t, config.ValidateOrg(&docs[0]), "what apply sends passes the API's check")

	delete(env, "HOOK_KEY")
	_, err = readApplyFile(file, func(k string) string { return env[k] })
	require.Error(t, err)
	assert.Equal(t, ExitBadInput, exitCode(err))
	assert.Contains(t, err.Error(), "organizations[0].webhooks[0].headers[0].secret.env")
	assert.Contains(t, err.Error(), "HOOK_KEY")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`organizations:
  - id: acme
    platform: talkdesk
    webhooks:
      - url: https://h.example/hook
        secret_env: HOOK
        basic_auth: {username: "a:b", password: {env: HOOK_CS}}
        headers: [{name: Host, value: x}]
`), 0o600))
	_, err = readApplyFile(bad, func(k string) string { return env[k] })
	require.Error(t, err)
	assert.Equal(t, ExitBadInput, exitCode(err))
	assert.Contains(t, err.Error(), "organizations[0].webhooks[0].basic_auth.username")
}
