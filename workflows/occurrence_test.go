package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// TestOccurrenceWindows checks every window of a REMINDER and a ROOM invite one second on either side of its
// boundary (and on it, where the boundary is inclusive): a due time already past at planning is not planned; a
// reminder's first attempt may start from 30 s before its due time up to 60 s after it; a ROOM invite's attempts,
// retries included, fall inside [due, due + 5 min]; reminder retries stop at the start; a manual retry is refused
// for a REMINDER from the start on and for a ROOM invite after its window.
func TestOccurrenceWindows(t *testing.T) {
	start := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	s := time.Second
	rem := timedOccurrence(appt.Reminder, start, time.Hour)
	room := timedOccurrence(appt.Room, start, 15*time.Minute)
	create := occurrence{Type: appt.Create}
	rd, od := rem.Due, room.Due
	require.Equal(t, start.Add(-time.Hour), rd)
	require.Equal(t, start.Add(-15*time.Minute), od)
	now := start.Add(-48 * time.Hour)
	cases := []struct {
		name      string
		got, want any
	}{
		{"REMINDER planned 1 s before its due time", rem.plannedFrom(rd.Add(-s)), true},
		{"REMINDER planned at its due time", rem.plannedFrom(rd), true},
		{"REMINDER not planned 1 s after its due time", rem.plannedFrom(rd.Add(s)), false},
		{"ROOM not planned 1 s after its due time", room.plannedFrom(od.Add(s)), false},
		{"REMINDER opens 30 s before due", rem.opens(), rd.Add(-30 * s)},
		{"ROOM opens at due", room.opens(), od},
		{"REMINDER 59 s late is on time", rem.missed(rd.Add(59 * s)), false},
		{"REMINDER 60 s late is on time", rem.missed(rd.Add(60 * s)), false},
		{"REMINDER 61 s late is missed", rem.missed(rd.Add(61 * s)), true},
		{"ROOM 4m59s late is on time", room.missed(od.Add(5*time.Minute - s)), false},
		{"ROOM 5m late is on time", room.missed(od.Add(5 * time.Minute)), false},
		{"ROOM 5m01s late is missed", room.missed(od.Add(5*time.Minute + s)), true},
		{"CREATE is never missed", create.missed(start.Add(time.Hour)), false},
		{"REMINDER first attempt is unbounded", rem.firstAttemptBound(rd), time.Duration(0)},
		{"ROOM first attempt at due has the whole window", room.firstAttemptBound(od), 5 * time.Minute},
		{"ROOM first attempt 4m59s late has 1 s", room.firstAttemptBound(od.Add(5*time.Minute - s)), s},
		{"REMINDER retries until the start", rem.retriesUntil(start, now), start},
		{"ROOM retries until due + 5 min", room.retriesUntil(start, now), od.Add(5 * time.Minute)},
		{"ROOM without a due time retries for 6 h", occurrence{Type: appt.Room}.retriesUntil(start, now), now.Add(6 * time.Hour)},
		{"CREATE retries for 6 h", create.retriesUntil(start, now), now.Add(6 * time.Hour)},
		{"REMINDER retry 1 s before the start has 1 s", rem.retryBound(start, start.Add(-s)), s},
		{"REMINDER retry 1 s after the start has none", rem.retryBound(start, start.Add(s)) > 0, false},
		{"ROOM retry 1 s before its window closes has 1 s", room.retryBound(start, od.Add(5*time.Minute-s)), s},
		{"ROOM retry 1 s after its window has none", room.retryBound(start, od.Add(5*time.Minute+s)) > 0, false},
		{"manual REMINDER retry 1 s before the start", rem.manualRetryClosed(start.Add(-s), start), ""},
		{"manual REMINDER retry at the start", rem.manualRetryClosed(start, start) != "", true},
		{"manual REMINDER retry 1 s after the start", rem.manualRetryClosed(start.Add(s), start) != "", true},
		{"manual ROOM retry 1 s before its window closes", room.manualRetryClosed(od.Add(5*time.Minute-s), start), ""},
		{"manual ROOM retry as its window closes", room.manualRetryClosed(od.Add(5*time.Minute), start), ""},
		{"manual ROOM retry 1 s after its window", room.manualRetryClosed(od.Add(5*time.Minute+s), start) != "", true},
		{"manual CREATE retry after the start", create.manualRetryClosed(start.Add(time.Hour), start), ""},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.got, c.name)
	}

	e := appt.DeliveryEntry{Type: appt.Room, Status: appt.Failed, Error: "HTTP 503"}
	room.closeWindow(&e, "the window closed while retrying")
	assert.Equal(t, appt.SkippedMissed, e.Status, "a ROOM invite whose window closes is skipped_missed")
	assert.Equal(t, "the window closed while retrying; last error: HTTP 503", e.Error, "and keeps its last error")
	e = appt.DeliveryEntry{Type: appt.Reminder, Status: appt.Failed, Error: "HTTP 503"}
	rem.closeWindow(&e, "the window closed while retrying")
	assert.Equal(t, appt.Failed, e.Status, "a REMINDER stopped by the start stays failed")
	assert.Equal(t, "no retry after the appointment's start; last error: HTTP 503", e.Error)

	d := od
	got := occurrenceOf(&appt.DeliveryEntry{Type: appt.Room, Offset: "15m0s", Due: &d})
	assert.Equal(t, room, got, "an entry's occurrence is rebuilt from its type, offset and due time")
}

// TestFrozenNonRetryableErrorTypes: the workflow's frozen list of error types that are never retried is the list the
// activities classify with. When the activities gain a type, add it to nonRetryableErrorTypes behind
// workflow.GetVersion (docs/changing-workflows.md), then here.
func TestFrozenNonRetryableErrorTypes(t *testing.T) {
	assert.Equal(t, activities.NonRetryableErrorTypes, nonRetryableErrorTypes)
}
