package workflows

import (
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Windows of docs/rules.md#notifications-and-windows. The occurrence type below is their only user in the workflow.
const (
	// ReminderTolerance is how late a reminder's first attempt may still start; a later wake-up is skipped_missed.
	ReminderTolerance = time.Minute
	// RoomWindow is how long after its due time a ROOM invite may still be attempted, retries included.
	RoomWindow = 5 * time.Minute
	// MaxReminderSpread is how early a reminder may go out to spread a herd of same-second reminders.
	MaxReminderSpread = 30 * time.Second
	// maxRetryHorizon bounds the automatic retries of a notification that has no window of its own.
	maxRetryHorizon = 6 * time.Hour
)

// occurrence is one notification of one generation: its type, its offset before the start (0 for the types that are
// not timed) and its due time (start − offset for REMINDER and ROOM; zero for the others). It owns every window of
// docs/rules.md#notifications-and-windows: whether it is planned at all, when its first attempt may start and until
// when, how long its retries may run, whether a manual retry is still allowed, and what an entry becomes when its
// window closes. Nothing else in the workflow switches on REMINDER or ROOM to decide a time; TestOccurrenceWindows
// checks every boundary one second on either side.
type occurrence struct {
	Type   appt.NotificationType
	Offset time.Duration
	Due    time.Time
}

// timedOccurrence is the REMINDER or ROOM occurrence at offset before start.
func timedOccurrence(t appt.NotificationType, start time.Time, offset time.Duration) occurrence {
	return occurrence{Type: t, Offset: offset, Due: start.Add(-offset)}
}

// occurrenceOf is the occurrence a delivery-log entry belongs to, from its type, offset and due time.
func occurrenceOf(e *appt.DeliveryEntry) occurrence {
	o := occurrence{Type: e.Type, Offset: parseOffset(e.Offset)}
	if e.Due != nil {
		o.Due = *e.Due
	}
	return o
}

// timed reports whether the occurrence has a due time of its own (REMINDER and ROOM) and so windows.
func (o occurrence) timed() bool { return o.Type == appt.Reminder || o.Type == appt.Room }

// plannedFrom reports whether a generation planned at plannedAt plans the occurrence: not when its due time had
// already passed then. A due time equal to plannedAt is planned (sent at once).
func (o occurrence) plannedFrom(plannedAt time.Time) bool { return !o.Due.Before(plannedAt) }

// opens is the earliest moment its first attempt may start: due − MaxReminderSpread for a REMINDER (a spread
// herd), the due time for a ROOM invite.
func (o occurrence) opens() time.Time {
	if o.Type == appt.Reminder {
		return o.Due.Add(-MaxReminderSpread)
	}
	return o.Due
}

// firstAttemptBy is the last moment its first attempt may start (inclusive): due + ReminderTolerance for a
// REMINDER, the end of the window (due + RoomWindow) for a ROOM invite; zero for the types that are not timed.
func (o occurrence) firstAttemptBy() time.Time {
	switch o.Type {
	case appt.Reminder:
		return o.Due.Add(ReminderTolerance)
	case appt.Room:
		return o.Due.Add(RoomWindow)
	}
	return time.Time{}
}

// missed reports whether a wake-up at now is too late for its first attempt: it is then logged skipped_missed and
// sends nothing.
func (o occurrence) missed(now time.Time) bool { return o.timed() && now.After(o.firstAttemptBy()) }

// firstAttemptBound is the schedule-to-close bound of a first attempt made at now: what is left of a ROOM invite's
// window; 0 (no bound) for everything else, and for a ROOM invite at the very end of its window.
func (o occurrence) firstAttemptBound(now time.Time) time.Duration {
	if o.Type != appt.Room {
		return 0
	}
	return o.firstAttemptBy().Sub(now)
}

// retriesUntil is the last moment any attempt may run, retries included: the appointment's start for a REMINDER
// (no retry after the start), the end of the window for a ROOM invite, and now + maxRetryHorizon (6 h) for
// everything else.
func (o occurrence) retriesUntil(start, now time.Time) time.Time {
	switch {
	case o.Type == appt.Reminder:
		return start
	case o.Type == appt.Room && !o.Due.IsZero():
		return o.firstAttemptBy()
	}
	return now.Add(maxRetryHorizon)
}

// retryBound is the schedule-to-close bound of a retry that starts at now: what is left until retriesUntil. At or
// below zero, nothing more is attempted.
func (o occurrence) retryBound(start, now time.Time) time.Duration {
	return o.retriesUntil(start, now).Sub(now)
}

// manualRetryClosed says why a manual retry at now is too late for the occurrence's window, or "" when it is not:
// a REMINDER from the appointment's start on, a ROOM invite after its window (docs/rules.md#delivery-and-retries).
func (o occurrence) manualRetryClosed(now, start time.Time) string {
	switch {
	case o.Type == appt.Reminder && !now.Before(start):
		return "is a REMINDER and the appointment has started"
	case o.Type == appt.Room && !o.Due.IsZero() && now.After(o.firstAttemptBy()):
		return "is a ROOM invite past its window (" + RoomWindow.String() + " after its due time)"
	}
	return ""
}

// closeWindow ends an entry whose window closed while it was retried: a ROOM invite becomes skipped_missed and keeps
// its last error; a REMINDER stays failed, since the appointment has started.
func (o occurrence) closeWindow(e *appt.DeliveryEntry, why string) {
	switch o.Type {
	case appt.Room:
		e.Status = appt.SkippedMissed
	case appt.Reminder:
		why = "no retry after the appointment's start"
	}
	e.Error = why + "; last error: " + e.Error
}

// summary is the readable label of its timer and activity in the workflow history.
func (o occurrence) summary() string {
	switch o.Type {
	case appt.Room:
		return "ROOM invite " + o.Offset.String() + " before start"
	case appt.Reminder:
		return "REMINDER " + o.Offset.String() + " before start"
	}
	return string(o.Type)
}
