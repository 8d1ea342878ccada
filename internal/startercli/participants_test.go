package startercli_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// add-participant and remove-participant validate before they dial: bad input exits 2 with the field named
// (participant.email, participant, ...), and nothing is sent to the workflow.
func TestParticipantVerbsBadInputNeverDials(t *testing.T) {
	for _, c := range []struct {
		name  string
		args  []string
		field string
	}{
		{"add: no participant", []string{"add-participant", "--id", "A1"}, "participant: is required"},
		{"add: two participants", []string{"add-participant", "--id", "A1", "--participant", "id=c2", "--participant", "id=c3"}, "participant: give exactly one"},
		{"add: bad email", []string{"add-participant", "--id", "A1", "--participant", "id=c2,email=not-an-address"}, "participant.email:"},
		{"add: bad role", []string{"add-participant", "--id", "A1", "--participant", "id=c2,role=boss"}, "participant.role:"},
		{"add: bad id", []string{"add-participant", "--id", "A1", "--participant", "id=c 2"}, "participant.id:"},
		{"add: unknown key", []string{"add-participant", "--id", "A1", "--participant", "id=c2,colour=red"}, "participant: unknown key"},
		{"add: bad appointment", []string{"add-participant", "--id", "a/b", "--participant", "id=c2"}, "id:"},
		{"remove: no participant", []string{"remove-participant", "--id", "A1"}, "participant: is required"},
		{"remove: bad participant", []string{"remove-participant", "--id", "A1", "--participant", "c 2"}, "participant:"},
	} {
		t.Run(c.name, func(t *testing.T) { requireBadInput(t, c.args, c.field) })
	}
	for _, args := range [][]string{
		{"add-participant", "--id", "A1", "--participant", "id=c2,name=Bob,email=bob@example.com,role=agent"},
		{"remove-participant", "--id", "A1", "--participant", "c2"},
	} {
		_, stderr, dialed := runNoDial(args...)
		assert.True(t, dialed, "%v: good input dials: %s", args, stderr)
	}
}
