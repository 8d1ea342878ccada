package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/apptnotify/apptnotify/internal/appt"
)

func TestPlan(t *testing.T) {
	start := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	base := planState{
		AppointmentID: "A1", State: appt.Active, Start: start, PlannedAt: start.Add(-72 * time.Hour),
		Offsets: []time.Duration{24 * time.Hour, time.Hour}, RoomOffset: 15 * time.Minute,
	}
	type want struct {
		typ    appt.NotificationType
		offset time.Duration
		due    time.Time
		dead   time.Time
	}
	rem := func(off time.Duration) want {
		return want{appt.Reminder, off, start.Add(-off), start.Add(-off + time.Minute)}
	}
	room := want{appt.Room, 15 * time.Minute, start.Add(-15 * time.Minute), start.Add(-10 * time.Minute)}
	cases := []struct {
		name   string
		change func(s *planState)
		want   []want
	}{
		{"reminders in due order", func(s *planState) {}, []want{rem(24 * time.Hour), rem(time.Hour)}},
		{"offsets given out of order", func(s *planState) { s.Offsets = []time.Duration{time.Hour, 24 * time.Hour} },
			[]want{rem(24 * time.Hour), rem(time.Hour)}},
		{"ROOM when auto-activate was off", func(s *planState) { s.Room = true },
			[]want{rem(24 * time.Hour), rem(time.Hour), room}},
		{"past offsets at planning are dropped", func(s *planState) { s.PlannedAt = start.Add(-2 * time.Hour) },
			[]want{rem(time.Hour)}},
		{"a due time equal to the planning time is kept", func(s *planState) { s.PlannedAt = start.Add(-time.Hour) },
			[]want{rem(time.Hour)}},
		{"done occurrences are not planned again", func(s *planState) {
			s.Done = map[string]bool{appt.EventID("A1", appt.Reminder, 0, 24*time.Hour): true}
		}, []want{rem(time.Hour)}},
		{"another generation's done occurrences do not count", func(s *planState) {
			s.Generation = 1
			s.Done = map[string]bool{appt.EventID("A1", appt.Reminder, 0, 24*time.Hour): true}
		}, []want{rem(24 * time.Hour), rem(time.Hour)}},
		{"nothing once the call started", func(s *planState) { s.State = appt.InCall; s.Room = true }, nil},
		{"nothing when cancelled", func(s *planState) { s.State = appt.CancelledSt }, nil},
		{"scheduled plans like active", func(s *planState) { s.State = appt.Scheduled }, []want{rem(24 * time.Hour), rem(time.Hour)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base
			c.change(&s)
			got := plan(s)
			var gw []want
			for _, it := range got {
				gw = append(gw, want{it.Type, it.Offset, it.Due, it.firstAttemptBy()})
				assert.Equal(t, it.Due, it.FireAt, "no spread configured")
			}
			assert.Equal(t, c.want, gw)
		})
	}
}

func TestDueAt(t *testing.T) {
	start := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	items := plan(planState{AppointmentID: "A1", State: appt.Active, Start: start, PlannedAt: start.Add(-48 * time.Hour),
		Offsets: []time.Duration{24 * time.Hour, time.Hour}})
	due, next := dueAt(items, start.Add(-30*time.Hour))
	assert.Empty(t, due)
	assert.Equal(t, start.Add(-24*time.Hour), next)
	due, next = dueAt(items, start.Add(-24*time.Hour))
	assert.Len(t, due, 1)
	assert.Equal(t, start.Add(-time.Hour), next)
	due, next = dueAt(items, start)
	assert.Len(t, due, 2)
	assert.True(t, next.IsZero())
	assert.False(t, due[0].missed(due[0].Due.Add(time.Minute)), "exactly 1 minute late is inside the tolerance")
	assert.True(t, due[0].missed(due[0].Due.Add(time.Minute+time.Millisecond)))
}

func TestSpreadIsDeterministicAndBounded(t *testing.T) {
	start := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	s := planState{AppointmentID: "A1", State: appt.Active, Start: start, PlannedAt: start.Add(-48 * time.Hour),
		Offsets: []time.Duration{time.Hour}, Spread: 30 * time.Second}
	first := plan(s)[0]
	assert.Equal(t, first, plan(s)[0], "the same appointment always wakes at the same time")
	seen := map[time.Time]bool{}
	for i := 0; i < 200; i++ {
		s.AppointmentID = "A" + string(rune('a'+i%26)) + time.Duration(i).String()
		it := plan(s)[0]
		assert.False(t, it.FireAt.After(it.Due))
		assert.True(t, it.FireAt.After(it.Due.Add(-30*time.Second-time.Nanosecond)), "never more than 30 s early")
		seen[it.FireAt] = true
	}
	assert.Greater(t, len(seen), 100, "wake-ups are spread across the window")
}
