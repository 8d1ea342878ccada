package supplist_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/supplist"
)

// temporalBlobLimit is the payload size Temporal refuses (the server's default blob size limit, 2 MiB).
const temporalBlobLimit = 2 * 1024 * 1024

// fill adds entries made by mk until the shard's capacity refuses one more, and returns the list and the count.
func fill(t *testing.T, mk func(i int) appt.SuppressionEntry) (*supplist.List, int) {
	l := supplist.New(&appt.SuppressionState{Org: strings.Repeat("o", appt.MaxParticipantIDLen), Shard: 31})
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	n := 0
	for ; ; n++ {
		e := mk(n)
		require.NoError(t, e.Validate())
		if err := l.Fits([]appt.SuppressionEntry{e}); err != nil {
			var full *appt.SuppressionFullError
			require.ErrorAs(t, err, &full)
			break
		}
		require.True(t, l.Add(e, now).Changed)
	}
	return l, n
}

func stateBytes(t *testing.T, l *supplist.List) int {
	b, err := json.Marshal(l.State())
	require.NoError(t, err)
	return len(b)
}

// The capacity rule (docs/rules.md#suppression): a shard filled to its capacity with entries at their
// longest (longest source and event ID, expiry with nanoseconds and a zone offset), all then lifted (tombstones
// with the longest liftedBy) and the recent event IDs all at their longest, carries at most MaxShardBytes of JSON
// across continue-as-new, below Temporal's 2 MiB; and typical import entries fit more than 3,500 to a shard, so
// 100,000 spread over 32 shards (about 3,125 each) fit with room.
func TestFullShardStateSize(t *testing.T) {
	zone := time.FixedZone("x", -7*3600)
	exp := time.Date(2027, 12, 4, 9, 0, 0, 123456789, zone)
	worst, n := fill(t, func(i int) appt.SuppressionEntry {
		return appt.SuppressionEntry{Channel: appt.Email, Hash: fmt.Sprintf("%064x", i), Reason: appt.ReasonHardBounce,
			Source: strings.Repeat("s", appt.MaxSuppressionSourceLen), EventID: fmt.Sprintf("%0128d", i),
			CreatedAt: exp.Add(-time.Hour), ExpiresAt: &exp}
	})
	at := time.Date(2026, 12, 5, 9, 0, 0, 123456789, zone)
	for i := range n {
		res := worst.Lift(appt.SuppressionLift{Channel: appt.Email, Hash: fmt.Sprintf("%064x", i),
			Source: strings.Repeat("l", appt.MaxSuppressionSourceLen), EventID: fmt.Sprintf("L%0127d", i)}, at)
		require.Len(t, res.Lifted, 1)
	}
	size := stateBytes(t, worst)
	t.Logf("worst case: %d entries, all tombstones: %d bytes of state (reserve %d)", n, size, worst.Bytes())
	assert.LessOrEqual(t, size, worst.Bytes(), "the reserve bounds the state")
	assert.LessOrEqual(t, size, supplist.MaxShardBytes)
	assert.Less(t, supplist.MaxShardBytes, temporalBlobLimit*3/4, "a quarter of Temporal's limit is left for the codec")

	typical, m := fill(t, func(i int) appt.SuppressionEntry {
		return appt.SuppressionEntry{Channel: appt.Email, Hash: fmt.Sprintf("%064x", i), Reason: appt.ReasonManual,
			Source: "import", CreatedAt: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	})
	t.Logf("typical import entries: %d per shard (%d per organisation), %d bytes of state", m, m*appt.SuppressionShards,
		stateBytes(t, typical))
	assert.Greater(t, m, 3500)
}
