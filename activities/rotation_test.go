package activities_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// verifier is a subscriber that knows one secret and answers 204 only to a webhook that verifies with it.
func verifier(t *testing.T, secret string) *httptest.Server {
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if wh.Verify(body, r.Header) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

// During a secret rotation's overlap (config.SecretOverlap) a webhook carries a signature for each secret in
// webhook-signature, so a receiver that knows only the old secret and one that knows only the new one both verify
// it; after the overlap (the worker no longer opens the previous secret) only the new one does.
func TestWebhookRotationOverlap(t *testing.T) {
	oldSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("o", 32)))
	newSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("n", 32)))
	oldOnly, newOnly := verifier(t, oldSecret), verifier(t, newSecret)
	org := &config.Org{ID: "acme", Platform: appt.Talkdesk, AllowPrivateWebhookAddresses: true}
	for _, u := range []string{oldOnly.URL, newOnly.URL} {
		org.Webhooks = append(org.Webhooks, config.Webhook{URL: u, Secret: newSecret, PreviousSecret: oldSecret})
	}
	w := activities.NewWebhookClient()
	msg := notification(appt.Reminder, ann, bob)
	require.NoError(t, w.SendWebhook(context.Background(), org, 0, msg), "the old-secret receiver verifies")
	require.NoError(t, w.SendWebhook(context.Background(), org, 1, msg), "the new-secret receiver verifies")

	org.Webhooks[0].PreviousSecret, org.Webhooks[1].PreviousSecret = "", ""
	require.Error(t, w.SendWebhook(context.Background(), org, 0, msg), "after the overlap the old secret no longer verifies")
	require.NoError(t, w.SendWebhook(context.Background(), org, 1, msg))
}
