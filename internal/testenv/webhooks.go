package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"
)

// WebhookSecret is the signing secret test receivers verify with.
const WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Webhook is one verified request a receiver got.
type Webhook struct {
	ID        string    // the webhook-id header
	Type      string    // the payload's type, e.g. notification.reminder
	At        time.Time // when it arrived
	Body      []byte
	Status    int // what the receiver answered
	Timestamp string
}

// WebhookReceiver is a subscriber on 127.0.0.1 that verifies every request with the standard-webhooks library,
// records it, and answers with Respond (204 by default).
type WebhookReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []Webhook
	respond func(w Webhook) int
}

// StartWebhookReceiver starts a receiver that lives as long as the test.
func StartWebhookReceiver(t testing.TB) *WebhookReceiver {
	wh, err := standardwebhooks.NewWebhook(WebhookSecret)
	require.NoError(t, err)
	rc := &WebhookReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("webhook receiver: a request that does not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p struct{ Type string }
		_ = json.Unmarshal(body, &p)
		got := Webhook{ID: r.Header.Get("webhook-id"), Type: p.Type, At: time.Now(), Body: body,
			Timestamp: r.Header.Get("webhook-timestamp"), Status: http.StatusNoContent}
		rc.mu.Lock()
		if rc.respond != nil {
			got.Status = rc.respond(got)
		}
		rc.got = append(rc.got, got)
		rc.mu.Unlock()
		w.WriteHeader(got.Status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// Respond sets how the receiver answers from now on (nil: 204).
func (rc *WebhookReceiver) Respond(f func(w Webhook) int) {
	rc.mu.Lock()
	rc.respond = f
	rc.mu.Unlock()
}

// Got returns the requests received so far whose type matches (all when typ is "").
func (rc *WebhookReceiver) Got(typ string) []Webhook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []Webhook
	for _, w := range rc.got {
		if typ == "" || w.Type == typ {
			out = append(out, w)
		}
	}
	return out
}

// MailpitSummary is a message as Mailpit's list shows it, with when it arrived.
type MailpitSummary struct {
	ID        string
	MessageID string
	Subject   string
	Created   time.Time
	To        []MailpitAddress
}

// List returns every stored message's summary, newest first (up to 1,000,000).
func (m *Mailpit) List(t testing.TB) []MailpitSummary {
	t.Helper()
	var list struct{ Messages []MailpitSummary }
	m.do(t, http.MethodGet, "/messages?limit=1000000", nil, &list)
	return list.Messages
}
