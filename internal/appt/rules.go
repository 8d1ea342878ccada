package appt

import "time"

// The rules in this file have one source each: the config, the edge (starter, api, HTTP API), the activities and
// the appointment workflow all use them from here. The workflow branches on several of them, so they are frozen:
// TestFrozenRules pins their values, and a change to one of them changes what running workflows decide on replay.
// Such a change is a new rule behind workflow.GetVersion in the workflow (docs/changing-workflows.md#frozen-rules),
// never an edit here.

// DefaultDuration is an appointment's length when its request gives no end (the starter's --duration default). The
// workflow fills a missing end with it. Frozen.
const DefaultDuration = 30 * time.Minute

// Organisation defaults (README.md, Configuration; docs/rules.md#flags): what an organisation gets for a setting its
// config leaves out.
const (
	DefaultRoomOffset   = 15 * time.Minute // room_offset
	DefaultMaxAttempts  = 3                // max_attempts
	DefaultExpiry       = 24 * time.Hour   // expiry, after the end
	DefaultAutoActivate = true             // auto_activate: the initial value of the live flag
)

// DefaultReminderOffsets returns the reminder offsets of an organisation whose config gives none: 24 h and 1 h before
// the start. Each call returns a new slice.
func DefaultReminderOffsets() []time.Duration { return []time.Duration{24 * time.Hour, time.Hour} }

// DefaultOrgSettings are an organisation's live settings until its settings workflow exists: the global
// notification flag on, and auto-activate as the config gives it (docs/rules.md#flags).
func DefaultOrgSettings(autoActivate bool) OrgSettings {
	return OrgSettings{NotificationsEnabled: true, AutoActivate: autoActivate}
}

// CarriesJoinLink reports whether a notification of type t carries the join link, for an appointment that is active
// (activated, or auto-activated at scheduling) or not: a ROOM invite always does, since delivering the link is what
// it is for; CREATE, RESCHEDULE and REMINDER only while the appointment is active; CANCELLED and FOLLOW_UP never
// (docs/rules.md#notifications-and-windows). Frozen.
func CarriesJoinLink(t NotificationType, active bool) bool {
	switch t {
	case Room:
		return true
	case Create, Reschedule, Reminder:
		return active
	}
	return false
}

// StartInFuture reports whether a start is after now. Frozen.
func StartInFuture(start, now time.Time) bool { return start.After(now) }

// StartBeyondHorizon reports whether a start is more than MaxStartAhead (400 days) after now. Frozen: the workflow
// refuses such a reschedule only behind its version guard.
func StartBeyondHorizon(start, now time.Time) bool { return start.Sub(now) > MaxStartAhead }
