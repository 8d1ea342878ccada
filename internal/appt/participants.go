package appt

import (
	"strconv"
	"strings"
)

// Updates of the appointment workflow that change its participants (docs/rules.md#participants). They are offered
// as Temporal updates only, not as signals: a caller always learns at once whether the change was made.
const (
	UpdateAddParticipant    = "add-participant"
	UpdateRemoveParticipant = "remove-participant"
)

// ParticipantUpdates lists the participant updates in the order the workflow registers them.
var ParticipantUpdates = []string{UpdateAddParticipant, UpdateRemoveParticipant}

// Lifecycle webhook events of a participant change (docs/rules.md#webhook-payload). Like the appointment.* events
// they are not notifications: the flags never hold them back. data.participantId names the participant.
const (
	EventParticipantAdded   = "participant.added"
	EventParticipantRemoved = "participant.removed"
)

// AddParticipantUpdate adds one participant to a scheduled or active appointment. A customer gets CREATE at once
// and every later notification; an agent gets the agents' notifications when the organisation's notify_agents is on.
type AddParticipantUpdate struct {
	Participant Participant `json:"participant"`
	// AddressHashes are the keyed hashes of a customer's normalised email address and phone number (at most 2;
	// internal/addrhash), computed at the edge, which alone holds the address key. The workflow adds them to its
	// AppointmentAddressHashes search attribute, so that an erasure by the added customer's address finds the
	// appointment. Empty without an address key, or for an agent.
	AddressHashes []string `json:"addressHashes,omitempty"`
}

// Validate checks the hashes an add-participant update carries: at most 2, each 64 lower-case hex digits.
func (u *AddParticipantUpdate) Validate() error {
	if len(u.AddressHashes) > 2 {
		return &FieldError{Field: "addressHashes", Msg: "holds at most 2 hashes (email and phone)"}
	}
	for _, h := range u.AddressHashes {
		if !hashRe.MatchString(h) {
			return &FieldError{Field: "addressHashes", Msg: "must hold 64 lower-case hex digits each"}
		}
	}
	return nil
}

// RemoveParticipantUpdate removes one participant from a scheduled or active appointment. A removed customer gets
// CANCELLED and nothing after it.
type RemoveParticipantUpdate struct {
	ParticipantID string `json:"participantId"`
}

// AgentNotificationTypes are the notifications agents get when their organisation's notify_agents is on
// (docs/rules.md#notifications-and-windows): never ROOM or FOLLOW_UP, which are for the customer joining the call.
var AgentNotificationTypes = []NotificationType{Create, Reschedule, Cancelled, Reminder}

// AgentsGet reports whether agents get notifications of type t (when notify_agents is on). Frozen (rules.go): the
// workflow decides its targets on it; TestFrozenRules pins it.
func AgentsGet(t NotificationType) bool {
	for _, a := range AgentNotificationTypes {
		if a == t {
			return true
		}
	}
	return false
}

// ParticipantEventID is the deterministic ID of the notification a participant change sends (CREATE to an added
// participant, CANCELLED to a removed one): EventID's plus /p<change>, where change counts the appointment's
// participant changes from 1. It never equals the event ID of the appointment's own CREATE or CANCELLED, so a
// webhook receiver that drops duplicate webhook-ids keeps both.
func ParticipantEventID(appointmentID string, t NotificationType, generation, change int) string {
	return EventID(appointmentID, t, generation, 0) + "/p" + strconv.Itoa(change)
}

// ParticipantErrors lists every problem of one participant given on its own (the add-participant update), with
// the fields named participant.id, participant.email and so on: the rules of ParticipantsErrors for one entry.
func ParticipantErrors(p Participant) []*FieldError {
	errs := ParticipantsErrors([]Participant{p})
	for _, e := range errs {
		if rest, ok := strings.CutPrefix(e.Field, "participant[0]"); ok {
			e.Field = "participant" + rest
		}
	}
	return errs
}
