package activities_test

import (
	"bytes"
	"context"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// previewEnv is an organisation with every channel, each at a real local server: Mailpit, the Twilio-shaped
// server and a signature-verifying webhook receiver; its senders and its activities share one fixed clock.
type previewEnv struct {
	mailpit *testenv.Mailpit
	twilio  *testenv.Twilio
	hooks   *testenv.WebhookReceiver
	org     *config.Org
	set     *templates.Set
	a       *activities.Activities
	at      time.Time
}

func startPreviewEnv(t *testing.T) *previewEnv {
	t.Helper()
	e := &previewEnv{mailpit: testenv.StartMailpit(t), twilio: testenv.StartTwilio(t), hooks: testenv.StartWebhookReceiver(t),
		at: time.Now().Truncate(time.Second)}
	cfg, err := config.ParseWorker([]byte(`
twilio: {base_url: "`+e.twilio.URL+`"}
organizations:
  - id: acme
    platform: genesys
    email_from: "Acme Care <care@acme.example>"
    sms_from: "+15550000000"
    allow_private_webhook_addresses: true
    webhooks: [{url: "`+e.hooks.URL+`/hooks?token=t0k", secret_env: HOOK_SECRET}]
`), func(k string) string {
		return map[string]string{"HOOK_SECRET": testenv.WebhookSecret, "TWILIO_ACCOUNT_SID": accountSID,
			"TWILIO_AUTH_TOKEN": authToken}[k]
	})
	require.NoError(t, err)
	e.org = &cfg.Organizations[0]
	e.set, err = templates.Load(cfg)
	require.NoError(t, err)
	clock := func() time.Time { return e.at }
	mailer, err := activities.NewMailer(config.SMTP{Host: e.mailpit.SMTPHost, Port: e.mailpit.SMTPPort, TLS: config.TLSNone},
		e.set, activities.WithSMTPTimeout(20*time.Second), activities.WithMailerClock(clock))
	require.NoError(t, err)
	t.Cleanup(mailer.Close)
	sms, err := activities.NewTwilioSMS(cfg.Twilio, e.set)
	require.NoError(t, err)
	e.a = &activities.Activities{Config: cfg, Email: mailer, SMS: sms, Webhooks: activities.NewWebhookClient(activities.WithWebhookClock(clock)),
		Templates: e.set}
	return e
}

// germanReminder is the edit of the German REMINDER the tests preview: not saved anywhere.
var germanReminder = map[string]string{
	"de/reminder.subject.txt": "Bis gleich, {{.Name}}: {{.StartTime}}",
	"de/reminder.txt":         "Guten Tag {{.Name}},\n\nIhr Termin beginnt am {{.Start}} (in {{.Offset}}).\n{{if .JoinURL}}Link: {{.JoinURL}}{{end}}\n",
	"de/reminder.sms.txt":     "{{.OrgName}}: Termin {{.StartShort}}. Grüße – Ihr Team{{if .JoinURL}} {{.JoinURL}}{{end}}",
}

func sample() *appt.PreviewSample {
	return &appt.PreviewSample{AppointmentID: "A1", Start: apptStart, End: apptStart.Add(30 * time.Minute),
		Participants: []appt.Participant{bob, {ID: "a1", Name: "Agent", Role: appt.Agent, Email: "agent@acme.example"}},
		JoinURL:      "https://video.example/join/A1?k=s3cr3t", Metadata: map[string]string{"ticket": "T-1"}}
}

// TestPreviewEqualsWhatIsSent: a preview goes through the code that sends. For the same appointment (sample fields,
// with an unsaved German REMINDER and a CREATE with its invite), the preview's email (subject, text, HTML, every
// header it lists but the MIME boundary's Content-Type, invite.ics) equals, byte for byte, what Mailpit received;
// its SMS equals the body the Twilio-shaped server received; and its webhook body and headers equal what the
// verifying receiver got when the same message is sent under the preview's ID at the same time, and its signature
// verifies. Agents get nothing, and the preview itself sent nothing.
func TestPreviewEqualsWhatIsSent(t *testing.T) {
	ctx := context.Background()
	for _, typ := range []appt.NotificationType{appt.Reminder, appt.Create} {
		e := startPreviewEnv(t)
		req := &appt.PreviewRequest{Org: "acme", Type: typ, Sample: sample(), Templates: germanReminder,
			PreviewID: "preview_" + strings.ToLower(string(typ)), At: e.at}
		pv, err := e.a.Preview(ctx, req)
		require.NoError(t, err)
		require.Len(t, pv.Email, 1, "one customer: the agent gets nothing")
		require.Len(t, pv.SMS, 1)
		require.Len(t, pv.Webhooks, 1)
		require.Empty(t, pv.Problems)
		require.Empty(t, e.mailpit.Messages(t), "a preview sends nothing")
		require.Empty(t, e.twilio.Requests())
		require.Empty(t, e.hooks.Got(typ.WebhookEvent()))

		// The same message, sent by the senders the worker uses.
		set, err := e.set.WithOverrides("acme", germanReminder)
		require.NoError(t, err)
		offset := time.Duration(0)
		if typ == appt.Reminder {
			offset = e.org.Offsets()[0]
		}
		s := sample()
		msg := activities.NewNotification(activities.AppointmentView{ID: "A1", Org: "acme", State: appt.Active,
			Start: s.Start, End: s.End, Metadata: s.Metadata, JoinURL: s.JoinURL}, typ, offset, 0, []appt.Participant{bob}, e.at)
		mailer := e.a.Email.(*activities.Mailer)
		d, err := activities.BuildEmail(set, e.org, &msg, bob, appt.NotificationID(msg.EventID, appt.Email, bob.ID))
		require.NoError(t, err)
		_, err = mailer.SendDraft(ctx, e.org, d)
		require.NoError(t, err)
		body, err := activities.BuildSMS(set, e.org, &msg, bob)
		require.NoError(t, err)
		_, err = e.a.SMS.(*activities.TwilioSMS).SendBody(ctx, e.org, bob.Phone, body, "A1")
		require.NoError(t, err)
		wm := msg
		wm.EventID = pv.PreviewID
		require.NoError(t, e.a.Webhooks.SendWebhook(ctx, e.org, 0, &wm))

		// Email.
		msgs := e.mailpit.Messages(t)
		require.Len(t, msgs, 1)
		raw := e.mailpit.Raw(t, msgs[0].ID)
		ep := pv.Email[0]
		require.Equal(t, bob.ID, ep.Recipient)
		if typ == appt.Reminder {
			require.Equal(t, "Bis gleich, Bob Meier: 15:00 Uhr MEZ", ep.Subject, "the unsaved German template, in Europe/Berlin")
			require.Contains(t, ep.Text, "Dienstag, 5. März 2030 um 15:00 Uhr MEZ (in 24 Stunden)")
			require.Empty(t, ep.Invite, "REMINDER carries no invite")
		} else {
			require.Contains(t, ep.Invite, "METHOD:REQUEST")
		}
		require.Equal(t, ep.Subject, msgs[0].Subject)
		parsed, err := mail.ReadMessage(bytes.NewReader(raw))
		require.NoError(t, err)
		for _, h := range ep.Headers {
			if h.Name == "Content-Type" {
				continue // the boundary is new in every message
			}
			require.Equal(t, unfold(h.Value), unfold(parsed.Header.Get(h.Name)), "header %s", h.Name)
		}
		for _, n := range []string{"From", "To", "Subject", "Message-Id", "Date", "Auto-Submitted", "Mime-Version"} {
			require.True(t, hasFold(ep.Headers, n), "the preview lists %s", n)
		}
		var sawText, sawHTML, sawCal, sawAttach bool
		for _, p := range leaves(t, raw) {
			switch {
			case p.mediaType == "text/plain":
				require.Equal(t, ep.Text, string(p.body))
				sawText = true
			case p.mediaType == "text/html":
				require.Equal(t, ep.HTML, string(p.body))
				sawHTML = true
			case p.mediaType == "text/calendar":
				require.Equal(t, ep.Invite, string(p.body))
				sawCal = true
			case p.filename == activities.InviteFileName:
				require.Equal(t, ep.Invite, string(p.body))
				sawAttach = true
			}
		}
		require.True(t, sawText && sawHTML)
		require.Equal(t, ep.Invite != "", sawCal && sawAttach)

		// SMS.
		reqs := e.twilio.Requests()
		require.Len(t, reqs, 1)
		require.Equal(t, pv.SMS[0].Body, reqs[0].Body)
		require.Equal(t, utf8.RuneCountInString(reqs[0].Body), pv.SMS[0].Units)
		if typ == appt.Reminder {
			// German umlauts are in the GSM 7-bit alphabet, but the edited template's en dash is not: the whole
			// SMS is UCS-2, and its 100-odd characters take two segments of 67.
			require.Equal(t, "UCS-2", pv.SMS[0].Encoding)
			require.Greater(t, pv.SMS[0].Units, 70)
			require.Equal(t, 2, pv.SMS[0].Segments)
		} else {
			require.Equal(t, "GSM-7", pv.SMS[0].Encoding, "the default German CREATE: umlauts are GSM-7")
		}

		// Webhook.
		got := e.hooks.Got(typ.WebhookEvent())
		require.Len(t, got, 1)
		wp := pv.Webhooks[0]
		require.Equal(t, wp.Body, string(got[0].Body))
		require.Equal(t, "subscriber-0", wp.Recipient)
		require.NotContains(t, wp.Host, "t0k", "the URL's query may hold a token")
		h := http.Header{}
		for _, x := range wp.Headers {
			h.Add(x.Name, x.Value)
		}
		require.Equal(t, got[0].ID, h.Get("webhook-id"))
		require.Equal(t, pv.PreviewID, h.Get("webhook-id"))
		require.Equal(t, got[0].Timestamp, h.Get("webhook-timestamp"))
		wh, err := standardwebhooks.NewWebhook(testenv.WebhookSecret)
		require.NoError(t, err)
		require.NoError(t, wh.Verify([]byte(wp.Body), h), "the preview's signature verifies")
	}
}

func unfold(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\r\n", "")), " ")
}

func hasFold(hs []appt.Header, name string) bool {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}

// TestTestSendThroughTheRealChannels: a test send goes through the real channels, marked: the SMS reaches the
// Twilio-shaped server as "[TEST] " and the body its preview shows, to the verified test number only and with no
// status callback (no appointment hears of it); the email reaches Mailpit with "[TEST] " before the subject; the
// webhook reaches the verifying receiver with "test": true under a test_ webhook-id. An unverified recipient is
// refused without a send.
func TestTestSendThroughTheRealChannels(t *testing.T) {
	e := startPreviewEnv(t)
	ctx := context.Background()
	req := appt.PreviewRequest{Org: "acme", Type: appt.Reminder, Sample: sample(), Templates: germanReminder, At: e.at}
	pv, err := e.a.Preview(ctx, &req)
	require.NoError(t, err)
	phone := &appt.TestRecipient{ID: "tr-2", Channel: appt.SMS, Address: "+4915199999999", Verified: true}
	mail := &appt.TestRecipient{ID: "tr-1", Channel: appt.Email, Address: "admin@acme.example", Verified: true}

	_, err = e.a.TestSend(ctx, &appt.TestSendJob{SendID: "ts-0", Org: "acme", Preview: req, Channel: appt.SMS,
		Recipient: &appt.TestRecipient{ID: "tr-3", Channel: appt.SMS, Address: "+4915100000000"}})
	require.ErrorContains(t, err, "not a verified")
	require.Empty(t, e.twilio.Requests())

	for _, job := range []*appt.TestSendJob{
		{SendID: "ts-1", Org: "acme", Preview: req, Channel: appt.SMS, Recipient: phone},
		{SendID: "ts-2", Org: "acme", Preview: req, Channel: appt.Email, Recipient: mail},
		{SendID: "ts-3", Org: "acme", Preview: req, Channel: appt.Webhook},
	} {
		res, err := e.a.TestSend(ctx, job)
		require.NoError(t, err)
		require.Len(t, res.Records, 1)
		require.Equal(t, appt.Sent, res.Records[0].Status, "%+v", res.Records[0])
	}
	reqs := e.twilio.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, phone.Address, reqs[0].To)
	require.Equal(t, appt.TestSubjectPrefix+pv.SMS[0].Body, reqs[0].Body)
	require.Empty(t, reqs[0].StatusCallback)
	msgs := e.mailpit.Messages(t)
	require.Len(t, msgs, 1)
	require.Equal(t, "admin@acme.example", msgs[0].To[0].Address)
	require.Equal(t, appt.TestSubjectPrefix+pv.Email[0].Subject, msgs[0].Subject)
	got := e.hooks.Got(appt.Reminder.WebhookEvent())
	require.Len(t, got, 1)
	require.True(t, strings.HasPrefix(got[0].ID, "test_"))
	require.Contains(t, string(got[0].Body), `"test":true`)
}
