package stacktest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/httpapi/httpapitest"
)

// mailTo reports whether Mailpit holds a message to addr whose subject contains part.
func (e *apiEnv) mailTo(t *testing.T, addr, part string) bool {
	for _, m := range e.mail.List(t) {
		for _, to := range m.To {
			if to.Address == addr && strings.Contains(m.Subject, part) {
				return true
			}
		}
	}
	return false
}

// POST /v1/appointments/{id}/participants and DELETE …/participants/{participantId} over real HTTP, against the
// real stack: the added customer's CREATE email arrives and participant.added reaches the signed-webhook receiver;
// the removed one's CANCELLED arrives and participant.removed; a body that breaks the rules is a 400 naming its
// fields and sends nothing; an ID that is there, one that is not, and the last customer are 409s naming the field,
// each logged as one refused entry and changing nothing else. Every response is validated against the document.
func TestParticipantEndpoints(t *testing.T) {
	e := startAPIEnv(t)
	start := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	r := e.do(t, http.MethodPost, "/v1/appointments", tokAcme, scheduleBody("P1", "acme", start))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)

	bob := map[string]any{"id": "c2", "name": "Bob Meier", "email": "bob-p1@example.com", "locale": "de"}
	r = e.do(t, http.MethodPost, "/v1/appointments/P1/participants", tokAcme, bob)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var res appt.UpdateResult
	r.json(t, &res)
	assert.Equal(t, appt.Scheduled, res.State)
	require.Eventually(t, func() bool { return e.mailTo(t, "bob-p1@example.com", "") }, 30*time.Second, 100*time.Millisecond,
		"the added customer's CREATE email")
	require.Eventually(t, func() bool { return len(e.hooks.Got(appt.EventParticipantAdded)) == 1 }, 30*time.Second, 100*time.Millisecond)
	var added activities.WebhookPayload
	require.NoError(t, json.Unmarshal(e.hooks.Got(appt.EventParticipantAdded)[0].Body, &added))
	assert.Equal(t, "c2", added.Data.ParticipantID)
	st := e.status(t, "P1")
	assert.Equal(t, []appt.ParticipantStatus{{ID: "c1", Role: appt.Customer}, {ID: "a1", Role: appt.Agent}, {ID: "c2", Role: appt.Customer}}, st.Participants)

	t.Run("bad bodies are 400s naming every field, and send nothing", func(t *testing.T) {
		before := e.status(t, "P1")
		r := e.do(t, http.MethodPost, "/v1/appointments/P1/participants", tokAcme,
			map[string]any{"id": "c3", "email": "not an address", "role": "boss", "tz": "Mars/Base"})
		require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
		assert.ElementsMatch(t, []string{"/email", "/role", "/tz"}, httpapitest.Pointers(r.problem(t)))
		r = e.do(t, http.MethodPost, "/v1/appointments/P1/participants", tokAcme, map[string]any{"name": "No ID"})
		require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
		assert.Contains(t, httpapitest.Pointers(r.problem(t)), "/id")
		r = e.do(t, http.MethodDelete, "/v1/appointments/P1/participants/c%202", tokAcme, nil)
		require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
		assert.Equal(t, []string{"param:participantId"}, httpapitest.Pointers(r.problem(t)))
		assert.Equal(t, before, e.status(t, "P1"), "nothing reached the workflow")
	})

	t.Run("refusals are 409s naming the field, logged once, changing nothing else", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			body         any
			field        string
		}{
			{http.MethodPost, "/v1/appointments/P1/participants", bob, "/id"},
			{http.MethodDelete, "/v1/appointments/P1/participants/zz9", nil, "param:participantId"},
		} {
			before := e.status(t, "P1")
			r := e.do(t, c.method, c.path, tokAcme, c.body)
			require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
			assert.Equal(t, []string{c.field}, httpapitest.Pointers(r.problem(t)))
			after := e.status(t, "P1")
			assert.Equal(t, refusedCount(before)+1, refusedCount(after))
			assert.Equal(t, before.Participants, after.Participants)
		}
	})

	t.Run("remove: CANCELLED to the removed customer; the last customer cannot go", func(t *testing.T) {
		r := e.do(t, http.MethodDelete, "/v1/appointments/P1/participants/c2", tokAcme, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.Eventually(t, func() bool { return e.mailTo(t, "bob-p1@example.com", "abgesagt") }, 30*time.Second, 100*time.Millisecond,
			"the removed customer's CANCELLED email (German)")
		require.Eventually(t, func() bool { return len(e.hooks.Got(appt.EventParticipantRemoved)) == 1 }, 30*time.Second, 100*time.Millisecond)
		assert.False(t, e.mailTo(t, "ann-p1@example.com", "abgesagt"), "c1 is not cancelled")

		r = e.do(t, http.MethodDelete, "/v1/appointments/P1/participants/c1", tokAcme, nil)
		require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
		p := r.problem(t)
		assert.Contains(t, p.Detail, "last customer")
		assert.Equal(t, []string{"param:participantId"}, httpapitest.Pointers(p))

		r = e.do(t, http.MethodDelete, "/v1/appointments/P1/participants/c1", tokBeta, nil)
		assert.Equal(t, http.StatusNotFound, r.Status, "another organisation's appointment")
	})
}
