// Package orgs holds what the organisation-settings workflow, the API and the worker share about organisations as
// run-time data (docs/production.md, "Organisations"): how a written document takes over its subscribers' sealed
// secrets (Merge), which fields a write changed (Diff), and the worker's view of an organisation at send time
// (Directory).
package orgs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// Merge completes a written document against the current one (nil for a new organisation) at time now, matching
// subscribers by URL:
//   - a subscriber written without a sealed secret keeps the current subscriber's secret; a new subscriber
//     without one is an error naming webhooks[i].secret;
//   - a secret written again (same digest) changes nothing;
//   - a new secret for an existing subscriber is a rotation: the old one keeps signing until now+SecretOverlap
//     (config.SecretOverlap), and secret_changed_at is now;
//   - a previous secret whose overlap has ended is dropped.
//
// It is deterministic: the workflow calls it with workflow.Now.
func Merge(cur, next *config.Org, now time.Time) error {
	byURL := map[string]*config.Webhook{}
	if cur != nil {
		for i := range cur.Webhooks {
			byURL[cur.Webhooks[i].URL] = &cur.Webhooks[i]
		}
	}
	var missing []string
	for i := range next.Webhooks {
		w := &next.Webhooks[i]
		old := byURL[w.URL]
		switch {
		case w.SealedSecret == "" && old == nil:
			missing = append(missing, fmt.Sprintf("webhooks[%d].secret", i))
			continue
		case w.SealedSecret == "" || (old != nil && old.SecretDigest == w.SecretDigest):
			w.Sealing = old.Sealing
		case old != nil:
			w.PreviousSealedSecret = old.SealedSecret
			until := now.Add(config.SecretOverlap)
			w.PreviousSecretUntil = &until
			w.SecretChangedAt = &now
		default:
			w.SecretChangedAt = &now
		}
		if w.PreviousSecretUntil != nil && !now.Before(*w.PreviousSecretUntil) {
			w.PreviousSealedSecret, w.PreviousSecretUntil = "", nil
		}
		w.SecretSet = false
		missing = append(missing, mergeCredentials(old, w, i, now)...)
	}
	if len(missing) > 0 {
		return fmt.Errorf("a new subscriber or credential needs a secret: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Diff names the fields that differ between two documents (JSON of config.Org), sorted: object keys joined by
// dots, array elements by [i] (webhooks[0].url); a subscriber's sealed secret shows as webhooks[i].secret, and the
// bookkeeping beside it (digest, dates, previous secret) not at all. It never returns a value. An empty old is a
// new organisation: every field of new.
func Diff(old, new []byte) []string {
	var a, b any
	if len(old) > 0 {
		_ = json.Unmarshal(old, &a)
	}
	_ = json.Unmarshal(new, &b)
	seen := map[string]bool{}
	diff("", a, b, seen)
	return appt.SortedKeys(seen)
}

var hidden = map[string]string{
	"sealed_secret": "secret", "secret_digest": "", "secret_changed_at": "", "previous_sealed_secret": "",
	"previous_secret_until": "", "secret_set": "",
	// a delivery-auth credential (config.Credential): its sealed value shows as .value, nothing else of it
	"sealed": "value", "digest": "", "set": "", "changed_at": "",
}

func diff(path string, a, b any, out map[string]bool) {
	if reflect.DeepEqual(a, b) {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok || bok {
		keys := map[string]bool{}
		for _, k := range appt.SortedKeys(am) {
			keys[k] = true
		}
		for _, k := range appt.SortedKeys(bm) {
			keys[k] = true
		}
		for _, k := range appt.SortedKeys(keys) {
			name := k
			if h, ok := hidden[k]; ok {
				if h == "" {
					continue
				}
				name = h
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			diff(p, am[k], bm[k], out)
		}
		return
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if (aok || a == nil) && (bok || b == nil) && path != "reminder_offsets" {
		for i := 0; i < max(len(as), len(bs)); i++ {
			var x, y any
			if i < len(as) {
				x = as[i]
			}
			if i < len(bs) {
				y = bs[i]
			}
			diff(fmt.Sprintf("%s[%d]", path, i), x, y, out)
		}
		return
	}
	out[path] = true
}

// SecretDigest is the hex SHA-256 of a subscriber secret (config.Sealing.SecretDigest): what tells a write that
// sends the same secret again from a rotation.
func SecretDigest(secret string) string {
	d := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(d[:])
}
