package tombstones_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/suppress"
	"github.com/apptnotify/apptnotify/internal/tombstones"
)

// TestErasureTombstoneSuppresses states the rule: an erasure's tombstone is an `erased` entry of the organisation's
// suppression list, so every later send to the address is suppressed (with reason erased, which outranks every other
// reason); recording it again changes nothing, and a customer's opt-in (START) does not lift it.
func TestErasureTombstoneSuppresses(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "t.db"))
	require.NoError(t, err)
	defer db.Close()
	base, err := tombstones.OpenSQL(ctx, db)
	require.NoError(t, err)
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	store := suppress.NewMemoryStore(func() time.Time { return now })
	r := tombstones.Suppressing{Recorder: base, List: store}
	hash := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	_, err = store.Add(ctx, "acme", appt.SuppressionEntry{Channel: appt.SMS, Hash: hash, Reason: appt.ReasonSMSStop,
		Source: appt.SourceTwilioInbound, CreatedAt: now})
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, r.Record(ctx, tombstones.Tombstone{Org: "acme", Hash: hash, Reason: appt.TombstoneErased, At: now}))
	}
	_, found, err := r.Lookup(ctx, "acme", hash)
	require.NoError(t, err)
	assert.True(t, found, "the tombstone is kept by the wrapped recorder")

	// An opt-in lifts the STOP only; the erased entry stays.
	_, err = store.Lift(ctx, "acme", appt.SuppressionLift{Channel: appt.SMS, Hash: hash, OptIn: true, Source: appt.SourceTwilioInbound})
	require.NoError(t, err)
	cache := suppress.NewCache(store)
	cache.Now = func() time.Time { return now }
	for _, ch := range []appt.Channel{appt.SMS, appt.Email} {
		reason, err := cache.Check(ctx, "acme", ch, hash)
		require.NoError(t, err)
		assert.Equal(t, appt.ReasonErased, reason, "channel %s", ch)
	}
	entries, err := store.Lookup(ctx, "acme", appt.SuppressionLookupQuery{Channel: appt.SMS, Hash: hash})
	require.NoError(t, err)
	var erased []appt.SuppressionEntry
	for _, e := range entries {
		if e.Reason == appt.ReasonErased {
			erased = append(erased, e)
		}
	}
	require.Len(t, erased, 1, "one erased entry, recorded once")
	assert.Equal(t, appt.SourceErasure, erased[0].Source)
	assert.Nil(t, erased[0].ExpiresAt, "an erased entry never expires")
	reason, err := cache.Check(ctx, "globex", appt.SMS, hash)
	require.NoError(t, err)
	assert.Empty(t, reason, "another organisation is not affected")
}
