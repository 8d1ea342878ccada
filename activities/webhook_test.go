package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// receiver is a webhook subscriber that verifies every request with the standard-webhooks library.
type receiver struct {
	*httptest.Server
	t       *testing.T
	mu      sync.Mutex
	got     []received
	respond func(w http.ResponseWriter, r *http.Request)
}

type received struct {
	id, timestamp string
	body          []byte
}

func newReceiver(t *testing.T) *receiver {
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	rc := &receiver{t: t}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil || r.Method != http.MethodPost ||
			r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("receiver: a request that does not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, received{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), body})
		respond := rc.respond
		rc.mu.Unlock()
		if respond != nil {
			respond(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setRespond(fn func(w http.ResponseWriter, r *http.Request)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.respond = fn
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func webhookOrg(allowPrivate bool, urls ...string) *config.Org {
	o := &config.Org{ID: "acme", Platform: appt.Talkdesk, AllowPrivateWebhookAddresses: allowPrivate}
	for _, u := range urls {
		o.Webhooks = append(o.Webhooks, config.Webhook{URL: u, SecretEnv: "X", Secret: secret})
	}
	return o
}

func TestWebhookStatuses(t *testing.T) {
	now := time.Now()
	cases := []struct {
		status     int
		header     http.Header
		wantType   string // "" for success
		retryAfter time.Duration
	}{
		{200, nil, "", 0},
		{202, nil, "", 0},
		{400, nil, activities.ErrHTTPClient, 0},
		{401, nil, activities.ErrHTTPClient, 0},
		{403, nil, activities.ErrHTTPClient, 0},
		{404, nil, activities.ErrHTTPClient, 0},
		{409, nil, activities.ErrHTTPClient, 0},
		{410, nil, activities.ErrHTTPClient, 0},
		{413, nil, activities.ErrHTTPClient, 0},
		{422, nil, activities.ErrHTTPClient, 0},
		{408, nil, activities.ErrTransient, 0},
		{429, http.Header{"Retry-After": {"30"}}, activities.ErrTransient, 30 * time.Second},
		{429, http.Header{"Retry-After": {now.Add(2 * time.Minute).UTC().Format(http.TimeFormat)}},
			activities.ErrTransient, 2 * time.Minute},
		{500, nil, activities.ErrTransient, 0},
		{503, http.Header{"Retry-After": {"5"}}, activities.ErrTransient, 5 * time.Second},
		{304, nil, activities.ErrHTTPRedirect, 0},
	}
	rc := newReceiver(t)
	// The clock is the HTTP-date's reference; whole seconds, as HTTP-dates are.
	w := activities.NewWebhookClient(activities.WithWebhookClock(func() time.Time { return now.Truncate(time.Second) }))
	org := webhookOrg(true, rc.URL+"/hooks/appointments?token=s3cr3t")
	for _, c := range cases {
		t.Run(strconv.Itoa(c.status)+c.header.Get("Retry-After"), func(t *testing.T) {
			rc.setRespond(func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range c.header {
					w.Header()[k] = v
				}
				w.WriteHeader(c.status)
			})
			err := w.SendWebhook(context.Background(), org, 0, notification(appt.Reminder, ann))
			if c.wantType == "" {
				require.NoError(t, err)
				return
			}
			de := deliveryError(t, err, c.wantType)
			require.Equal(t, c.wantType == activities.ErrTransient, activities.Retryable(de.Type))
			require.InDelta(t, c.retryAfter.Seconds(), de.RetryAfter.Seconds(), 1)
			require.Contains(t, err.Error(), "subscriber 0 (127.0.0.1): HTTP "+strconv.Itoa(c.status))
			require.NotContains(t, err.Error(), "/hooks")
			noPII(t, err)
		})
	}
}

func TestWebhookTimeoutIsTransient(t *testing.T) {
	rc := newReceiver(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rc.setRespond(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	w := activities.NewWebhookClient(activities.WithWebhookTimeout(100 * time.Millisecond))
	err := w.SendWebhook(context.Background(), webhookOrg(true, rc.URL), 0, lifecycle(appt.EventScheduled))
	de := deliveryError(t, err, activities.ErrTransient)
	require.Contains(t, de.Msg, "no answer within 100ms")
}

func TestWebhookRedirectIsNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	t.Cleanup(target.Close)
	rc := newReceiver(t)
	rc.setRespond(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusFound)
	})
	w := activities.NewWebhookClient()
	err := w.SendWebhook(context.Background(), webhookOrg(true, rc.URL), 0, lifecycle(appt.EventScheduled))
	deliveryError(t, err, activities.ErrHTTPRedirect)
	require.Len(t, rc.received(), 1)
	require.Zero(t, hits.Load(), "the redirect target must receive nothing")
}

// TestWebhookIdentity: one webhook-id per event, the same for every subscriber and every retry; a fresh
// webhook-timestamp (and signature) per attempt.
func TestWebhookIdentity(t *testing.T) {
	rc1, rc2 := newReceiver(t), newReceiver(t)
	var tick atomic.Int64
	base := time.Now()
	w := activities.NewWebhookClient(activities.WithWebhookClock(func() time.Time {
		return base.Add(time.Duration(tick.Add(1)) * time.Second)
	}))
	org := webhookOrg(true, rc1.URL, rc2.URL)
	msg := notification(appt.Reminder, ann, bob)
	for range 2 { // the second round is a retry
		require.NoError(t, w.SendWebhook(context.Background(), org, 0, msg))
		require.NoError(t, w.SendWebhook(context.Background(), org, 1, msg))
	}
	got := append(rc1.received(), rc2.received()...)
	require.Len(t, got, 4)
	stamps := map[string]bool{}
	for _, g := range got {
		require.Equal(t, msg.EventID, g.id)
		require.Equal(t, string(got[0].body), string(g.body), "every attempt posts the same bytes")
		stamps[g.timestamp] = true
	}
	require.Len(t, stamps, 4, "each attempt has its own webhook-timestamp")
}

func TestWebhookPayload(t *testing.T) {
	rc := newReceiver(t)
	w := activities.NewWebhookClient()
	org := webhookOrg(true, rc.URL)
	noTZ := bob
	noTZ.TZ, noTZ.Locale, noTZ.Phone = "", "", ""
	require.NoError(t, w.SendWebhook(context.Background(), org, 0, notification(appt.Reminder, ann, noTZ)))
	create := notification(appt.Create, ann)
	create.Appointment.JoinURL, create.Appointment.Metadata = "", nil
	require.NoError(t, w.SendWebhook(context.Background(), org, 0, create))
	require.NoError(t, w.SendWebhook(context.Background(), org, 0, lifecycle(appt.EventCancelled)))
	agent := appt.Participant{ID: "a9", Name: "Agent Nine", Email: "a9@acme.example", Role: appt.Agent}
	removal := notification(appt.Cancelled, agent)
	removal.ParticipantID = agent.ID
	require.NoError(t, w.SendWebhook(context.Background(), org, 0, removal))
	got := rc.received()
	require.Len(t, got, 4)

	require.JSONEq(t, `{"type": "notification.reminder", "id": "A1/REMINDER/g0/1h0m0s", "timestamp": "2030-03-05T12:00:00Z",
	  "data": {"appointmentId": "A1", "org": "acme", "state": "active", "start": "2030-03-05T14:00:00Z",
	    "end": "2030-03-05T14:30:00Z", "metadata": {"ticket": "T-1"},
	    "notification": {"type": "REMINDER", "offset": "1h0m0s", "joinUrl": "https://video.example/join/A1?k=s3cr3t",
	      "recipients": [
	        {"id": "c1", "name": "Ann Lee", "email": "ann@example.com", "phone": "+15551234567", "locale": "en", "tz": "America/New_York", "role": "customer"},
	        {"id": "c2", "name": "Bob Meier", "email": "bob@example.com", "phone": "", "locale": "", "tz": "", "role": "customer"}]}}}`,
		string(got[0].body))

	var p map[string]any
	require.NoError(t, json.Unmarshal(got[1].body, &p))
	n := p["data"].(map[string]any)["notification"].(map[string]any)
	require.NotContains(t, n, "offset", "only REMINDER and ROOM carry an offset")
	require.NotContains(t, n, "joinUrl", "no link when the message may not carry it")
	require.Equal(t, map[string]any{}, p["data"].(map[string]any)["metadata"])

	require.JSONEq(t, `{"type": "appointment.cancelled", "id": "A1/appointment.cancelled/3", "timestamp": "2030-03-05T11:00:00Z",
	  "data": {"appointmentId": "A1", "org": "acme", "state": "scheduled", "start": "2030-03-05T14:00:00Z",
	    "end": "2030-03-05T14:30:00Z", "metadata": {}}}`, string(got[2].body))

	// The CANCELLED to a removed agent (notify_agents on): the participant named, listed alone, with its role.
	var rm activities.WebhookPayload
	require.NoError(t, json.Unmarshal(got[3].body, &rm))
	require.Equal(t, "a9", rm.Data.ParticipantID)
	require.Equal(t, []activities.WebhookRecipient{{ID: "a9", Name: "Agent Nine", Email: "a9@acme.example", Role: appt.Agent}},
		rm.Data.Notification.Recipients)
}

// TestWebhookAddressGuard: without allow_private_webhook_addresses, loopback, private and link-local targets are
// refused at dial time, after resolution (so localhost too), before any packet is sent.
func TestWebhookAddressGuard(t *testing.T) {
	rc := newReceiver(t)
	port := rc.URL[strings.LastIndexByte(rc.URL, ':')+1:]
	w := activities.NewWebhookClient(activities.WithWebhookTimeout(2 * time.Second))
	for _, u := range []string{
		"http://127.0.0.1:" + port + "/hook",
		"http://[::1]:" + port + "/hook",
		"http://localhost:" + port + "/hook",
		"http://169.254.169.254/latest/meta-data/",
		"http://10.0.0.1/hook",
		"http://192.168.1.10:8080/hook",
		"http://[fd00::1]/hook",
		"http://[fe80::1]/hook",
		"http://[::ffff:127.0.0.1]:" + port + "/hook",
		"http://0.0.0.0:" + port + "/hook",
		"http://224.0.0.1/hook",
	} {
		t.Run(u, func(t *testing.T) {
			err := w.SendWebhook(context.Background(), webhookOrg(false, u), 0, lifecycle(appt.EventScheduled))
			de := deliveryError(t, err, activities.ErrInvalidRecipient)
			require.False(t, activities.Retryable(de.Type))
			require.Contains(t, de.Msg, "allow_private_webhook_addresses")
		})
	}
	require.Empty(t, rc.received(), "a refused target receives nothing")

	// The organisation that allows private addresses reaches the same receiver.
	err := w.SendWebhook(context.Background(), webhookOrg(true, "http://localhost:"+port+"/hook"), 0,
		lifecycle(appt.EventScheduled))
	require.NoError(t, err)
	require.Len(t, rc.received(), 1)
}
