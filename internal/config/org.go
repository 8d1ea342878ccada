package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Sealing is what the organisation document holds about a webhook subscriber's secret once it came through the API
// (docs/security.md, "Seal keys"): the secret sealed with the worker's public key (internal/seal), never the value.
// A subscriber from the config file has none of it: its secret is in the worker's environment (secret_env).
type Sealing struct {
	// SealedSecret is the secret sealed for the worker (seal1.<key ID>.<data>); stored, never returned.
	SealedSecret string `json:"sealed_secret,omitempty"`
	// SecretDigest is the hex SHA-256 of the secret, so that a write that sends the same secret again is no
	// rotation (starter org apply is idempotent). Secrets are keys of at least 24 random bytes, so the digest
	// helps no one guess them. Stored, never returned.
	SecretDigest string `json:"secret_digest,omitempty"`
	// SecretSet is true on a read when the subscriber has a secret; it is all a read says about it.
	SecretSet bool `json:"secret_set,omitempty"`
	// SecretChangedAt is when the secret was last set or rotated.
	SecretChangedAt *time.Time `json:"secret_changed_at,omitempty"`
	// PreviousSealedSecret is the secret before the last rotation, which still signs until PreviousSecretUntil
	// (SecretOverlap after the rotation); stored, never returned.
	PreviousSealedSecret string `json:"previous_sealed_secret,omitempty"`
	// PreviousSecretUntil is when the previous secret stops signing.
	PreviousSecretUntil *time.Time `json:"previous_secret_until,omitempty"`
}

// SecretOverlap is how long a rotated-out webhook secret keeps signing beside the new one: during it every webhook
// carries two signatures in webhook-signature (Standard Webhooks allows several), so a receiver that knows either
// secret verifies it (docs/rules.md#organisations).
const SecretOverlap = 24 * time.Hour

// MarshalJSON writes Go duration syntax.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON parses Go duration syntax (90s, 15m, 24h).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration such as 90s, 15m or 24h is expected")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 90s, 15m or 24h", s)
	}
	*d = Duration(v)
	return nil
}

// ValidateOrg applies an organisation document's defaults and checks every field by the config loader's rules, as
// the API receives it: fields are named as in the document (room_offset, webhooks[0].url), templates_dir and
// secret_env are refused (they name things on the worker's host), and each error is an *appt.FieldError. Templates
// and webhook URLs' addresses are checked by their own packages (internal/templates, activities.CheckWebhookURL).
func ValidateOrg(o *Org) []error { return o.complete("", false) }

// Redacted is the document as a read shows it: every subscriber's secret reduced to secret_set and its dates.
func (o Org) Redacted() Org {
	o.Webhooks = append([]Webhook(nil), o.Webhooks...)
	for i := range o.Webhooks {
		w := &o.Webhooks[i]
		w.SecretSet = w.SealedSecret != "" || w.SecretEnv != ""
		w.SealedSecret, w.SecretDigest, w.PreviousSealedSecret, w.Secret, w.PreviousSecret = "", "", "", "", ""
		w.redactAuth()
	}
	return o
}

// ParseOrgs reads the organizations: list of a file in the config's format (other top-level keys are ignored),
// each organisation checked as the config loader checks it, without reading any secret. It is what
// `starter org apply -f FILE` reads.
func ParseOrgs(b []byte) ([]Org, error) {
	c, err := Parse(b)
	if err != nil {
		return nil, err
	}
	return c.Organizations, nil
}

// FieldPath turns an error field of ValidateOrg (webhooks[0].url) into the JSON pointer of the document
// (/webhooks/0/url).
func FieldPath(field string) string {
	r := strings.NewReplacer("[", "/", "]", "", ".", "/")
	return "/" + r.Replace(field)
}
