package config_test

import (
	"encoding/base64"
	"net/mail"
	"strings"
	"testing"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// FuzzConfigParse: any bytes either load into a complete, valid config, or give one error that starts with
// "config: " (the worker prints it and stops before it starts anything). Nothing panics. The seeds are below and in
// testdata/fuzz/FuzzConfigParse; .ci/run fuzzes for a short while on every run.
func FuzzConfigParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte("organizations: [{id: x, platform: talkdesk}]"))
	f.Add([]byte("organizations:\n  - id: acme\n    platform: genesys\n    reminder_offsets: [90s, 1h]\n    max_attempts: 10\n"))
	f.Add([]byte("smtp: {username: u, password_env: SMTP_PASSWORD}\norganizations: [{id: a, platform: genesys, email_from: a@b.example}]"))
	f.Add([]byte("twilio: {base_url: \"http://127.0.0.1:1\"}\norganizations: [{id: a, platform: genesys, sms_from: \"+15550000000\"}]"))
	f.Add([]byte("organizations: [{id: a, platform: genesys, webhooks: [{url: \"https://h.example\", secret_env: ACME_WEBHOOK_SECRET}]}]"))
	f.Add([]byte("a: &a [*a, *a]\norganizations: [{id: a, platform: genesys}]"))
	f.Add([]byte("organizations: [{id: a, platform: genesys, expiry: 721h, room_offset: 0s}]"))
	f.Add([]byte("---\n---\n"))
	// Webhook secrets below Standard Webhooks' 24 bytes, and senders in every script and shape.
	f.Add([]byte("organizations: [{id: a, platform: talkdesk, webhooks: [{url: \"https://h.example\", secret_env: SHORT_SECRET}]}]"))
	f.Add([]byte("organizations: [{id: a, platform: talkdesk, webhooks: [{url: \"https://h.example\", secret_env: EMPTY_KEY}]}]"))
	f.Add([]byte("organizations: [{id: a, platform: talkdesk, webhooks: [{url: \"https://h.example\", secret_env: KEY_23}]}]"))
	f.Add([]byte("organizations: [{id: a, platform: genesys, email_from: '\"Zahnärzte \\\"Süd\\\", Praxis\" <care@zahnärzte.example>'}]"))
	f.Add([]byte("organizations: [{id: a, platform: genesys, email_from: \"山田 👩🏽‍⚕️ مريم Zoe\u0308 <山田@例え.jp>\"}]"))
	f.Add([]byte("organizations: [{id: a, platform: genesys, email_from: \"Eve\\r\\nBcc: x@example.net <e@example.com>\"}]"))
	f.Add([]byte("organizations: [{id: a, platform: genesys, email_from: \"=?utf-8?q?Bank?= <e@example.com>\"}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.ParseWorker(data, env)
		if err != nil {
			if c != nil {
				t.Fatalf("a config and an error: %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: ") || len(strings.TrimSpace(strings.TrimPrefix(msg, "config: "))) == 0 {
				t.Fatalf("not a clear config error: %q", msg)
			}
			return
		}
		checkComplete(t, c)
	})
}

// checkComplete asserts what a loaded config promises the worker: every default filled in and every value in range.
func checkComplete(t *testing.T, c *config.Config) {
	t.Helper()
	if c.SMTP.Port < 1 || c.SMTP.Port > 65535 || c.SMTP.Host == "" {
		t.Fatalf("smtp: %+v", c.SMTP)
	}
	switch c.SMTP.TLS {
	case config.TLSMandatory, config.TLSOpportunistic, config.TLSNone:
	default:
		t.Fatalf("smtp.tls %q", c.SMTP.TLS)
	}
	if c.SMTP.Username != "" && c.SMTP.Password == "" {
		t.Fatalf("a username without a password")
	}
	if len(c.Organizations) == 0 {
		t.Fatalf("no organisation")
	}
	seen := map[string]bool{}
	for i := range c.Organizations {
		o := &c.Organizations[i]
		if seen[o.ID] {
			t.Fatalf("organisation %q twice", o.ID)
		}
		seen[o.ID] = true
		if got, ok := c.Org(o.ID); !ok || got != o {
			t.Fatalf("Org(%q) does not find it", o.ID)
		}
		if o.Platform != appt.Genesys && o.Platform != appt.Talkdesk {
			t.Fatalf("%s: platform %q", o.ID, o.Platform)
		}
		if o.RoomOffset == nil || o.AutoActivate == nil || o.MaxAttempts == nil || o.Expiry == nil || o.ReminderSpread == nil {
			t.Fatalf("%s: a default is missing: %+v", o.ID, o)
		}
		if *o.MaxAttempts < 1 || *o.MaxAttempts > config.MaxMaxAttempts || o.RoomOffset.D() <= 0 || o.Expiry.D() <= 0 {
			t.Fatalf("%s: out of range: %+v", o.ID, o)
		}
		if err := appt.ValidateOffsets("reminder_offsets", o.Offsets()); err != nil {
			t.Fatalf("%s: %v", o.ID, err)
		}
		if o.SMSProvisioned() && (c.Twilio.AccountSID == "" || c.Twilio.AuthToken == "") {
			t.Fatalf("%s sends SMS without Twilio credentials", o.ID)
		}
		for j, w := range o.Webhooks {
			if w.Secret == "" || w.URL == "" {
				t.Fatalf("%s: webhook %d: %+v", o.ID, j, w)
			}
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(w.Secret, "whsec_"))
			if err != nil || len(key) < config.MinWebhookSecretBytes {
				t.Fatalf("%s: webhook %d: a %d-byte signing key was accepted", o.ID, j, len(key))
			}
		}
		if o.EmailFrom != "" {
			// What loads reaches the From header as typed: the structured address round-trips through RFC 5322.
			a, err := mail.ParseAddress(o.EmailFrom)
			if err != nil {
				t.Fatalf("%s: email_from %q loaded but does not parse: %v", o.ID, o.EmailFrom, err)
			}
			back, err := mail.ParseAddress(a.String())
			if err != nil || back.Name != a.Name || back.Address != a.Address {
				t.Fatalf("%s: email_from %q does not round-trip: %q gives %+v, %v", o.ID, o.EmailFrom, a.String(), back, err)
			}
		}
	}
}
