package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// fakeSettings is an organisation-settings reader with a switch.
type fakeSettings struct {
	mu      sync.Mutex
	enabled bool
}

func (f *fakeSettings) Settings(_ context.Context, _ string) (appt.OrgSettings, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return appt.OrgSettings{NotificationsEnabled: f.enabled, AutoActivate: true}, true, nil
}

func (f *fakeSettings) set(enabled bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enabled = enabled
}

type deliverEnv struct {
	mailpit  *testenv.Mailpit
	twilio   *testenv.Twilio
	receiver *receiver
	settings *fakeSettings
	env      *testsuite.TestActivityEnvironment
}

// newDeliverEnv builds the activities the way the worker does (config file, templates, NewSenders) against
// Mailpit, a Twilio fake and a webhook receiver; opts set up the test suite (a metrics handler, say).
func newDeliverEnv(t *testing.T, opts ...func(*testsuite.WorkflowTestSuite)) *deliverEnv {
	d := &deliverEnv{mailpit: testenv.StartMailpit(t), twilio: newTwilioFake(t), receiver: newReceiver(t),
		settings: &fakeSettings{enabled: true}}
	yaml := fmt.Sprintf(`
smtp: {host: 127.0.0.1, port: %d, tls: none}
twilio: {base_url: %q}
organizations:
  - id: acme
    platform: genesys
    email_from: "Acme Care <care@acme.example>"
    sms_from: "+15550000000"
    webhooks: [{url: %q, secret_env: ACME_WEBHOOK_SECRET}]
    allow_private_webhook_addresses: true
  - id: talk
    platform: talkdesk
    email_from: "Talk <talk@talk.example>"
    sms_from: "+15550000001"
    webhooks: [{url: %q, secret_env: ACME_WEBHOOK_SECRET}]
    allow_private_webhook_addresses: true
`, d.mailpit.SMTPPort, d.twilio.URL, d.receiver.URL+"/acme", d.receiver.URL+"/talk")
	env := map[string]string{"TWILIO_ACCOUNT_SID": accountSID, "TWILIO_AUTH_TOKEN": authToken, "ACME_WEBHOOK_SECRET": secret}
	cfg, err := config.ParseWorker([]byte(yaml), func(k string) string { return env[k] })
	require.NoError(t, err)
	set, err := templates.Load(cfg)
	require.NoError(t, err)
	s, err := activities.NewSenders(cfg, set)
	require.NoError(t, err)
	acts := &activities.Activities{Config: cfg, Email: s.Email, SMS: s.SMS, Webhooks: s.Webhooks, Settings: d.settings}
	var suite testsuite.WorkflowTestSuite
	for _, o := range opts {
		o(&suite)
	}
	d.env = suite.NewTestActivityEnvironment()
	activities.Register(d.env, acts)
	// Bob has unsubscribed from SMS.
	d.twilio.Respond(func(w http.ResponseWriter, r testenv.TwilioRequest) {
		if r.To == bob.Phone {
			twilioError(w, http.StatusBadRequest, 21610, nil)
			return
		}
		testenv.TwilioCreated(w, r)
	})
	return d
}

func (d *deliverEnv) deliver(t *testing.T, in *activities.DeliverInput) []activities.Outcome {
	t.Helper()
	val, err := d.env.ExecuteActivity(appt.ActivityDeliver, in)
	require.NoError(t, err)
	var res activities.DeliverResult
	require.NoError(t, val.Get(&res))
	require.Len(t, res.Outcomes, len(in.Targets))
	return res.Outcomes
}

// fanOut is a REMINDER to Ann and Bob on every channel, plus a lifecycle event, for one organisation.
func fanOut(org string) *activities.DeliverInput {
	reminder := notification(appt.Reminder, ann, bob)
	reminder.Appointment.Org = org
	activated := lifecycle(appt.EventActivated)
	activated.Appointment.Org = org
	nid := func(ch appt.Channel, r string) string { return appt.NotificationID(reminder.EventID, ch, r) }
	return &activities.DeliverInput{
		AppointmentID: "A1", Org: org,
		Messages: []activities.Message{*activated, *reminder},
		Targets: []activities.Target{
			{Message: 0, Channel: appt.Webhook, Recipient: appt.SubscriberRecipient(0), Subscriber: 0,
				NotificationID: appt.NotificationID(activated.EventID, appt.Webhook, appt.SubscriberRecipient(0))},
			{Message: 1, Channel: appt.Email, Recipient: ann.ID, NotificationID: nid(appt.Email, ann.ID)},
			{Message: 1, Channel: appt.Email, Recipient: bob.ID, NotificationID: nid(appt.Email, bob.ID)},
			{Message: 1, Channel: appt.SMS, Recipient: ann.ID, NotificationID: nid(appt.SMS, ann.ID)},
			{Message: 1, Channel: appt.SMS, Recipient: bob.ID, NotificationID: nid(appt.SMS, bob.ID)},
			{Message: 1, Channel: appt.Webhook, Recipient: appt.SubscriberRecipient(0), Subscriber: 0,
				NotificationID: nid(appt.Webhook, appt.SubscriberRecipient(0))},
		},
	}
}

func TestDeliverEndToEnd(t *testing.T) {
	d := newDeliverEnv(t)

	t.Run("genesys", func(t *testing.T) {
		in := fanOut("acme")
		out := d.deliver(t, in)
		require.Equal(t, appt.Sent, out[0].Status, "lifecycle webhook: %+v", out[0])
		require.Equal(t, in.Messages[0].EventID, out[0].ProviderID)
		require.Equal(t, appt.Sent, out[1].Status, "email to Ann: %+v", out[1])
		require.Equal(t, "<"+activities.MessageID(in.Targets[1].NotificationID, "care@acme.example")+">", out[1].ProviderID)
		require.Equal(t, appt.Sent, out[2].Status, "email to Bob: %+v", out[2])
		require.Equal(t, appt.Sent, out[3].Status, "SMS to Ann: %+v", out[3])
		require.Regexp(t, `^SM[0-9a-f]{32}$`, out[3].ProviderID)
		require.Equal(t, appt.Failed, out[4].Status, "SMS to Bob: %+v", out[4])
		require.Equal(t, activities.ErrOptedOut, out[4].ErrorType)
		require.NotContains(t, out[4].Error, bob.Phone)
		require.Equal(t, appt.Sent, out[5].Status, "notification webhook: %+v", out[5])

		mails := d.mailpit.Messages(t)
		require.Len(t, mails, 2)
		subjects := map[string]string{}
		for _, m := range mails {
			subjects[m.To[0].Address] = m.Subject
		}
		require.Equal(t, "Reminder: your appointment with Acme Care starts in 1 hour", subjects[ann.Email])
		require.Equal(t, "Erinnerung: Ihr Termin bei Acme Care beginnt in 1 Stunde", subjects[bob.Email])
		require.Len(t, d.twilio.Requests(), 2)
		hooks := d.receiver.received()
		require.Len(t, hooks, 2)
		require.Equal(t, in.Messages[0].EventID, hooks[0].id, "a subscriber gets its events in order")
		require.Equal(t, in.Messages[1].EventID, hooks[1].id)
	})

	t.Run("disabled", func(t *testing.T) {
		d.settings.set(false)
		defer d.settings.set(true)
		mails, sms, hooks := len(d.mailpit.Messages(t)), len(d.twilio.Requests()), len(d.receiver.received())
		out := d.deliver(t, fanOut("acme"))
		require.Equal(t, appt.Sent, out[0].Status, "lifecycle events are not notifications: they always go out")
		for _, o := range out[1:] {
			require.Equal(t, appt.SkippedDisabled, o.Status, "%+v", o)
		}
		require.Len(t, d.mailpit.Messages(t), mails, "nothing is emailed")
		require.Len(t, d.twilio.Requests(), sms, "nothing is texted")
		got := d.receiver.received()
		require.Len(t, got, hooks+1, "only the lifecycle webhook goes out")
		require.Equal(t, appt.EventActivated, eventType(t, got[len(got)-1].body))
	})

	t.Run("talkdesk", func(t *testing.T) {
		mails, sms := len(d.mailpit.Messages(t)), len(d.twilio.Requests())
		out := d.deliver(t, fanOut("talk"))
		require.Equal(t, appt.Sent, out[0].Status)
		for _, o := range out[1:5] {
			require.Equal(t, appt.SkippedUnprovisioned, o.Status, "%+v", o)
		}
		require.Equal(t, appt.Sent, out[5].Status)
		require.Len(t, d.mailpit.Messages(t), mails)
		require.Len(t, d.twilio.Requests(), sms)
		got := d.receiver.received()
		var p activities.WebhookPayload
		require.NoError(t, json.Unmarshal(got[len(got)-1].body, &p))
		require.Equal(t, "talk", p.Data.Org)
		require.Len(t, p.Data.Notification.Recipients, 2, "talkdesk notifies customers itself from the webhook")
		require.Equal(t, bob.Phone, p.Data.Notification.Recipients[1].Phone)
	})

	t.Run("customer without a phone", func(t *testing.T) {
		noPhone := ann
		noPhone.Phone = ""
		in := fanOut("acme")
		in.Messages[1].Recipients = []appt.Participant{noPhone, bob}
		in.Targets = in.Targets[3:4]
		out := d.deliver(t, in)
		require.Equal(t, appt.SkippedUnprovisioned, out[0].Status)
	})
}

func eventType(t *testing.T, body []byte) string {
	var p activities.WebhookPayload
	require.NoError(t, json.Unmarshal(body, &p))
	return p.Type
}
