package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
)

// TestOperatorViewOnARealServer reads what an operator sees in the Web UI, from a real server: the workflow's
// static summary names the appointment and its organisation; each fan-out's marker has a summary that names the
// notification and its targets and a recorded result that names the channel, recipient and outcome of every
// target (the unprovisioned SMS of a customer without a phone included); the workflow's current details (the
// __temporal_workflow_metadata query, the UI's "Current Details") give the state, the next notification, the last
// notification's outcomes and the last failure with its entry ID, and no personal data.
func TestOperatorViewOnARealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an embedded server: skipped with -short")
	}
	ring := recordRing(t) // payloads encrypted, as the worker writes them; summaries too
	r := newRecorder(t, false, ring)
	const id = "op-view"
	create := appt.EventID(id, appt.Create, 0, 0)
	r.sends.setFailing(create, true) // the CREATE webhook fails twice (max_attempts 2): the last failure
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now().Add(12 * time.Second).Truncate(time.Second) // the 6 s reminder is due at +6 s, the 3 s one at +9 s
	require.NoError(t, r.api.Schedule(ctx, &appt.ScheduleRequest{AppointmentID: id, Org: "acme", Start: start,
		Notifications: true, JoinURL: "https://video.example/j/secret-room",
		Participants: []appt.Participant{
			{ID: "c1", Name: "Ann Lee", Email: "ann@example.com", Phone: "+15551234567"},
			{ID: "c2", Name: "Bob Roe", Email: "bob@example.com"},
			{ID: "a1", Name: "Agent Smith", Email: "agent@acme.example", Role: appt.Agent},
		}}))
	var failedEntry string
	require.NoError(t, r.await(id, "the 6 s reminder and the CREATE webhook's last attempt", func(st *appt.Status) bool {
		reminded := false
		for _, e := range st.Deliveries {
			if e.EventID == create && e.Channel == appt.Webhook && e.Status == appt.Failed && e.Attempts == 2 {
				failedEntry = e.ID
			}
			if e.Type == appt.Reminder && e.Offset == "6s" && e.Channel == appt.Email && e.Status == appt.Sent {
				reminded = true
			}
		}
		return reminded && failedEntry != ""
	}))

	dc := codec.DataConverter(ring, nil)
	str := func(p *commonpb.Payload) string {
		var s string
		if p != nil {
			require.NoError(t, dc.FromPayload(p, &s))
		}
		return s
	}
	it := r.tc.GetWorkflowHistory(ctx, appt.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var staticSummary, staticDetails string
	markers := map[string]*activities.DeliverResult{} // by summary
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			staticSummary, staticDetails = str(ev.GetUserMetadata().GetSummary()), str(ev.GetUserMetadata().GetDetails())
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if ev.GetMarkerRecordedEventAttributes().GetMarkerName() != "LocalActivity" {
				continue
			}
			res := &activities.DeliverResult{}
			if p := ev.GetMarkerRecordedEventAttributes().GetDetails()["result"]; p != nil {
				require.NoError(t, dc.FromPayloads(p, res))
			}
			markers[str(ev.GetUserMetadata().GetSummary())] = res
		}
	}
	require.Equal(t, "Appointment op-view · organisation acme", staticSummary)
	require.Contains(t, staticDetails, "Input panel")

	createSummary := "CREATE → email c1, sms c1, email c2, webhook subscriber-0; " +
		"appointment.scheduled, appointment.activated → webhook subscriber-0"
	reminderSummary := "REMINDER 6s before start → email c1, sms c1, email c2, webhook subscriber-0"
	var summaries []string
	for s := range markers {
		summaries = append(summaries, s)
	}
	require.Contains(t, markers, createSummary, "marker summaries: %q", summaries)
	require.Contains(t, markers, reminderSummary, "marker summaries: %q", summaries)

	named := func(res *activities.DeliverResult) []string {
		var out []string
		for _, o := range append(append([]activities.Outcome{}, res.Outcomes...), res.Decided...) {
			require.NotEmpty(t, o.Channel, "an outcome without its channel: %+v", o)
			require.NotEmpty(t, o.Recipient, "an outcome without its recipient: %+v", o)
			out = append(out, string(o.Channel)+" "+o.Recipient+" "+o.Event+" "+string(o.Status))
		}
		return out
	}
	require.ElementsMatch(t, []string{
		"webhook subscriber-0 appointment.scheduled sent",
		"webhook subscriber-0 appointment.activated sent",
		"email c1  sent", "sms c1  sent", "email c2  sent",
		"webhook subscriber-0 notification.create failed",
		"sms c2  skipped_unprovisioned", // decided by the workflow: c2 has no phone
	}, named(markers[createSummary]))
	require.ElementsMatch(t, []string{
		"email c1  sent", "sms c1  sent", "email c2  sent", "webhook subscriber-0 notification.reminder sent",
		"sms c2  skipped_unprovisioned",
	}, named(markers[reminderSummary]))

	v, err := r.tc.QueryWorkflow(ctx, appt.WorkflowID(id), "", "__temporal_workflow_metadata")
	require.NoError(t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&md))
	details := md.GetCurrentDetails()
	t.Logf("current details:\n%s", details)
	for _, want := range []string{
		"**active**", "organisation acme", "start " + start.UTC().Format("2006-01-02 15:04:05 UTC"),
		"**Next:** REMINDER 3s before start, due " + start.Add(-3*time.Second).UTC().Format("2006-01-02 15:04:05 UTC"),
		"**Last notification:** REMINDER 6s: email c1 sent, sms c1 sent, email c2 sent, sms c2 skipped_unprovisioned, webhook subscriber-0 sent",
		"**Last failure:** entry `" + failedEntry + "`, CREATE webhook subscriber-0, 2 attempt(s): ",
	} {
		require.Contains(t, details, want)
	}
	for _, personal := range []string{"ann@", "bob@", "agent@", "+1555", "Ann", "Bob", "Smith", "secret-room"} {
		require.NotContains(t, details, personal, "personal data in the current details")
	}
	if strings.Count(details, "\n") > 8 {
		t.Errorf("the current details should be short, got %d lines", strings.Count(details, "\n"))
	}
}
