package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// smtpProxy forwards TCP connections to Mailpit's SMTP port and counts them (Mailpit stores only the accepted
// messages). The mailer closes a session after any error and keeps one that delivered for the next send, so in a
// test where every attempt finds no idle session, opened counts the attempts that reached the provider, and closed
// those that failed.
type smtpProxy struct {
	l              net.Listener
	opened, closed atomic.Int64
}

func startSMTPProxy(t *testing.T, target string) *smtpProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &smtpProxy{l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.opened.Add(1)
			go func() {
				defer p.closed.Add(1)
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return p
}

func (p *smtpProxy) port() int { return p.l.Addr().(*net.TCPAddr).Port }

// attemptsDone is the number of SMTP conversations that have ended.
func (p *smtpProxy) attemptsDone() int { return int(p.closed.Load()) }

// attemptsOpened is the number of SMTP conversations that have begun.
func (p *smtpProxy) attemptsOpened() int { return int(p.opened.Load()) }

// entry returns the appointment's single log entry of a type and channel, once it exists.
func (e *env) entry(id string, typ appt.NotificationType, ch appt.Channel) appt.DeliveryEntry {
	e.t.Helper()
	var out appt.DeliveryEntry
	e.eventuallyEntry(id, typ, ch, 2*time.Minute, "the entry", func(appt.DeliveryEntry) bool { return true }, &out)
	return out
}

// eventuallyEntry polls the appointment's status until its single entry of a type and channel satisfies cond.
func (e *env) eventuallyEntry(id string, typ appt.NotificationType, ch appt.Channel, timeout time.Duration, what string,
	cond func(appt.DeliveryEntry) bool, out *appt.DeliveryEntry) {
	e.t.Helper()
	c := e.appts()
	var last *appt.Status
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		st, err := c.Status(ctx, id)
		cancel()
		if err == nil {
			last = st
			if es := entriesOf(*st, typ, ch); len(es) == 1 && cond(es[0]) {
				if out != nil {
					*out = es[0]
				}
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %s %s %s not reached after %s; last status %+v (error %v)", id, typ, ch, what, timeout, last, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func hasStatus(s appt.DeliveryStatus) func(appt.DeliveryEntry) bool {
	return func(e appt.DeliveryEntry) bool { return e.Status == s }
}

// countHooks counts the requests the receiver got with a webhook-id, and those it answered with a status.
func countHooks(rc *testenv.WebhookReceiver, id string, status int) (all, answered int) {
	for _, w := range rc.Got("") {
		if w.ID == id {
			all++
			if w.Status == status {
				answered++
			}
		}
	}
	return all, answered
}

// TestServerRestart (reliability test 2): the worker that hosts the embedded server stops (SIGTERM) while
// reminders are pending and starts again on the same data directory 70 s later. A reminder that fell due more than
// the 60 s tolerance before the restart is logged skipped_missed and never sent; one that fell due less than that
// before it is sent late, inside the tolerance; one due after the restart is sent on time. Every appointment's log
// is checked against what arrived.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	const offset = 30 * time.Second
	e := newEnv(t, fmt.Sprintf("    reminder_offsets: [%s]\n", offset))
	e.startWorker()
	c := e.api()

	const outage = 70 * time.Second
	// The worker stops at stopAt and starts again at stopAt+outage; the reminders fall due relative to stopAt. want
	// is what the rules decide whatever the machine's speed; "" is either outcome, checked against the rules (sent
	// if the workflow woke within 60 s of the due time, skipped_missed otherwise).
	stopAt := time.Now().Add(12 * time.Second).Truncate(time.Second)
	groups := []struct {
		due  time.Duration // after stopAt
		want appt.DeliveryStatus
	}{
		// Due 61 s or more before the restart: nothing can wake for them until then, so past the tolerance.
		{3 * time.Second, appt.SkippedMissed}, {4 * time.Second, appt.SkippedMissed}, {5 * time.Second, appt.SkippedMissed},
		{7 * time.Second, appt.SkippedMissed}, {9 * time.Second, appt.SkippedMissed},
		// Due 50 to 20 s before the restart: sent late, inside the tolerance, unless the restart is slow.
		{outage - 50*time.Second, ""}, {outage - 40*time.Second, ""}, {outage - 30*time.Second, ""}, {outage - 20*time.Second, ""},
		// Due while the server starts.
		{outage + 500*time.Millisecond, ""}, {outage + 2*time.Second, ""},
		// Due after the restart: sent.
		{outage + 15*time.Second, appt.Sent}, {outage + 20*time.Second, appt.Sent}, {outage + 25*time.Second, appt.Sent},
		{outage + 30*time.Second, appt.Sent},
	}
	type appointment struct {
		id   string
		due  time.Time
		want appt.DeliveryStatus
	}
	var appts []appointment
	for i, g := range groups {
		a := appointment{id: fmt.Sprintf("R%02d", i), due: stopAt.Add(g.due), want: g.want}
		appts = append(appts, a)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		require.NoError(t, c.Schedule(ctx, &appt.ScheduleRequest{AppointmentID: a.id, Org: "acme", Start: a.due.Add(offset),
			Participants:  []appt.Participant{{ID: "c1", Name: "Ann Lee", Email: strings.ToLower(a.id) + "@example.com"}},
			Notifications: true}))
		cancel()
	}
	for _, a := range appts {
		e.eventuallyEntry(a.id, appt.Create, appt.Email, time.Minute, "sent", hasStatus(appt.Sent), nil)
	}
	require.True(t, time.Now().Before(stopAt), "scheduling %d appointments took past the planned stop", len(appts))
	t.Logf("scheduled %d appointments, CREATE sent, %s before the stop", len(appts), time.Until(stopAt).Round(time.Millisecond))
	time.Sleep(time.Until(stopAt))

	stopped := time.Now()
	require.NoError(t, e.worker.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-e.worker.exited:
	case <-time.After(time.Minute):
		t.Fatalf("the worker did not stop within a minute of SIGTERM:\n%s", e.worker.logs())
	}
	exited := time.Now()
	e.worker = nil
	t.Logf("stopped the worker (and its server) %s after the planned time, gone %s later", stopped.Sub(stopAt).Round(time.Millisecond),
		exited.Sub(stopped).Round(time.Millisecond))
	time.Sleep(time.Until(stopAt.Add(outage)))
	restartBegan := time.Now()
	e.startWorker()
	ready := time.Now()
	t.Logf("restarted: %s after the stop, ready in %s", restartBegan.Sub(stopped).Round(time.Millisecond),
		ready.Sub(restartBegan).Round(time.Millisecond))

	// The fixed expectations hold whatever the machine's speed, with two provisos measured here: a reminder can only
	// be certain to be missed if the worker was gone before its due time; it can only be certain to be sent if the
	// restarted worker was polling 30 s or more before the end of its tolerance (30 s to fire one timer).
	for i := range appts {
		a := &appts[i]
		if a.want == appt.SkippedMissed && !exited.Before(a.due) {
			t.Logf("%s: due %s, before the worker was gone: either outcome", a.id, a.due.Sub(stopped))
			a.want = ""
		}
		if a.want == appt.Sent && ready.After(a.due.Add(30*time.Second)) {
			t.Logf("%s: the worker was ready only %s after its due time: either outcome", a.id, ready.Sub(a.due))
			a.want = ""
		}
	}
	sent, missed := 0, 0
	var lateness []string
	for _, a := range appts {
		var em, wh appt.DeliveryEntry
		final := func(x appt.DeliveryEntry) bool { return x.Status == appt.Sent || x.Status == appt.SkippedMissed }
		e.eventuallyEntry(a.id, appt.Reminder, appt.Email, 3*time.Minute, "final", final, &em)
		e.eventuallyEntry(a.id, appt.Reminder, appt.Webhook, time.Minute, "final", final, &wh)
		for _, x := range []appt.DeliveryEntry{em, wh} {
			require.NotNil(t, x.Due, "%s: the reminder entry has its due time", a.id)
			require.True(t, x.Due.Equal(a.due), "%s: due %s, want %s", a.id, x.Due, a.due)
			late := x.CreatedAt.Sub(a.due) // when the workflow woke for it
			if a.want != "" {
				assert.Equal(t, a.want, x.Status, "%s %s: due %s after the stop, woke %s late", a.id, x.Channel, a.due.Sub(stopped), late)
			}
			switch x.Status {
			case appt.Sent:
				assert.LessOrEqual(t, late, time.Minute, "%s %s: sent although it woke %s late", a.id, x.Channel, late)
			case appt.SkippedMissed:
				assert.Greater(t, late, time.Minute, "%s %s: skipped although it woke only %s late", a.id, x.Channel, late)
				assert.True(t, x.CreatedAt.After(restartBegan), "%s: decided before the restart?", a.id)
			}
		}
		mails := e.mailsTo(strings.ToLower(a.id) + "@example.com")
		hooks := e.webhooksFor(appt.EventID(a.id, appt.Reminder, 0, offset))
		switch em.Status {
		case appt.Sent:
			sent++
			assert.Len(t, mails, 2, "%s: CREATE and the REMINDER, once each", a.id)
			assert.Len(t, hooks, 1, "%s: the reminder webhook, once", a.id)
			if len(hooks) > 0 {
				lateness = append(lateness, fmt.Sprintf("%s due stop+%s: arrived due+%s", a.id, a.due.Sub(stopped).Round(time.Millisecond),
					hooks[0].At.Sub(a.due).Round(time.Millisecond)))
			}
		case appt.SkippedMissed:
			missed++
			assert.Len(t, mails, 1, "%s: only CREATE; the missed reminder is never sent", a.id)
			assert.Empty(t, hooks, "%s: the missed reminder webhook is never sent", a.id)
			assert.Contains(t, em.Error, "after the due time")
		}
	}
	t.Logf("FIGURES server restart: appointments %d; reminders (email+webhook) expected %d, sent %d, skipped_missed %d, "+
		"duplicates 0 checked; outage %s, restart ready in %s", len(appts), 2*len(appts), 2*sent, 2*missed,
		restartBegan.Sub(stopped).Round(time.Millisecond), ready.Sub(restartBegan).Round(time.Millisecond))
	for _, l := range lateness {
		t.Logf("  %s", l)
	}
	// Nothing else arrived: no reminder of the missed ones, and no second copy of anything.
	for _, w := range e.hooks.Got("") {
		all, _ := countHooks(e.hooks, w.ID, http.StatusNoContent)
		assert.Equal(t, 1, all, "webhook-id %s arrived %d times", w.ID, all)
	}
}

// TestProviderOutages (reliability test 3): each provider fails the way providers do, and the attempts are counted
// at the provider: the SMTP conversations at a proxy in front of Mailpit, the requests at the fake Twilio and at the
// webhook receiver. Temporary errors are retried within max_attempts (3) and delivered once; permanent ones get
// exactly one attempt.
func TestProviderOutages(t *testing.T) {
	t.Parallel()
	var proxy *smtpProxy
	e := newEnvConfig(t, func(e *env) string {
		proxy = startSMTPProxy(t, e.mail.SMTPHost+":"+strconv.Itoa(e.mail.SMTPPort))
		return fmt.Sprintf(`smtp: {host: 127.0.0.1, port: %d, tls: none}
twilio: {base_url: %q}
organizations:
  - id: mail
    platform: genesys
    email_from: "Mail Care <care@mail.example>"
    max_attempts: 3
  - id: sms
    platform: genesys
    sms_from: "+15550000000"
    max_attempts: 3
  - id: hooks
    platform: talkdesk
    max_attempts: 3
    webhooks:
      - {url: "%s/hooks", secret_env: E2E_WEBHOOK_SECRET}
    allow_private_webhook_addresses: true
`, proxy.port(), e.twilio.URL, e.hooks.URL)
	})
	e.startWorker()
	start := rfc3339(time.Now().Add(3 * time.Hour)) // the reminders are far away: only CREATE goes out

	// Webhooks: the receiver answers notification.create of W* appointments with a code per appointment.
	var hookMu sync.Mutex
	hookCode := map[string]int{}
	e.hooks.Respond(func(w testenv.Webhook) int {
		hookMu.Lock()
		defer hookMu.Unlock()
		if code, ok := hookCode[w.ID]; ok {
			return code
		}
		return http.StatusNoContent
	})
	setHook := func(id string, code int) {
		hookMu.Lock()
		hookCode[appt.EventID(id, appt.Create, 0, 0)] = code
		hookMu.Unlock()
	}
	// SMS: the fake Twilio answers by the 'To' number.
	const (
		phone429   = "+15551230001"
		phone21211 = "+15551230002"
		phone5xx   = "+15551230003"
	)
	var smsMu sync.Mutex
	smsSeen := map[string]int{}
	e.twilio.Respond(func(w http.ResponseWriter, r testenv.TwilioRequest) {
		smsMu.Lock()
		smsSeen[r.To]++
		n := smsSeen[r.To]
		smsMu.Unlock()
		switch {
		case r.To == phone429 && n == 1:
			testenv.TwilioError(w, http.StatusTooManyRequests, 20429, http.Header{"Retry-After": {"1"}})
		case r.To == phone21211:
			testenv.TwilioError(w, http.StatusBadRequest, 21211, nil)
		case r.To == phone5xx && n == 1:
			// Twilio took the message, then the answer was lost to a 500: the handset gets it, the sender cannot know.
			testenv.TwilioError(w, http.StatusInternalServerError, 20500, nil)
		default:
			testenv.TwilioCreated(w, r)
		}
	})

	figures := &outageFigures{}
	t.Run("providers", func(t *testing.T) {
		t.Run("email", func(t *testing.T) {
			t.Parallel()
			// 550: one attempt, failed, never retried.
			e.mail.Chaos(t, map[string]testenv.ChaosTrigger{"Sender": {ErrorCode: 550, Probability: 100}})
			e.ok("schedule", "--id", "M550", "--org", "mail", "--start", start, "--participant", participant("c1", "m550@example.com"))
			m550 := e.entry("M550", appt.Create, appt.Email)
			require.Equal(t, appt.Failed, m550.Status, "%+v", m550)
			require.Equal(t, 1, m550.Attempts)
			require.Contains(t, m550.Error, "550")
			eventually(t, 30*time.Second, "the SMTP conversation to end", func() bool { return proxy.attemptsDone() >= 1 })
			require.Equal(t, 1, proxy.attemptsDone())

			// 451 for two attempts, then recovery: the third attempt delivers it, once.
			e.mail.Chaos(t, map[string]testenv.ChaosTrigger{"Recipient": {ErrorCode: 451, Probability: 100}})
			began := time.Now()
			e.ok("schedule", "--id", "M451", "--org", "mail", "--start", start, "--participant", participant("c1", "m451@example.com"))
			eventually(t, 2*time.Minute, "two failed SMTP attempts", func() bool { return proxy.attemptsDone() >= 3 })
			recovered := time.Since(began)
			e.mail.Chaos(t, map[string]testenv.ChaosTrigger{})
			var m451 appt.DeliveryEntry
			e.eventuallyEntry("M451", appt.Create, appt.Email, 3*time.Minute, "sent", hasStatus(appt.Sent), &m451)
			assert.Equal(t, 3, m451.Attempts, "%+v", m451)
			mails := e.mailsTo("m451@example.com")
			require.Len(t, mails, 1, "delivered once")
			assert.Equal(t, m451.ProviderID, "<"+strings.Trim(mails[0].MessageID, "<>")+">")
			assert.Empty(t, e.mailsTo("m550@example.com"), "the 550 was never delivered")
			// M550's would-be retry (30 s backoff) has long passed: 1 attempt for M550, 3 for M451, each on a new
			// session (the failed ones were closed); the one that delivered may still be open for the next send.
			assert.Equal(t, 4, proxy.attemptsOpened(), "SMTP conversations")
			m550 = e.entry("M550", appt.Create, appt.Email)
			assert.Equal(t, 1, m550.Attempts)
			figures.add("email 550 (Sender)", 1, m550, 0)
			figures.add(fmt.Sprintf("email 451 (Recipient) for %s, then recovery", recovered.Round(time.Second)), 3, m451, len(mails))
		})
		t.Run("sms", func(t *testing.T) {
			t.Parallel()
			e.ok("schedule", "--id", "S429", "--org", "sms", "--start", start, "--participant", "id=c1,name=Ann Lee,phone="+phone429)
			e.ok("schedule", "--id", "S21211", "--org", "sms", "--start", start, "--participant", "id=c1,name=Ann Lee,phone="+phone21211)
			e.ok("schedule", "--id", "S5XX", "--org", "sms", "--start", start, "--participant", "id=c1,name=Ann Lee,phone="+phone5xx)
			var s429, s21211, s5xx appt.DeliveryEntry
			e.eventuallyEntry("S429", appt.Create, appt.SMS, 2*time.Minute, "sent", hasStatus(appt.Sent), &s429)
			e.eventuallyEntry("S21211", appt.Create, appt.SMS, 2*time.Minute, "failed", hasStatus(appt.Failed), &s21211)
			e.eventuallyEntry("S5XX", appt.Create, appt.SMS, 2*time.Minute, "sent", hasStatus(appt.Sent), &s5xx)
			// Past the 10 s backoff in which a retry of 21211 would have come.
			time.Sleep(15 * time.Second)
			r429, r21211, r5xx := e.twilio.RequestsTo(phone429), e.twilio.RequestsTo(phone21211), e.twilio.RequestsTo(phone5xx)
			require.Len(t, r429, 2, "429, then 201")
			assert.Equal(t, http.StatusTooManyRequests, r429[0].Status)
			assert.Equal(t, http.StatusCreated, r429[1].Status)
			assert.Equal(t, r429[1].SID, s429.ProviderID)
			assert.Equal(t, 2, s429.Attempts)
			assert.Len(t, r21211, 1, "21211 is permanent: one attempt")
			s21211 = e.entry("S21211", appt.Create, appt.SMS)
			assert.Equal(t, 1, s21211.Attempts)
			assert.Contains(t, s21211.Error, "21211")
			assert.NotContains(t, s21211.Error, phone21211)
			// The ambiguous 5xx: the retry is a second SMS with the same text. By the rules it is delivered; the handset
			// may show it twice. This is the duplicate docs/reliability.md names.
			require.Len(t, r5xx, 2)
			assert.Equal(t, r5xx[0].Body, r5xx[1].Body)
			figures.add("SMS 429 then 201", 2, s429, len(r429)-1)
			figures.add("SMS 21211", 1, s21211, 0)
			figures.add("SMS 500 after Twilio took it (ambiguous), then 201", 2, s5xx, len(r5xx))
		})
		t.Run("webhooks", func(t *testing.T) {
			t.Parallel()
			codes := []int{400, 401, 403, 404}
			for _, code := range codes {
				id := "W" + strconv.Itoa(code)
				setHook(id, code)
				e.ok("schedule", "--id", id, "--org", "hooks", "--start", start, "--participant", participant("c1", strings.ToLower(id)+"@example.com"))
			}
			setHook("W500", http.StatusInternalServerError)
			e.ok("schedule", "--id", "W500", "--org", "hooks", "--start", start, "--participant", participant("c1", "w500@example.com"))
			var w500 appt.DeliveryEntry
			e.eventuallyEntry("W500", appt.Create, appt.Webhook, 2*time.Minute, "failed after its retries",
				func(x appt.DeliveryEntry) bool { return x.Status == appt.Failed && x.Attempts == 3 }, &w500)
			for _, code := range codes {
				id := "W" + strconv.Itoa(code)
				x := e.entry(id, appt.Create, appt.Webhook)
				assert.Equal(t, appt.Failed, x.Status, id)
				assert.Equal(t, 1, x.Attempts, id)
				assert.Contains(t, x.Error, "HTTP "+strconv.Itoa(code))
			}
			// Past the 5 s backoff in which a retry of the 4xx would have come (W500's three attempts took 10 s more).
			time.Sleep(5 * time.Second)
			for _, code := range codes {
				id := "W" + strconv.Itoa(code)
				all, answered := countHooks(e.hooks, appt.EventID(id, appt.Create, 0, 0), code)
				assert.Equal(t, 1, all, "%s: exactly one attempt at the receiver", id)
				assert.Equal(t, 1, answered)
				figures.add(fmt.Sprintf("webhook %d", code), 1, e.entry(id, appt.Create, appt.Webhook), 0)
			}
			w500ID := appt.EventID("W500", appt.Create, 0, 0)
			all, failed := countHooks(e.hooks, w500ID, http.StatusInternalServerError)
			require.Equal(t, 3, all, "max_attempts attempts")
			require.Equal(t, 3, failed)
			// Recovery, then a manual retry through the starter: sent, on the fourth request.
			setHook("W500", http.StatusNoContent)
			out := e.ok("retry", "--id", "W500", "--entry", w500.ID)
			assert.Contains(t, out, "sent")
			after := e.entry("W500", appt.Create, appt.Webhook)
			assert.Equal(t, appt.Sent, after.Status)
			assert.Equal(t, 4, after.Attempts)
			all, ok := countHooks(e.hooks, w500ID, http.StatusNoContent)
			assert.Equal(t, 4, all)
			assert.Equal(t, 1, ok)
			// A second retry of the same entry is refused: it is no longer failed.
			code, _, errs := e.run("retry", "--id", "W500", "--entry", w500.ID)
			assert.Equal(t, 2, code, errs)
			figures.add("webhook 500 ×3 (failed), manual retry after recovery", 4, after, ok)
		})
	})
	figures.log(t)
}

// outageFigures collects one line per provider scenario for docs/reliability.md.
type outageFigures struct {
	mu    sync.Mutex
	lines []string
}

func (f *outageFigures) add(what string, requests int, e appt.DeliveryEntry, delivered int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines = append(f.lines, fmt.Sprintf("%s: %d attempt(s) at the provider, log %s with %d attempt(s), delivered %d",
		what, requests, e.Status, e.Attempts, delivered))
}

func (f *outageFigures) log(t *testing.T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.Logf("FIGURES provider outages:")
	for _, l := range f.lines {
		t.Logf("  %s", l)
	}
}

// TestGlobalDisableDuringOutage (reliability test 4): a webhook subscriber keeps failing and the retries are under
// way (max_attempts 10, 5 s backoff doubling). notifications disable stops the next attempt: the entry ends
// skipped_disabled and the receiver gets nothing more. A reminder that falls due while notifications are off is
// skipped_disabled too. Re-enabling sends neither of them retroactively; only a later reminder goes out.
func TestGlobalDisableDuringOutage(t *testing.T) {
	t.Parallel()
	e := newEnvConfig(t, func(e *env) string {
		return fmt.Sprintf(`organizations:
  - id: gd
    platform: talkdesk
    max_attempts: 10
    reminder_offsets: [60s, 15s]
    webhooks:
      - {url: "%s/hooks", secret_env: E2E_WEBHOOK_SECRET}
    allow_private_webhook_addresses: true
`, e.hooks.URL)
	})
	e.startWorker()
	g1Create := appt.EventID("G1", appt.Create, 0, 0)
	e.hooks.Respond(func(w testenv.Webhook) int {
		if w.ID == g1Create {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	began := time.Now()
	// G2 starts in 100 s: its 60 s reminder falls due (at +40 s) while notifications are off, its 15 s one (at +85 s)
	// after they are back on.
	g2Start := began.Add(100 * time.Second).Truncate(time.Second)
	e.ok("schedule", "--id", "G1", "--org", "gd", "--start", rfc3339(time.Now().Add(3*time.Hour)), "--participant", participant("c1", "g1@example.com"))
	e.ok("schedule", "--id", "G2", "--org", "gd", "--start", rfc3339(g2Start), "--participant", participant("c1", "g2@example.com"))
	eventually(t, time.Minute, "G1's second attempt", func() bool { n, _ := countHooks(e.hooks, g1Create, 503); return n >= 2 })
	e.ok("notifications", "disable", "--org", "gd")
	disabled := time.Now()
	atDisable, _ := countHooks(e.hooks, g1Create, 503)
	t.Logf("disabled %s after G1's first attempt, with %d attempts made", disabled.Sub(began).Round(time.Millisecond), atDisable)

	var g1 appt.DeliveryEntry
	e.eventuallyEntry("G1", appt.Create, appt.Webhook, 2*time.Minute, "skipped_disabled", hasStatus(appt.SkippedDisabled), &g1)
	t.Logf("G1's retry ended %s after the disable: %+v", g1.At.Sub(disabled).Round(time.Millisecond), g1)
	g2Early := appt.EventID("G2", appt.Reminder, 0, 60*time.Second)
	e.eventuallyEntry("G2", appt.Reminder, appt.Webhook, 2*time.Minute, "skipped_disabled (60 s reminder)",
		func(x appt.DeliveryEntry) bool { return x.Offset == "1m0s" && x.Status == appt.SkippedDisabled }, nil)

	e.ok("notifications", "enable", "--org", "gd")
	enabled := time.Now()
	g2Late := appt.EventID("G2", appt.Reminder, 0, 15*time.Second)
	eventually(t, 2*time.Minute, "G2's 15 s reminder after re-enabling", func() bool { return len(e.webhooksFor(g2Late)) == 1 })
	// Wait past G1's next would-be attempt (backoff 5, 10, 20, 40 s from its first) before counting.
	time.Sleep(time.Until(began.Add(80 * time.Second)))

	all, _ := countHooks(e.hooks, g1Create, 503)
	assert.Equal(t, atDisable, all, "no attempt of G1 after the disable")
	for _, w := range e.webhooksFor(g1Create) {
		assert.False(t, w.At.After(disabled.Add(2*time.Second)),
			"an attempt at %s, %s after the disable returned (docs/rules.md#flags: it takes effect within 1 s)", w.At, w.At.Sub(disabled))
	}
	assert.Empty(t, e.webhooksFor(g2Early), "the reminder due while disabled is never sent, not even after re-enabling")
	st := e.status("G1")
	for _, x := range entriesOf(st, appt.Create, appt.Webhook) {
		assert.Equal(t, appt.SkippedDisabled, x.Status)
		assert.Equal(t, atDisable, x.Attempts, "the log counts the attempts that reached the receiver, not the blocked one")
	}
	st2 := e.status("G2")
	var early, late appt.DeliveryEntry
	for _, x := range entriesOf(st2, appt.Reminder, appt.Webhook) {
		if x.Offset == "1m0s" {
			early = x
		} else {
			late = x
		}
	}
	assert.Equal(t, appt.SkippedDisabled, early.Status)
	assert.Equal(t, appt.Sent, late.Status)
	t.Logf("FIGURES global disable: G1 CREATE webhook attempts %d before the disable, %d after (log: %s, %d attempts); "+
		"G2 reminder due while disabled: %s, arrived %d; G2 reminder after re-enabling (%s later): %s, arrived %d",
		atDisable, all-atDisable, g1.Status, g1.Attempts, early.Status, len(e.webhooksFor(g2Early)),
		late.At.Sub(enabled).Round(time.Millisecond), late.Status, len(e.webhooksFor(g2Late)))
}
