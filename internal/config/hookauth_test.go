package config_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

func fieldsOf(errs []error) []string {
	var out []string
	for _, err := range errs {
		var fe *appt.FieldError
		if errors.As(err, &fe) {
			out = append(out, fe.Field)
		}
	}
	return out
}

// TestDeliveryAuthValidation states the write-time rules of delivery auth (docs/rules.md#webhook-delivery-auth), as
// the API checks a document: every failing field is named, and no message quotes a credential.
func TestDeliveryAuthValidation(t *testing.T) {
	doc := `{"id":"acme","platform":"talkdesk","webhooks":[
	  {"url":"https://a.example/h","secret":"x",
	   "basic_auth":{"username":"ac:me","password":{"value":"pw\u0001"}},
	   "oauth2":{"token_url":"http://idp.example/token","client_id":"","client_secret":{"env":"CS"},
	             "scopes":["ok","two words"],"endpoint_params":{"grant_type":"password","tenant":"t1"}},
	   "headers":[{"name":"Content-Length","value":"1"},{"name":"webhook-signature","value":"v1,x"},
	              {"name":"Authorization","value":"Bearer x"},{"name":"X-Key","value":"a","secret":{"value":"b"}},
	              {"name":"X-Empty"},{"name":"bad name","value":"v"},{"name":"X-A","value":"v"},{"name":"x-a","value":"w"},
	              {"name":"X-Split","secret":{"value":"a\r\nInjected: 1"}},{"name":"X-Signature","value":"v"},
	              {"name":"X-Sealed","secret":{"sealed":"seal1.abcd.xyz"}}],
	   "x_signature":{"secret":{"value":"short"}}},
	  {"url":"https://b.example/h","basic_auth":{"username":"","password":{}}}]}`
	var o config.Org
	require.NoError(t, json.Unmarshal([]byte(doc), &o))
	errs := config.ValidateOrg(&o)
	got := fieldsOf(errs)
	want := []string{
		"webhooks[0].oauth2", // with basic_auth
		"webhooks[0].basic_auth.username",
		"webhooks[0].oauth2.token_url",
		"webhooks[0].oauth2.client_id",
		"webhooks[0].oauth2.scopes[1]",
		"webhooks[0].oauth2.endpoint_params.grant_type",
		"webhooks[0].headers[0].name",
		"webhooks[0].headers[1].name",
		"webhooks[0].headers[2].name",
		"webhooks[0].headers[3]",
		"webhooks[0].headers[4]",
		"webhooks[0].headers[5].name",
		"webhooks[0].headers[7].name",
		"webhooks[0].headers[9].name",
		"webhooks[0].basic_auth.password.value",
		"webhooks[0].oauth2.client_secret.env",
		"webhooks[0].headers[8].secret.value",
		"webhooks[0].headers[10].secret",
		"webhooks[0].x_signature.secret.value",
		"webhooks[1].basic_auth.username",
	}
	assert.ElementsMatch(t, want, got, "%v", errs)
	for _, err := range errs {
		for _, secret := range []string{"pw\u0001", "Injected", "short"} {
			assert.NotContains(t, err.Error(), secret)
		}
	}

	// A valid document: no error, and a read shows each credential only as set.
	ok := `{"id":"acme","platform":"talkdesk","webhooks":[{"url":"https://a.example/h",
	  "oauth2":{"token_url":"https://idp.example/token","client_id":"c","client_secret":{"value":"cs-1"},"scopes":["a"],"audience":"https://api"},
	  "headers":[{"name":"X-Tenant","value":"acme"},{"name":"X-Key","secret":{"value":"k-1"}}],
	  "x_signature":{"secret":{"value":"` + strings.Repeat("s", 32) + `"}}}]}`
	var v config.Org
	require.NoError(t, json.Unmarshal([]byte(ok), &v))
	require.Empty(t, config.ValidateOrg(&v))
	v.Webhooks[0].OAuth2.ClientSecret.Sealed = "seal1.abcd.sealed"
	red, err := json.Marshal(v.Redacted())
	require.NoError(t, err)
	for _, s := range []string{"cs-1", "k-1", strings.Repeat("s", 32), "seal1", "digest"} {
		assert.NotContains(t, string(red), s)
	}
	assert.Contains(t, string(red), `"client_secret":{"set":true}`)
	assert.Contains(t, string(red), `{"name":"X-Tenant","value":"acme"}`)
	assert.Equal(t, "cs-1", v.Webhooks[0].OAuth2.ClientSecret.Value, "Redacted leaves the document alone")
}

// TestDeliveryAuthConfigFile states the config file's form: each credential names its environment variable (env);
// a missing env is named at load, an unset variable stops the worker naming the field and the variable, and
// ParseWorker puts the value in Value.
func TestDeliveryAuthConfigFile(t *testing.T) {
	base := `organizations: [{id: a, platform: talkdesk, webhooks: [{url: "https://h.example", secret_env: HOOK,
  basic_auth: {username: u, password: {env: HOOK_PW}},
  headers: [{name: X-Key, secret: {env: HOOK_KEY}}, {name: X-Plain, value: p}]}]}]`
	env := map[string]string{"HOOK": whsec(32), "HOOK_PW": "pw-1", "HOOK_KEY": "k-1"}
	c, err := config.ParseWorker([]byte(base), func(k string) string { return env[k] })
	require.NoError(t, err)
	w := c.Organizations[0].Webhooks[0]
	assert.Equal(t, "pw-1", w.BasicAuth.Password.Value)
	assert.Equal(t, "k-1", w.Headers[0].Secret.Value)

	delete(env, "HOOK_KEY")
	_, err = config.ParseWorker([]byte(base), func(k string) string { return env[k] })
	var fe *appt.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "config: organizations[0].webhooks[0].headers[0].secret.env", fe.Field)
	assert.Contains(t, err.Error(), "HOOK_KEY")

	_, err = config.Parse([]byte(strings.Replace(base, "{env: HOOK_PW}", "{}", 1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "organizations[0].webhooks[0].basic_auth.password.env")
}
