package templates_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func testConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	return &config.Config{Organizations: []config.Org{{
		ID: "acme", Platform: appt.Genesys, EmailFrom: "Acme Care <care@acme.example>", TemplatesDir: dir,
	}}}
}

// TestGolden renders every type and part in two locales and zones, with and without a join link, against the
// files in testdata/. Run with -update to rewrite them after a deliberate change.
func TestGolden(t *testing.T) {
	set, err := templates.Load(testConfig(t, ""))
	require.NoError(t, err)
	start := time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC)
	cases := []struct{ locale, tz string }{{"en", "America/New_York"}, {"de", "Europe/Berlin"}}
	for _, c := range cases {
		for _, typ := range appt.NotificationTypes {
			for _, join := range []string{"", "https://video.example/join/A1?t=x&y=1"} {
				name := strings.ToLower(string(typ)) + "." + c.locale
				if join != "" {
					name += ".join"
				}
				t.Run(name, func(t *testing.T) {
					in := templates.Input{
						Type: typ, AppointmentID: "A1", Start: start, End: start.Add(45 * time.Minute), JoinURL: join,
						Participant: appt.Participant{ID: "c1", Name: "Ann Lee", Locale: c.locale, TZ: c.tz},
					}
					if typ == appt.Reminder {
						in.Offset = 24 * time.Hour
					}
					if typ == appt.Room {
						in.Offset = 15 * time.Minute
					}
					var b strings.Builder
					for _, p := range templates.Parts {
						out, err := set.Render("acme", in, p)
						require.NoError(t, err)
						b.WriteString("==== " + string(p) + " ====\n" + strings.TrimSuffix(out, "\n") + "\n")
					}
					golden := filepath.Join("testdata", name+".golden")
					if *update {
						require.NoError(t, os.WriteFile(golden, []byte(b.String()), 0o644))
					}
					want, err := os.ReadFile(golden)
					require.NoError(t, err, "run go test ./internal/templates -update to create it")
					require.Equal(t, string(want), b.String())
					if join == "" {
						require.NotContains(t, b.String(), "video.example")
					}
				})
			}
		}
	}
}

func TestHTMLIsEscaped(t *testing.T) {
	set := templates.Defaults()
	in := templates.Input{
		Type: appt.Create, AppointmentID: "A1", Start: time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC),
		End: time.Date(2026, 3, 3, 14, 30, 0, 0, time.UTC), JoinURL: `javascript:alert(1)`,
		Participant: appt.Participant{ID: "c1", Name: `<script>alert("x")</script>`},
	}
	e, err := set.Email("acme", in)
	require.NoError(t, err)
	require.NotContains(t, e.HTML, "<script>")
	require.Contains(t, e.HTML, "&lt;script&gt;")
	require.NotContains(t, e.HTML, `href="javascript:`, "html/template must neutralise a dangerous URL")
	// The text part is not HTML: the name goes in as written.
	require.Contains(t, e.Text, `<script>alert("x")</script>`)
}

func TestLocaleFallbackAndUTC(t *testing.T) {
	set := templates.Defaults()
	in := templates.Input{
		Type: appt.Create, AppointmentID: "A1", Start: time.Date(2026, 7, 3, 14, 0, 0, 0, time.UTC),
		End:         time.Date(2026, 7, 3, 15, 30, 0, 0, time.UTC),
		Participant: appt.Participant{ID: "c1", Locale: "fr-CA"},
	}
	out, err := set.Render("acme", in, templates.Text)
	require.NoError(t, err)
	require.Contains(t, out, "Hello,\n")
	require.Contains(t, out, "Friday, July 3, 2026 at 2:00 PM UTC")
	require.Contains(t, out, "1 hour and 30 minutes")

	in.Participant.Locale, in.Participant.TZ = "de-AT", "Europe/Vienna"
	out, err = set.Render("acme", in, templates.Subject)
	require.NoError(t, err)
	require.Equal(t, "Ihr Termin bei acme am Freitag, 3. Juli 2026", out)
	d := templates.NewData(in, "acme", "Acme")
	require.Equal(t, "16:00 Uhr MESZ", d.StartTime)
	require.Equal(t, "1 Stunde und 30 Minuten", d.Duration)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func TestOverrides(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "reminder.subject.txt"), "Acme reminder for {{.AppointmentID}}")
	write(t, filepath.Join(dir, "de", "reminder.subject.txt"), "Acme Erinnerung {{.StartAt.Format \"2006-01-02\"}}")
	write(t, filepath.Join(dir, "README.md"), "ignored")
	set, err := templates.Load(testConfig(t, dir))
	require.NoError(t, err)
	in := templates.Input{
		Type: appt.Reminder, AppointmentID: "A1", Start: time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC),
		End: time.Date(2026, 3, 3, 14, 30, 0, 0, time.UTC), Offset: time.Hour,
		Participant: appt.Participant{ID: "c1", Locale: "en"},
	}
	out, err := set.Render("acme", in, templates.Subject)
	require.NoError(t, err)
	require.Equal(t, "Acme reminder for A1", out)
	in.Participant.Locale = "de"
	out, err = set.Render("acme", in, templates.Subject)
	require.NoError(t, err)
	require.Equal(t, "Acme Erinnerung 2026-03-03", out)
	// Parts not overridden come from the defaults; other organisations see only the defaults.
	out, err = set.Render("acme", in, templates.SMSText)
	require.NoError(t, err)
	require.Contains(t, out, "Erinnerung an Ihren Termin")
	out, err = set.Render("other", in, templates.Subject)
	require.NoError(t, err)
	require.Contains(t, out, "Erinnerung: Ihr Termin bei other beginnt in 1 Stunde")
}

func TestBrokenOverrideFailsLoad(t *testing.T) {
	cases := map[string]struct{ file, content, want string }{
		"parse error":     {"reminder.html", "<p>{{if .Name}}</p>", "reminder.html"},
		"unknown field":   {"room.sms.txt", "Join {{.JoinLink}}", "room.sms.txt"},
		"field of a link": {"de/create.txt", "{{.JoinURL.Host}}", filepath.Join("de", "create.txt")},
		"empty":           {"cancelled.subject.txt", "{{if .JoinURL}}x{{end}}", "cancelled.subject.txt"},
		"unknown name":    {"remider.txt", "hello", "remider.txt"},
		"invite part of a type without an invite": {"reminder.ics-summary.txt", "x", "reminder.ics-summary.txt"},
		"broken invite description":               {"de/cancelled.ics-description.txt", "{{.Nope}}", filepath.Join("de", "cancelled.ics-description.txt")},
		"empty invite summary":                    {"create.ics-summary.txt", "{{if .JoinURL}}x{{end}}", "create.ics-summary.txt"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, c.file), c.content)
			_, err := templates.Load(testConfig(t, dir))
			require.Error(t, err)
			require.Contains(t, err.Error(), "organisation acme")
			require.Contains(t, err.Error(), filepath.Join(dir, c.want))
		})
	}
}

// The invite parts exist for CREATE, RESCHEDULE and CANCELLED only, in every language, and an organisation's
// language override wins.
func TestInviteParts(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "de", "reschedule.ics-summary.txt"), "Neu: {{.StartDate}}")
	set, err := templates.Load(testConfig(t, dir))
	require.NoError(t, err)
	in := templates.Input{Type: appt.Reschedule, AppointmentID: "A1", Start: time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC),
		End: time.Date(2026, 3, 3, 14, 30, 0, 0, time.UTC), Participant: appt.Participant{ID: "c1", Locale: "de"}}
	inv, err := set.Invite("acme", in)
	require.NoError(t, err)
	require.Equal(t, "Neu: Dienstag, 3. März 2026", inv.Summary)
	require.Contains(t, inv.Description, "wurde verlegt")
	in.Participant.Locale = "en"
	inv, err = set.Invite("acme", in)
	require.NoError(t, err)
	require.Equal(t, "Video appointment with Acme Care", inv.Summary)
	for _, typ := range []appt.NotificationType{appt.Reminder, appt.Room, appt.FollowUp} {
		in.Type = typ
		_, err := set.Invite("acme", in)
		require.Error(t, err, "%s", typ)
	}
}

// TestTemplatesAsData: an organisation's templates given as data (the API's templates map) override the defaults
// per language, are parsed and trial-rendered before they are put in force, and a broken one changes nothing.
func TestTemplatesAsData(t *testing.T) {
	s := templates.Defaults()
	o := &config.Org{ID: "acme", Templates: map[string]string{"de/create.subject.txt": "Termin {{.AppointmentID}}"}}
	require.NoError(t, s.SetOrg(o))
	in := templates.Input{Type: appt.Create, AppointmentID: "a1", Start: time.Date(2030, 1, 2, 15, 0, 0, 0, time.UTC),
		End: time.Date(2030, 1, 2, 16, 0, 0, 0, time.UTC), Participant: appt.Participant{ID: "p", Locale: "de-AT", TZ: "Europe/Vienna"}}
	got, err := s.Render("acme", in, templates.Subject)
	require.NoError(t, err)
	require.Equal(t, "Termin a1", got)

	bad := &config.Org{ID: "acme", Templates: map[string]string{"create.subject.txt": "{{.NoSuchField}}"}}
	require.ErrorContains(t, s.CheckOrg(bad), `templates["create.subject.txt"]`)
	require.Error(t, s.SetOrg(bad))
	got, _ = s.Render("acme", in, templates.Subject)
	require.Equal(t, "Termin a1", got, "a refused set leaves the templates in force")
	require.ErrorContains(t, s.CheckOrg(&config.Org{ID: "x", Templates: map[string]string{"creat.txt": "x"}}), "not a template name")
}
