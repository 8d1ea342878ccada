package e2e_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// TestParticipantsEndToEnd drives the worker binary with the starter binary on a running appointment
// (docs/rules.md#participants): a customer added with add-participant gets CREATE and later the REMINDER by email;
// a customer removed with remove-participant gets CANCELLED and no REMINDER; a duplicate add and the removal of the
// last customer exit 2 naming the field. With notify_agents on, the agent gets CREATE and the REMINDER in the
// agents' templates; subscribers get participant.added and participant.removed, signed.
func TestParticipantsEndToEnd(t *testing.T) {
	e := newEnv(t, "    reminder_offsets: [30s]\n    notify_agents: true\n")
	e.startWorker()
	start := time.Now().Add(75 * time.Second).Truncate(time.Second)
	e.ok("schedule", "--id", "P1", "--org", "acme", "--start", rfc3339(start),
		"--participant", participant("c1", "p1-c1@example.com"),
		"--participant", "id=a1,name=Agent Smith,email=p1-agent@example.com,role=agent",
		"--join-url", "https://video.example/j/P1")

	out := e.ok("add-participant", "--id", "P1", "--participant", participant("c2", "p1-c2@example.com"))
	assert.Contains(t, out, "add-participant: done; state active")
	e.ok("add-participant", "--id", "P1", "--participant", participant("c3", "p1-c3@example.com"))
	code, _, errs := e.run("add-participant", "--id", "P1", "--participant", participant("c2", "p1-c2@example.com"))
	assert.Equal(t, 2, code, "a participant that is there: %s", errs)
	assert.Contains(t, errs, `participant.id: "c2" is already a participant`)

	eventually(t, 30*time.Second, "c3's CREATE email", func() bool { return len(e.mailsTo("p1-c3@example.com")) == 1 })
	e.ok("remove-participant", "--id", "P1", "--participant", "c3")
	eventually(t, 30*time.Second, "c3's CANCELLED email", func() bool { return len(e.mailsTo("p1-c3@example.com")) == 2 })

	eventually(t, 90*time.Second, "the REMINDER to c1, c2 and the agent", func() bool {
		return len(e.mailsTo("p1-c1@example.com")) == 2 && len(e.mailsTo("p1-c2@example.com")) == 2 &&
			len(e.mailsTo("p1-agent@example.com")) == 2
	})
	c2 := e.mailsTo("p1-c2@example.com") // newest first
	assert.Contains(t, c2[0].Subject, "Erinnerung", "the added customer's REMINDER")
	assert.Contains(t, c2[1].Subject, "Ihr Termin", "the added customer's CREATE")
	c3 := e.mailsTo("p1-c3@example.com")
	require.Len(t, c3, 2, "the removed customer: CREATE and CANCELLED, no REMINDER")
	assert.Contains(t, c3[0].Subject, "abgesagt")
	agent := e.mailsTo("p1-agent@example.com")
	assert.Contains(t, agent[0].Subject, "Reminder: video appointment P1", "the agents' REMINDER template")
	assert.Contains(t, agent[1].Subject, "Video appointment P1 booked", "the agents' CREATE template")

	st := e.status("P1")
	var ids []string
	for _, p := range st.Participants {
		ids = append(ids, p.ID)
	}
	assert.Equal(t, []string{"c1", "a1", "c2"}, ids)
	for _, d := range entriesOf(st, appt.Reminder, appt.Email) {
		assert.NotEqual(t, "c3", d.Recipient, "no REMINDER entry for the removed customer")
	}
	assert.Len(t, entriesOf(st, appt.Reminder, appt.Email), 3, "c1, a1, c2")

	for ev, id := range map[string]string{appt.EventParticipantAdded: "c3", appt.EventParticipantRemoved: "c3"} {
		var found bool
		for _, w := range e.hooks.Got(ev) {
			var p activities.WebhookPayload
			require.NoError(t, json.Unmarshal(w.Body, &p))
			found = found || (p.Data.AppointmentID == "P1" && p.Data.ParticipantID == id)
		}
		assert.True(t, found, "%s for %s, verified by the receiver", ev, id)
	}

	e.ok("remove-participant", "--id", "P1", "--participant", "c1")
	code, _, errs = e.run("remove-participant", "--id", "P1", "--participant", "c2")
	assert.Equal(t, 2, code, "the last customer: %s", errs)
	assert.Contains(t, errs, `participantId: "c2" is the last customer`)
	code, _, errs = e.run("remove-participant", "--id", "NOPE", "--participant", "c2")
	assert.Equal(t, 3, code, "no such appointment: %s", errs)
}
