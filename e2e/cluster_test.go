package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/devserver/pgtest"
	"github.com/apptnotify/apptnotify/internal/seal"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// ClusterTestEnv turns TestClusterTopology on. It is off in `go test ./...`, and .ci/run runs the test in a step of
// its own (it loads the machine for about three minutes and must not overlap the other herds).
const ClusterTestEnv = "APPTNOTIFY_CLUSTER_TEST"

const (
	clusterHerdSize = 300
	// clusterHerdLead is the time from the first schedule call to the herd's due time: scheduling 300 appointments
	// through the Go API takes a few seconds, and sending their CREATE a few more.
	clusterHerdLead = 45 * time.Second
	// clinicOffset is the reminder offset of the lifecycle and PostgreSQL-restart organisation.
	clinicOffset = 20 * time.Second
	// pgOutage is how long PostgreSQL is down in the restart phase.
	pgOutage = 15 * time.Second
)

// workerSecrets are the environment variables that hold the worker's secrets in these tests. The starter of the
// cluster test runs with none of them.
var workerSecrets = []string{"E2E_WEBHOOK_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SMTP_PASSWORD"}

// starterClient is an apptClient that runs the starter binary for every call, as an appointment backend would.
type starterClient struct{ e *env }

// Status runs `starter status --json`.
func (c starterClient) Status(ctx context.Context, id string) (*appt.Status, error) {
	code, out, errs, err := c.e.starterRun(ctx, nil, "status", "--id", id, "--json")
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("starter status exited %d: %s", code, errs)
	}
	var st appt.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("starter status --json: %w", err)
	}
	return &st, nil
}

// cluster is the topology of docker-compose.yml on this machine, without Docker: a private PostgreSQL (Debian's),
// the Temporal server alone in its own process (bench/server), worker processes that connect with TEMPORAL_ADDRESS,
// and the starter binary with no worker secret in its environment.
type cluster struct {
	t       *testing.T
	e       *env
	pgDir   string
	pgPort  int
	pg      *pgtest.Server
	server  *workerProc
	workers []*workerProc
	metrics []string // each worker's Prometheus address, by index
	keys    string   // APPTNOTIFY_ENCRYPTION_KEYS of the workers and the starter
	// sealKeys are the workers' APPTNOTIFY_SEAL_KEYS; sealPublic the public key the starter seals with.
	sealKeys, sealPublic string
}

// startPostgres starts (or starts again) PostgreSQL on the cluster's directory and port.
func (c *cluster) startPostgres() time.Duration {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	pg, err := pgtest.Start(ctx, pgtest.Options{Dir: c.pgDir, Port: c.pgPort})
	require.NoError(c.t, err)
	c.pg = pg
	c.t.Cleanup(func() { _ = pg.Stop() })
	return time.Since(began)
}

// startWorker starts worker i (0-based) with TEMPORAL_ADDRESS, the key ring and a metrics endpoint, at info level
// (the reminder fan-outs are counted from its log).
func (c *cluster) startWorker(i int) *workerProc {
	c.t.Helper()
	w := c.e.launch(fmt.Sprintf("worker %d", i+1), []string{"TEMPORAL_ADDRESS=" + c.e.frontend(), codec.KeysEnv + "=" + c.keys,
		seal.PrivateKeysEnv + "=" + c.sealKeys},
		"--log-level", "info", "--metrics", c.metrics[i])
	if i < len(c.workers) {
		c.workers[i] = w
	} else {
		c.workers = append(c.workers, w)
	}
	return w
}

// starterEnviron is the starter's environment: this process's, less every Temporal, apptnotify and worker secret
// variable, plus the key ring.
func starterEnviron(keys string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		secret := false
		for _, s := range workerSecrets {
			secret = secret || name == s
		}
		if !secret && !strings.HasPrefix(name, "TEMPORAL_") && !strings.HasPrefix(name, "APPTNOTIFY_") {
			out = append(out, kv)
		}
	}
	return append(out, codec.KeysEnv+"="+keys)
}

// TestClusterTopology (reliability test 8) runs the cluster path of docker-compose.yml on this machine: PostgreSQL
// from Debian's package with the schema set up by the server's own SQL tool, the Temporal server in its own process,
// two worker processes with TEMPORAL_ADDRESS, and the starter with no worker secret. On it:
//   - a lifecycle end to end: schedule, reminder, reschedule, cancel, call, follow-up;
//   - a tenant onboarded with `starter org apply` while both workers run: its first CREATE email and signed webhook;
//   - a herd of 300 whose reminders fall due together, with one worker killed by SIGKILL while they go out: every
//     reminder is delivered or logged skipped_missed, none is lost, and duplicates carry the same Message-ID or
//     webhook-id (the accounting of test 1);
//   - PostgreSQL stopped and started again during quiet time: the pending reminders still fire.
//
// It runs only with APPTNOTIFY_CLUSTER_TEST=1 (.ci/run's "cluster" step), and fails rather than skips there when
// PostgreSQL is not installed.
func TestClusterTopology(t *testing.T) {
	if os.Getenv(ClusterTestEnv) != "1" {
		t.Skip(ClusterTestEnv + "=1 runs it (.ci/run does, in a step of its own)")
	}
	require.NoError(t, pgtest.Available(), "the cluster test needs Debian's postgresql package (.ci/run installs it)")
	herdMu.Lock()
	defer herdMu.Unlock()
	began := time.Now()

	// The binaries, built in parallel: the Temporal server alone, the worker and the starter.
	var serverBin string
	var wg sync.WaitGroup
	for _, pkg := range []string{"bench/server", "worker", "starter"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := binary(t, pkg)
			if pkg == "bench/server" {
				serverBin = p
			}
		}()
	}
	wg.Wait()
	require.NotEmpty(t, serverBin)
	built := time.Since(began)

	// The herd's organisation (acme), and clinic for the lifecycle and the PostgreSQL restart.
	e := newEnvConfig(t, func(e *env) string {
		return herdConfig(e) + fmt.Sprintf(`  - id: clinic
    platform: genesys
    email_from: "Clinic <care@clinic.example>"
    reminder_offsets: [%s]
    webhooks:
      - {url: "%s/hooks", secret_env: E2E_WEBHOOK_SECRET}
    allow_private_webhook_addresses: true
`, clinicOffset, e.hooks.URL)
	})
	c := &cluster{t: t, e: e, keys: e2eKeys}
	sealKeys, err := seal.NewPrivateKey()
	require.NoError(t, err)
	c.sealKeys = sealKeys
	opener, err := seal.ParsePrivateKeys(sealKeys)
	require.NoError(t, err)
	c.sealPublic = opener.PublicKey()
	// The starter shares the workers' data-key store (a SQLite file here; PostgreSQL on a real cluster).
	e.starterEnv = append(starterEnviron(c.keys), codec.DataKeysEnv+"="+filepath.Join(e.dataDir, codec.DataKeysFileName))
	for _, kv := range e.starterEnv {
		for _, s := range workerSecrets {
			require.False(t, strings.HasPrefix(kv, s+"="), "the starter's environment holds the worker secret %s", s)
		}
	}

	// PostgreSQL, in a directory the postgres OS user can reach (t.TempDir is 0700).
	dir, err := os.MkdirTemp("", "apptnotify-cluster-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	c.pgDir, c.pgPort = dir, testenv.FreePort(t)
	pgStart := c.startPostgres()

	// The Temporal server in its own process: it creates the databases, sets up their schema with the server's SQL
	// tool, registers the namespace and the search attributes.
	e.port = testenv.FreePort(t)
	serverBegan := time.Now()
	c.server = startProcess(t, "temporal server", serverBin, []string{"--postgres-addr", c.pg.Addr(),
		"--postgres-user", c.pg.User(), "--port", strconv.Itoa(e.port), "--history-shards", "4", "--log-level", "warn"},
		os.Environ(), "frontend 127.0.0.1:")
	serverStart := time.Since(serverBegan)

	c.metrics = []string{"127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))}
	workersBegan := time.Now()
	c.startWorker(0)
	c.startWorker(1)
	workersStart := time.Since(workersBegan)
	defer func() {
		if t.Failed() {
			for _, p := range append([]*workerProc{c.server}, c.workers...) {
				logs := p.logs()
				if len(logs) > 8000 {
					logs = logs[len(logs)-8000:]
				}
				t.Logf("%s log tail:\n%s", p.name, logs)
			}
		}
	}()
	t.Logf("built in %s; PostgreSQL %s started in %s; Temporal server on %s started in %s (schema, namespace, search "+
		"attributes); two workers polling after %s", built.Round(time.Second), c.pg.Addr(), pgStart.Round(time.Millisecond),
		e.frontend(), serverStart.Round(time.Millisecond), workersStart.Round(time.Millisecond))

	lifecycleBegan := time.Now()
	c.lifecycle()
	c.onboard()
	lifecycle := time.Since(lifecycleBegan)

	herdBegan := time.Now()
	f, h := c.herd()
	herdTime := time.Since(herdBegan)
	c.checkMetrics()

	pgBegan := time.Now()
	pgf := c.restartPostgres()
	pgPhase := time.Since(pgBegan)

	select {
	case <-c.server.exited:
		t.Fatalf("the Temporal server exited:\n%s", c.server.logs())
	default:
	}
	t.Logf("FIGURES cluster: total %s (build %s, PostgreSQL start %s, server start %s, workers %s); lifecycle %s; "+
		"herd of %d: %s, deliveries expected %d, delivered %d, duplicates %d, skipped_missed %d, scheduling through "+
		"the Go API %s, worker 2 killed at due+%s with %d/%d reminders in, latest reminder due+%s; PostgreSQL restart "+
		"phase %s: %s", time.Since(began).Round(time.Second), built.Round(time.Second), pgStart.Round(time.Millisecond),
		serverStart.Round(time.Millisecond), workersStart.Round(time.Millisecond), lifecycle.Round(time.Second),
		h.n, herdTime.Round(time.Second), f.Expected, f.Delivered, f.Duplicates, f.SkippedMissed,
		h.sched.Round(time.Millisecond), h.killedAt.Sub(h.due).Round(time.Millisecond), h.atKill, h.n,
		f.RemindersLatest.Round(time.Millisecond), pgPhase.Round(time.Second), pgf)
}

// lifecycle runs two appointments of the clinic organisation end to end through the starter: one is scheduled, gets
// its reminder, its call starts, its customer joins, the call ends and FOLLOW_UP goes out; the other is
// rescheduled and then cancelled.
func (c *cluster) lifecycle() {
	t, e := c.t, c.e
	start := time.Now().Add(40 * time.Second).Truncate(time.Second)
	due := start.Add(-clinicOffset)
	e.ok("schedule", "--id", "life-1", "--org", "clinic", "--start", rfc3339(start), "--duration", "30m",
		"--participant", participant("c1", "life-1@example.com"), "--join-url", "https://video.example/j/life-1")
	_, out, _ := e.run("schedule", "--id", "life-1", "--org", "clinic", "--start", rfc3339(start),
		"--participant", participant("c1", "life-1@example.com"))
	assert.Contains(t, out, "already scheduled")

	// The other appointment: rescheduled, then cancelled, while the first one waits for its reminder.
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	e.ok("schedule", "--id", "life-2", "--org", "clinic", "--start", rfc3339(later), "--participant", participant("c1", "life-2@example.com"))
	e.ok("reschedule", "--id", "life-2", "--start", rfc3339(later.Add(time.Hour)))
	st := e.status("life-2")
	require.Len(t, st.Pending, 1, "%+v", st)
	assert.True(t, st.Pending[0].Due.Equal(later.Add(time.Hour-clinicOffset)), "the reminder moved with the start: %+v", st.Pending)
	e.ok("cancel", "--id", "life-2", "--reason", "customer asked")
	eventually(t, time.Minute, "life-2's CREATE, RESCHEDULE and CANCELLED emails", func() bool { return len(e.mailsTo("life-2@example.com")) == 3 })
	st = e.status("life-2")
	assert.Equal(t, appt.CancelledSt, st.State)
	assertSentOnce(t, st, appt.Create, appt.Reschedule, appt.Cancelled)
	assert.Empty(t, st.Pending, "a cancel cancels the pending reminder")

	eventually(t, 90*time.Second, "life-1's REMINDER email and webhook", func() bool {
		return len(e.mailsTo("life-1@example.com")) == 2 && len(e.webhooksFor(appt.EventID("life-1", appt.Reminder, 0, clinicOffset))) == 1
	})
	rem := e.webhooksFor(appt.EventID("life-1", appt.Reminder, 0, clinicOffset))[0]
	assert.False(t, rem.At.Before(due.Add(-time.Second)), "not before its due time (%s < %s)", rem.At, due)
	assert.True(t, rem.At.Before(due.Add(time.Minute)), "inside the 1-minute tolerance (%s)", rem.At.Sub(due))
	assert.Contains(t, string(rem.Body), "https://video.example/j/life-1", "active: the reminder carries the join link")

	e.ok("call-started", "--id", "life-1")
	e.ok("joined", "--id", "life-1", "--participant", "c1")
	e.ok("call-ended", "--id", "life-1")
	eventually(t, time.Minute, "life-1's FOLLOW_UP email and webhook", func() bool {
		return len(e.mailsTo("life-1@example.com")) == 3 && len(e.webhooksFor(appt.EventID("life-1", appt.FollowUp, 0, 0))) == 1
	})
	st = e.status("life-1")
	assert.Equal(t, appt.Ended, st.State)
	assertSentOnce(t, st, appt.Create, appt.Reminder, appt.FollowUp)
	require.False(t, t.Failed(), "the lifecycle failed")
}

// onboard adds a tenant while both workers run, as a vendor does: `starter org apply` writes the organisation
// through the API (its webhook secret read from the applying shell's environment and sealed with the workers'
// public key), and its first appointment's CREATE email and signed webhook go out with no worker restarted. The
// receiver verifies every webhook's signature.
func (c *cluster) onboard() {
	t, e := c.t, c.e
	path := filepath.Join(t.TempDir(), "tenant.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`organizations:
  - id: onboarded
    platform: genesys
    email_from: "Onboarded <care@onboarded.example>"
    webhooks:
      - {url: "%s/hooks", secret_env: TENANT_WEBHOOK_SECRET}
    allow_private_webhook_addresses: true
`, e.hooks.URL)), 0o600))
	extra := []string{seal.PublicKeyEnv + "=" + c.sealPublic, "TENANT_WEBHOOK_SECRET=" + testenv.WebhookSecret}
	code, out, errs := e.runEnv(extra, "org", "apply", "-f", path)
	require.Equal(t, 0, code, "starter org apply: %s%s", out, errs)
	assert.Contains(t, out, "onboarded: changed")
	start := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	e.ok("schedule", "--id", "onb-1", "--org", "onboarded", "--start", rfc3339(start),
		"--participant", participant("c1", "onb-1@example.com"))
	eventually(t, time.Minute, "the onboarded organisation's first CREATE email and signed webhook", func() bool {
		return len(e.mailsTo("onb-1@example.com")) == 1 && len(e.webhooksFor(appt.EventID("onb-1", appt.Create, 0, 0))) == 1
	})
	require.False(t, t.Failed(), "onboarding failed")
}

// assertSentOnce checks that the appointment's log has one sent entry for each type by email and by webhook.
func assertSentOnce(t *testing.T, st appt.Status, types ...appt.NotificationType) {
	t.Helper()
	for _, typ := range types {
		for _, ch := range []appt.Channel{appt.Email, appt.Webhook} {
			es := entriesOf(st, typ, ch)
			if assert.Len(t, es, 1, "%s %s %s", st.AppointmentID, typ, ch) {
				assert.Equal(t, appt.Sent, es[0].Status, "%s %s %s: %+v", st.AppointmentID, typ, ch, es[0])
			}
		}
	}
}

// herd schedules the herd through the Go API of the test process (the starter binary, one process per call, took
// 100 s for 300 on a loaded machine) and kills worker 2 with SIGKILL while the reminders go out; worker 1
// finishes the work, and the accounting of the herd tests checks every delivery. Worker 2 is started again at the
// end.
func (c *cluster) herd() (herdFigures, *herd) {
	t := c.t
	n := clusterHerdSize
	if v := os.Getenv("APPTNOTIFY_HERD_SIZE"); v != "" {
		n = herdN(t)
	}
	lead := clusterHerdLead
	if os.Getenv("APPTNOTIFY_HERD_LEAD") != "" {
		lead = herdLead(t)
	}
	h := &herd{t: t, e: c.e, n: n, prefix: "cluster", lead: lead}
	h.schedule()
	h.awaitCreates()
	h.awaitMidHerd()
	h.killedAt = time.Now()
	second := c.workers[1]
	second.kill()
	t.Logf("killed worker 2 %s after the due time, with %d of %d reminders in", h.killedAt.Sub(h.due).Round(time.Millisecond), h.atKill, h.n)
	h.settle()
	restarted := time.Now()
	c.startWorker(1)
	h.restart = time.Since(restarted)
	f := h.account()
	h.report(f, "cluster herd")
	h.createDelays()
	sent := reminderFanOuts(second)
	t.Logf("worker 2 had dispatched %d reminder fan-outs when it was killed", sent)
	require.Positive(t, sent, "worker 2 took no part in the herd:\n%s", second.logs())
	require.False(t, t.Failed(), "the herd's accounting failed")
	return f, h
}

// metricName matches the metric names in the alert rules and in an exposition.
var metricName = regexp.MustCompile(`\b(?:apptnotify|temporal)_[a-z0-9_]+\b`)

// checkMetrics scrapes worker 1 after the herd: every metric that deploy/prometheus/alerts.yml uses is exposed, with
// the labels the rules select on, except the failure counters, which exist only once something failed.
func (c *cluster) checkMetrics() {
	t := c.t
	resp, err := http.Get("http://" + c.metrics[0] + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	exposed := map[string]bool{}
	var reminderSent bool
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		exposed[name] = true
		if name == "apptnotify_notifications_total" && strings.Contains(line, `type="REMINDER"`) &&
			strings.Contains(line, `channel="email"`) && strings.Contains(line, `status="sent"`) {
			reminderSent = true
		}
	}
	require.NoError(t, sc.Err())
	assert.True(t, reminderSent, "apptnotify_notifications_total counts the herd's REMINDER emails by type, channel and status")

	rules, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	require.NoError(t, err)
	failureOnly := map[string]bool{"temporal_workflow_task_execution_failed_total": true}
	used := map[string]bool{}
	for _, m := range metricName.FindAllString(string(rules), -1) {
		used[m] = true
	}
	require.NotEmpty(t, used)
	for m := range used {
		if failureOnly[m] {
			continue
		}
		assert.True(t, exposed[m], "alerts.yml uses %s, which the worker does not expose", m)
	}
}

// restartPostgres schedules appointments whose reminders fall due during and after a PostgreSQL outage in quiet
// time, stops PostgreSQL (fast shutdown) once their CREATEs are out, starts it again on the same data after
// pgOutage, and checks: the reminders due after the restart are sent, once each; those due during the outage are
// sent inside the 60 s tolerance or logged skipped_missed and never sent. It returns the figures.
func (c *cluster) restartPostgres() string {
	t, e := c.t, c.e
	stopAt := time.Now().Add(12 * time.Second).Truncate(time.Second)
	dues := []time.Duration{5 * time.Second, 10 * time.Second, // during the outage
		pgOutage + 10*time.Second, pgOutage + 15*time.Second, pgOutage + 20*time.Second, pgOutage + 25*time.Second,
		pgOutage + 30*time.Second, pgOutage + 35*time.Second}
	type pending struct {
		id  string
		due time.Time
	}
	var ps []pending
	for i, d := range dues {
		p := pending{id: fmt.Sprintf("pg-%d", i), due: stopAt.Add(d)}
		ps = append(ps, p)
		e.ok("schedule", "--id", p.id, "--org", "clinic", "--start", rfc3339(p.due.Add(clinicOffset)),
			"--participant", participant("c1", p.id+"@example.com"))
	}
	for _, p := range ps {
		eventually(t, 30*time.Second, p.id+"'s CREATE webhook", func() bool {
			return len(e.webhooksFor(appt.EventID(p.id, appt.Create, 0, 0))) == 1
		})
	}
	require.True(t, time.Now().Before(stopAt), "scheduling took past the planned stop of PostgreSQL")
	time.Sleep(time.Until(stopAt))

	stopped := time.Now()
	require.NoError(t, c.pg.Stop())
	down := time.Since(stopped)
	time.Sleep(time.Until(stopAt.Add(pgOutage)))
	restarted := time.Now()
	pgStart := c.startPostgres()
	t.Logf("PostgreSQL stopped in %s, started again %s after the stop, ready in %s", down.Round(time.Millisecond),
		restarted.Sub(stopped).Round(time.Millisecond), pgStart.Round(time.Millisecond))

	sent, missed := 0, 0
	var lateness []string
	final := func(x appt.DeliveryEntry) bool { return x.Status == appt.Sent || x.Status == appt.SkippedMissed }
	for _, p := range ps {
		var em, wh appt.DeliveryEntry
		e.eventuallyEntry(p.id, appt.Reminder, appt.Email, 3*time.Minute, "final", final, &em)
		e.eventuallyEntry(p.id, appt.Reminder, appt.Webhook, time.Minute, "final", final, &wh)
		mails := e.mailsTo(p.id + "@example.com")
		hooks := e.webhooksFor(appt.EventID(p.id, appt.Reminder, 0, clinicOffset))
		afterRestart := p.due.After(restarted.Add(5 * time.Second))
		for _, x := range []appt.DeliveryEntry{em, wh} {
			late := x.CreatedAt.Sub(p.due)
			switch x.Status {
			case appt.Sent:
				assert.LessOrEqual(t, late, time.Minute, "%s %s: sent although it woke %s late", p.id, x.Channel, late)
			case appt.SkippedMissed:
				assert.False(t, afterRestart, "%s %s: due %s after PostgreSQL was back, yet skipped_missed", p.id, x.Channel, p.due.Sub(restarted))
				assert.Greater(t, late, time.Minute, "%s %s: skipped although it woke only %s late", p.id, x.Channel, late)
			}
		}
		switch em.Status {
		case appt.Sent:
			sent++
			assert.Len(t, mails, 2, "%s: CREATE and the REMINDER, once each", p.id)
			if assert.Len(t, hooks, 1, "%s: the reminder webhook, once", p.id) {
				lateness = append(lateness, fmt.Sprintf("%s due stop+%s: arrived due+%s", p.id, p.due.Sub(stopped).Round(time.Second),
					hooks[0].At.Sub(p.due).Round(time.Millisecond)))
			}
		case appt.SkippedMissed:
			missed++
			assert.Len(t, mails, 1, "%s: only CREATE; a missed reminder is never sent", p.id)
			assert.Empty(t, hooks, "%s: a missed reminder is never sent", p.id)
		}
	}
	// The starter still works against the restarted database.
	e.ok("cancel", "--id", "pg-7")
	assert.Equal(t, appt.CancelledSt, e.status("pg-7").State)
	for _, l := range lateness {
		t.Logf("  %s", l)
	}
	return fmt.Sprintf("outage %s, %d reminders (2 due during it): sent %d, skipped_missed %d; %s", pgOutage, len(ps), sent, missed,
		strings.Join(lateness, "; "))
}
