package config_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// whsec is a Standard Webhooks secret with an n-byte key.
func whsec(n int) string {
	return "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", n)))
}

// TestWebhookSecretMinimum: a key shorter than Standard Webhooks' 24 bytes, the empty one included, stops the
// worker with the field and the variable named; the error never holds the secret.
func TestWebhookSecretMinimum(t *testing.T) {
	cases := []struct {
		name, secret string
		ok           bool
	}{
		{"empty key", "whsec_", false},
		{"1-byte key", "whsec_AQ==", false},
		{"23 bytes: one short", whsec(23), false},
		{"24 bytes: the minimum", whsec(24), true},
		{"64 bytes", whsec(64), true},
		{"without the whsec_ prefix", strings.TrimPrefix(whsec(32), "whsec_"), true},
		{"not base64", "whsec_not base64!", false},
		{"base64url alphabet", "whsec_" + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xfb", 30))), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			yaml := "organizations: [{id: a, platform: talkdesk, webhooks: [{url: \"https://h.example\", secret_env: HOOK}]}]"
			_, err := config.ParseWorker([]byte(yaml), func(k string) string {
				if k == "HOOK" {
					return c.secret
				}
				return ""
			})
			if c.ok {
				require.NoError(t, err)
				require.NoError(t, config.ValidateWebhookSecret("secret", "HOOK", c.secret))
				return
			}
			require.Error(t, err)
			var fe *appt.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "config: organizations[0].webhooks[0].secret_env", fe.Field)
			assert.Contains(t, err.Error(), "HOOK")
			if strings.HasPrefix(c.name, "1-byte") {
				assert.Contains(t, err.Error(), "1-byte key")
				assert.Contains(t, err.Error(), "at least 24 bytes")
			}
			if len(c.secret) > len("whsec_") {
				assert.NotContains(t, err.Error(), strings.TrimPrefix(c.secret, "whsec_"), "the secret never appears")
			}
		})
	}
}

// TestSenderVerdicts: email_from's display name and address follow the participants' rules, so whatever loads
// reaches the From header as typed (see the activities field tables).
func TestSenderVerdicts(t *testing.T) {
	cases := []struct {
		name, from string
		ok         bool
	}{
		{"quotes, comma, backslash, umlauts", `"Zahnärzte \"Süd\", Praxis \\ Mitte" <care@zahnärzte.example>`, true},
		{"cjk", "山田クリニック <care@例え.jp>", true},
		{"bare address", "care@acme.example", true},
		{"non-ASCII with a backslash and punctuation", `"Zoë \\ Praxis, Süd" <care@acme.example>`, true},
		{"non-ASCII with a backslash only: net/mail cannot write it", `"Zoë \\ Praxis" <care@acme.example>`, false},
		{"encoded-word lookalike", `"=?utf-8?q?Bank?=" <care@acme.example>`, false},
		{"domain literal", "care@[192.0.2.1]", false},
		{"underscore in the domain", "care@mail_host.example", false},
		{"name one past 200 characters", `"` + strings.Repeat("山", 201) + `" <care@acme.example>`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			yaml := "organizations:\n  - id: a\n    platform: genesys\n    email_from: '" + strings.ReplaceAll(c.from, "'", "''") + "'\n"
			_, err := config.ParseWorker([]byte(yaml), env)
			if c.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "organizations[0].email_from")
		})
	}
}
