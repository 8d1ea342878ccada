package stacktest_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// editedReminder is an administrator's edit of the German REMINDER, not saved anywhere.
var editedReminder = map[string]string{
	"de/reminder.subject.txt": "Neu: Ihr Termin um {{.StartTime}}",
	"de/reminder.txt":         "Guten Tag {{.Name}},\n\nbis gleich: {{.Start}}.\n",
}

// historyLength is the number of events in an appointment's history, read from Temporal directly.
func (e *apiEnv) historyLength(t *testing.T, id string) int64 {
	d, err := e.tc.DescribeWorkflowExecution(context.Background(), appt.WorkflowID(id), "")
	require.NoError(t, err)
	return d.GetWorkflowExecutionInfo().GetHistoryLength()
}

// waitMail waits for the messages Mailpit holds to match.
func (e *apiEnv) waitMail(t *testing.T, match func(m testenv.MailpitMessage) bool) testenv.MailpitMessage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, m := range e.mail.Messages(t) {
			if match(m) {
				return m
			}
		}
		require.True(t, time.Now().Before(deadline), "no such email arrived")
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPreviewAndTestSendOverHTTP is the flow of docs/operations.md: an administrator edits the German REMINDER,
// previews it for an existing appointment of a participant in Europe/Berlin (text, HTML, headers, the webhook body
// signed over the preview ID) and for sample fields, registers a test address (its code arrives in Mailpit),
// is refused a test send before verifying it (409 naming /recipient), verifies it, test-sends and sees the [TEST]
// email arrive in Mailpit; the 11th code or test send in a minute gets 429 with Retry-After; a template that does not parse
// gets 400 naming it; and the appointment's history and delivery log are as they were.
func TestPreviewAndTestSendOverHTTP(t *testing.T) {
	e := startAPIEnv(t)
	start := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	require.Equal(t, http.StatusCreated, e.do(t, http.MethodPost, "/v1/appointments", tokAcme, scheduleBody("PV1", "acme", start)).Status)
	e.waitMail(t, func(m testenv.MailpitMessage) bool { return len(m.To) > 0 && m.To[0].Address == "ann-pv1@example.com" })
	var before appt.Status
	var events int64
	require.Eventually(t, func() bool {
		before = e.status(t, "PV1")
		for _, d := range before.Deliveries {
			if d.Status == "" || d.Status == appt.Failed {
				return false
			}
		}
		n := e.historyLength(t, "PV1")
		settled := n == events
		events = n
		return settled && len(before.Deliveries) > 0
	}, 30*time.Second, 300*time.Millisecond)
	mailsBefore := len(e.mail.Messages(t))

	// Preview the edit for the existing appointment.
	r := e.do(t, http.MethodPost, "/v1/organizations/acme/previews", tokAcme, map[string]any{
		"type": "REMINDER", "appointmentId": "PV1", "templates": editedReminder})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var pv appt.PreviewResult
	r.json(t, &pv)
	require.Len(t, pv.Email, 1)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	want := "Neu: Ihr Termin um " + start.In(berlin).Format("15:04") + " Uhr"
	require.True(t, strings.HasPrefix(pv.Email[0].Subject, want), "%q", pv.Email[0].Subject)
	require.Contains(t, pv.Email[0].Text, "Guten Tag Ann Lee,")
	require.Contains(t, pv.Email[0].HTML, "Ann Lee", "the HTML is the organisation's (unedited) German one")
	require.NotEmpty(t, pv.Email[0].Headers)
	require.Len(t, pv.Webhooks, 1)
	require.Contains(t, pv.Webhooks[0].Body, `"id":"`+pv.PreviewID+`"`)
	require.Empty(t, e.hooks.Got("notification.reminder"), "a preview posts nothing")

	// The same for sample fields.
	sample := map[string]any{"start": rfc(start), "participants": []map[string]any{
		{"id": "s1", "name": "Bea Sample", "email": "bea@example.com", "tz": "Europe/Berlin", "locale": "de"}}}
	r = e.do(t, http.MethodPost, "/v1/organizations/acme/previews", tokAcme, map[string]any{
		"type": "REMINDER", "channel": "email", "sample": sample, "templates": editedReminder})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r.json(t, &pv)
	require.Len(t, pv.Email, 1)
	require.Empty(t, pv.Webhooks, "channel email only")

	// A template that does not parse, and fields at fault, are named.
	r = e.do(t, http.MethodPost, "/v1/organizations/acme/previews", tokAcme, map[string]any{
		"type": "REMINDER", "sample": sample, "templates": map[string]string{"de/reminder.txt": "{{.Start"}})
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	p := r.problem(t)
	require.Len(t, p.Errors, 1)
	require.Equal(t, "/templates/de~1reminder.txt", *p.Errors[0].Pointer)
	r = e.do(t, http.MethodPost, "/v1/organizations/acme/previews", tokAcme, map[string]any{"type": "REMINDER"})
	require.Equal(t, "/sample", *r.problem(t).Errors[0].Pointer)
	r = e.do(t, http.MethodPost, "/v1/organizations/beta/previews", tokAcme, map[string]any{"type": "REMINDER", "sample": sample})
	require.Equal(t, http.StatusForbidden, r.Status)

	// A test recipient: its code arrives in Mailpit.
	r = e.do(t, http.MethodPost, "/v1/organizations/acme/test-recipients", tokAcme, map[string]any{"channel": "email", "address": "Admin@Acme.Example"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	var tr appt.TestRecipient
	r.json(t, &tr)
	require.False(t, tr.Verified)
	require.Equal(t, "admin@acme.example", tr.Address)
	codeMail := e.waitMail(t, func(m testenv.MailpitMessage) bool { return strings.HasPrefix(m.Subject, "Verification code") })
	code := regexp.MustCompile(`\d{6}`).FindString(codeMail.Subject)

	send := map[string]any{"type": "REMINDER", "channel": "email", "recipient": tr.ID, "appointmentId": "PV1", "templates": editedReminder}
	r = e.do(t, http.MethodPost, "/v1/organizations/acme/test-sends", tokAcme, send)
	require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
	p = r.problem(t)
	require.Equal(t, "/recipient", *p.Errors[0].Pointer)
	require.Contains(t, p.Detail, "not verified")

	r = e.do(t, http.MethodPost, "/v1/organizations/acme/test-recipients/"+tr.ID+"/verify", tokAcme, map[string]any{"code": code})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r.json(t, &tr)
	require.True(t, tr.Verified)

	r = e.do(t, http.MethodPost, "/v1/organizations/acme/test-sends", tokAcme, send)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	got := e.waitMail(t, func(m testenv.MailpitMessage) bool { return strings.HasPrefix(m.Subject, "[TEST] ") })
	require.Equal(t, "admin@acme.example", got.To[0].Address)
	require.Equal(t, "[TEST] "+pv.Email[0].Subject, got.Subject)
	require.Contains(t, got.Text, "Guten Tag Ann Lee,")

	// The code counts against the rate as a send does: 1 code, then TestSendLimit-1 sends.
	for i := 2; i < appt.TestSendLimit; i++ {
		require.Equal(t, http.StatusOK, e.do(t, http.MethodPost, "/v1/organizations/acme/test-sends", tokAcme, send).Status)
	}
	r = e.do(t, http.MethodPost, "/v1/organizations/acme/test-sends", tokAcme, send)
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	r.problem(t)
	r = e.do(t, http.MethodPost, "/v1/organizations/acme/test-recipients", tokAcme, map[string]any{"channel": "email", "address": "other@acme.example"})
	require.Equal(t, http.StatusTooManyRequests, r.Status, "a code counts against the rate: %s", r.Body)
	require.NotEmpty(t, r.Header.Get("Retry-After"))

	r = e.do(t, http.MethodGet, "/v1/organizations/acme/test-sends", tokAcme, nil)
	var records []appt.TestSendRecord
	r.json(t, &records)
	require.Len(t, records, appt.TestSendLimit-1)
	require.Equal(t, httpapi.TokenID(tokAcme), records[0].Actor, "the record names the token that sent it")

	// Nothing of it touched the appointment.
	require.Equal(t, events, e.historyLength(t, "PV1"), "previews and test sends add nothing to the appointment's history")
	require.Equal(t, before.Deliveries, e.status(t, "PV1").Deliveries)
	require.Equal(t, mailsBefore+appt.TestSendLimit, len(e.mail.Messages(t)), "the code and the test sends only")
}
