package e2e_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// The herd: herdSize appointments of one organisation, each with one customer who has an email address, and one
// webhook subscriber, all starting at the same second, so that their reminders fall due together.
const (
	herdSize   = 1000
	herdOffset = 90 * time.Second // the reminder offset: the 60 s tolerance ends before the appointments start
	herdFrom   = "Acme Care <care@acme.example>"
)

// herdMu keeps the two herd tests from running at the same time: each loads the machine on its own.
var herdMu sync.Mutex

// herdLead is how long after the first appointment is scheduled the reminders fall due. Scheduling 1,000
// appointments takes about 5 s on a 2-core machine and sending their CREATE about 15-20 s more; the lead leaves room
// for a machine several times slower. An appointment whose first workflow task still runs after the due time plans
// no reminder (docs/rules.md#notifications-and-windows), which the accounting checks and reports. APPTNOTIFY_HERD_LEAD overrides it.
func herdLead(t *testing.T) time.Duration {
	if v := os.Getenv("APPTNOTIFY_HERD_LEAD"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "APPTNOTIFY_HERD_LEAD")
		return d
	}
	return 75 * time.Second
}

// herdN is the number of appointments, APPTNOTIFY_HERD_SIZE to override.
func herdN(t *testing.T) int {
	if v := os.Getenv("APPTNOTIFY_HERD_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "APPTNOTIFY_HERD_SIZE")
		return n
	}
	return herdSize
}

// herdWorkerArgs are extra worker flags for the herd tests' workers, from APPTNOTIFY_HERD_WORKER_ARGS (for example
// "--workflow-pollers 8"), to compare tunings.
func herdWorkerArgs() []string { return strings.Fields(os.Getenv("APPTNOTIFY_HERD_WORKER_ARGS")) }

func newHerdEnv(t *testing.T) *env {
	return newEnvConfig(t, herdConfig)
}

// herdConfig is the herd tests' config: email through the env's Mailpit, and organisation acme with the herd's
// reminder offset and one webhook subscriber (the env's receiver).
func herdConfig(e *env) string {
	return fmt.Sprintf(`smtp: {host: 127.0.0.1, port: %d, tls: none}
organizations:
  - id: acme
    platform: genesys
    email_from: %q
    reminder_offsets: [%s]
    max_attempts: 3
    webhooks:
      - {url: "%s/hooks", secret_env: E2E_WEBHOOK_SECRET}
    allow_private_webhook_addresses: true
`, e.mail.SMTPPort, herdFrom, herdOffset, e.hooks.URL)
}

// herd is one run of the herd test and its figures.
type herd struct {
	t        *testing.T
	e        *env
	n        int
	prefix   string
	lead     time.Duration // from the first schedule call to the due time; 0: herdLead
	ids      []string
	start    time.Time // every appointment's start
	due      time.Time // every reminder's due time
	began    time.Time
	killedAt time.Time
	sched    time.Duration // scheduling all n
	creates  time.Duration // until every CREATE arrived, from the first schedule call
	atKill   int           // reminders (webhooks) received when the worker was killed
	restart  time.Duration
	statuses map[string]*appt.Status
}

func (h *herd) id(i int) string { return fmt.Sprintf("%s-%04d", h.prefix, i) }

func herdEmail(id string) string { return strings.ToLower(id) + "@example.com" }

// schedule starts every appointment through the Go API, 16 at a time.
func (h *herd) schedule() {
	h.t.Helper()
	c := h.e.api()
	lead := h.lead
	if lead == 0 {
		lead = herdLead(h.t)
	}
	h.began = time.Now()
	h.due = h.began.Add(lead).Truncate(time.Second)
	h.start = h.due.Add(herdOffset)
	for i := 1; i <= h.n; i++ {
		h.ids = append(h.ids, h.id(i))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, h.n)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= h.n {
					return
				}
				id := h.ids[i]
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err := c.Schedule(ctx, &appt.ScheduleRequest{AppointmentID: id, Org: "acme", Start: h.start,
					Participants:  []appt.Participant{{ID: "c1", Name: "Herd " + id, Email: herdEmail(id), TZ: "Europe/Berlin", Locale: "en"}},
					Notifications: true, JoinURL: "https://video.example/j/" + id})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(h.t, err)
	}
	h.sched = time.Since(h.began)
	h.t.Logf("scheduled %d appointments in %s; the reminders are due at +%s", h.n, h.sched.Round(time.Millisecond),
		h.due.Sub(h.began).Round(time.Second))
	require.True(h.t, time.Now().Before(h.due.Add(-5*time.Second)),
		"scheduling took %s, too close to the reminders' due time (+%s): raise APPTNOTIFY_HERD_LEAD", h.sched, lead)
}

// distinct counts the distinct webhook-ids of a type at the receiver.
func (h *herd) distinct(typ string) int {
	seen := map[string]bool{}
	for _, w := range h.e.hooks.Got(typ) {
		seen[w.ID] = true
	}
	return len(seen)
}

// awaitCreates waits until every CREATE webhook arrived (they go out in the same fan-out as the CREATE email).
func (h *herd) awaitCreates() {
	h.t.Helper()
	for h.distinct("notification.create") < h.n {
		if time.Now().After(h.due) {
			h.t.Logf("not every CREATE arrived before the reminders' due time: %d of %d", h.distinct("notification.create"), h.n)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.creates = time.Since(h.began)
	h.t.Logf("every CREATE arrived %s after the first schedule call", h.creates.Round(time.Millisecond))
}

// awaitMidHerd waits until some, but not all, reminders arrived: the moment to kill a worker.
func (h *herd) awaitMidHerd() {
	h.t.Helper()
	threshold := h.n / 5
	deadline := h.due.Add(3 * time.Minute)
	for {
		got := h.distinct("notification.reminder")
		if got >= threshold {
			require.Less(h.t, got, h.n, "every reminder arrived before the kill: the herd was not caught mid-way")
			h.atKill = got
			return
		}
		require.True(h.t, time.Now().Before(deadline), "only %d reminders arrived by %s after their due time", got, time.Since(h.due))
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until every appointment's log holds the final outcome of both reminder deliveries, and keeps the
// statuses.
func (h *herd) settle() {
	h.t.Helper()
	c := h.e.api()
	h.statuses = map[string]*appt.Status{}
	pending := append([]string(nil), h.ids...)
	deadline := time.Now().Add(6 * time.Minute)
	// Wait until the receiver stops getting reminders (or has them all), so that the queries do not compete with the
	// herd.
	last, stable := -1, time.Now()
	for {
		got := h.distinct("notification.reminder")
		if got != last {
			last, stable = got, time.Now()
		}
		if got == h.n || time.Since(stable) > 5*time.Second {
			break
		}
		require.True(h.t, time.Now().Before(deadline), "reminders still arriving after 6 minutes")
		time.Sleep(250 * time.Millisecond)
	}
	for round := 0; len(pending) > 0; round++ {
		if time.Now().After(deadline) {
			h.diagnose(pending)
			h.t.Fatalf("%d appointments still unsettled after 6 minutes, e.g. %s", len(pending), pending[0])
		}
		var mu sync.Mutex
		var still []string
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(pending) {
						return
					}
					id := pending[i]
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					st, err := c.Status(ctx, id)
					cancel()
					mu.Lock()
					if err == nil && h.settled(st) {
						h.statuses[id] = st
					} else {
						still = append(still, id)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		sort.Strings(still)
		pending = still
		if len(pending) > 0 {
			time.Sleep(2 * time.Second)
		}
	}
}

// diagnose logs what a few unsettled appointments are doing, and the worker's last log lines.
func (h *herd) diagnose(pending []string) {
	c := h.e.api()
	h.e.api() // the Temporal client of the test process, for the histories
	for i, id := range pending {
		if i == 3 {
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		st, err := c.Status(ctx, id)
		h.t.Logf("%s: status error %v; status %+v", id, err, st)
		d, err := h.e.tc.DescribeWorkflowExecution(ctx, appt.WorkflowID(id), "")
		if err == nil {
			h.t.Logf("%s: %s, pending activities %v, pending workflow task %v", id, d.GetWorkflowExecutionInfo().GetStatus(),
				d.GetPendingActivities(), d.GetPendingWorkflowTask())
		}
		it := h.e.tc.GetWorkflowHistory(ctx, appt.WorkflowID(id), "", false, 0)
		var evs []string
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				break
			}
			evs = append(evs, fmt.Sprintf("%s %s", ev.GetEventTime().AsTime().Format("15:04:05.000"), ev.GetEventType()))
		}
		if len(evs) > 12 {
			evs = evs[len(evs)-12:]
		}
		h.t.Logf("%s: last events:\n  %s", id, strings.Join(evs, "\n  "))
		cancel()
	}
	if h.e.worker == nil {
		return // no embedded server's worker: the test logs its own workers
	}
	logs := h.e.worker.logs()
	if len(logs) > 6000 {
		logs = logs[len(logs)-6000:]
	}
	h.t.Logf("worker log tail:\n%s", logs)
}

// toleratePlanningGap lets the herd tests pass when an appointment's reminder was dropped, unlogged, because its
// first workflow task ran after the due time (see planned). Set it to false once the workflow plans from its start
// time; the tests then require every such reminder to be logged, sent or skipped_missed.
const toleratePlanningGap = false

// planned reports whether the current workflow code plans the appointment's reminder. It plans from the time of
// the appointment's first workflow task (which sent CREATE: the CREATE entries' CreatedAt), not from the time the
// appointment was scheduled, so an appointment whose first task runs after the due time (a backlogged server, no
// worker) gets no reminder and no log entry, although the reminder was ahead when it was scheduled. That is a known
// gap (docs/reliability.md); the accounting counts such reminders as dropped, and also accepts the fixed behaviour
// (the reminder logged: sent inside the tolerance, or skipped_missed).
func (h *herd) planned(st *appt.Status) (planned, known bool) {
	for _, e := range st.Deliveries {
		if e.Type == appt.Create {
			return !e.CreatedAt.After(h.due), true
		}
	}
	return false, false
}

// settled: CREATE went out, and if the reminder was planned both its deliveries have a final outcome. A failed one
// is final once the appointment has started (no reminder retry runs after the start).
func (h *herd) settled(st *appt.Status) bool {
	planned, known := h.planned(st)
	if !known {
		return false
	}
	if !planned && len(entriesOf(*st, appt.Reminder, appt.Email))+len(entriesOf(*st, appt.Reminder, appt.Webhook)) == 0 {
		return true
	}
	for _, ch := range []appt.Channel{appt.Email, appt.Webhook} {
		es := entriesOf(*st, appt.Reminder, ch)
		if len(es) == 0 {
			return false
		}
		for _, e := range es {
			if e.Status == appt.Failed && time.Now().Before(h.start.Add(10*time.Second)) {
				return false
			}
		}
	}
	return true
}

// herdFigures are the accounting of one herd run.
type herdFigures struct {
	Expected, Delivered, Duplicates, SkippedMissed, SentBeforeCrashLoggedSkipped int
	// NotPlanned counts the appointments whose reminder was dropped without a log entry: their first workflow task
	// ran after the due time (the known gap, see planned).
	NotPlanned        int
	RemindersLatest   time.Duration
	DuplicateExamples []string
}

// account checks every appointment's log against what Mailpit and the receiver got: every delivery the log says
// was sent arrived at least once; a reminder logged skipped_missed did not arrive after the crash; nothing arrived
// that the log does not know of. It returns the figures.
func (h *herd) account() herdFigures {
	h.t.Helper()
	t := h.t
	var f herdFigures
	mails := map[string][]testenv.MailpitSummary{}
	for _, m := range h.e.mail.List(t) {
		mails[strings.Trim(m.MessageID, "<>")] = append(mails[strings.Trim(m.MessageID, "<>")], m)
	}
	hooks := map[string][]testenv.Webhook{}
	for _, w := range h.e.hooks.Got("") {
		hooks[w.ID] = append(hooks[w.ID], w)
	}
	knownMail, knownHook := map[string]bool{}, map[string]bool{}
	type key struct {
		typ appt.NotificationType
		ch  appt.Channel
		ev  string
	}
	expected := []key{
		{appt.LifecycleEvent, appt.Webhook, appt.EventScheduled}, {appt.LifecycleEvent, appt.Webhook, appt.EventActivated},
		{appt.Create, appt.Email, ""}, {appt.Create, appt.Webhook, "notification.create"},
		{appt.Reminder, appt.Email, ""}, {appt.Reminder, appt.Webhook, "notification.reminder"},
	}
	f.Expected = len(expected) * len(h.ids)
	for _, id := range h.ids {
		st := h.statuses[id]
		require.NotNil(t, st, id)
		planned, _ := h.planned(st)
		got := map[key][]appt.DeliveryEntry{}
		for _, e := range st.Deliveries {
			if e.Channel == appt.SMS {
				if e.Status != appt.SkippedUnprovisioned {
					t.Errorf("%s: SMS entry %s is %s, want skipped_unprovisioned (no sms_from)", id, e.ID, e.Status)
				}
				continue
			}
			got[key{e.Type, e.Channel, e.Event}] = append(got[key{e.Type, e.Channel, e.Event}], e)
		}
		dropped := !planned && len(got[expected[4]])+len(got[expected[5]]) == 0
		if dropped {
			f.NotPlanned++
			if !toleratePlanningGap {
				t.Errorf("%s: the reminder was ahead when the appointment was scheduled but has no log entry", id)
			}
		}
		for _, k := range expected {
			es := got[k]
			if k.typ == appt.Reminder && dropped {
				continue
			}
			if len(es) != 1 {
				t.Errorf("%s: %d log entries for %s %s %s, want 1: %+v", id, len(es), k.typ, k.ch, k.ev, st.Deliveries)
				continue
			}
			e := es[0]
			var arrivals []time.Time
			var dupHint string
			switch e.Channel {
			case appt.Email:
				mid := activities.MessageID(e.NotificationID, herdFrom)
				knownMail[mid] = true
				for _, m := range mails[mid] {
					arrivals = append(arrivals, m.Created)
				}
				dupHint = "Message-ID <" + mid + ">"
				if e.Status == appt.Sent && strings.Trim(e.ProviderID, "<>") != mid {
					t.Errorf("%s: entry %s has provider ID %s, want <%s>", id, e.ID, e.ProviderID, mid)
				}
			case appt.Webhook:
				knownHook[e.EventID] = true
				for _, w := range hooks[e.EventID] {
					arrivals = append(arrivals, w.At)
				}
				dupHint = "webhook-id " + e.EventID
			}
			switch e.Status {
			case appt.Sent:
				if len(arrivals) == 0 {
					t.Errorf("%s: entry %s (%s %s) is sent but never arrived", id, e.ID, e.Type, e.Channel)
					continue
				}
				f.Delivered++
				if len(arrivals) > 1 {
					f.Duplicates += len(arrivals) - 1
					f.DuplicateExamples = append(f.DuplicateExamples, fmt.Sprintf("%s %s %s: %s received %d times",
						id, e.Type, e.Channel, dupHint, len(arrivals)))
				}
				if e.Type == appt.Reminder {
					if late := arrivals[0].Sub(h.due); late > f.RemindersLatest {
						f.RemindersLatest = late
					}
					if e.CreatedAt.After(h.due.Add(time.Minute)) {
						t.Errorf("%s: reminder entry %s was decided %s after its due time, past the 60 s tolerance",
							id, e.ID, e.CreatedAt.Sub(h.due))
					}
				}
			case appt.SkippedMissed:
				if e.Type != appt.Reminder {
					t.Errorf("%s: entry %s (%s) is skipped_missed", id, e.ID, e.Type)
				}
				f.SkippedMissed++
				for _, at := range arrivals {
					if h.killedAt.IsZero() || at.After(h.killedAt) {
						t.Errorf("%s: reminder %s is logged skipped_missed but arrived at %s (after the crash at %s): %s",
							id, e.ID, at, h.killedAt, dupHint)
					}
				}
				if len(arrivals) > 0 {
					// Sent by the worker that was killed, before the workflow task that sent it could complete; the
					// retried task woke after the tolerance.
					f.SentBeforeCrashLoggedSkipped++
					f.DuplicateExamples = append(f.DuplicateExamples, fmt.Sprintf(
						"%s REMINDER %s: %s arrived before the crash, logged skipped_missed", id, e.Channel, dupHint))
				}
			default:
				t.Errorf("%s: entry %s (%s %s) is %s (%s): every provider was up", id, e.ID, e.Type, e.Channel, e.Status, e.Error)
			}
		}
	}
	if !t.Failed() {
		require.Equal(t, f.Expected, f.Delivered+f.SkippedMissed+2*f.NotPlanned,
			"every expected delivery is delivered, skipped_missed, or dropped with its unplanned reminder")
	}
	// Nothing arrived for the herd that no log knows of (other appointments of the same test, which share Mailpit and
	// the receiver, are the test's own business).
	for mid, ms := range mails {
		if !knownMail[mid] && h.ours(ms[0]) {
			t.Errorf("an email no log knows of arrived: Message-ID %s, %d times, to %v", mid, len(ms), ms[0].To)
		}
	}
	for id, ws := range hooks {
		if !knownHook[id] && strings.HasPrefix(id, h.prefix+"-") {
			t.Errorf("a webhook no log knows of arrived: webhook-id %s, %d times", id, len(ws))
		}
	}
	return f
}

// ours reports whether an email went to one of the herd's customers.
func (h *herd) ours(m testenv.MailpitSummary) bool {
	for _, to := range m.To {
		if strings.HasPrefix(to.Address, strings.ToLower(h.prefix)+"-") {
			return true
		}
	}
	return false
}

// createDelays logs how long after the first schedule call the appointments' first workflow tasks ran (the CREATE
// entries' CreatedAt), by 10 s bucket.
func (h *herd) createDelays() {
	buckets := map[int]int{}
	for _, st := range h.statuses {
		for _, e := range st.Deliveries {
			if e.Type == appt.Create && e.Channel == appt.Email {
				buckets[int(e.CreatedAt.Sub(h.began)/(10*time.Second))]++
			}
		}
	}
	var keys []int
	for k := range buckets {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("+%ds: %d", k*10, buckets[k]))
	}
	h.t.Logf("first workflow task (CREATE) after the first schedule call, by 10 s: %s", strings.Join(parts, ", "))
}

func (h *herd) report(f herdFigures, what string) {
	h.t.Logf("FIGURES %s: appointments %d (reminder dropped unlogged, first workflow task after its due time: %d); deliveries expected %d, "+
		"delivered %d, duplicates %d, skipped_missed %d (of which arrived before the crash: %d); scheduling %s, CREATEs done "+
		"at +%s; kill at due+%s with %d/%d reminders in; restart %s; latest reminder arrival due+%s",
		what, h.n, f.NotPlanned, f.Expected, f.Delivered, f.Duplicates, f.SkippedMissed, f.SentBeforeCrashLoggedSkipped,
		h.sched.Round(time.Millisecond), h.creates.Round(time.Millisecond), h.killedAt.Sub(h.due).Round(time.Millisecond),
		h.atKill, h.n, h.restart.Round(time.Millisecond), f.RemindersLatest.Round(time.Millisecond))
	for _, ex := range f.DuplicateExamples {
		h.t.Logf("  %s", ex)
	}
}

// TestHerdWorkerCrash (reliability test 1): 1,000 appointments whose reminders fall due in the same second, email
// and webhook each. The worker, which hosts the embedded server, is killed with SIGKILL while the reminders are
// going out, and started again on the same data directory. Every delivery arrives at least once (or a reminder is
// logged skipped_missed and did not arrive after the crash), every log is complete, and the duplicates are counted
// and named.
func TestHerdWorkerCrash(t *testing.T) {
	t.Parallel()
	herdMu.Lock()
	defer herdMu.Unlock()
	e := newHerdEnv(t)
	e.startWorker(herdWorkerArgs()...)
	h := &herd{t: t, e: e, n: herdN(t), prefix: "crash"}
	h.schedule()
	h.awaitCreates()
	h.awaitMidHerd()
	h.killedAt = time.Now()
	e.kill()
	t.Logf("killed the worker %s after the due time, with %d of %d reminders in", h.killedAt.Sub(h.due).Round(time.Millisecond), h.atKill, h.n)
	restarted := time.Now()
	e.startWorker(herdWorkerArgs()...)
	h.restart = time.Since(restarted)
	h.settle()
	f := h.account()
	h.report(f, "herd crash")
	h.createDelays()
}

// TestTwoWorkersOneKilled (reliability test 7): two worker processes share the herd; the first hosts the embedded
// server, the second connects with TEMPORAL_ADDRESS. The second is killed with SIGKILL mid-herd, and the first
// finishes the work, with the same accounting as the crash test.
func TestTwoWorkersOneKilled(t *testing.T) {
	t.Parallel()
	herdMu.Lock()
	defer herdMu.Unlock()
	e := newHerdEnv(t)
	e.startWorker(herdWorkerArgs()...)
	second := e.startClusterWorker("second worker", append(herdWorkerArgs(), "--log-level", "info")...)
	h := &herd{t: t, e: e, n: herdN(t), prefix: "two"}
	h.schedule()
	h.awaitCreates()
	h.awaitMidHerd()
	h.killedAt = time.Now()
	second.kill()
	t.Logf("killed the second worker %s after the due time, with %d of %d reminders in", h.killedAt.Sub(h.due).Round(time.Millisecond), h.atKill, h.n)
	h.settle()
	f := h.account()
	h.report(f, "two workers")
	h.createDelays()
	sent := reminderFanOuts(second)
	t.Logf("the second worker had dispatched %d reminder fan-outs when it was killed", sent)
	require.Positive(t, sent, "the second worker took no part in the herd:\n%s", second.logs())
}

// reminderFanOuts counts the REMINDER fan-outs a worker logged (at info level) as dispatched.
func reminderFanOuts(p *workerProc) int {
	n := 0
	for _, line := range strings.Split(p.logs(), "\n") {
		if strings.Contains(line, `msg="notifications dispatched"`) && strings.Contains(line, `what="REMINDER`) {
			n++
		}
	}
	return n
}
