package workflows

import (
	"hash/fnv"
	"sort"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// planState is what planning needs to know about an appointment. It is a pure value: planning does no I/O and
// reads no clock.
type planState struct {
	AppointmentID string
	State         appt.State
	Start         time.Time
	PlannedAt     time.Time // when the current generation was planned: scheduling or the last reschedule
	Generation    int
	Offsets       []time.Duration
	Room          bool          // a ROOM invite is planned (auto-activate was off at scheduling)
	RoomOffset    time.Duration // ROOM is due at Start - RoomOffset
	Spread        time.Duration // reminders may fire up to this much before due, to spread a herd
	Done          map[string]bool
}

// planItem is one planned notification: its occurrence (which owns its windows), when the workflow wakes for it
// and its event ID.
type planItem struct {
	occurrence
	FireAt  time.Time // when the workflow wakes for it: due, or a little earlier for a spread reminder
	EventID string    // the occurrence: appointment, type, generation and offset
}

// plan returns every notification still to fire for the current generation, ordered by wake-up time. A
// notification whose due time was already past when the generation was planned is not planned at all (docs/rules.md#notifications-and-windows), and
// one already handled (sent, failed or skipped) is not planned again. Nothing is planned once the call started or
// the appointment ended.
func plan(s planState) []planItem {
	if s.State != appt.Scheduled && s.State != appt.Active {
		return nil
	}
	var items []planItem
	for _, off := range s.Offsets {
		it := planItem{occurrence: timedOccurrence(appt.Reminder, s.Start, off),
			EventID: appt.EventID(s.AppointmentID, appt.Reminder, s.Generation, off)}
		it.FireAt = it.Due.Add(-spread(s.AppointmentID, it.EventID, s.Spread))
		if it.FireAt.Before(it.opens()) { // never: spread stays below MaxReminderSpread
			it.FireAt = it.opens()
		}
		if it.FireAt.Before(s.PlannedAt) {
			it.FireAt = s.PlannedAt
		}
		items = append(items, it)
	}
	if s.Room {
		o := timedOccurrence(appt.Room, s.Start, s.RoomOffset)
		items = append(items, planItem{occurrence: o, FireAt: o.Due,
			EventID: appt.EventID(s.AppointmentID, appt.Room, s.Generation, s.RoomOffset)})
	}
	out := items[:0]
	for _, it := range items {
		if !it.plannedFrom(s.PlannedAt) || s.Done[it.EventID] {
			continue
		}
		out = append(out, it)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].FireAt.Equal(out[j].FireAt) {
			return out[i].FireAt.Before(out[j].FireAt)
		}
		return out[i].Offset > out[j].Offset
	})
	return out
}

// dueAt splits a plan at now: the items whose wake-up time has come, and the next wake-up time after that (zero
// when nothing is left).
func dueAt(items []planItem, now time.Time) (due []planItem, next time.Time) {
	for _, it := range items {
		if !it.FireAt.After(now) {
			due = append(due, it)
		} else if next.IsZero() || it.FireAt.Before(next) {
			next = it.FireAt
		}
	}
	return due, next
}

// spread is a deterministic per-appointment offset in [0, max) by which a reminder fires early, so that a herd of
// reminders due in the same second wakes spread over the window docs/rules.md#notifications-and-windows allows. The same appointment always gets
// the same value, on every replay.
func spread(appointmentID, eventID string, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	if max > MaxReminderSpread {
		max = MaxReminderSpread
	}
	h := fnv.New64a()
	h.Write([]byte(appointmentID))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	ms := int64(max / time.Millisecond)
	return time.Duration(int64(h.Sum64()%uint64(ms))) * time.Millisecond
}

func parseOffset(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

// ReminderFireAt is when a reminder due at due wakes its workflow, for an organisation whose reminder_spread is
// max (0 to 30 s): due minus the appointment's deterministic spread offset. The bench orders a herd's wake-ups with it.
func ReminderFireAt(appointmentID, eventID string, due time.Time, max time.Duration) time.Time {
	return due.Add(-spread(appointmentID, eventID, max))
}
