package templates_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// TestWithOverrides: templates not yet saved render for the organisation in their language (a de/ file applies to
// German participants only), leave the set they came from unchanged, and a file that does not parse, does not
// render, or has no template name is refused with a FileError naming it.
func TestWithOverrides(t *testing.T) {
	base, err := templates.Load(testConfig(t, ""))
	require.NoError(t, err)
	start := time.Date(2030, 3, 5, 14, 0, 0, 0, time.UTC)
	in := func(locale string) templates.Input {
		return templates.Input{Type: appt.Reminder, AppointmentID: "A1", Start: start, End: start.Add(30 * time.Minute),
			Offset: time.Hour, Participant: appt.Participant{ID: "c1", Name: "Bob", Locale: locale, TZ: "Europe/Berlin"}}
	}
	set, err := base.WithOverrides("acme", map[string]string{
		"de/reminder.subject.txt": "Bald: {{.StartTime}}",
		"reminder.sms.txt":        "{{.OrgName}} {{.StartShort}}",
	})
	require.NoError(t, err)
	got, err := set.Render("acme", in("de"), templates.Subject)
	require.NoError(t, err)
	require.Equal(t, "Bald: 15:00 Uhr MEZ", got)
	got, err = set.Render("acme", in("en"), templates.Subject)
	require.NoError(t, err)
	require.NotContains(t, got, "Bald", "a de/ override is for German participants only")
	got, err = set.Render("acme", in("de"), templates.SMSText)
	require.NoError(t, err)
	require.Equal(t, "Acme Care Di., 5. März, 15:00 Uhr MEZ", got)
	got, err = base.Render("acme", in("de"), templates.Subject)
	require.NoError(t, err)
	require.NotContains(t, got, "Bald", "the set the overrides came from is unchanged")

	for _, tc := range []struct{ file, text, want string }{
		{"de/reminder.txt", "{{.Start", "unclosed action"},
		{"de/reminder.txt", "{{.Nope}}", "can't evaluate field Nope"},
		{"reminder.html", "   ", "renders to empty text"},
		{"de/remind.txt", "x", "not a template name"},
		{"german/reminder.txt", "x", "base language"},
		{"reminder.ics-summary.txt", "x", "not a template name"},
	} {
		_, err := base.WithOverrides("acme", map[string]string{"create.txt": "fine {{.Start}}", tc.file: tc.text})
		var fe *templates.FileError
		require.True(t, errors.As(err, &fe), "%s: %v", tc.file, err)
		require.Equal(t, tc.file, fe.File)
		require.ErrorContains(t, fe, tc.want)
	}
}
