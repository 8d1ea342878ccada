// Command screenshots takes the Web UI screenshots of docs/operations.md. It starts its own embedded server, Web
// UI and worker (internal/uitest: the walkthrough's demo organisation with SMS and a webhook, every SMS rejected
// by Twilio), plays the walkthrough's appointments, drives headless Chromium through the DevTools protocol and
// writes PNG files into docs/img/. It is not part of CI. It finishes by itself, within -timeout, even though the
// page of a running workflow refreshes itself (Chromium's --screenshot switch would wait for it forever):
//
//	go run ./tools/screenshots            # needs Debian's chromium (or CHROMIUM=/path/to/chrome)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/uitest"
)

func main() {
	out := flag.String("out", "docs/img", "directory for the PNG files")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if err := run(*out, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(out string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "apptnotify-screenshots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := uitest.StartStack(ctx, filepath.Join(dir, "data"), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer s.Stop()
	fmt.Println("Web UI on " + s.Server.UIAddress())

	// The walkthrough's appointment, one that was cancelled and one whose call ended.
	start := time.Now().Add(3 * time.Minute).Truncate(time.Second)
	people := []appt.Participant{{ID: "c1", Name: "Ann Lee", Email: "ann@example.com", Phone: "+15551234567",
		TZ: "Europe/Berlin", Locale: "de"}}
	for i, id := range []string{"walk-1", "walk-2", "walk-3"} {
		req := &appt.ScheduleRequest{AppointmentID: id, Org: "demo", Start: start.Add(time.Duration(i) * time.Hour),
			Participants: people, Notifications: true, JoinURL: "https://video.example/j/" + id}
		if err := s.API.Schedule(ctx, req); err != nil {
			return fmt.Errorf("schedule %s: %w", id, err)
		}
	}
	if err := waitState(ctx, s.API, "walk-1", func(st *appt.Status) bool { return len(st.Deliveries) >= 4 }); err != nil {
		return err
	}
	if _, err := s.API.Cancel(ctx, "walk-2", "customer asked"); err != nil {
		return err
	}
	if _, err := s.API.CallStarted(ctx, "walk-3"); err != nil {
		return err
	}
	if _, err := s.API.CallEnded(ctx, "walk-3"); err != nil {
		return err
	}

	for id, want := range map[string]appt.State{"walk-2": appt.CancelledSt, "walk-3": appt.Ended} {
		if err := waitState(ctx, s.API, id, func(st *appt.Status) bool { return st.State == want }); err != nil {
			return err
		}
	}
	time.Sleep(2 * time.Second) // the visibility store follows the last upserts

	bctx, stop, err := uitest.NewBrowser(ctx, filepath.Join(dir, "chromium"))
	if err != nil {
		return err
	}
	defer stop()
	ui := s.Server.UIAddress() + "/namespaces/" + s.Server.Namespace()
	shot := func(name, pageURL string, want []string, then func() error) error {
		if pageURL != "" {
			if err := uitest.Navigate(bctx, pageURL); err != nil {
				return err
			}
		}
		if text, err := uitest.WaitForText(bctx, time.Minute, want...); err != nil {
			return fmt.Errorf("%s: %w\n%s", name, err, text)
		}
		if then != nil {
			if err := then(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			time.Sleep(3 * time.Second) // the tab loads its content
		}
		file := filepath.Join(out, name+".png")
		fmt.Println("writing", file)
		return uitest.Screenshot(bctx, file)
	}
	q := url.Values{"query": {"WorkflowType = 'AppointmentWorkflow' AND AppointmentOrg = 'demo'"}}
	if err := shot("list", ui+"/workflows?"+q.Encode(), []string{"walk-1", "walk-2", "walk-3"}, nil); err != nil {
		return err
	}
	wf := s.WorkflowURL("walk-1")
	click := func(label string) func() error {
		return func() error { return uitest.ClickText(bctx, "a, button, [role=tab]", label) }
	}
	if err := shot("appointment", wf, []string{"User Metadata"}, click("User Metadata")); err != nil {
		return err
	}
	if _, err := uitest.WaitForText(bctx, time.Minute, "Appointment walk-1 · organisation demo", "sms c1 failed"); err != nil {
		return err
	}
	if err := uitest.Screenshot(bctx, filepath.Join(out, "appointment.png")); err != nil {
		return err
	}
	if err := shot("timeline", wf, []string{"Event History"}, func() error {
		if err := click("Event History")(); err != nil {
			return err
		}
		time.Sleep(2 * time.Second)
		// The event rows are under the input: bring the table's heading to the top of the viewport.
		_, err := uitest.Eval(bctx, `(() => { const h = [...document.querySelectorAll('h1,h2,h3')].find(e => e.innerText.trim() === 'Event History'); if (h) h.scrollIntoView({block: 'start'}); return !!h })()`)
		return err
	}); err != nil {
		return err
	}
	if err := shot("status-query", wf, []string{"Queries", "Pending Activities"}, click("Queries")); err != nil {
		return err
	}
	return nil
}

func waitState(ctx context.Context, c *api.Client, id string, cond func(*appt.Status) bool) error {
	for {
		st, err := c.Status(ctx, id)
		if err == nil && cond(st) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error %v)", id, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
