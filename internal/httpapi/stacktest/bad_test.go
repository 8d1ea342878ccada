package stacktest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/httpapi/httpapitest"
)

type badCase struct {
	name        string
	method      string
	path        string
	contentType string // default application/json when there is a body
	body        string
	status      int
	pointers    []string // the fields the problem must name, in order; nil: not checked
}

// withField returns a schedule body for id with one field replaced (or removed when v is nil), as JSON.
func withField(start time.Time, id, field string, v any) string {
	b := scheduleBody(id, "acme", start)
	if v == nil {
		delete(b, field)
	} else {
		b[field] = v
	}
	return mustJSON(b)
}

// badRequests sends malformed bodies, wrong types, unknown fields, huge bodies and bad IDs, and checks that each
// gets a 4xx problem document naming the fields, never a 5xx, and that nothing was started or signalled.
func badRequests(t *testing.T, e *apiEnv, start time.Time) {
	// A running appointment that the bad operations aim at: its log must not change.
	r := e.do(t, http.MethodPost, "/v1/appointments", tokAll, scheduleBody("TARGET", "acme", start))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	before := e.status(t, "TARGET")

	past := time.Now().Add(-time.Hour)
	person := func(kv ...string) []map[string]string {
		p := map[string]string{"id": "c1"}
		for i := 0; i+1 < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return []map[string]string{p}
	}
	post := http.MethodPost
	cases := []badCase{
		{"empty body", post, "/v1/appointments", "", "", 400, []string{""}},
		{"truncated JSON", post, "/v1/appointments", "", `{"appointmentId": "BAD-1", `, 400, []string{""}},
		{"not JSON", post, "/v1/appointments", "", `appointmentId=BAD-1`, 400, []string{""}},
		{"JSON null", post, "/v1/appointments", "", `null`, 400, nil},
		{"an array", post, "/v1/appointments", "", `[]`, 400, nil},
		{"wrong content type", post, "/v1/appointments", "text/plain", withField(start, "BAD-2", "org", "acme"), 415, nil},
		{"ID of the wrong type", post, "/v1/appointments", "", withField(start, "BAD-3", "appointmentId", 5), 400, []string{"/appointmentId"}},
		{"participants of the wrong type", post, "/v1/appointments", "", withField(start, "BAD-4", "participants", "c1"), 400, []string{"/participants"}},
		{"notifications of the wrong type", post, "/v1/appointments", "", withField(start, "BAD-5", "notifications", "yes"), 400, []string{"/notifications"}},
		{"metadata value of the wrong type", post, "/v1/appointments", "", withField(start, "BAD-6", "metadata", map[string]any{"k": 1}), 400, []string{"/metadata/k"}},
		{"start of the wrong type", post, "/v1/appointments", "", withField(start, "BAD-7", "start", 12), 400, []string{"/start"}},
		{"unknown field", post, "/v1/appointments", "", withField(start, "BAD-8", "shoe", 9), 400, []string{"/shoe"}},
		{"unknown participant field", post, "/v1/appointments", "", withField(start, "BAD-9", "participants", person("shoe", "9")), 400, []string{"/participants/0/shoe"}},
		{"missing start", post, "/v1/appointments", "", withField(start, "BAD-10", "start", nil), 400, []string{"/start"}},
		// The body builder puts the ID into the email and the join link too, which the rules refuse in the same answer.
		{"ID with a space", post, "/v1/appointments", "", withField(start, "BAD 11", "org", "acme"), 400, []string{"/appointmentId", "/participants/0/email", "/joinUrl"}},
		{"ID with a slash", post, "/v1/appointments", "", withField(start, "BAD/12", "org", "acme"), 400, []string{"/appointmentId"}},
		{"ID too long", post, "/v1/appointments", "", withField(start, strings.Repeat("B", 129), "org", "acme"), 400, []string{"/appointmentId", "/participants/0/email"}},
		{"unknown organisation", post, "/v1/appointments", "", withField(start, "BAD-13", "org", "nope"), 400, []string{"/org"}},
		{"start not RFC 3339", post, "/v1/appointments", "", withField(start, "BAD-14", "start", "tomorrow"), 400, []string{"/start"}},
		{"start in the past", post, "/v1/appointments", "", withField(start, "BAD-15", "start", rfc(past)), 400, []string{"/start"}},
		{"end and duration", post, "/v1/appointments", "", withField(start, "BAD-16", "end", rfc(start.Add(time.Hour))), 400, []string{"/duration"}},
		{"negative duration", post, "/v1/appointments", "", withField(start, "BAD-17", "duration", "-5m"), 400, []string{"/duration"}},
		{"duration too long", post, "/v1/appointments", "", withField(start, "BAD-18", "duration", "25h"), 400, []string{"/duration"}},
		{"no participants", post, "/v1/appointments", "", withField(start, "BAD-19", "participants", []any{}), 400, []string{"/participants"}},
		{"bad role", post, "/v1/appointments", "", withField(start, "BAD-20", "participants", person("role", "boss")), 400, []string{"/participants/0/role"}},
		{"bad join URL", post, "/v1/appointments", "", withField(start, "BAD-21", "joinUrl", "ftp://x"), 400, []string{"/joinUrl"}},
		{"bad metadata key", post, "/v1/appointments", "", withField(start, "BAD-22", "metadata", map[string]string{"bad key!": "v"}), 400, []string{"/metadata"}},
		{"duplicate participant", post, "/v1/appointments", "", withField(start, "BAD-23", "participants", []map[string]string{{"id": "c1"}, {"id": "c1"}}), 400, []string{"/participants/1/id"}},
		{"every failing field is listed", post, "/v1/appointments", "", func() string {
			b := scheduleBody("BAD-24", "acme", past)
			b["participants"] = []map[string]string{{"id": "c1", "email": "ann@", "phone": "555", "tz": "Mars/Olympus"}}
			b["joinUrl"] = "nope"
			return mustJSON(b)
		}(), 400, []string{"/start", "/participants/0/email", "/participants/0/phone", "/participants/0/tz", "/joinUrl"}},
		{"every schema failure is listed", post, "/v1/appointments", "", func() string {
			b := scheduleBody("BAD-25", "acme", start)
			b["appointmentId"] = 7
			b["notifications"] = "yes"
			b["extra"] = true
			return mustJSON(b)
		}(), 400, nil},

		{"bad ID in the path", http.MethodGet, "/v1/appointments/a%20b", "", "", 400, []string{"param:id"}},
		{"path ID too long", http.MethodGet, "/v1/appointments/" + strings.Repeat("x", 129), "", "", 400, []string{"param:id"}},
		{"bad participant ID in the path", post, "/v1/appointments/TARGET/participants/c%201/joined", "", "", 400, []string{"param:participantId"}},
		{"bad entry ID in the path", post, "/v1/appointments/TARGET/deliveries/e%201/retry", "", "", 400, []string{"param:entryId"}},
		{"unknown endpoint", post, "/v1/appointments/TARGET/explode", "", "", 404, nil},
		{"wrong method", http.MethodDelete, "/v1/appointments/TARGET", "", "", 405, nil},
		{"a body where none is taken", post, "/v1/appointments/TARGET/activate", "", `{"now": true}`, 400, []string{""}},
		{"reschedule: no start", post, "/v1/appointments/TARGET/reschedule", "", `{}`, 400, []string{"/start"}},
		{"reschedule: start not RFC 3339", post, "/v1/appointments/TARGET/reschedule", "", `{"start": "soon"}`, 400, []string{"/start"}},
		{"reschedule: into the past", post, "/v1/appointments/TARGET/reschedule", "", mustJSON(map[string]string{"start": rfc(past)}), 400, []string{"/start"}},
		{"reschedule: end before start", post, "/v1/appointments/TARGET/reschedule", "", mustJSON(map[string]string{"start": rfc(start), "end": rfc(start.Add(-time.Minute))}), 400, []string{"/end"}},
		{"reschedule: unknown field", post, "/v1/appointments/TARGET/reschedule", "", mustJSON(map[string]string{"start": rfc(start), "when": "x"}), 400, []string{"/when"}},
		{"cancel: reason too long", post, "/v1/appointments/TARGET/cancel", "", mustJSON(map[string]string{"reason": strings.Repeat("r", 1025)}), 400, []string{"/reason"}},
		{"metadata: empty", http.MethodPatch, "/v1/appointments/TARGET/metadata", "", `{"metadata": {}}`, 400, []string{"/metadata"}},
		{"metadata: bad key", http.MethodPatch, "/v1/appointments/TARGET/metadata", "", `{"metadata": {"bad key!": "v"}}`, 400, []string{"/metadata"}},
		{"metadata: value too long", http.MethodPatch, "/v1/appointments/TARGET/metadata", "", mustJSON(map[string]any{"metadata": map[string]string{"k": strings.Repeat("v", 1025)}}), 400, []string{"/metadata/k"}},
		{"notifications: no body", http.MethodPut, "/v1/organizations/acme/notifications", "", "", 400, nil},
		{"a name that is not UTF-8", post, "/v1/appointments", "", strings.Replace(withField(start, "BAD-28", "org", "acme"), "Ann Lee", "Zo\xeb M\xfcller", 1), 400, []string{"/participants/0/name"}},
		{"a charset that is not UTF-8", post, "/v1/appointments", "application/json; charset=utf-16", withField(start, "BAD-29", "org", "acme"), 415, nil},
		{"huge body", post, "/v1/appointments", "", withField(start, "BAD-26", "joinUrl", "https://x.example/"+strings.Repeat("a", httpapi.MaxBodyBytes)), 413, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rd io.Reader
			if c.body != "" {
				rd = strings.NewReader(c.body)
			}
			req, err := http.NewRequest(c.method, e.base+c.path, rd)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+tokAll)
			if c.body != "" {
				ct := c.contentType
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			}
			r := send(t, e.validate, req)
			require.Equal(t, c.status, r.Status, "%s", r.Body)
			p := r.problem(t)
			if c.status == http.StatusBadRequest {
				require.NotEmpty(t, p.Errors, "a 400 names the fields")
			}
			if c.pointers != nil {
				assert.Equal(t, c.pointers, httpapitest.Pointers(p), "%s", r.Body)
			}
			if c.name == "every schema failure is listed" {
				assert.Subset(t, httpapitest.Pointers(p), []string{"/appointmentId", "/notifications", "/extra"})
			}
		})
	}

	t.Run("a huge chunked body is 413 too", func(t *testing.T) {
		body := withField(start, "BAD-27", "joinUrl", "https://x.example/"+strings.Repeat("a", httpapi.MaxBodyBytes))
		req, err := http.NewRequest(post, e.base+"/v1/appointments", io.MultiReader(bytes.NewReader([]byte(body))))
		require.NoError(t, err)
		req.ContentLength = -1 // chunked: the server cannot know the length up front
		req.Header.Set("Authorization", "Bearer "+tokAll)
		req.Header.Set("Content-Type", "application/json")
		r := send(t, e.validate, req)
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
		r.problem(t)
	})

	for i := 1; i <= 29; i++ {
		assert.False(t, e.exists(t, fmt.Sprintf("BAD-%d", i)), "BAD-%d was started", i)
	}
	for _, id := range []string{"BAD 11", "BAD/12", strings.Repeat("B", 129)} {
		_, err := e.tc.DescribeWorkflowExecution(t.Context(), "appointment:"+id, "")
		assert.Error(t, err, "%q was started", id)
	}
	assert.Equal(t, before, e.status(t, "TARGET"), "no bad request signalled the appointment")
	assert.Equal(t, 0, strings.Count(e.logs.String(), "status=5"), "no 5xx")
}
