package activities_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

func emailOrg() *config.Org {
	n := 3
	auto := true
	return &config.Org{ID: "acme", Platform: appt.Genesys, EmailFrom: "Acme Care <care@acme.example>",
		MaxAttempts: &n, AutoActivate: &auto}
}

func newMailer(t *testing.T, mp *testenv.Mailpit) *activities.Mailer {
	t.Helper()
	m, err := activities.NewMailer(config.SMTP{Host: mp.SMTPHost, Port: mp.SMTPPort, TLS: config.TLSNone},
		testTemplates(t), activities.WithSMTPTimeout(20*time.Second))
	require.NoError(t, err)
	return m
}

func TestEmailArrivesInMailpit(t *testing.T) {
	mp := testenv.StartMailpit(t)
	m := newMailer(t, mp)
	msg := notification(appt.Reminder, ann)
	nid := appt.NotificationID(msg.EventID, appt.Email, ann.ID)
	id, err := m.SendEmail(context.Background(), emailOrg(), msg, ann, nid)
	require.NoError(t, err)
	want := activities.MessageID(nid, emailOrg().EmailFrom)
	require.Equal(t, "<"+want+">", id)
	require.Regexp(t, `^apptnotify\.[0-9a-f]{32}@acme\.example$`, want)

	got := mp.Messages(t)
	require.Len(t, got, 1)
	e := got[0]
	require.Equal(t, want, strings.Trim(e.MessageID, "<>"))
	require.Equal(t, "Reminder: your appointment with Acme Care starts in 1 hour", e.Subject)
	require.Equal(t, "care@acme.example", e.From.Address)
	require.Equal(t, "Acme Care", e.From.Name)
	require.Len(t, e.To, 1)
	require.Equal(t, ann.Email, e.To[0].Address)
	require.Equal(t, ann.Name, e.To[0].Name)
	require.Contains(t, e.Text, "Hello Ann Lee,")
	require.Contains(t, e.Text, "Tuesday, March 5, 2030 at 9:00 AM EST")
	require.Contains(t, e.Text, "Join the video call: https://video.example/join/A1?k=s3cr3t")
	require.Contains(t, e.HTML, `<a href="https://video.example/join/A1?k=s3cr3t"`)
	require.Contains(t, e.HTML, "<p>Hello Ann Lee,</p>")
	h := mp.Headers(t, e.ID)
	require.Equal(t, []string{"auto-generated"}, h["Auto-Submitted"])

	// A retry of the same notification carries the same Message-ID: the duplicate is recognisable.
	id2, err := m.SendEmail(context.Background(), emailOrg(), msg, ann, nid)
	require.NoError(t, err)
	require.Equal(t, id, id2)
	got = mp.Messages(t)
	require.Len(t, got, 2)
	require.Equal(t, got[0].MessageID, got[1].MessageID)

	// Another recipient of the same notification gets another Message-ID.
	other := activities.MessageID(appt.NotificationID(msg.EventID, appt.Email, bob.ID), emailOrg().EmailFrom)
	require.NotEqual(t, want, other)
}

func TestEmailChaosClassification(t *testing.T) {
	mp := testenv.StartMailpit(t)
	m := newMailer(t, mp)
	cases := []struct {
		stage    string
		code     int
		wantType string
	}{
		{"Sender", 451, activities.ErrTransient},
		{"Recipient", 451, activities.ErrTransient},
		{"Recipient", 452, activities.ErrTransient},
		{"Sender", 550, activities.ErrSMTPPermanent},
		{"Sender", 554, activities.ErrSMTPPermanent},
		{"Recipient", 550, activities.ErrInvalidRecipient},
	}
	for _, c := range cases {
		t.Run(c.stage+"-"+itoa(c.code), func(t *testing.T) {
			mp.Chaos(t, map[string]testenv.ChaosTrigger{c.stage: {ErrorCode: c.code, Probability: 100}})
			t.Cleanup(func() { mp.Chaos(t, map[string]testenv.ChaosTrigger{}) })
			_, err := m.SendEmail(context.Background(), emailOrg(), notification(appt.Create, ann), ann, "n1")
			de := deliveryError(t, err, c.wantType)
			require.Equal(t, c.wantType == activities.ErrTransient, activities.Retryable(de.Type))
			require.Contains(t, de.Msg, itoa(c.code))
			noPII(t, err)
		})
	}
	require.Empty(t, mp.Messages(t))
}

// TestEmailDeliverOne drives the DeliverOne activity through Temporal's test activity environment: a 451 is an
// application error Temporal retries, a 550 one it does not, and a sent email reports its Message-ID.
func TestEmailDeliverOne(t *testing.T) {
	mp := testenv.StartMailpit(t)
	org := emailOrg()
	cfg := &config.Config{Organizations: []config.Org{*org}}
	acts := &activities.Activities{Config: cfg, Email: newMailer(t, mp)}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	activities.Register(env, acts)

	msg := notification(appt.Create, ann)
	in := &activities.DeliverOneInput{AppointmentID: "A1", Org: "acme", Message: *msg, Target: activities.Target{
		Channel: appt.Email, Recipient: ann.ID, NotificationID: appt.NotificationID(msg.EventID, appt.Email, ann.ID),
	}}

	mp.Chaos(t, map[string]testenv.ChaosTrigger{"Recipient": {ErrorCode: 451, Probability: 100}})
	_, err := env.ExecuteActivity(appt.ActivityDeliverOne, in)
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "%v", err)
	require.Equal(t, activities.ErrTransient, ae.Type())
	require.False(t, ae.NonRetryable())

	mp.Chaos(t, map[string]testenv.ChaosTrigger{"Sender": {ErrorCode: 550, Probability: 100}})
	_, err = env.ExecuteActivity(appt.ActivityDeliverOne, in)
	require.True(t, errors.As(err, &ae), "%v", err)
	require.Equal(t, activities.ErrSMTPPermanent, ae.Type())
	require.True(t, ae.NonRetryable())

	mp.Chaos(t, map[string]testenv.ChaosTrigger{})
	val, err := env.ExecuteActivity(appt.ActivityDeliverOne, in)
	require.NoError(t, err)
	var res activities.DeliverOneResult
	require.NoError(t, val.Get(&res))
	require.Equal(t, appt.Sent, res.Status)
	require.Equal(t, "<"+activities.MessageID(in.Target.NotificationID, org.EmailFrom)+">", res.ProviderID)
	require.Len(t, mp.Messages(t), 1)

	// A customer without an email address is skipped as unprovisioned, not failed.
	noEmail := ann
	noEmail.Email = ""
	in.Message.Recipients = []appt.Participant{noEmail}
	val, err = env.ExecuteActivity(appt.ActivityDeliverOne, in)
	require.NoError(t, err)
	require.NoError(t, val.Get(&res))
	require.Equal(t, appt.SkippedUnprovisioned, res.Status)
}

func TestEmailWithoutServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	m, err := activities.NewMailer(config.SMTP{Host: "127.0.0.1", Port: port, TLS: config.TLSNone}, testTemplates(t))
	require.NoError(t, err)
	_, err = m.SendEmail(context.Background(), emailOrg(), notification(appt.Create, ann), ann, "n1")
	deliveryError(t, err, activities.ErrTransient)

	p := ann
	p.Email = ""
	_, err = m.SendEmail(context.Background(), emailOrg(), notification(appt.Create, p), p, "n1")
	deliveryError(t, err, activities.ErrUnprovisioned)
	p.Email = "not an address"
	_, err = m.SendEmail(context.Background(), emailOrg(), notification(appt.Create, p), p, "n1")
	deliveryError(t, err, activities.ErrInvalidRecipient)
}

// TestEmailStalledServerTimesOut: a server that accepts and never answers is cut off by the send's deadline.
func TestEmailStalledServerTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	m, err := activities.NewMailer(config.SMTP{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, TLS: config.TLSNone},
		testTemplates(t), activities.WithSMTPTimeout(30*time.Second))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = m.SendEmail(ctx, emailOrg(), notification(appt.Create, ann), ann, "n1")
	de := deliveryError(t, err, activities.ErrTransient)
	require.Contains(t, de.Msg, "timed out")
}
