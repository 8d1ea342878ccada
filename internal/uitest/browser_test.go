package uitest

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// TestBrowserFindsWhySMSWasNotSent opens an appointment's page in the embedded Web UI with headless Chromium, as
// an operator would, and finds there why its SMS was not sent: the failed SMS and Twilio's reason, without opening
// the Queries tab. It needs Chromium, so it runs only when asked, as .ci/run's browser step asks (where a missing
// chromium fails it):
//
//	APPTNOTIFY_BROWSER=1 go test ./internal/uitest -run TestBrowser -v
func TestBrowserFindsWhySMSWasNotSent(t *testing.T) {
	if os.Getenv("APPTNOTIFY_BROWSER") == "" {
		t.Skip("set APPTNOTIFY_BROWSER=1 to run the browser test (needs chromium)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := StartStack(ctx, t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	const id = "ui-sms"
	err = s.API.Schedule(ctx, &appt.ScheduleRequest{AppointmentID: id, Org: "demo", Start: time.Now().Add(time.Hour),
		Notifications: true, Participants: []appt.Participant{{ID: "c1", Name: "Ann Lee", Email: "ann@example.com", Phone: "+15551234567"}}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		st, err := s.API.Status(ctx, id)
		if err == nil && len(st.Deliveries) > 0 && st.Deliveries[len(st.Deliveries)-1].At.After(time.Time{}) && hasFailedSMS(st) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the SMS never failed: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	bctx, stop, err := NewBrowser(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := Navigate(bctx, s.WorkflowURL(id)); err != nil {
		t.Fatal(err)
	}
	// The page's "User Metadata" tab holds the workflow's summary, details and current details.
	if text, err := WaitForText(bctx, 60*time.Second, "User Metadata"); err != nil {
		t.Fatalf("%v\npage text:\n%s", err, text)
	}
	if err := ClickText(bctx, "a, button, [role=tab]", "User Metadata"); err != nil {
		t.Fatal(err)
	}
	// Current Details names the failed SMS and Twilio's reason (the Markdown renderer curls the quotes).
	text, err := WaitForText(bctx, 60*time.Second, "Appointment ui-sms · organisation demo",
		"Last notification: CREATE: email c1 sent, sms c1 failed", "CREATE sms c1, 1 attempt(s): Twilio 21211", "number is not a valid phone number")
	if err != nil {
		t.Fatalf("%v\npage text:\n%s", err, text)
	}
	t.Logf("the page says why:\n%s", text[strings.Index(text, "Last notification"):])
}

func hasFailedSMS(st *appt.Status) bool {
	for _, e := range st.Deliveries {
		if e.Channel == appt.SMS && e.Status == appt.Failed {
			return true
		}
	}
	return false
}
