package stacktest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/httpapi/httpapitest"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func scheduleBody(id, org string, start time.Time) map[string]any {
	return map[string]any{
		"appointmentId": id, "org": org, "start": rfc(start), "duration": "45m",
		"joinUrl": "https://video.example/j/" + id,
		"participants": []map[string]any{
			{"id": "c1", "name": "Ann Lee", "email": "ann-" + strings.ToLower(id) + "@example.com", "tz": "Europe/Berlin", "locale": "de"},
			{"id": "a1", "name": "Agent Smith", "role": "agent"},
		},
		"metadata": map[string]any{"ticket": "T-1"},
	}
}

// exists reports whether the appointment has a workflow, asking Temporal directly.
func (e *apiEnv) exists(t *testing.T, id string) bool {
	_, err := e.tc.DescribeWorkflowExecution(context.Background(), appt.WorkflowID(id), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false
	}
	require.NoError(t, err)
	return true
}

func (e *apiEnv) do(t *testing.T, method, path, token string, body any) reply {
	t.Helper()
	return do(t, e.validate, e.base, method, path, token, body)
}

func (e *apiEnv) status(t *testing.T, id string) appt.Status {
	t.Helper()
	r := e.do(t, http.MethodGet, "/v1/appointments/"+id, tokAll, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var st appt.Status
	r.json(t, &st)
	return st
}

func refusedCount(st appt.Status) int {
	n := 0
	for _, d := range st.Deliveries {
		if d.Status == appt.Refused {
			n++
		}
	}
	return n
}

// TestEndpoints runs every endpoint against the real stack, over real HTTP, and validates every response against
// api/openapi.yaml.
func TestEndpoints(t *testing.T) {
	e := startAPIEnv(t)
	start := time.Now().Add(3 * time.Hour).Truncate(time.Second)

	t.Run("service endpoints need no token", func(t *testing.T) {
		r := e.do(t, http.MethodGet, "/healthz", "", nil)
		assert.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		r = e.do(t, http.MethodGet, "/openapi.yaml", "", nil)
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, api.OpenAPIDocument, r.Body)
	})

	t.Run("authentication", func(t *testing.T) {
		body := scheduleBody("AUTH-1", "acme", start)
		for _, tok := range []string{"", "nope", tokAcme + "x", "acme"} {
			r := e.do(t, http.MethodPost, "/v1/appointments", tok, body)
			assert.Equal(t, http.StatusUnauthorized, r.Status, "token %q", tok)
			r.problem(t)
			assert.Equal(t, "Bearer", r.Header.Get("WWW-Authenticate"))
		}
		r := e.do(t, http.MethodPost, "/v1/appointments", tokBeta, body)
		assert.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
		assert.Equal(t, []string{"/org"}, httpapitest.Pointers(r.problem(t)))
		r = e.do(t, http.MethodGet, "/v1/appointments/AUTH-1", "", nil)
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		assert.False(t, e.exists(t, "AUTH-1"), "nothing may start after a 401 or 403")
		assert.NotContains(t, e.logs.String(), tokAcme, "tokens are never logged")
	})

	t.Run("schedule, then the same ID again", func(t *testing.T) {
		r := e.do(t, http.MethodPost, "/v1/appointments", tokPadded, scheduleBody("A1", "acme", start))
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		var res httpapi.ScheduleResponse
		r.json(t, &res)
		assert.Equal(t, httpapi.ScheduleResponse{AppointmentID: "A1", WorkflowID: appt.WorkflowID("A1")}, res)
		assert.Equal(t, "/v1/appointments/A1", r.Header.Get("Location"))

		r = e.do(t, http.MethodPost, "/v1/appointments", tokAcme, scheduleBody("A1", "acme", start.Add(time.Hour)))
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		r.json(t, &res)
		assert.True(t, res.AlreadyScheduled)
		st := e.status(t, "A1")
		assert.Equal(t, start.Unix(), st.Start.Unix(), "the second request changed nothing")
		assert.Equal(t, start.Add(45*time.Minute).Unix(), st.End.Unix(), "duration 45m")

		// serve encrypted the workflow input with the key ring: the history holds no address.
		it := e.tc.GetWorkflowHistory(t.Context(), appt.WorkflowID("A1"), "", false, 0)
		require.True(t, it.HasNext())
		first, err := it.Next()
		require.NoError(t, err)
		raw := first.GetWorkflowExecutionStartedEventAttributes().GetInput().String()
		require.NotEmpty(t, raw)
		assert.NotContains(t, raw, "ann-a1@example.com", "the input reached Temporal unencrypted")

		// The CREATE email reaches the customer: the appointment really runs.
		require.Eventually(t, func() bool {
			for _, m := range e.mail.List(t) {
				for _, to := range m.To {
					if to.Address == "ann-a1@example.com" {
						return true
					}
				}
			}
			return false
		}, 30*time.Second, 100*time.Millisecond, "no CREATE email for A1")
	})

	t.Run("status", func(t *testing.T) {
		r := e.do(t, http.MethodGet, "/v1/appointments/A1", tokAcme, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var st appt.Status
		r.json(t, &st)
		assert.Equal(t, "A1", st.AppointmentID)
		assert.Equal(t, "acme", st.Org)
		assert.Equal(t, appt.Scheduled, st.State, "auto-activate is off for acme")
		assert.Equal(t, []appt.ParticipantStatus{{ID: "c1", Role: appt.Customer}, {ID: "a1", Role: appt.Agent}}, st.Participants)

		// HEAD is answered as the GET, without the body (RFC 9110 §9.3.2).
		head := e.do(t, http.MethodHead, "/v1/appointments/A1", tokAcme, nil)
		assert.Equal(t, http.StatusOK, head.Status)
		assert.Equal(t, r.Header.Get("Content-Type"), head.Header.Get("Content-Type"))
		assert.NotEmpty(t, head.Header.Get("Content-Length"))
		assert.Empty(t, head.Body)

		r = e.do(t, http.MethodGet, "/v1/appointments/A1", tokBeta, nil)
		assert.Equal(t, http.StatusNotFound, r.Status, "another organisation's appointment does not exist for beta")
		nf := r.problem(t)
		r = e.do(t, http.MethodGet, "/v1/appointments/NOPE", tokBeta, nil)
		assert.Equal(t, http.StatusNotFound, r.Status)
		assert.Equal(t, nf, r.problem(t), "the two 404s are indistinguishable")
		r = e.do(t, http.MethodGet, "/v1/appointments/NOPE", tokAll, nil)
		assert.Equal(t, http.StatusNotFound, r.Status)
		assert.Equal(t, []string{"param:id"}, httpapitest.Pointers(r.problem(t)))
	})

	t.Run("operations of another organisation are 404 and signal nothing", func(t *testing.T) {
		before := e.status(t, "A1")
		for _, path := range []string{"/activate", "/call-started", "/call-ended", "/cancel", "/participants/c1/joined", "/deliveries/e1/retry"} {
			r := e.do(t, http.MethodPost, "/v1/appointments/A1"+path, tokBeta, nil)
			assert.Equal(t, http.StatusNotFound, r.Status, path)
		}
		assert.Equal(t, before, e.status(t, "A1"))
	})

	t.Run("activate, metadata, reschedule", func(t *testing.T) {
		r := e.do(t, http.MethodPost, "/v1/appointments/A1/activate", tokAcme, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var res appt.UpdateResult
		r.json(t, &res)
		assert.Equal(t, appt.Active, res.State)

		r = e.do(t, http.MethodPatch, "/v1/appointments/A1/metadata", tokAcme, map[string]any{"metadata": map[string]string{"ticket": "", "room": "7"}})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)

		newStart := start.Add(2 * time.Hour)
		r = e.do(t, http.MethodPost, "/v1/appointments/A1/reschedule", tokAcme, map[string]any{"start": rfc(newStart), "end": rfc(newStart.Add(time.Hour))})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		st := e.status(t, "A1")
		assert.Equal(t, newStart.Unix(), st.Start.Unix())
		assert.Equal(t, newStart.Add(time.Hour).Unix(), st.End.Unix())
	})

	t.Run("an unknown participant is a 409 that logs exactly one refused entry", func(t *testing.T) {
		before := e.status(t, "A1")
		r := e.do(t, http.MethodPost, "/v1/appointments/A1/participants/zz9/joined", tokAcme, nil)
		require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
		p := r.problem(t)
		assert.Contains(t, p.Detail, "zz9")
		after := e.status(t, "A1")
		assert.Equal(t, refusedCount(before)+1, refusedCount(after))
		last := after.Deliveries[len(after.Deliveries)-1]
		assert.Equal(t, appt.Refused, last.Status)
		assert.Equal(t, appt.SignalParticipantJoined, last.Signal)
		assert.Equal(t, before.State, after.State)
		assert.Equal(t, before.Participants, after.Participants)
		assert.Equal(t, before.Pending, after.Pending)
	})

	t.Run("call started, joined, ended", func(t *testing.T) {
		for _, step := range []struct {
			path  string
			state appt.State
		}{{"/call-started", appt.InCall}, {"/participants/c1/joined", appt.InCall}, {"/call-ended", appt.Ended}} {
			r := e.do(t, http.MethodPost, "/v1/appointments/A1"+step.path, tokAcme, nil)
			require.Equal(t, http.StatusOK, r.Status, "%s: %s", step.path, r.Body)
			var res appt.UpdateResult
			r.json(t, &res)
			assert.Equal(t, step.state, res.State, step.path)
		}
		st := e.status(t, "A1")
		assert.True(t, st.Participants[0].Joined)
	})

	t.Run("retry: a stale entry is 409, the most recent failed one is retried", func(t *testing.T) {
		e.hooks.Respond(func(testenv.Webhook) int { return http.StatusBadRequest }) // permanent: failed at once
		r := e.do(t, http.MethodPost, "/v1/appointments", tokAcme, scheduleBody("R1", "acme", start))
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		var failed []appt.DeliveryEntry
		require.Eventually(t, func() bool {
			failed = failed[:0]
			for _, d := range e.status(t, "R1").Deliveries {
				if d.Status == appt.Failed {
					failed = append(failed, d)
				}
			}
			return len(failed) >= 2
		}, 30*time.Second, 100*time.Millisecond, "the webhook deliveries of R1 did not fail")
		e.hooks.Respond(nil)

		r = e.do(t, http.MethodPost, "/v1/appointments/R1/deliveries/"+failed[0].ID+"/retry", tokAcme, nil)
		require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
		latest := failed[len(failed)-1]
		r = e.do(t, http.MethodPost, "/v1/appointments/R1/deliveries/"+latest.ID+"/retry", tokAcme, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var res appt.UpdateResult
		r.json(t, &res)
		require.NotNil(t, res.Entry)
		assert.Equal(t, latest.ID, res.Entry.ID)
		assert.Equal(t, appt.Sent, res.Entry.Status)
	})

	t.Run("cancel, then cancel again", func(t *testing.T) {
		r := e.do(t, http.MethodPost, "/v1/appointments", tokAcme, scheduleBody("C1", "acme", start))
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		r = e.do(t, http.MethodPost, "/v1/appointments/C1/cancel", tokAcme, map[string]string{"reason": "customer asked"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var res appt.UpdateResult
		r.json(t, &res)
		assert.Equal(t, appt.CancelledSt, res.State)
		r = e.do(t, http.MethodPost, "/v1/appointments/C1/cancel", tokAcme, nil)
		assert.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
		r.problem(t)
		st := e.status(t, "C1")
		assert.Equal(t, appt.CancelledSt, st.State, "a closed appointment's status still answers")
	})

	t.Run("organisation settings", func(t *testing.T) {
		r := e.do(t, http.MethodPut, "/v1/organizations/beta/notifications", tokBeta, map[string]bool{"enabled": false})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var s httpapi.OrgSettingsResponse
		r.json(t, &s)
		assert.Equal(t, httpapi.OrgSettingsResponse{Org: "beta", NotificationsEnabled: false, AutoActivate: true}, s)
		r = e.do(t, http.MethodPut, "/v1/organizations/beta/notifications", tokBeta, map[string]bool{"enabled": true})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		r.json(t, &s)
		assert.True(t, s.NotificationsEnabled)

		r = e.do(t, http.MethodPut, "/v1/organizations/beta/notifications", tokAcme, map[string]bool{"enabled": false})
		assert.Equal(t, http.StatusForbidden, r.Status)
		assert.Equal(t, []string{"param:org"}, httpapitest.Pointers(r.problem(t)))
		r = e.do(t, http.MethodPost, "/v1/organizations/nope/auto-activate", tokAll, nil)
		assert.Equal(t, http.StatusNotFound, r.Status)
		r.problem(t)
		r = e.do(t, http.MethodPut, "/v1/organizations/beta/notifications", tokBeta, map[string]any{"enabled": "no"})
		assert.Equal(t, http.StatusBadRequest, r.Status)
		assert.Equal(t, []string{"/enabled"}, httpapitest.Pointers(r.problem(t)))

		r = e.do(t, http.MethodPost, "/v1/organizations/acme/auto-activate", tokAcme, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		r.json(t, &s)
		assert.Equal(t, httpapi.OrgSettingsResponse{Org: "acme", NotificationsEnabled: true, AutoActivate: true}, s)
	})

	t.Run("bad requests start and signal nothing", func(t *testing.T) { badRequests(t, e, start) })

	t.Run("access log carries the appointment ID, never a body", func(t *testing.T) {
		logs := e.logs.String()
		assert.Contains(t, logs, "appointmentId=A1")
		assert.Contains(t, logs, "operation=scheduleAppointment")
		for _, secret := range []string{"ann-a1@example.com", "Ann Lee", "video.example", tokAll, tokPadded, "customer asked"} {
			assert.NotContains(t, logs, secret)
		}
	})

	t.Run("SIGTERM's context stops serve gracefully", func(t *testing.T) {
		assert.Equal(t, 0, e.stop())
		_, err := http.Get(e.base + "/healthz")
		assert.Error(t, err, "nothing listens after the shutdown")
	})
}
