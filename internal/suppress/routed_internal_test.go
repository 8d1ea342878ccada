package suppress

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// failingBumps is the memory store's shards whose index bumps fail while down.
type failingBumps struct {
	memShards
	down bool
}

func (f *failingBumps) bump(ctx context.Context, org string, b appt.SuppressionBump) error {
	if f.down {
		return errors.New("unavailable")
	}
	return f.memShards.bump(ctx, org, b)
}

// The index rule (docs/rules.md#suppression): a write whose index bump fails returns the error, so that the caller
// retries; the retry changes nothing in the shard (adds, batches and lifts are idempotent) and bumps the index to
// the shard's counter.
func TestFailedBumpIsReturnedAndHealedByTheRetry(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore(func() time.Time { return time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC) })
	f := &failingBumps{memShards: memShards{m}, down: true}
	r := routed{s: f}
	hash := "aa" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	k := appt.SuppressionShard(hash)
	e := appt.SuppressionEntry{Channel: appt.SMS, Hash: hash, Reason: appt.ReasonSMSStop, Source: appt.SourceTwilioInbound,
		EventID: "SM1", CreatedAt: m.Now()}

	_, err := r.add(ctx, "acme", e)
	require.ErrorContains(t, err, "suppression index", "the failed bump is returned")
	idx, _ := m.Index(ctx, "acme")
	assert.Zero(t, idx[k])
	_, err = r.addBatch(ctx, "acme", []appt.SuppressionEntry{e})
	require.ErrorContains(t, err, "suppression index")
	_, err = r.lift(ctx, "acme", appt.SuppressionLift{Channel: appt.SMS, Hash: hash, Source: appt.SourceAPI, EventID: "L1"})
	require.ErrorContains(t, err, "suppression index")

	f.down = false
	lifted, err := r.lift(ctx, "acme", appt.SuppressionLift{Channel: appt.SMS, Hash: hash, Source: appt.SourceAPI, EventID: "L1"})
	require.NoError(t, err)
	assert.Empty(t, lifted.Lifted, "the lift was applied by the first try")
	idx, _ = m.Index(ctx, "acme")
	assert.EqualValues(t, 2, idx[k], "the retried lift bumped the index to the shard's counter (the add, the lift)")
	res, err := r.add(ctx, "acme", e)
	require.NoError(t, err)
	assert.False(t, res.Changed, "the retried add changes nothing")
	idx, _ = m.Index(ctx, "acme")
	assert.EqualValues(t, 2, idx[k])
}
