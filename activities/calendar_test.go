package activities_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	goical "github.com/emersion/go-ical"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// mimePart is one leaf of a MIME message, its body decoded.
type mimePart struct {
	mediaType   string
	params      map[string]string
	disposition string
	filename    string
	body        []byte
}

// leaves walks a raw message and returns every non-multipart part.
func leaves(t *testing.T, raw []byte) []mimePart {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	var out []mimePart
	var walk func(h map[string][]string, body io.Reader)
	walk = func(h map[string][]string, body io.Reader) {
		get := func(k string) string {
			if v := h[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		mt, params, err := mime.ParseMediaType(get("Content-Type"))
		require.NoError(t, err)
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				require.NoError(t, err)
				walk(p.Header, p)
			}
		}
		var r io.Reader = body
		switch strings.ToLower(get("Content-Transfer-Encoding")) {
		case "quoted-printable":
			r = quotedprintable.NewReader(body)
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, body)
		}
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		p := mimePart{mediaType: mt, params: params, body: b}
		if d := get("Content-Disposition"); d != "" {
			disp, dp, err := mime.ParseMediaType(d)
			require.NoError(t, err)
			p.disposition, p.filename = disp, dp["filename"]
		}
		out = append(out, p)
	}
	walk(msg.Header, msg.Body)
	return out
}

// invite is what a mail's calendar parts came to.
type invite struct {
	method     string // the text/calendar part's method parameter
	alt        *ics.Calendar
	attachment *ics.Calendar
	rawAlt     string
	rawAttach  []byte // the invite.ics attachment's bytes, transfer encoding undone
}

// invites reads the newest message's calendar parts from Mailpit; nil when it has none.
func newestInvite(t *testing.T, mp *testenv.Mailpit) (*invite, testenv.MailpitMessage) {
	t.Helper()
	msgs := mp.Messages(t)
	require.NotEmpty(t, msgs)
	m := msgs[0]
	var inv *invite
	for _, p := range leaves(t, mp.Raw(t, m.ID)) {
		if p.mediaType != "text/calendar" && p.filename != activities.InviteFileName {
			continue
		}
		if inv == nil {
			inv = &invite{}
		}
		cal, err := ics.ParseCalendar(bytes.NewReader(p.body))
		require.NoError(t, err, "%s", p.body)
		if p.filename == activities.InviteFileName {
			require.Equal(t, "attachment", p.disposition)
			require.Equal(t, "application/ics", p.mediaType)
			inv.attachment, inv.rawAttach = cal, p.body
		} else {
			inv.method = p.params["method"]
			inv.alt, inv.rawAlt = cal, string(p.body)
		}
	}
	return inv, m
}

func prop(t *testing.T, ev *ics.VEvent, p ics.ComponentProperty) string {
	t.Helper()
	v := ev.GetProperty(p)
	if v == nil {
		return ""
	}
	return v.Value
}

func calMethod(cal *ics.Calendar) string {
	for _, p := range cal.CalendarProperties {
		if p.IANAToken == string(ics.PropertyMethod) {
			return p.Value
		}
	}
	return ""
}

// The calendar invite through create, reschedule, reschedule and cancel, read back from Mailpit and parsed with
// golang-ical: one UID throughout, SEQUENCE rising, REQUEST then CANCEL, the times in UTC, the join link only
// where the email carries it; a retry of the same email carries the same invite.
func TestCalendarInviteLifecycle(t *testing.T) {
	mp := testenv.StartMailpit(t)
	m := newMailer(t, mp)
	org := emailOrg()
	uid := "A1@acme.example"

	type step struct {
		typ   appt.NotificationType
		seq   int
		start time.Time
		link  bool
	}
	steps := []step{
		{appt.Create, 0, apptStart, true},
		{appt.Reschedule, 1, apptStart.Add(2 * time.Hour), true},
		{appt.Reschedule, 2, apptStart.Add(26 * time.Hour), false}, // not active (yet): no link
		{appt.Cancelled, 3, apptStart.Add(26 * time.Hour), false},
	}
	var first *invite
	for i, s := range steps {
		msg := notification(s.typ, ann)
		msg.EventID = appt.EventID("A1", s.typ, s.seq, 0)
		msg.Sequence = s.seq
		msg.Appointment.Start, msg.Appointment.End = s.start, s.start.Add(45*time.Minute)
		msg.Timestamp = apptStart.Add(time.Duration(i-10) * time.Hour)
		if !s.link {
			msg.Appointment.JoinURL = ""
		}
		nid := appt.NotificationID(msg.EventID, appt.Email, ann.ID)
		_, err := m.SendEmail(context.Background(), org, msg, ann, nid)
		require.NoError(t, err)
		inv, mail := newestInvite(t, mp)
		require.NotNil(t, inv, "%s carries an invite", s.typ)
		require.NotNil(t, inv.alt, "a text/calendar part")
		require.NotNil(t, inv.attachment, "an invite.ics attachment")
		require.Equal(t, inv.alt.Serialize(), inv.attachment.Serialize(), "the part and the attachment are one object")
		want := "REQUEST"
		if s.typ == appt.Cancelled {
			want = "CANCEL"
		}
		require.Equal(t, want, inv.method, "the part's method parameter")
		require.Equal(t, want, calMethod(inv.alt))
		evs := inv.alt.Events()
		require.Len(t, evs, 1)
		ev := evs[0]
		require.Equal(t, uid, ev.Id(), "the UID is stable per appointment")
		require.Equal(t, itoa(s.seq), prop(t, ev, ics.ComponentPropertySequence))
		st, err := ev.GetStartAt()
		require.NoError(t, err)
		require.True(t, st.Equal(s.start), "DTSTART %v, want %v", st, s.start)
		require.Equal(t, s.start.UTC().Format("20060102T150405Z"), prop(t, ev, ics.ComponentPropertyDtStart), "in UTC")
		en, err := ev.GetEndAt()
		require.NoError(t, err)
		require.True(t, en.Equal(s.start.Add(45*time.Minute)))
		stamp, err := ev.GetDtStampTime()
		require.NoError(t, err)
		require.True(t, stamp.Equal(msg.Timestamp), "DTSTAMP is the message's time, so a retry carries the same invite")
		require.Equal(t, "mailto:care@acme.example", prop(t, ev, ics.ComponentPropertyOrganizer))
		require.Equal(t, "Acme Care", ev.GetProperty(ics.ComponentPropertyOrganizer).ICalParameters["CN"][0])
		att := ev.Attendees()
		require.Len(t, att, 1)
		require.Equal(t, ann.Email, att[0].Email())
		require.Equal(t, ann.Name, att[0].ICalParameters["CN"][0])
		if s.typ == appt.Cancelled {
			require.Equal(t, "CANCELLED", prop(t, ev, ics.ComponentPropertyStatus))
			require.Equal(t, "Cancelled: video appointment with Acme Care", prop(t, ev, ics.ComponentPropertySummary))
		} else {
			require.Equal(t, "CONFIRMED", prop(t, ev, ics.ComponentPropertyStatus))
			require.Equal(t, "Video appointment with Acme Care", prop(t, ev, ics.ComponentPropertySummary))
		}
		desc := prop(t, ev, ics.ComponentPropertyDescription)
		require.Contains(t, desc, "Appointment reference: A1")
		if s.link {
			require.Equal(t, "https://video.example/join/A1?k=s3cr3t", prop(t, ev, ics.ComponentPropertyUrl))
			require.Equal(t, "https://video.example/join/A1?k=s3cr3t", prop(t, ev, ics.ComponentPropertyLocation))
			require.Contains(t, desc, "https://video.example/join/A1?k=s3cr3t")
		} else {
			require.NotContains(t, inv.rawAlt, "s3cr3t", "no join link anywhere in the invite")
			require.Empty(t, prop(t, ev, ics.ComponentPropertyUrl))
			require.Empty(t, prop(t, ev, ics.ComponentPropertyLocation))
			require.NotContains(t, mail.Text, "s3cr3t")
		}
		if i == 0 {
			first = inv
			// A replayed retry of the same email: the same UID, SEQUENCE and DTSTAMP.
			_, err := m.SendEmail(context.Background(), org, msg, ann, nid)
			require.NoError(t, err)
			again, _ := newestInvite(t, mp)
			require.NotNil(t, again)
			require.Equal(t, first.alt.Serialize(), again.alt.Serialize())
		}
	}
}

// Other types carry no invite, and calendar_invites: false turns invites off.
func TestCalendarInviteOnlyWhereDue(t *testing.T) {
	mp := testenv.StartMailpit(t)
	m := newMailer(t, mp)
	for _, typ := range []appt.NotificationType{appt.Reminder, appt.Room, appt.FollowUp} {
		msg := notification(typ, ann)
		_, err := m.SendEmail(context.Background(), emailOrg(), msg, ann, appt.NotificationID(msg.EventID, appt.Email, ann.ID))
		require.NoError(t, err)
		inv, _ := newestInvite(t, mp)
		require.Nil(t, inv, "%s carries no invite", typ)
	}
	off := emailOrg()
	f := false
	off.CalendarInvites = &f
	msg := notification(appt.Create, ann)
	_, err := m.SendEmail(context.Background(), off, msg, ann, appt.NotificationID(msg.EventID, appt.Email, ann.ID))
	require.NoError(t, err)
	inv, _ := newestInvite(t, mp)
	require.Nil(t, inv, "calendar_invites: false")
}

// Non-ASCII names and a long description with multi-byte characters: every line of the file is folded to at most
// 75 octets without splitting a character, and the parsed SUMMARY, DESCRIPTION and CN are what was rendered. An
// organisation's language override supplies the text.
func TestCalendarInviteFoldingAndOverrides(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "de"), 0o755))
	long := strings.Repeat("Größe – 日本語のテキスト; Straße, Übergröße: “Zitat” \\ ", 12)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "de", "create.ics-description.txt"),
		[]byte("Termin für {{.Name}}\n"+long+"\n{{.Start}}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "create.ics-summary.txt"),
		[]byte("Sprechstunde · {{.OrgName}} · 予約\n"), 0o644))
	cfg := &config.Config{Organizations: []config.Org{{ID: "acme", Platform: appt.Genesys,
		EmailFrom: "Praxis Müller <care@acme.example>", TemplatesDir: dir}}}
	set, err := templates.Load(cfg)
	require.NoError(t, err)
	mp := testenv.StartMailpit(t)
	m, err := activities.NewMailer(config.SMTP{Host: mp.SMTPHost, Port: mp.SMTPPort, TLS: config.TLSNone}, set)
	require.NoError(t, err)

	jo := appt.Participant{ID: "c9", Name: `Jürgen "Jo" O'Brien-Łukasiewicz, Dr.`, Email: "jo@example.com",
		TZ: "Europe/Berlin", Locale: "de-AT"}
	msg := notification(appt.Create, jo)
	org := &cfg.Organizations[0]
	_, err = m.SendEmail(context.Background(), org, msg, jo, appt.NotificationID(msg.EventID, appt.Email, jo.ID))
	require.NoError(t, err)
	inv, _ := newestInvite(t, mp)
	require.NotNil(t, inv)

	for _, line := range strings.Split(strings.TrimRight(inv.rawAlt, "\r\n"), "\r\n") {
		require.LessOrEqual(t, len(line), 75, "line %q", line)
		require.True(t, utf8Valid(line), "a fold split a character: %q", line)
	}
	want, err := set.Invite("acme", templates.Input{Type: appt.Create, AppointmentID: "A1", Start: msg.Appointment.Start,
		End: msg.Appointment.End, JoinURL: msg.Appointment.JoinURL, Participant: jo})
	require.NoError(t, err)
	ev := inv.alt.Events()[0]
	require.Equal(t, "Sprechstunde · Praxis Müller · 予約", prop(t, ev, ics.ComponentPropertySummary))
	require.Equal(t, want.Description, prop(t, ev, ics.ComponentPropertyDescription), "DESCRIPTION survives escaping and folding")
	require.Contains(t, want.Description, "Termin für Jürgen")
	require.Equal(t, "Praxis Müller", ev.GetProperty(ics.ComponentPropertyOrganizer).ICalParameters["CN"][0])
	require.Equal(t, "Jürgen ”Jo” O’Brien-Łukasiewicz Dr.", ev.Attendees()[0].ICalParameters["CN"][0],
		"characters a parameter value cannot hold unquoted are replaced")
	require.Equal(t, jo.Email, ev.Attendees()[0].Email())
}

// RFC 5545 §3.1: every content line, folded continuation lines included, ends in CRLF, in the invite.ics
// attachment (base64, which no mail server normalises) as in the text/calendar part. Read from the raw message
// Mailpit received, the transfer encoding undone, and parsed with golang-ical.
func TestCalendarInviteLinesEndInCRLF(t *testing.T) {
	mp := testenv.StartMailpit(t)
	m := newMailer(t, mp)
	org := emailOrg()
	for _, typ := range []appt.NotificationType{appt.Create, appt.Reschedule, appt.Cancelled} {
		msg := notification(typ, ann)
		msg.Appointment.JoinURL = "https://video.example/join/A1?k=" + strings.Repeat("long-token-", 12) // folded
		_, err := m.SendEmail(context.Background(), org, msg, ann, appt.NotificationID(msg.EventID, appt.Email, ann.ID))
		require.NoError(t, err)
		inv, _ := newestInvite(t, mp)
		require.NotNil(t, inv, "%s carries an invite", typ)
		require.NotNil(t, inv.attachment, "%s: an invite.ics attachment that golang-ical parses", typ)
		require.Len(t, inv.attachment.Events(), 1)
		for name, raw := range map[string][]byte{"invite.ics": inv.rawAttach, "text/calendar": []byte(inv.rawAlt)} {
			require.True(t, bytes.HasSuffix(raw, []byte("END:VCALENDAR\r\n")), "%s %s: ends with a CRLF line", typ, name)
			lines := bytes.SplitAfter(raw, []byte("\n"))
			folded := 0
			for i, line := range lines[:len(lines)-1] {
				require.True(t, bytes.HasSuffix(line, []byte("\r\n")), "%s %s line %d ends in a bare LF: %q", typ, name, i+1, line)
				require.NotContains(t, string(line[:len(line)-2]), "\r", "%s %s line %d: a bare CR", typ, name, i+1)
				if line[0] == ' ' {
					folded++
				}
			}
			require.Empty(t, lines[len(lines)-1], "%s %s: nothing after the last CRLF", typ, name)
			require.Positive(t, folded, "%s %s: the folded lines are checked too", typ, name)
			// A second parser, independent of the library that wrote the file, reads the same bytes back.
			cal, err := goical.NewDecoder(bytes.NewReader(raw)).Decode()
			require.NoError(t, err, "%s %s: emersion/go-ical parses it", typ, name)
			events := cal.Events()
			require.Len(t, events, 1, "%s %s", typ, name)
			uid, err := events[0].Props.Text(goical.PropUID)
			require.NoError(t, err)
			require.Equal(t, inv.attachment.Events()[0].Id(), uid, "%s %s: the same UID for both parsers", typ, name)
			method, err := cal.Props.Text(goical.PropMethod)
			require.NoError(t, err)
			require.Equal(t, inv.method, method, "%s %s", typ, name)
			_, err = events[0].DateTimeStart(time.UTC)
			require.NoError(t, err, "%s %s: DTSTART reads as a time", typ, name)
		}
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// The README walkthrough's config (examples/walkthrough.yaml) sends its CREATE email with the invite: calendar
// invites are on by default.
func TestWalkthroughCreateCarriesTheInvite(t *testing.T) {
	cfg, err := config.LoadWorker(filepath.Join("..", "examples", "walkthrough.yaml"), func(string) string { return "" })
	require.NoError(t, err)
	mp := testenv.StartMailpit(t)
	cfg.SMTP.Host, cfg.SMTP.Port = mp.SMTPHost, mp.SMTPPort
	set, err := templates.Load(cfg)
	require.NoError(t, err)
	m, err := activities.NewMailer(cfg.SMTP, set)
	require.NoError(t, err)
	org, ok := cfg.Org("demo")
	require.True(t, ok)
	msg := notification(appt.Create, bob)
	msg.Appointment.ID, msg.Appointment.Org = "walk-1", "demo"
	_, err = m.SendEmail(context.Background(), org, msg, bob, appt.NotificationID(msg.EventID, appt.Email, bob.ID))
	require.NoError(t, err)
	inv, _ := newestInvite(t, mp)
	require.NotNil(t, inv)
	require.NotNil(t, inv.attachment)
	require.Equal(t, "REQUEST", inv.method)
	ev := inv.alt.Events()[0]
	require.Equal(t, "walk-1@demo.example", ev.Id())
	require.Equal(t, "Videotermin bei Demo Clinic", prop(t, ev, ics.ComponentPropertySummary), "in the participant's language")
}
