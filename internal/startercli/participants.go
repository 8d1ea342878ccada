package startercli

import (
	"strings"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// validateAdd checks add-participant's one --participant with every rule the edge applies to a participant
// (appt.ParticipantErrors), naming the field participant.email and so on. The workflow refuses what depends on the
// appointment (an ID already there, a 51st participant, a state other than scheduled or active): exit 2 as well.
func (c *command) validateAdd() error {
	if len(c.participants) != 1 {
		return &appt.FieldError{Field: "participant", Msg: "give exactly one --participant to add"}
	}
	if errs := appt.ParticipantErrors(c.participants[0]); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// participantFlagError names a --participant that does not parse: participant[i] for schedule, participant for
// add-participant, which takes one.
func participantFlagError(verb, field string) string {
	if verb == verbAddParticipant {
		return strings.Replace(field, "participant[0]", "participant", 1)
	}
	return field
}
