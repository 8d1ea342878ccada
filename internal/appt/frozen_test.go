package appt

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestFrozenRules pins the rules the appointment workflow branches on. A running workflow replays its history
// through them, so a change here changes what it decides: such a change belongs behind workflow.GetVersion
// (docs/changing-workflows.md#frozen-rules), with the old rule kept for the old branch, never in these values.
func TestFrozenRules(t *testing.T) {
	assert.Equal(t, 30*time.Minute, DefaultDuration, "a request without an end lasts 30 minutes")
	assert.Equal(t, 24*time.Hour, MaxDuration)
	assert.Equal(t, 400*24*time.Hour, MaxStartAhead)
	assert.Equal(t, 128, MaxAppointmentIDLen)
	assert.Equal(t, 64, MaxParticipantIDLen)
	assert.Equal(t, []int{50, 64, 1024, 8 << 10}, []int{MaxMetadataKeys, MaxMetadataKeyLen, MaxMetadataValueLen, MaxMetadataBytes})

	links := map[NotificationType][2]bool{ // inactive, active
		Create: {false, true}, Reschedule: {false, true}, Reminder: {false, true}, Room: {true, true},
		Cancelled: {false, false}, FollowUp: {false, false},
	}
	for _, typ := range NotificationTypes {
		assert.Equal(t, links[typ], [2]bool{CarriesJoinLink(typ, false), CarriesJoinLink(typ, true)}, "join link of %s", typ)
	}

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := time.Second
	assert.Error(t, ValidateStart(now, now), "a start at now is not in the future")
	assert.NoError(t, ValidateStart(now.Add(s), now))
	assert.NoError(t, ValidateStart(now.Add(MaxStartAhead), now), "exactly 400 days ahead is allowed")
	assert.Error(t, ValidateStart(now.Add(MaxStartAhead+s), now))
	assert.False(t, StartBeyondHorizon(now.Add(MaxStartAhead), now))
	assert.True(t, StartBeyondHorizon(now.Add(MaxStartAhead+s), now))

	assert.Error(t, ValidateDuration(0))
	assert.NoError(t, ValidateDuration(s))
	assert.NoError(t, ValidateDuration(24*time.Hour))
	assert.Error(t, ValidateDuration(24*time.Hour+s))

	for id, ok := range map[string]bool{"A1": true, "a.b_c:d-e": true, strings.Repeat("x", 128): true,
		strings.Repeat("x", 129): false, "": false, "a b": false, "ä": false, "a/b": false} {
		assert.Equal(t, ok, ValidateAppointmentID(id) == nil, "appointment ID %q", id)
	}
	for id, ok := range map[string]bool{"c1": true, strings.Repeat("x", 64): true, strings.Repeat("x", 65): false, "": false} {
		assert.Equal(t, ok, ValidateParticipantID("p", id) == nil, "participant ID %q", id)
	}
	assert.Equal(t, 50, MaxParticipants, "an add-participant beyond 50 is refused")
	for _, typ := range NotificationTypes {
		want := typ != Room && typ != FollowUp
		assert.Equal(t, want, AgentsGet(typ), "agents get %s (with notify_agents on)", typ)
	}
	assert.NoError(t, ValidateMetadataLimits(map[string]string{"k": "line\nbreak"}), "the limits hold no text rule")
	assert.Error(t, ValidateMetadataLimits(map[string]string{"bad key": "v"}))
	assert.Error(t, ValidateMetadataLimits(map[string]string{"k": strings.Repeat("v", 1025)}))
}

// TestOrgDefaults: an organisation that leaves a setting out gets 24 h and 1 h reminders, a ROOM invite 15 minutes
// before the start, 3 attempts, expiry 24 h after the end, auto-activate on and the global flag on.
func TestOrgDefaults(t *testing.T) {
	assert.Equal(t, []time.Duration{24 * time.Hour, time.Hour}, DefaultReminderOffsets())
	assert.Equal(t, 15*time.Minute, DefaultRoomOffset)
	assert.Equal(t, 3, DefaultMaxAttempts)
	assert.Equal(t, 24*time.Hour, DefaultExpiry)
	assert.True(t, DefaultAutoActivate)
	assert.Equal(t, OrgSettings{NotificationsEnabled: true, AutoActivate: false}, DefaultOrgSettings(false))
}
