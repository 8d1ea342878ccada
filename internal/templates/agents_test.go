package templates_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// Agents get their own templates (agent-<type>.*) for CREATE, RESCHEDULE, CANCELLED and REMINDER, in their language,
// overridable per organisation like the customers'; they never get ROOM or FOLLOW_UP, and an override file for
// those is not a template name (docs/rules.md#participants).
func TestAgentTemplates(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "agent-reminder.sms.txt"), []byte("Agent reminder {{.AppointmentID}}\n"), 0o644))
	set, err := templates.Load(testConfig(t, dir))
	require.NoError(t, err)
	start := time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC)
	agent := appt.Participant{ID: "a1", Name: "Agent Smith", Role: appt.Agent, Locale: "de", TZ: "Europe/Berlin"}
	customer := appt.Participant{ID: "c1", Name: "Ann Lee", Locale: "de", TZ: "Europe/Berlin"}
	for _, typ := range appt.AgentNotificationTypes {
		in := templates.Input{Type: typ, AppointmentID: "A1", Start: start, End: start.Add(30 * time.Minute),
			Offset: time.Hour, JoinURL: "https://video.example/j/A1"}
		in.Participant = agent
		forAgent, err := set.Email("acme", in)
		require.NoError(t, err, "%s", typ)
		in.Participant = customer
		forCustomer, err := set.Email("acme", in)
		require.NoError(t, err, "%s", typ)
		require.NotEqual(t, forCustomer.Text, forAgent.Text, "%s: the agent's own template", typ)
		require.Contains(t, forAgent.Text, "Mitarbeiter", "%s: in the agent's language", typ)
		require.Contains(t, forAgent.Text, "Guten Tag Agent Smith", "%s", typ)
		if templates.HasInvite(typ) {
			in.Participant = agent
			inv, err := set.Invite("acme", in)
			require.NoError(t, err, "%s", typ)
			require.Contains(t, inv.Summary, "A1", "%s: the agents' invite text", typ)
		}
	}
	sms, err := set.SMS("acme", templates.Input{Type: appt.Reminder, AppointmentID: "A1", Start: start,
		End: start.Add(30 * time.Minute), Participant: agent})
	require.NoError(t, err)
	require.Equal(t, "Agent reminder A1", sms, "the organisation's override of the agents' template")

	for _, typ := range []appt.NotificationType{appt.Room, appt.FollowUp} {
		_, err := set.Email("acme", templates.Input{Type: typ, AppointmentID: "A1", Start: start,
			End: start.Add(30 * time.Minute), Participant: agent})
		require.ErrorContains(t, err, "agents get no "+string(typ))
	}
	for _, name := range []string{"agent-room.txt", "agent-follow_up.sms.txt", "agent-reminder.ics-summary.txt"} {
		bad := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(bad, name), []byte("x\n"), 0o644))
		_, err := templates.Load(testConfig(t, bad))
		require.ErrorContains(t, err, "not a template name", "%s", name)
	}
}
