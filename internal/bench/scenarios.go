package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/workflows"
)

// herd: N appointments whose REMINDER falls due in the same second T, each to one customer by email and SMS and
// to one webhook subscriber. Lateness is the sink's receive time minus T. With --background B, B other
// appointments (email only, reminders days ahead) are scheduled after the herd and stay open and idle through it,
// so the herd's workflows are the least recently used ones in every cache.
func (o Options) herd(ctx context.Context, log io.Writer) ([]Result, error) {
	o.series = true
	e, err := o.newEnv(ctx)
	if err != nil {
		return nil, err
	}
	defer e.close()
	n, bg := o.N, o.Background
	k := 0 // herd-suppressed: appointments whose email and phone are on the list
	if o.SuppressionEntries > 0 {
		if k, err = e.loadSuppressions(ctx, n, log); err != nil {
			return nil, err
		}
	}
	due := time.Now().Add(o.lead()).Truncate(time.Second)
	start := due.Add(herdOffset)
	reqs := make([]*appt.ScheduleRequest, n)
	t0 := time.Now()
	if err := parallel(n, o.Concurrency, func(i int) error {
		reqs[i] = request("herd", i, o.herdOrg(i), start)
		return e.api.Schedule(ctx, reqs[i])
	}); err != nil {
		return nil, fmt.Errorf("scheduling: %w", err)
	}
	startRate := float64(n) / time.Since(t0).Seconds()
	if bg > 0 {
		later := time.Now().Add(72 * time.Hour).Truncate(time.Minute)
		t1 := time.Now()
		if err := parallel(bg, o.Concurrency, func(i int) error {
			q := request("idle", i, idleOrg, later.Add(time.Duration(i%600)*time.Minute))
			q.Participants[0].Phone = ""
			return e.api.Schedule(ctx, q)
		}); err != nil {
			return nil, fmt.Errorf("scheduling the background: %w", err)
		}
		fmt.Fprintf(log, "bench: herd: %d background appointments scheduled at %.0f/s\n", bg, float64(bg)/time.Since(t1).Seconds())
	}
	// Deliveries: each appointment's CREATE and REMINDER by email, SMS and webhook; a suppressed appointment gets
	// only its webhooks (the list holds its email and phone).
	sent := n - k // CREATE emails and SMS
	r := Result{Scenario: "herd", N: n, Expected: 3*n - 2*k, StartRate: round(startRate, 1), Background: bg,
		SuppressionEntries: o.SuppressionEntries, SuppressedExpected: 2 * k}
	windowStart := due.Add(-o.Spread - 2*time.Second)
	created := waitFor(ctx, windowStart, func() bool {
		return e.sinks.email.len() >= sent+bg && e.sinks.idleEmails.Load() >= int64(bg) && e.sinks.sms.len() >= sent && e.sinks.webhook.len() >= 3*n
	})
	fmt.Fprintf(log, "bench: herd: %d scheduled at %.0f/s; CREATE delivered: %t (%.0f s after the first call, %.0f s before the window); reminders due at %s\n",
		n, startRate, created, time.Since(t0).Seconds(), time.Until(windowStart).Seconds(), due.Format(time.TimeOnly))
	if !created {
		r.Note = "scheduling and CREATE deliveries were still under way when the herd window opened; raise --lead"
	}
	time.Sleep(time.Until(windowStart))
	resetPeakRSS()
	cpu0 := cpuTime()
	smtp0, http0 := e.sinks.smtpSessions.Load(), e.sinks.httpConns.Load()
	sdk0, srv0 := e.sdk.snapshot(), scrapeServer(e.metricsURL)
	if o.CPUProfile != "" {
		if f, err := os.Create(o.CPUProfile); err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	missed := func() int64 {
		return e.counts.get(countKey(appt.Reminder, appt.Email, appt.SkippedMissed)) +
			e.counts.get(countKey(appt.Reminder, appt.SMS, appt.SkippedMissed)) +
			e.counts.get(countKey(appt.Reminder, appt.Webhook, appt.SkippedMissed))
	}
	suppressed := func() int64 {
		return e.counts.get(countKey(appt.Reminder, appt.Email, appt.Suppressed)) +
			e.counts.get(countKey(appt.Reminder, appt.SMS, appt.Suppressed))
	}
	waitFor(ctx, due.Add(5*time.Minute), func() bool {
		herdEmails := e.sinks.email.len() - int(e.sinks.idleEmails.Load()) // background CREATEs may still be arriving
		got := herdEmails - sent + e.sinks.sms.len() - sent + e.sinks.webhook.len() - 3*n
		return int64(got)+missed()+suppressed() >= int64(3*n)
	})
	r.CPUSeconds = round((cpuTime() - cpu0).Seconds(), 1)
	r.PeakRSSMiB = round(procStatus("VmHWM")/1024, 0)
	r.SkippedMissed = missed()
	r.Suppressed = suppressed()
	r.SMTPSessions, r.HTTPConns = e.sinks.smtpSessions.Load()-smtp0, e.sinks.httpConns.Load()-http0
	sdk1, srv1 := e.sdk.snapshot(), scrapeServer(e.metricsURL)
	if o.MemProfile != "" {
		if f, err := os.Create(o.MemProfile); err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	fmt.Fprintf(log, "bench: herd: sinks got %d emails, %d SMS, %d webhooks (window: %d SMTP sessions, %d HTTP connections); outcomes:\n%s",
		e.sinks.email.len(), e.sinks.sms.len(), e.sinks.webhook.len(), r.SMTPSessions, r.HTTPConns, e.counts.dump())
	if o.collectMetrics() {
		fmt.Fprintf(log, "bench: herd: key metrics over the window:\n%s", keyMetrics(sdk0, sdk1, srv0, srv1))
	}
	if o.MetricsOut != "" {
		if f, err := os.Create(o.MetricsOut); err == nil {
			writeDelta(f, "SDK (worker)", sdk0, sdk1)
			writeDelta(f, "server", srv0, srv1)
			f.Close()
		}
	}

	// Each appointment's reminder deliveries, by channel, mapped back to the appointment.
	emailKeys, hookKeys, phones := map[string]int{}, map[string]int{}, map[string]int{}
	for i, q := range reqs {
		em, wh := reminderKeys(q, herdOffset)
		emailKeys[em], hookKeys[wh], phones[q.Participants[0].Phone] = i, i, i
	}
	var late []time.Duration
	first := make([]time.Time, n) // the appointment's first reminder delivery
	seen := map[string]bool{}
	count := func(key string, i int, at time.Time) {
		if o.suppressedAppointment(i) && !strings.HasPrefix(key, "webhook:") {
			r.DeliveredToSuppressed++
		}
		if seen[key] {
			r.Duplicates++
			return
		}
		seen[key] = true
		late = append(late, at.Sub(due))
		if first[i].IsZero() || at.Before(first[i]) {
			first[i] = at
		}
	}
	for _, d := range e.sinks.email.snapshot() {
		if i, ok := emailKeys[d.key]; ok {
			count(d.key, i, d.at)
		}
	}
	for _, d := range e.sinks.webhook.snapshot() {
		if i, ok := hookKeys[d.key]; ok {
			count("webhook:"+d.key, i, d.at)
		}
	}
	perNumber := map[string]int{}
	for _, d := range e.sinks.sms.snapshot() {
		i, ok := phones[d.key]
		if !ok {
			continue
		}
		perNumber[d.key]++
		if o.suppressedAppointment(i) {
			r.DeliveredToSuppressed++ // its CREATE or its REMINDER: the list holds the number
			continue
		}
		if perNumber[d.key] == 2 { // the first SMS to a number is its CREATE, the second its REMINDER
			count("sms:"+d.key, i, d.at)
		} else if perNumber[d.key] > 2 {
			r.Duplicates++
		}
	}
	r.Received = len(late)
	r.P50, r.P99, r.Max = percentiles(late)
	wake := make([]time.Time, n)
	for i, q := range reqs {
		ev := appt.EventID(q.AppointmentID, appt.Reminder, 0, herdOffset)
		wake[i] = workflows.ReminderFireAt(q.AppointmentID, ev, due, o.Spread)
	}
	r.Served = serving(first, wake, due)
	fmt.Fprintf(log, "bench: herd: %s\n", r.Served.describe())
	return []Result{r}, nil
}

// baseline: the same N bare workflows (sleep until T, then one no-op activity) on the same server configuration.
func (o Options) baseline(ctx context.Context, log io.Writer) ([]Result, error) {
	e, err := o.newEnv(ctx)
	if err != nil {
		return nil, err
	}
	defer e.close()
	n := o.N
	due := time.Now().Add(o.lead()).Truncate(time.Second)
	t0 := time.Now()
	if err := parallel(n, o.Concurrency, func(i int) error {
		_, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("bare-%06d", i), TaskQueue: bareQueue},
			"BareWorkflow", due)
		return err
	}); err != nil {
		return nil, fmt.Errorf("starting: %w", err)
	}
	startRate := float64(n) / time.Since(t0).Seconds()
	fmt.Fprintf(log, "bench: baseline: %d started at %.0f/s; due at %s\n", n, startRate, due.Format(time.TimeOnly))
	r := Result{Scenario: "baseline", N: n, Expected: n, StartRate: round(startRate, 1)}
	time.Sleep(time.Until(due.Add(-2 * time.Second)))
	resetPeakRSS()
	cpu0 := cpuTime()
	waitFor(ctx, due.Add(5*time.Minute), func() bool { return e.bareRec.len() >= n })
	r.CPUSeconds = round((cpuTime() - cpu0).Seconds(), 1)
	r.PeakRSSMiB = round(procStatus("VmHWM")/1024, 0)
	var late []time.Duration
	for _, d := range e.bareRec.snapshot() {
		late = append(late, d.at.Sub(due))
	}
	r.Received = len(late)
	r.P50, r.P99, r.Max = percentiles(late)
	return []Result{r}, nil
}

// throughput: appointments scheduled per second until their CREATE email arrived, against bare workflows started
// per second until their one activity ran.
func (o Options) throughput(ctx context.Context, log io.Writer) ([]Result, error) {
	n := o.N
	appts := Result{Scenario: "throughput", N: n, Expected: n}
	{
		e, err := o.newEnv(ctx)
		if err != nil {
			return nil, err
		}
		start := time.Now().Add(48 * time.Hour)
		t0 := time.Now()
		cpu0 := cpuTime()
		if err := parallel(n, o.Concurrency, func(i int) error {
			return e.api.Schedule(ctx, request("tput", i, benchOrg, start))
		}); err != nil {
			e.close()
			return nil, err
		}
		waitFor(ctx, time.Now().Add(10*time.Minute), func() bool { return e.sinks.email.len() >= n })
		got := e.sinks.email.snapshot()
		appts.Received = len(got)
		if len(got) > 0 {
			appts.Rate = round(float64(len(got))/got[len(got)-1].at.Sub(t0).Seconds(), 1)
		}
		appts.CPUSeconds = round((cpuTime() - cpu0).Seconds(), 1)
		e.close()
	}
	bare := Result{Scenario: "throughput-bare", N: n, Expected: n}
	{
		e, err := o.newEnv(ctx)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		cpu0 := cpuTime()
		if err := parallel(n, o.Concurrency, func(i int) error {
			_, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("tput-bare-%06d", i), TaskQueue: bareQueue},
				"BareWorkflow", time.Time{})
			return err
		}); err != nil {
			e.close()
			return nil, err
		}
		waitFor(ctx, time.Now().Add(10*time.Minute), func() bool { return e.bareRec.len() >= n })
		got := e.bareRec.snapshot()
		bare.Received = len(got)
		if len(got) > 0 {
			bare.Rate = round(float64(len(got))/got[len(got)-1].at.Sub(t0).Seconds(), 1)
		}
		bare.CPUSeconds = round((cpuTime() - cpu0).Seconds(), 1)
		e.close()
	}
	fmt.Fprintf(log, "bench: throughput: appointments %.1f/s, bare %.1f/s\n", appts.Rate, bare.Rate)
	return []Result{appts, bare}, nil
}

// footprint: memory per idle open appointment (the worker's cache purged), and the history events of a typical
// lifecycle.
func (o Options) footprint(ctx context.Context, log io.Writer) ([]Result, error) {
	e, err := o.newEnv(ctx)
	if err != nil {
		return nil, err
	}
	defer e.close()
	n := o.FootprintN
	r := Result{Scenario: "footprint", N: n}
	time.Sleep(2 * time.Second)
	settle()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss0, heap0 := procStatus("VmRSS")*1024, float64(ms.HeapInuse)
	start := time.Now().Add(48 * time.Hour)
	if err := parallel(n, o.Concurrency, func(i int) error {
		return e.api.Schedule(ctx, request("idle", i, benchOrg, start))
	}); err != nil {
		return nil, err
	}
	waitFor(ctx, time.Now().Add(15*time.Minute), func() bool { return e.sinks.email.len() >= n })
	worker.PurgeStickyWorkflowCache()
	time.Sleep(3 * time.Second)
	settle()
	runtime.ReadMemStats(&ms)
	rss1, heap1 := procStatus("VmRSS")*1024, float64(ms.HeapInuse)
	r.BytesPerAppt = round((rss1-rss0)/float64(n), 0)
	r.HeapPerAppt = round((heap1-heap0)/float64(n), 0)
	fmt.Fprintf(log, "bench: footprint: RSS %.0f -> %.0f MiB with %d idle appointments\n", rss0/(1<<20), rss1/(1<<20), n)

	// A typical lifecycle: CREATE, two reminders, a call with one participant, FOLLOW_UP; email, SMS, webhook.
	req := request("life", 0, lifeOrg, time.Now().Add(12*time.Second).Truncate(time.Second))
	if err := e.api.Schedule(ctx, req); err != nil {
		return nil, err
	}
	want := []string{appt.EventID(req.AppointmentID, appt.Reminder, 0, 8*time.Second), appt.EventID(req.AppointmentID, appt.Reminder, 0, 4*time.Second)}
	waitFor(ctx, time.Now().Add(time.Minute), func() bool {
		got := 0
		for _, d := range e.sinks.webhook.snapshot() {
			if d.key == want[0] || d.key == want[1] {
				got++
			}
		}
		return got >= 2
	})
	for _, step := range []func() error{
		func() error { _, err := e.api.CallStarted(ctx, req.AppointmentID); return err },
		func() error { _, err := e.api.Joined(ctx, req.AppointmentID, "c1"); return err },
		func() error { _, err := e.api.CallEnded(ctx, req.AppointmentID); return err },
	} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("lifecycle: %w", err)
		}
	}
	var st appt.Status
	if err := e.c.GetWorkflow(ctx, appt.WorkflowID(req.AppointmentID), "").Get(ctx, &st); err != nil {
		return nil, fmt.Errorf("lifecycle: %w", err)
	}
	if r.HistoryEvents, err = historyEvents(ctx, e.c, appt.WorkflowID(req.AppointmentID)); err != nil {
		return nil, err
	}
	return []Result{r}, nil
}
