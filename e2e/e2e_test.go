package e2e_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// mailsTo returns the emails Mailpit holds for an address.
func (e *env) mailsTo(addr string) []testenv.MailpitSummary {
	var out []testenv.MailpitSummary
	for _, m := range e.mail.List(e.t) {
		for _, to := range m.To {
			if to.Address == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

func (e *env) webhooksFor(eventID string) []testenv.Webhook {
	var out []testenv.Webhook
	for _, w := range e.hooks.Got("") {
		if w.ID == eventID {
			out = append(out, w)
		}
	}
	return out
}

func entriesOf(st appt.Status, t appt.NotificationType, ch appt.Channel) []appt.DeliveryEntry {
	var out []appt.DeliveryEntry
	for _, d := range st.Deliveries {
		if d.Type == t && d.Channel == ch {
			out = append(out, d)
		}
	}
	return out
}

// TestProduct runs the worker binary with its embedded server and Web UI, and drives it with the starter binary:
// CREATE and REMINDER arrive by email and as verified webhooks at the right times; reschedule, cancel, status and the
// global flag work; a reminder survives a crash of the worker; bad input starts nothing.
func TestProduct(t *testing.T) {
	e := newEnv(t, "    reminder_offsets: [25s]\n    max_attempts: 2\n")
	e.startWorker()

	t.Run("the Web UI answers", func(t *testing.T) {
		for _, path := range []string{"/", "/api/v1/namespaces"} {
			resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(e.uiPort) + path)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		}
	})

	t.Run("CREATE and REMINDER by email and webhook, on time", func(t *testing.T) {
		start := time.Now().Add(55 * time.Second).Truncate(time.Second)
		due := start.Add(-25 * time.Second)
		e.ok("schedule", "--id", "A1", "--org", "acme", "--start", rfc3339(start),
			"--participant", participant("c1", "a1@example.com"), "--join-url", "https://video.example/j/A1")
		_, out, _ := e.run("schedule", "--id", "A1", "--org", "acme", "--start", rfc3339(start),
			"--participant", participant("c1", "a1@example.com"))
		assert.Contains(t, out, "already scheduled")

		eventually(t, 30*time.Second, "the CREATE email and webhook", func() bool {
			return len(e.mailsTo("a1@example.com")) == 1 && len(e.webhooksFor(appt.EventID("A1", appt.Create, 0, 0))) == 1
		})
		eventually(t, 90*time.Second, "the REMINDER email and webhook", func() bool {
			return len(e.mailsTo("a1@example.com")) == 2 && len(e.webhooksFor(appt.EventID("A1", appt.Reminder, 0, 25*time.Second))) == 1
		})
		rem := e.webhooksFor(appt.EventID("A1", appt.Reminder, 0, 25*time.Second))[0]
		assert.Equal(t, "notification.reminder", rem.Type)
		assert.False(t, rem.At.Before(due.Add(-time.Second)), "not before its due time (%s < %s)", rem.At, due)
		assert.True(t, rem.At.Before(due.Add(time.Minute)), "inside the 1-minute tolerance (%s)", rem.At.Sub(due))
		assert.Contains(t, string(rem.Body), "https://video.example/j/A1", "active: the reminder carries the join link")

		st := e.status("A1")
		assert.Equal(t, appt.Active, st.State)
		require.Len(t, entriesOf(st, appt.Reminder, appt.Email), 1)
		assert.Equal(t, appt.Sent, entriesOf(st, appt.Reminder, appt.Email)[0].Status)
		assert.Equal(t, appt.Sent, entriesOf(st, appt.Create, appt.Webhook)[0].Status)
		assert.Empty(t, st.Pending)
	})

	t.Run("reschedule and cancel", func(t *testing.T) {
		start := time.Now().Add(10 * time.Minute).Truncate(time.Second)
		e.ok("schedule", "--id", "A2", "--org", "acme", "--start", rfc3339(start), "--participant", participant("c1", "a2@example.com"))
		out := e.ok("reschedule", "--id", "A2", "--start", rfc3339(start.Add(10*time.Minute)))
		assert.Contains(t, out, "state active")
		st := e.status("A2")
		require.Len(t, st.Pending, 1)
		assert.True(t, st.Pending[0].Due.Equal(start.Add(10*time.Minute-25*time.Second)), "the reminder moved with the start")
		e.ok("cancel", "--id", "A2", "--reason", "customer asked")
		eventually(t, 30*time.Second, "CREATE, RESCHEDULE and CANCELLED emails", func() bool { return len(e.mailsTo("a2@example.com")) == 3 })
		st = e.status("A2")
		assert.Equal(t, appt.CancelledSt, st.State)
		assert.Len(t, e.webhooksFor(appt.EventID("A2", appt.Cancelled, 1, 0)), 1)
		code, _, errs := e.run("cancel", "--id", "A2")
		assert.Equal(t, 2, code, "a closed appointment refuses: %s", errs)
	})

	t.Run("a global disable blocks notifications, not lifecycle events", func(t *testing.T) {
		e.ok("notifications", "disable", "--org", "acme")
		time.Sleep(appt.SettingsMaxAge + 100*time.Millisecond) // every worker's cached read has expired
		start := time.Now().Add(10 * time.Minute).Truncate(time.Second)
		e.ok("schedule", "--id", "A3", "--org", "acme", "--start", rfc3339(start), "--participant", participant("c1", "a3@example.com"))
		eventually(t, 30*time.Second, "the appointment.scheduled webhook", func() bool {
			for _, w := range e.hooks.Got(appt.EventScheduled) {
				if strings.Contains(string(w.Body), `"appointmentId":"A3"`) {
					return true
				}
			}
			return false
		})
		st := e.status("A3")
		assert.False(t, st.NotificationsEnabled, "captured off")
		for _, d := range entriesOf(st, appt.Create, appt.Email) {
			assert.Equal(t, appt.SkippedDisabled, d.Status)
		}
		assert.Empty(t, e.mailsTo("a3@example.com"))
		e.ok("notifications", "enable", "--org", "acme")
		e.ok("cancel", "--id", "A3")
		time.Sleep(appt.SettingsMaxAge + 100*time.Millisecond)
	})

	t.Run("a pending reminder survives a crash of the worker", func(t *testing.T) {
		start := time.Now().Add(60 * time.Second).Truncate(time.Second)
		due := start.Add(-25 * time.Second)
		e.ok("schedule", "--id", "A4", "--org", "acme", "--start", rfc3339(start), "--participant", participant("c1", "a4@example.com"))
		defer func() {
			if t.Failed() {
				_, out, errs := e.run("status", "--id", "A4")
				t.Logf("status of A4:\n%s%s\nworker:\n%s", out, errs, e.worker.logs())
			}
		}()
		eventually(t, 30*time.Second, "the CREATE email", func() bool { return len(e.mailsTo("a4@example.com")) == 1 })
		e.kill()
		time.Sleep(3 * time.Second)
		e.startWorker()
		eventually(t, 2*time.Minute, "the REMINDER after the restart", func() bool { return len(e.mailsTo("a4@example.com")) == 2 })
		st := e.status("A4")
		rem := entriesOf(st, appt.Reminder, appt.Email)
		require.Len(t, rem, 1)
		assert.Equal(t, appt.Sent, rem[0].Status)
		assert.True(t, rem[0].At.Before(due.Add(time.Minute)), "inside the tolerance: %s after due", rem[0].At.Sub(due))
	})

	t.Run("bad input to every verb starts nothing", func(t *testing.T) {
		future := rfc3339(time.Now().Add(time.Hour))
		for _, args := range [][]string{
			{"schedule", "--id", "B1", "--org", "nope", "--start", future, "--participant", participant("c1", "b@example.com")},
			{"schedule", "--id", "B1", "--org", "acme", "--start", "2020-01-01T00:00:00Z", "--participant", participant("c1", "b@example.com")},
			{"schedule", "--id", "B1", "--org", "acme", "--start", future, "--participant", "id=c1,email=not-an-address"},
			{"schedule", "--id", "B 1", "--org", "acme", "--start", future, "--participant", participant("c1", "b@example.com")},
			{"reschedule", "--id", "A1", "--start", "yesterday"},
			{"cancel"},
			{"activate", "--id", "x/y"},
			{"call-started", "--id", ""},
			{"joined", "--id", "A1"},
			{"call-ended", "--id", "B1", "--bogus"},
			{"update", "--id", "A1", "--metadata", "no-equals"},
			{"retry", "--id", "A1"},
			{"status"},
			{"notifications", "maybe", "--org", "acme"},
			{"auto-activate", "disable", "--org", "acme"},
		} {
			code, _, errs := e.run(args...)
			assert.Equal(t, 2, code, "%v: %s", args, errs)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(errs), "\n")+1, "one line: %q", errs)
		}
		code, _, _ := e.run("status", "--id", "B1")
		assert.Equal(t, 3, code, "nothing was scheduled")
		code, _, _ = e.run("joined", "--id", "A1", "--participant", "nobody")
		assert.Equal(t, 2, code, "an unknown participant is refused")
		code, _, _ = e.run("activate", "--id", "NOPE")
		assert.Equal(t, 3, code)
	})

	t.Run("SIGTERM stops the worker gracefully", func(t *testing.T) {
		e.stop()
	})
}
