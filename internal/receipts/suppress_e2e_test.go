package receipts_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/receipts"
	"github.com/apptnotify/apptnotify/internal/suppress"
	"github.com/apptnotify/apptnotify/internal/templates"
	"github.com/apptnotify/apptnotify/internal/testenv"
	"github.com/apptnotify/apptnotify/workflows"
)

// End to end, on an embedded Temporal server with the suppression workflow, the worker's cache and the real
// inbound route: a STOP texted after appointment B was scheduled keeps B's already planned reminder from calling
// Twilio (the entry is logged suppressed, sms_stop); after START, appointment C's reminder goes out again.
func TestStopKeepsAPlannedReminderFromTwilio(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an embedded Temporal server: skipped with -short")
	}
	tw := testenv.StartTwilio(t)
	cfg, err := config.ParseWorker([]byte(fmt.Sprintf(`
twilio: {base_url: %q, status_callback_url: %q}
organizations:
  - {id: acme, platform: genesys, sms_from: "+15550000000", max_attempts: 1, receipt_wait: 0s, reminder_offsets: [8s]}
`, tw.URL, publicURL)), func(k string) string {
		return map[string]string{"TWILIO_ACCOUNT_SID": testenv.TwilioAccountSID, "TWILIO_AUTH_TOKEN": testenv.TwilioAuthToken}[k]
	})
	require.NoError(t, err)
	tpl, err := templates.Load(cfg)
	require.NoError(t, err)
	sms, err := activities.NewTwilioSMS(cfg.Twilio, tpl)
	require.NoError(t, err)
	quiet := slog.New(slog.DiscardHandler)
	tc := (&stack{}).embedded(t, quiet)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hasher, err := addrhash.New(make([]byte, addrhash.KeySize))
	require.NoError(t, err)
	store := suppress.TemporalStore{C: tc}
	cache := suppress.NewCache(store)
	cctx, stopCache := context.WithCancel(context.Background())
	t.Cleanup(stopCache)
	go cache.Run(cctx)
	list := suppress.NewList(cfg, hasher, store, cache)
	w := worker.New(tc, appt.TaskQueue, worker.Options{})
	workflows.Register(w)
	activities.Register(w, &activities.Activities{Config: cfg, SMS: sms, Suppressions: list})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	h, err := receipts.NewHandler(cfg.Twilio.StatusCallbackURL, cfg.Twilio.AuthToken, tc, quiet)
	require.NoError(t, err)
	require.NoError(t, h.SetOptOuts(list))
	ls, err := receipts.Listen("127.0.0.1:0", h)
	require.NoError(t, err)
	t.Cleanup(ls.Close)
	base := "http://" + ls.Addr()
	a := api.New(tc, cfg)

	const ann = "+15551234567"
	schedule := func(id string, in time.Duration) {
		start := time.Now().Add(in).Truncate(time.Second)
		require.NoError(t, a.Schedule(ctx, &appt.ScheduleRequest{AppointmentID: id, Org: "acme", Start: start,
			End: start.Add(30 * time.Minute), Notifications: true,
			Participants: []appt.Participant{{ID: "c1", Name: "Ann Lee", Phone: ann, Locale: "en"}}}))
	}
	reminderOf := func(id string) *appt.DeliveryEntry {
		var found *appt.DeliveryEntry
		require.Eventually(t, func() bool {
			st, err := a.Status(ctx, id)
			if err != nil {
				return false
			}
			for i := range st.Deliveries {
				if e := st.Deliveries[i]; e.Type == appt.Reminder && e.Channel == appt.SMS {
					found = &e
					return true
				}
			}
			return false
		}, time.Minute, 200*time.Millisecond)
		return found
	}
	toAnn := func() int {
		n := 0
		for _, r := range tw.Requests() {
			if r.To == ann {
				n++
			}
		}
		return n
	}

	schedule("B", 30*time.Second) // CREATE now, the reminder planned 22 s from now: room for a slow machine
	require.Eventually(t, func() bool { return toAnn() == 1 }, 30*time.Second, 100*time.Millisecond, "B's CREATE")
	require.Equal(t, http.StatusOK, postSigned(t, base, config.InboundPath, inboundURL, inbound("SMstop", "stop"), ""))
	e := reminderOf("B")
	assert.Equal(t, appt.Suppressed, e.Status)
	assert.Equal(t, appt.ReasonSMSStop, e.Suppression)
	assert.Equal(t, 1, toAnn(), "B's reminder never reached Twilio")

	require.Equal(t, http.StatusOK, postSigned(t, base, config.InboundPath, inboundURL, inbound("SMstart", "START"), ""))
	schedule("C", 12*time.Second)
	e = reminderOf("C")
	assert.Equal(t, appt.Sent, e.Status, "%+v", e)
	assert.Equal(t, 3, toAnn(), "C's CREATE and reminder went out after START")
}
