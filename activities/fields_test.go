package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	smtpd "github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// The organisation of the field tables: its sender's display name has quotes, a comma, a backslash and umlauts, and
// its domain is internationalised; its REMINDER SMS carries the participant's name, so names reach all three
// channels.
const (
	fieldFromName = `Zahnärzte "Süd", Praxis \ Mitte`
	fieldFromAddr = "care@zahnärzte.example"
	fieldSMS      = "{{.OrgName}} for {{.Name}}: reminder of your appointment on {{.StartShort}}.{{if .JoinURL}} Join: {{.JoinURL}}{{end}}"
)

// channels are the three real servers of a field table, and the senders pointed at them.
type channels struct {
	org     *config.Org
	cfg     *config.Config
	set     *templates.Set
	mailpit *testenv.Mailpit
	twilio  *testenv.Twilio
	hooks   *receiver
	mailer  *activities.Mailer
	sms     *activities.TwilioSMS
	webhook *activities.WebhookClient
	n       int
}

func startChannels(t *testing.T) *channels {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "reminder.sms.txt"), []byte(fieldSMS), 0o600))
	c := &channels{mailpit: testenv.StartMailpit(t), twilio: testenv.StartTwilio(t), hooks: newReceiver(t)}
	yaml := fmt.Sprintf(`
twilio: {base_url: %q}
organizations:
  - id: acme
    platform: genesys
    email_from: %q
    sms_from: "+15550000000"
    templates_dir: %q
    allow_private_webhook_addresses: true
    webhooks: [{url: %q, secret_env: HOOK_SECRET}]
`, c.twilio.URL, `"Zahnärzte \"Süd\", Praxis \\ Mitte" <`+fieldFromAddr+`>`, dir, c.hooks.URL)
	cfg, err := config.ParseWorker([]byte(yaml), func(k string) string {
		return map[string]string{"HOOK_SECRET": secret, "TWILIO_ACCOUNT_SID": accountSID, "TWILIO_AUTH_TOKEN": authToken}[k]
	})
	require.NoError(t, err)
	c.cfg, c.org = cfg, &cfg.Organizations[0]
	c.set, err = templates.Load(cfg)
	require.NoError(t, err)
	c.mailer, err = activities.NewMailer(config.SMTP{Host: c.mailpit.SMTPHost, Port: c.mailpit.SMTPPort, TLS: config.TLSNone},
		c.set, activities.WithSMTPTimeout(20*time.Second))
	require.NoError(t, err)
	c.sms, err = activities.NewTwilioSMS(cfg.Twilio, c.set)
	require.NoError(t, err)
	c.webhook = activities.NewWebhookClient()
	return c
}

// request is the schedule request a table row stands for.
func fieldRequest(p appt.Participant, joinURL string, md map[string]string) *appt.ScheduleRequest {
	return &appt.ScheduleRequest{AppointmentID: "A1", Org: "acme", Start: apptStart, End: apptStart.Add(30 * time.Minute),
		Participants: []appt.Participant{p}, JoinURL: joinURL, Metadata: md, Notifications: true}
}

// edge is the verdict of the starter and the api package on a request: every field, the organisation, and the SMS
// length with the organisation's templates.
func (c *channels) edge(req *appt.ScheduleRequest) error {
	cl := &api.Client{Config: c.cfg, Templates: c.set, Now: func() time.Time { return apptStart.Add(-3 * time.Hour) }}
	return cl.ValidateSchedule(req)
}

// deliverAll sends a REMINDER for req on all three channels and checks that every value arrived as it was given.
func (c *channels) deliverAll(t *testing.T, req *appt.ScheduleRequest) {
	t.Helper()
	p := req.Participants[0]
	msg := notification(appt.Reminder, p)
	msg.Appointment.JoinURL, msg.Appointment.Metadata = req.JoinURL, req.Metadata
	msg.Appointment.ID, msg.EventID = req.AppointmentID, appt.EventID(req.AppointmentID, appt.Reminder, 0, time.Hour)
	c.n++
	nid := appt.NotificationID(msg.EventID, appt.Email, p.ID) + fmt.Sprintf("/%d", c.n)
	in := templates.Input{Type: appt.Reminder, AppointmentID: req.AppointmentID, Start: apptStart,
		End: apptStart.Add(30 * time.Minute), JoinURL: req.JoinURL, Offset: time.Hour, Participant: p}

	// Email, at Mailpit: the parsed view and the raw bytes.
	mid, err := c.mailer.SendEmail(context.Background(), c.org, msg, p, nid)
	require.NoError(t, err)
	got := c.mailpit.Messages(t)[0]
	require.Equal(t, mid, "<"+got.MessageID+">")
	got.Text = strings.ReplaceAll(got.Text, "\r\n", "\n")
	require.Len(t, got.To, 1)
	assert.Equal(t, p.Name, got.To[0].Name, "display name at Mailpit")
	assert.Equal(t, p.Email, got.To[0].Address, "address at Mailpit")
	assert.Equal(t, fieldFromName, got.From.Name)
	assert.Equal(t, fieldFromAddr, got.From.Address)
	subject, err := c.set.Render("acme", in, templates.Subject)
	require.NoError(t, err)
	assert.Equal(t, subject, got.Subject)
	raw := c.mailpit.Raw(t, got.ID)
	rm, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	to, err := rm.Header.AddressList("To")
	require.NoError(t, err, "the raw To header must parse as RFC 5322: %q", rm.Header.Get("To"))
	require.Len(t, to, 1)
	assert.Equal(t, p.Name, to[0].Name, "display name in the raw To header %q", rm.Header.Get("To"))
	assert.Equal(t, p.Email, to[0].Address)
	from, err := rm.Header.AddressList("From")
	require.NoError(t, err)
	assert.Equal(t, fieldFromName, from[0].Name)
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	assert.Len(t, regexp.MustCompile(`(?m)^To:`).FindAll(head, -1), 1, "exactly one To header:\n%s", head)
	assert.NotContains(t, string(head), "Bcc", "no injected header")
	hello, reference, join := "Hello ", "Appointment reference: ", "Join the video call: "
	if strings.HasPrefix(p.Locale, "de") {
		hello, reference, join = "Guten Tag ", "Terminreferenz: ", "Zum Videogespräch: "
	}
	if p.Name != "" {
		assert.Contains(t, got.Text, hello+p.Name+",")
		m := regexp.MustCompile(`<p>` + hello + `(.*?),</p>`).FindStringSubmatch(got.HTML)
		require.NotNil(t, m, got.HTML)
		assert.Equal(t, p.Name, html.UnescapeString(m[1]), "the HTML body shows the name escaped, and unescapes to it")
	}
	assert.Contains(t, got.Text, reference+req.AppointmentID+"\n")
	if req.JoinURL != "" {
		assert.Contains(t, got.Text, join+req.JoinURL+"\n")
		assert.Contains(t, got.HTML, `<a href="`+html.EscapeString(req.JoinURL)+`"`)
	}

	// SMS, at the Twilio-shaped server.
	before := len(c.twilio.Requests())
	sid, err := c.sms.SendSMS(context.Background(), c.org, msg, p, strings.Replace(nid, "/email/", "/sms/", 1))
	require.NoError(t, err)
	sent := c.twilio.Requests()
	require.Len(t, sent, before+1)
	assert.Equal(t, sid, sent[before].SID)
	want, err := c.set.SMS("acme", in)
	require.NoError(t, err)
	assert.Equal(t, want, sent[before].Body)
	assert.Equal(t, p.Phone, sent[before].To)
	assert.Contains(t, sent[before].Body, " for "+p.Name+": ")
	assert.Contains(t, sent[before].Body, req.JoinURL)
	assert.LessOrEqual(t, utf8.RuneCountInString(sent[before].Body), appt.MaxSMSLen)

	// Webhook, at a receiver that verifies the signature.
	hb := len(c.hooks.received())
	require.NoError(t, c.webhook.SendWebhook(context.Background(), c.org, 0, msg))
	hooks := c.hooks.received()
	require.Len(t, hooks, hb+1)
	assert.Equal(t, msg.EventID, hooks[hb].id, "webhook-id")
	var payload struct {
		Data struct {
			AppointmentID string            `json:"appointmentId"`
			Metadata      map[string]string `json:"metadata"`
			Notification  struct {
				JoinURL    string                        `json:"joinUrl"`
				Recipients []activities.WebhookRecipient `json:"recipients"`
			} `json:"notification"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(hooks[hb].body, &payload))
	require.Len(t, payload.Data.Notification.Recipients, 1)
	assert.Equal(t, req.AppointmentID, payload.Data.AppointmentID)
	r := payload.Data.Notification.Recipients[0]
	assert.Equal(t, activities.WebhookRecipient{ID: p.ID, Name: p.Name, Email: p.Email, Phone: p.Phone, Locale: p.Locale, TZ: p.TZ, Role: appt.Customer}, r)
	assert.Equal(t, req.JoinURL, payload.Data.Notification.JoinURL)
	if req.Metadata != nil {
		assert.Equal(t, req.Metadata, payload.Data.Metadata)
	}
}

// fieldCase is one row of a field table: a value, and "" to accept it or the field the edge must name.
type fieldCase struct {
	shape, value, refuse string
}

func runFieldTable(t *testing.T, c *channels, cases []fieldCase, build func(v string) *appt.ScheduleRequest) {
	t.Helper()
	for _, fc := range cases {
		t.Run(fc.shape, func(t *testing.T) {
			req := build(fc.value)
			err := c.edge(req)
			if fc.refuse != "" {
				var fe *appt.FieldError
				require.ErrorAs(t, err, &fe, "%q must be refused at the edge", fc.value)
				assert.Equal(t, fc.refuse, fe.Field, err.Error())
				return
			}
			require.NoError(t, err, "%q", fc.value)
			c.deliverAll(t, req)
		})
	}
}

var fieldBase = appt.Participant{ID: "c1", Name: "Ann Lee", Email: "ann@example.com", Phone: "+15551234567",
	TZ: "Europe/Berlin", Locale: "en"}

// TestFieldsReachEveryChannel is the table of docs/validation.md: each free-text field in every shape is either
// refused at the edge (the starter's and the api package's check, with the field named) or accepted, and then
// arrives unchanged at Mailpit (parsed and raw), at the Twilio-shaped server and at a verifying webhook receiver.
func TestFieldsReachEveryChannel(t *testing.T) {
	c := startChannels(t)

	t.Run("name", func(t *testing.T) {
		const f = "participant[0].name"
		runFieldTable(t, c, []fieldCase{
			{"latin specials", `Liam O"Neil, Jr. \ (Bob) <ceo@x> ; : 'x'`, ""},
			{"paired quotes", `Robert "Bob" Smith`, ""},
			{"comma", "Lee, Ann", ""},
			{"cjk", "山田 太郎", ""},
			{"emoji", "Ann 👩🏽‍⚕️ Lee 🎉", ""},
			{"right-to-left", "مريم الحسن\u200f", ""},
			{"combining marks", "Zoe\u0308 Ame\u0301lie Nguye\u0302\u0303n", ""},
			{"non-ASCII with a backslash", `Zoë \ Nguyễn`, ""},
			{"long non-ASCII with backslashes", strings.Repeat(`山\`, 100), ""},
			{"encoded-word lookalike", "=?utf-8?q?Mallory?=", f},
			{"encoded-word characters apart", "Ann =? Lee ?=", ""},
			{"longest allowed: 200 code points", strings.Repeat("山", 199) + "😀", ""},
			{"one past", strings.Repeat("山", 200) + "😀", f},
			{"CR LF", "Eve Stone\r\nBcc: someone@example.net", f},
			{"tab", "Ann\tLee", f},
			{"C1 control", "Ann\u0085Lee", f},
			{"invalid UTF-8", "Ann\xffLee", f},
		}, func(v string) *appt.ScheduleRequest {
			p := fieldBase
			p.Name = v
			return fieldRequest(p, "https://video.example/j/A1", nil)
		})
	})

	t.Run("ids, phone, time zone, locale", func(t *testing.T) {
		runFieldTable(t, c, []fieldCase{
			{"appointment ID: longest allowed, every special", strings.Repeat("A._:-", 25) + "Z.:", ""},
			{"appointment ID: one past", strings.Repeat("A", 129), "id"},
			{"appointment ID: cjk", "予約-1", "id"},
			{"participant ID: longest allowed", "p:" + strings.Repeat("q", 62), ""},
			{"participant ID: right-to-left", "مريم", "participant[0].id"},
			{"phone: 15 digits", "+491512345678901", ""},
			{"phone: full-width digits", "+１５５５１２３４５６７", "participant[0].phone"},
			{"time zone: long IANA name", "America/Argentina/ComodRivadavia", ""},
			{"time zone: with a control character", "Europe/Berlin\n", "participant[0].tz"},
			{"locale: right-to-left language", "ar-EG", ""},
			{"locale: script and region", "zh-Hant-TW", ""},
			{"locale: longest allowed", "de-DE-u-co-phonebk-ca-gregory-x-abc", ""},
			{"locale: one past", "de-DE-u-co-phonebk-ca-gregory-x-abcd", "participant[0].locale"},
		}, func(v string) *appt.ScheduleRequest {
			p := fieldBase
			req := fieldRequest(p, "https://video.example/j/1", nil)
			switch {
			case strings.Contains(v, "Europe/") || strings.Contains(v, "America/"):
				req.Participants[0].TZ = v
			case strings.HasPrefix(v, "+"):
				req.Participants[0].Phone = v
			case strings.HasPrefix(v, "p:") || v == "مريم":
				req.Participants[0].ID = v
			case strings.Contains(v, "-") && len(v) <= 40 && !strings.Contains(v, ".") && !strings.Contains(v, "予"):
				req.Participants[0].Locale = v
			default:
				req.AppointmentID = v
			}
			return req
		})
	})

	t.Run("email", func(t *testing.T) {
		const f = "participant[0].email"
		label := strings.Repeat("d", 61)
		runFieldTable(t, c, []fieldCase{
			{"ascii specials", "o'neil+tag.x_y@sub-domain.example.com", ""},
			{"cjk", "山田@例え.jp", ""},
			{"emoji local part", "ann😀@example.com", ""},
			{"right-to-left", "مريم@مثال.example", ""},
			{"longest allowed: 254 bytes", strings.Repeat("l", 64) + "@" + label + "." + label + "." + label + ".com", ""},
			{"one past", strings.Repeat("l", 64) + "@d" + label + "." + label + "." + label + ".com", f},
			{"control character", "ann\x01@example.com", f},
			{"quoted local part", `"ann lee"@example.com`, f},
		}, func(v string) *appt.ScheduleRequest {
			p := fieldBase
			p.Email = v
			return fieldRequest(p, "", nil)
		})
	})

	t.Run("metadata", func(t *testing.T) {
		const f = "metadata.note"
		runFieldTable(t, c, []fieldCase{
			{"latin specials", `O"Neil, \ <b>&amp; 'x' {"json": true}`, ""},
			{"cjk", "予約メモ：二階の受付", ""},
			{"emoji", "🦷 check-up 👍🏿", ""},
			{"right-to-left", "موعد الأسنان", ""},
			{"combining marks", "Cafe\u0301 Zoe\u0308", ""},
			{"json line separator lookalike", "a\\u2028b", ""},
			{"longest allowed: 1024 bytes", strings.Repeat("山", 341) + "x", ""},
			{"one past", strings.Repeat("山", 341) + "xy", f},
			{"line feed", "line 1\nline 2", f},
			{"line separator", "a\u2028b", f},
			{"invalid UTF-8", "\xc3\x28", f},
		}, func(v string) *appt.ScheduleRequest {
			return fieldRequest(fieldBase, "", map[string]string{"note": v})
		})
	})

	t.Run("join-url", func(t *testing.T) {
		// The longest link whose SMS still fits: the edge itself says how long that is.
		long := "https://video.example/j/"
		err := c.edge(fieldRequest(fieldBase, long+strings.Repeat("a", 2000), nil))
		var fe *appt.FieldError
		require.ErrorAs(t, err, &fe)
		require.Equal(t, "join-url", fe.Field)
		var fit int
		_, scanErr := fmt.Sscanf(fe.Msg[strings.Index(fe.Msg, "a link of at most"):], "a link of at most %d characters fits", &fit)
		require.NoError(t, scanErr, fe.Msg)
		runFieldTable(t, c, []fieldCase{
			{"percent-encoded specials", "https://video.example/j/A1?k=a%20b&n=O%27Neil&x=%E5%B1%B1#top", ""},
			{"raw cjk", "https://video.example/j/山田", "join-url"},
			{"raw emoji", "https://video.example/j/😀", "join-url"},
			{"raw right-to-left", "https://video.example/j/مريم", "join-url"},
			{"raw combining mark", "https://video.example/j/e\u0301", "join-url"},
			{"CR LF", "https://video.example/j/a\r\nb", "join-url"},
			{"longest that fits the SMS", long + strings.Repeat("a", fit-len(long)), ""},
			{"one past it", long + strings.Repeat("a", fit-len(long)+1), "join-url"},
		}, func(v string) *appt.ScheduleRequest {
			return fieldRequest(fieldBase, v, nil)
		})
		// The longest that fits makes the longest SMS exactly Twilio's limit.
		last := c.twilio.Requests()
		assert.Equal(t, appt.MaxSMSLen, utf8.RuneCountInString(last[len(last)-1].Body))

		// Without a phone, or for an organisation without SMS, the 2048-character link fits every channel.
		p := fieldBase
		p.Phone = ""
		req := fieldRequest(p, long+strings.Repeat("a", appt.MaxJoinURLLen-len(long)), nil)
		require.NoError(t, c.edge(req))
		msg := notification(appt.Reminder, p)
		msg.Appointment.JoinURL = req.JoinURL
		_, err = c.mailer.SendEmail(context.Background(), c.org, msg, p, "long-link")
		require.NoError(t, err)
		assert.Contains(t, c.mailpit.Messages(t)[0].Text, req.JoinURL+"\r\n")
	})
}

// TestChannelNamesTheCause: a value that gets past the edge anyway (a plain signal from a backend that skips the
// api package, an old history) fails with an error naming the field and the limit, never a wrong cause.
func TestChannelNamesTheCause(t *testing.T) {
	c := startChannels(t)
	p := fieldBase
	p.Name = "Eve Stone\r\nBcc: someone@example.net"
	_, err := c.mailer.SendEmail(context.Background(), c.org, notification(appt.Create, p), p, "n-crlf")
	de := deliveryError(t, err, activities.ErrBadInput)
	assert.Contains(t, de.Msg, "the name")
	assert.Contains(t, de.Msg, "U+000D")
	assert.NotContains(t, de.Msg, "email address")

	// A join link that overflows the SMS is refused before Twilio is called, naming the link and the limit.
	msg := notification(appt.Reminder, fieldBase)
	msg.Appointment.JoinURL = "https://video.example/j/" + strings.Repeat("a", 1970) // 1,994 characters
	_, err = c.sms.SendSMS(context.Background(), c.org, msg, fieldBase, "n-long")
	de = deliveryError(t, err, activities.ErrBadInput)
	assert.Regexp(t, `the SMS body is \d+ characters, over Twilio's limit of 1600 \(error 21617\); the join link \(join-url\) is 1994 of them`, de.Msg)
	assert.Empty(t, c.twilio.Requests(), "nothing reached Twilio")

	// Twilio's own 21617, should it come, is named too.
	c.twilio.Respond(func(w http.ResponseWriter, r testenv.TwilioRequest) { testenv.TwilioError(w, 400, 21617, nil) })
	msg.Appointment.JoinURL = "https://video.example/j/1"
	_, err = c.sms.SendSMS(context.Background(), c.org, msg, fieldBase, "n-21617")
	de = deliveryError(t, err, activities.ErrProviderPermanent)
	assert.Contains(t, de.Msg, "error 21617")
	assert.Contains(t, de.Msg, "exceeds Twilio's limit of 1,600 characters")

	// A webhook secret that is too short is named, not used.
	org := *c.org
	org.Webhooks = []config.Webhook{{URL: c.hooks.URL, SecretEnv: "HOOK_SECRET", Secret: "whsec_AQ=="}}
	err = c.webhook.SendWebhook(context.Background(), &org, 0, msg)
	de = deliveryError(t, err, activities.ErrBadInput)
	assert.Contains(t, de.Msg, "1-byte key")
	assert.Empty(t, c.hooks.received())
}

// plainSMTP is an SMTP server that does not offer SMTPUTF8: what a relay that predates RFC 6531 looks like.
type plainSMTP struct {
	mu         sync.Mutex
	from, rcpt []string
	data       [][]byte
}

func (s *plainSMTP) NewSession(*smtpd.Conn) (smtpd.Session, error) { return &plainSession{s}, nil }

type plainSession struct{ s *plainSMTP }

func (p *plainSession) AuthPlain(string, string) error { return nil }
func (p *plainSession) Mail(from string, _ *smtpd.MailOptions) error {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.s.from = append(p.s.from, from)
	return nil
}
func (p *plainSession) Rcpt(to string, _ *smtpd.RcptOptions) error {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.s.rcpt = append(p.s.rcpt, to)
	return nil
}
func (p *plainSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.s.data = append(p.s.data, b)
	return err
}
func (p *plainSession) Reset()        {}
func (p *plainSession) Logout() error { return nil }

// TestEmailWithoutSMTPUTF8: against a server without SMTPUTF8, a non-ASCII domain goes out in its IDNA A-label form
// (the same mailbox) and the display names as RFC 2047 encoded-words; a non-ASCII local part, which no such relay
// can take, fails for good with an error that says why.
func TestEmailWithoutSMTPUTF8(t *testing.T) {
	rec := &plainSMTP{}
	srv := smtpd.NewServer(rec)
	srv.Domain = "plain.test"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	c := startChannels(t)
	m, err := activities.NewMailer(config.SMTP{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, TLS: config.TLSNone},
		c.set, activities.WithSMTPTimeout(10*time.Second))
	require.NoError(t, err)

	p := fieldBase
	p.Name, p.Email = `山田 "Taro", Jr.`, "taro@例え.jp"
	_, err = m.SendEmail(context.Background(), c.org, notification(appt.Create, p), p, "n-idna")
	require.NoError(t, err)
	require.Equal(t, []string{"taro@xn--r8jz45g.jp"}, rec.rcpt)
	require.Equal(t, []string{"care@xn--zahnrzte-3za.example"}, rec.from)
	rm, err := mail.ReadMessage(bytes.NewReader(rec.data[0]))
	require.NoError(t, err)
	rawTo := rm.Header.Get("To")
	for _, r := range rawTo {
		require.Less(t, r, rune(utf8.RuneSelf), "the To header is ASCII without SMTPUTF8: %q", rawTo)
	}
	to, err := rm.Header.AddressList("To")
	require.NoError(t, err)
	assert.Equal(t, p.Name, to[0].Name)
	assert.Equal(t, "taro@xn--r8jz45g.jp", to[0].Address)

	p.Email = "山田@example.jp"
	_, err = m.SendEmail(context.Background(), c.org, notification(appt.Create, p), p, "n-utf8")
	de := deliveryError(t, err, activities.ErrInvalidRecipient)
	assert.Contains(t, de.Msg, "non-ASCII local part")
	assert.Contains(t, de.Msg, "SMTPUTF8")
	assert.NotContains(t, de.Msg, p.Email)
	assert.Len(t, rec.rcpt, 1, "nothing more was sent")
}
