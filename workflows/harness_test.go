package workflows_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	sdkclient "go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/workflows"
)

// t0 is the test clock's start: every test schedules relative to it.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// send is one attempt that reached a (fake) provider.
type send struct {
	At        time.Time
	Channel   appt.Channel
	Type      appt.NotificationType
	Event     string
	EventID   string
	Recipient string
	JoinURL   string
	Offset    time.Duration
	Sequence  int
	// Recipients are the participant IDs of a webhook payload's data.notification.recipients (webhooks only).
	Recipients []string
}

// harness runs the real activities against in-memory senders inside the time-skipping test environment.
type harness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu       sync.Mutex
	sends    []send                                                            // successful sends
	attempts map[string]int                                                    // attempts per notification ID
	fail     func(ch appt.Channel, msg *activities.Message, attempt int) error // nil: everything succeeds
	global   bool                                                              // the live global flag
	auto     bool                                                              // the live auto-activate flag
	acts     *activities.Activities
}

type harnessOption func(*orgYAML)

type orgYAML struct {
	platform, extra string
	autoActivate    bool
	webhooks        bool
	sms             bool
	maxAttempts     int
	remote          bool
	top             string                   // top-level config sections
	metrics         sdkclient.MetricsHandler // the workflows' metrics handler; nil: the SDK's no-op
}

func withAutoActivate(on bool) harnessOption { return func(o *orgYAML) { o.autoActivate = on } }
func withTalkdesk() harnessOption            { return func(o *orgYAML) { o.platform = "talkdesk" } }
func withMaxAttempts(n int) harnessOption    { return func(o *orgYAML) { o.maxAttempts = n } }
func withRemoteDelivery() harnessOption      { return func(o *orgYAML) { o.remote = true } }

// withReceiptWait turns status callbacks on (twilio.status_callback_url) with the organisation's receipt_wait.
func withReceiptWait(wait string) harnessOption {
	return func(o *orgYAML) {
		o.top = "twilio: {status_callback_url: \"https://hooks.acme.example/twilio/status\"}\n"
		o.extra += "    receipt_wait: " + wait + "\n"
	}
}
func withMetrics(m sdkclient.MetricsHandler) harnessOption {
	return func(o *orgYAML) { o.metrics = m }
}
func withOrgYAML(extra string) harnessOption {
	return func(o *orgYAML) { o.extra += extra }
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	o := orgYAML{platform: "genesys", autoActivate: true, webhooks: true, sms: true, maxAttempts: 3}
	for _, f := range opts {
		f(&o)
	}
	y := fmt.Sprintf(`
smtp: {host: 127.0.0.1, port: 1025, tls: none}
organizations:
  - id: acme
    platform: %s
    email_from: "Acme Care <care@acme.example>"
    auto_activate: %t
    max_attempts: %d
`, o.platform, o.autoActivate, o.maxAttempts)
	if o.sms {
		y += "    sms_from: \"+15550000000\"\n"
	}
	if o.webhooks {
		y += "    webhooks:\n      - {url: \"https://hooks.acme.example/a\", secret_env: HOOK_SECRET}\n"
	}
	y += o.extra + o.top
	cfg, err := config.ParseWorker([]byte(y), func(k string) string {
		return map[string]string{"HOOK_SECRET": testSecret, "TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "tok"}[k]
	})
	require.NoError(t, err)

	h := &harness{t: t, attempts: map[string]int{}, global: true, auto: o.autoActivate}
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()}))))
	if o.metrics != nil {
		s.SetMetricsHandler(o.metrics)
	}
	h.env = s.NewTestWorkflowEnvironment()
	h.env.SetStartTime(t0)
	h.env.SetTestTimeout(30 * time.Second)
	workflows.Register(h.env)
	h.acts = &activities.Activities{Config: cfg, Email: h, SMS: h, Webhooks: h, Settings: h, RemoteDelivery: o.remote}
	activities.Register(h.env, h.acts)
	return h
}

func (h *harness) record(ctx context.Context, ch appt.Channel, msg *activities.Message, recipient, nid string) error {
	h.mu.Lock()
	h.attempts[nid]++
	n := h.attempts[nid]
	fail := h.fail
	h.mu.Unlock()
	if fail != nil {
		if err := fail(ch, msg, n); err != nil {
			return err
		}
	}
	var ids []string
	if ch == appt.Webhook {
		if n := activities.NewWebhookPayload(msg).Data.Notification; n != nil {
			for _, r := range n.Recipients {
				ids = append(ids, r.ID)
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sends = append(h.sends, send{At: h.env.Now().UTC(), Channel: ch, Type: msg.Type, Event: msg.Event, EventID: msg.EventID,
		Recipient: recipient, JoinURL: msg.Appointment.JoinURL, Offset: msg.Offset, Sequence: msg.Sequence, Recipients: ids})
	return nil
}

func (h *harness) SendEmail(ctx context.Context, _ *config.Org, msg *activities.Message, to appt.Participant, nid string) (string, error) {
	return "<" + nid + ">", h.record(ctx, appt.Email, msg, to.ID, nid)
}

func (h *harness) SendSMS(ctx context.Context, _ *config.Org, msg *activities.Message, to appt.Participant, nid string) (string, error) {
	return "SM" + nid, h.record(ctx, appt.SMS, msg, to.ID, nid)
}

func (h *harness) SendWebhook(ctx context.Context, _ *config.Org, sub int, msg *activities.Message) error {
	return h.record(ctx, appt.Webhook, msg, appt.SubscriberRecipient(sub), appt.NotificationID(msg.EventID, appt.Webhook, appt.SubscriberRecipient(sub)))
}

func (h *harness) Settings(context.Context, string) (appt.OrgSettings, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return appt.OrgSettings{NotificationsEnabled: h.global, AutoActivate: h.auto}, true, nil
}

func (h *harness) setGlobal(on bool) {
	h.mu.Lock()
	h.global = on
	h.mu.Unlock()
}

// request is a typical appointment: one customer with email and phone, one agent, starting 48 h after t0.
func request(id string) *appt.ScheduleRequest {
	start := t0.Add(48 * time.Hour)
	return &appt.ScheduleRequest{
		AppointmentID: id,
		Org:           "acme",
		Start:         start,
		End:           start.Add(30 * time.Minute),
		JoinURL:       "https://video.example/j/" + id,
		Notifications: true,
		Participants: []appt.Participant{
			{ID: "c1", Name: "Ann Lee", Email: "ann@example.com", Phone: "+15551234567", TZ: "Europe/Berlin", Locale: "de", Role: appt.Customer},
			{ID: "a1", Name: "Agent Smith", Email: "agent@acme.example", Role: appt.Agent},
		},
	}
}

// at runs f at t0+d on the workflow clock.
func (h *harness) at(d time.Duration, f func()) { h.env.RegisterDelayedCallback(f, d) }

func (h *harness) signal(d time.Duration, name string, arg any) {
	h.at(d, func() { h.env.SignalWorkflow(name, arg) })
}

// run executes the workflow to its end and returns its final status.
func (h *harness) run(req *appt.ScheduleRequest) *appt.Status {
	h.t.Helper()
	h.env.ExecuteWorkflow(appt.AppointmentWorkflowType, req)
	require.True(h.t, h.env.IsWorkflowCompleted())
	require.NoError(h.t, h.env.GetWorkflowError())
	var st appt.Status
	require.NoError(h.t, h.env.GetWorkflowResult(&st))
	return &st
}

// queryAt records the status document at t0+d.
func (h *harness) queryAt(d time.Duration, out *appt.Status) {
	h.at(d, func() {
		v, err := h.env.QueryWorkflow(appt.QueryStatus)
		require.NoError(h.t, err)
		require.NoError(h.t, v.Get(out))
	})
}

// sent returns the successful sends matching the filter.
func (h *harness) sent(match func(s send) bool) []send {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []send
	for _, s := range h.sends {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

func ofType(t appt.NotificationType) func(send) bool { return func(s send) bool { return s.Type == t } }

func ofTypeCh(t appt.NotificationType, ch appt.Channel) func(send) bool {
	return func(s send) bool { return s.Type == t && s.Channel == ch }
}

func ofEvent(ev string) func(send) bool { return func(s send) bool { return s.Event == ev } }

// entries returns the delivery-log entries matching the filter.
func entries(st *appt.Status, match func(e appt.DeliveryEntry) bool) []appt.DeliveryEntry {
	var out []appt.DeliveryEntry
	for _, e := range st.Deliveries {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

func entryOf(t appt.NotificationType, ch appt.Channel) func(appt.DeliveryEntry) bool {
	return func(e appt.DeliveryEntry) bool { return e.Type == t && e.Channel == ch }
}

// slowDeliver makes the fan-outs that match take d on the workflow clock, as a slow provider or a busy worker
// would, so that whatever falls due meanwhile is handled late. Every other fan-out runs normally.
func (h *harness) slowDeliver(match func(in *activities.DeliverInput) bool, d time.Duration) {
	real := func(ctx context.Context, in *activities.DeliverInput) (*activities.DeliverResult, error) {
		return h.acts.Deliver(ctx, in)
	}
	h.env.OnActivity(appt.ActivityDeliver, mock.Anything, mock.MatchedBy(match)).After(d).Return(real)
	h.env.OnActivity(appt.ActivityDeliver, mock.Anything, mock.MatchedBy(func(in *activities.DeliverInput) bool {
		return !match(in)
	})).Return(real)
}

// hasEvent matches a fan-out that carries the given webhook event.
func hasEvent(ev string) func(in *activities.DeliverInput) bool {
	return func(in *activities.DeliverInput) bool {
		for _, m := range in.Messages {
			if m.Event == ev {
				return true
			}
		}
		return false
	}
}

func times(ss []send) []time.Time {
	out := make([]time.Time, len(ss))
	for i, s := range ss {
		out[i] = s.At.UTC()
	}
	return out
}

// testLogLevel keeps test output quiet unless APPTNOTIFY_TEST_LOG=debug.
func testLogLevel() slog.Level {
	if os.Getenv("APPTNOTIFY_TEST_LOG") == "debug" {
		return slog.LevelDebug
	}
	return slog.LevelError
}
