package orgs

import (
	"fmt"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/seal"
)

// CredentialContext is the HPKE context a subscriber's delivery-auth credentials (config.Credential) are sealed in:
// one per organisation, and not the signing secret's (SecretContext), so a sealed credential neither opens in
// another organisation nor passes for a signing secret.
func CredentialContext(org string) string { return "org/" + org + "/webhook-credential" }

// SealCredentials seals every credential of w given in the clear (config.Credential.Value) for the worker and
// drops the clear value; w's delivery auth is copied first, so the caller's document keeps its values. The
// digest lets a write that repeats a value change nothing.
func SealCredentials(s *seal.Sealer, org string, w *config.Webhook) error {
	w.DeliveryAuth = w.CopyAuth()
	for _, r := range w.Credentials() {
		r.C.Set, r.C.ChangedAt = false, nil
		if r.C.Value == "" {
			continue
		}
		sealed, err := s.Seal(CredentialContext(org), []byte(r.C.Value))
		if err != nil {
			return err
		}
		r.C.Sealed, r.C.Digest, r.C.Value = sealed, SecretDigest(r.C.Value), ""
	}
	return nil
}

// mergeCredentials completes w's credentials against old's (nil for a new subscriber), matched by
// config.CredentialRef.Key, as Merge does the signing secret: one written without a value keeps the stored one
// (a new one without a value is missing: its field is returned, webhooks[i].basic_auth.password); the same value
// again (same digest) changes nothing; a new value is stored with changed_at now. Deterministic (the workflow
// calls it with workflow.Now).
func mergeCredentials(old, w *config.Webhook, i int, now time.Time) []string {
	prev := map[string]*config.Credential{}
	if old != nil {
		for _, r := range old.Credentials() {
			prev[r.Key] = r.C
		}
	}
	w.DeliveryAuth = w.CopyAuth()
	var missing []string
	for _, r := range w.Credentials() {
		c, p := r.C, prev[r.Key]
		c.Set, c.Value = false, ""
		switch {
		case c.Sealed == "" && (p == nil || p.Sealed == ""):
			missing = append(missing, fmt.Sprintf("webhooks[%d].%s.value", i, r.Field))
		case p != nil && (c.Sealed == "" || c.Digest == p.Digest):
			c.Sealed, c.Digest, c.ChangedAt = p.Sealed, p.Digest, p.ChangedAt
		default:
			at := now
			c.ChangedAt = &at
		}
	}
	return missing
}

// openCredentials opens w's sealed credentials into their Value (the worker's Directory). The error names the
// field, never a value.
func openCredentials(o *seal.Opener, org string, i int, w *config.Webhook) error {
	for _, r := range w.Credentials() {
		if r.C.Sealed == "" {
			continue
		}
		pt, err := o.Open(CredentialContext(org), r.C.Sealed)
		if err != nil {
			return fmt.Errorf("organisation %s, webhooks[%d].%s: %w", org, i, r.Field, err)
		}
		r.C.Value = string(pt)
	}
	return nil
}

// PlanCredentials puts in each credential's Sealed what tells one value from another without holding any (the
// digest of a clear value, else the stored digest), for PlanOrg's Diff.
func PlanCredentials(w *config.Webhook) {
	w.DeliveryAuth = w.CopyAuth()
	for _, r := range w.Credentials() {
		switch {
		case r.C.Value != "":
			r.C.Sealed = SecretDigest(r.C.Value)
		default:
			r.C.Sealed = r.C.Digest
		}
		r.C.Value, r.C.Digest, r.C.Set, r.C.ChangedAt = "", "", false, nil
	}
}

// KeepCredentials gives each credential of next written without a value the one of prev (both after
// PlanCredentials), as Merge will.
func KeepCredentials(prev, next *config.Webhook) {
	old := map[string]*config.Credential{}
	for _, r := range prev.Credentials() {
		old[r.Key] = r.C
	}
	for _, r := range next.Credentials() {
		if p := old[r.Key]; r.C.Sealed == "" && p != nil {
			r.C.Sealed = p.Sealed
		}
	}
}

// checkAuthURLs applies the address guard to each subscriber's oauth2.token_url, as to its url: the token request
// carries the client secret, so it goes only where a webhook may.
func checkAuthURLs(doc *config.Org, checkURL URLCheck) []*appt.FieldError {
	var out []*appt.FieldError
	for i, w := range doc.Webhooks {
		if checkURL == nil || w.OAuth2 == nil || w.OAuth2.TokenURL == "" {
			continue
		}
		if err := checkURL(w.OAuth2.TokenURL, doc.AllowPrivateWebhookAddresses); err != nil {
			out = append(out, &appt.FieldError{Field: fmt.Sprintf("webhooks[%d].oauth2.token_url", i), Msg: err.Error()})
		}
	}
	return out
}

// CheckSealable names each credential given in the clear when there is no key to seal it with.
func CheckSealable(doc *config.Org, s *seal.Sealer) []*appt.FieldError {
	var out []*appt.FieldError
	for i, w := range doc.Webhooks {
		for _, r := range w.Credentials() {
			if r.C.Value != "" && s == nil {
				out = append(out, &appt.FieldError{Field: fmt.Sprintf("webhooks[%d].%s.value", i, r.Field), Msg: "cannot be sealed: " + seal.ErrNoPublicKey.Error()})
			}
		}
	}
	return out
}
