package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/config"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func env(k string) string {
	return map[string]string{"ACME_WEBHOOK_SECRET": secret, "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t",
		"SMTP_PASSWORD": "pw", "BAD_SECRET": "not base64!", "SHORT_SECRET": "whsec_AQ==", "EMPTY_KEY": "whsec_",
		"KEY_23": "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhc="}[k]
}

const full = `
smtp:   {host: 127.0.0.1, port: 1025, tls: none, username: "", password_env: SMTP_PASSWORD}
twilio: {account_sid_env: TWILIO_ACCOUNT_SID, auth_token_env: TWILIO_AUTH_TOKEN, base_url: ""}
organizations:
  - id: acme
    platform: genesys
    email_from: "Acme Care <care@acme.example>"
    sms_from: "+15550000000"
    reminder_offsets: [24h, 1h]
    room_offset: 15m
    auto_activate: true
    max_attempts: 3
    expiry: 24h
    templates_dir: ""
    webhooks:
      - {url: "https://hooks.acme.example/appointments", secret_env: ACME_WEBHOOK_SECRET}
    allow_private_webhook_addresses: false
`

func TestSpecExampleLoads(t *testing.T) {
	c, err := config.ParseWorker([]byte(full), env)
	require.NoError(t, err)
	o, ok := c.Org("acme")
	require.True(t, ok)
	assert.True(t, o.EmailProvisioned())
	assert.True(t, o.SMSProvisioned())
	assert.Equal(t, []time.Duration{24 * time.Hour, time.Hour}, o.Offsets())
	assert.Equal(t, secret, o.Webhooks[0].Secret)
	assert.Equal(t, "AC1", c.Twilio.AccountSID)
}

func TestDefaults(t *testing.T) {
	c, err := config.ParseWorker([]byte("organizations: [{id: x, platform: talkdesk}]"), env)
	require.NoError(t, err)
	o, _ := c.Org("x")
	assert.Equal(t, config.DefaultReminderOffsets, o.Offsets())
	assert.Equal(t, 15*time.Minute, o.RoomOffset.D())
	assert.True(t, *o.AutoActivate)
	assert.Equal(t, 3, *o.MaxAttempts)
	assert.Equal(t, 24*time.Hour, o.Expiry.D())
	assert.False(t, o.EmailProvisioned(), "talkdesk never sends email")
	assert.Equal(t, "127.0.0.1", c.SMTP.Host)
	assert.Equal(t, 1025, c.SMTP.Port)
}

func TestDemo(t *testing.T) {
	c := config.Demo()
	o, ok := c.Org(config.DemoOrg)
	require.True(t, ok)
	assert.True(t, o.EmailProvisioned())
	assert.False(t, o.SMSProvisioned())
	assert.Empty(t, o.Webhooks)
	assert.Equal(t, config.TLSNone, c.SMTP.TLS)
}

func TestBadConfigNamesTheField(t *testing.T) {
	org := func(extra string) string {
		return "organizations:\n  - id: acme\n    platform: genesys\n" + extra
	}
	cases := []struct {
		name, yaml, field string
	}{
		{"unknown key", org("    colour: blue\n"), "colour"},
		{"unknown top-level key", "foo: 1\n" + org(""), "foo"},
		{"unknown platform", "organizations: [{id: a, platform: zoom}]", "organizations[0].platform"},
		{"missing platform", "organizations: [{id: a}]", "organizations[0].platform"},
		{"no organisations", "smtp: {port: 25}", "organizations"},
		{"duplicate org", org("  - {id: acme, platform: talkdesk}\n"), "organizations[1].id"},
		{"bad offset syntax", org("    reminder_offsets: [1 hour]\n"), "1 hour"},
		{"negative offset", org("    reminder_offsets: [-1h]\n"), "reminder_offsets"},
		{"duplicate offset", org("    reminder_offsets: [1h, 60m]\n"), "reminder_offsets"},
		{"bad sender", org("    email_from: \"not an address\"\n"), "email_from"},
		{"bad sms number", org("    sms_from: \"555-1234\"\n"), "sms_from"},
		{"missing twilio env", "twilio: {account_sid_env: NOPE}\n" + org("    sms_from: \"+15550000000\"\n"), "twilio.account_sid_env"},
		{"missing webhook secret", org("    webhooks: [{url: \"https://h.example\", secret_env: NOPE}]\n"), "webhooks[0].secret_env"},
		{"bad webhook secret", org("    webhooks: [{url: \"https://h.example\", secret_env: BAD_SECRET}]\n"), "webhooks[0].secret_env"},
		{"bad webhook url", org("    webhooks: [{url: \"ftp://h\", secret_env: ACME_WEBHOOK_SECRET}]\n"), "webhooks[0].url"},
		{"bad tls", "smtp: {tls: sometimes}\n" + org(""), "smtp.tls"},
		{"smtp user without password env", "smtp: {username: u}\n" + org(""), "smtp.password_env"},
		{"smtp password env unset", "smtp: {username: u, password_env: NOPE}\n" + org(""), "smtp.password_env"},
		{"max attempts 0", org("    max_attempts: 0\n"), "max_attempts"},
		{"bad spread", org("    reminder_spread: 2m\n"), "reminder_spread"},
		{"missing templates dir", org("    templates_dir: /nonexistent/dir\n"), "templates_dir"},
		{"two documents", org("") + "---\nfoo: 1\n", "more than one YAML document"},
		{"empty", "", "empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.ParseWorker([]byte(c.yaml), env)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.field)
			assert.True(t, strings.HasPrefix(err.Error(), "config: "), err.Error())
		})
	}
}

func TestSecretsOnlyWhenUsed(t *testing.T) {
	// No SMS anywhere: Twilio credentials are not required, even though the variables are named.
	_, err := config.ParseWorker([]byte("twilio: {account_sid_env: NOPE, auth_token_env: NOPE2}\norganizations: [{id: a, platform: genesys}]"), env)
	require.NoError(t, err)
	// A talkdesk org with sms_from never sends SMS, so it needs no Twilio credentials either.
	_, err = config.ParseWorker([]byte("twilio: {account_sid_env: NOPE}\norganizations: [{id: a, platform: talkdesk, sms_from: \"+15550000000\"}]"), env)
	require.NoError(t, err)
}

func TestResolve(t *testing.T) {
	c, err := config.Resolve("", func(string) string { return "" })
	require.NoError(t, err)
	_, ok := c.Org(config.DemoOrg)
	assert.True(t, ok, "no file: the demo organisation")
	_, err = config.Resolve("", func(k string) string {
		if k == config.EnvVar {
			return "/nonexistent.yaml"
		}
		return ""
	})
	require.Error(t, err, "APPTNOTIFY_CONFIG names the file")
}

// TestTwilioForOrganisationsWrittenThroughTheAPI (docs/rules.md#organisations): a worker whose config file has no
// organisation sending SMS still takes the Twilio credentials from its environment when both are set, so an
// organisation written through the API with sms_from can send; without them it starts (nothing in the file needs
// them) and such SMS are unprovisioned.
func TestTwilioForOrganisationsWrittenThroughTheAPI(t *testing.T) {
	y := []byte("organizations:\n  - {id: mail, platform: genesys, email_from: care@mail.example}\n")
	c, err := config.ParseWorker(y, func(k string) string {
		return map[string]string{"TWILIO_ACCOUNT_SID": "ACx", "TWILIO_AUTH_TOKEN": "tok"}[k]
	})
	require.NoError(t, err)
	assert.Equal(t, "ACx", c.Twilio.AccountSID)
	assert.Equal(t, "tok", c.Twilio.AuthToken)

	c, err = config.ParseWorker(y, func(string) string { return "" })
	require.NoError(t, err, "no organisation of the file needs them")
	assert.Empty(t, c.Twilio.AccountSID)

	c, err = config.ParseWorker(y, func(k string) string { return map[string]string{"TWILIO_ACCOUNT_SID": "ACx"}[k] })
	require.NoError(t, err)
	assert.Empty(t, c.Twilio.AccountSID, "one of the two is not enough")
}
