package workflows_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/supplist"
)

// numberedHash is the n-th of a series of distinct valid hashes.
func numberedHash(n int) string { return fmt.Sprintf("%064x", n) }

// The index rule (docs/rules.md#suppression): a bump keeps the larger counter of its shard (bumps arrive out
// of order), a bump naming no shard is refused, and after supplist.IndexUpdatesPerRun bumps the index continues as
// new carrying the vector.
func TestSuppressionIndexKeepsTheMax(t *testing.T) {
	h := newEntityHarness(t)
	var afterFirst, afterLower appt.SuppressionIndex
	h.update(time.Second, appt.UpdateSuppressionIndexBump, appt.SuppressionBump{Shard: 3, Seq: 5}, &afterFirst)
	h.update(2*time.Second, appt.UpdateSuppressionIndexBump, appt.SuppressionBump{Shard: 3, Seq: 2}, &afterLower)
	bad := h.update(3*time.Second, appt.UpdateSuppressionIndexBump, appt.SuppressionBump{Shard: appt.SuppressionShards, Seq: 1},
		&appt.SuppressionIndex{})
	var queried appt.SuppressionIndex
	h.query(4*time.Second, appt.QuerySuppressionIndexShards, nil, &queried)
	// The rest of the run's bumps: shard i%32 to counter i.
	n := supplist.IndexUpdatesPerRun
	h.updates(5*time.Second, 2, n, appt.UpdateSuppressionIndexBump, func(i int) any {
		return appt.SuppressionBump{Shard: i % appt.SuppressionShards, Seq: int64(i)}
	})
	h.env.ExecuteWorkflow(appt.SuppressionIndexWorkflowType, &appt.SuppressionIndexState{Org: "acme"})

	require.Len(t, afterFirst, appt.SuppressionShards)
	assert.EqualValues(t, 5, afterFirst[3])
	assert.EqualValues(t, 5, afterLower[3], "a lower counter does not lower the shard's")
	require.Error(t, *bad)
	assert.Contains(t, (*bad).Error(), "shard: must be 0 to 31")
	assert.EqualValues(t, 5, queried[3])
	err := h.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "%v", err)
	var next appt.SuppressionIndexState
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	assert.Equal(t, "acme", next.Org)
	require.Len(t, next.Seqs, appt.SuppressionShards)
	for k := range appt.SuppressionShards {
		want := int64(k + appt.SuppressionShards*((n-1-k)/appt.SuppressionShards)) // the last i < n with i%32 == k
		if k == 3 {
			want = max(want, 5)
		}
		assert.Equal(t, want, next.Seqs[k], "shard %d", k)
	}
}

// fullShard is the state of a shard filled with entries until its capacity refuses one more.
func fullShard(t *testing.T) (*appt.SuppressionState, int) {
	l := supplist.New(&appt.SuppressionState{Org: "acme", Shard: 5})
	n := 0
	for ; ; n++ {
		e := appt.SuppressionEntry{Channel: appt.Email, Hash: numberedHash(n), Reason: appt.ReasonManual, Source: "import", CreatedAt: t0}
		if l.Fits([]appt.SuppressionEntry{e}) != nil {
			break
		}
		l.Add(e, t0)
	}
	require.Greater(t, n, 1000)
	return l.State(), n
}

// The capacity rule (docs/rules.md#suppression): a full shard's validators refuse an add, or a batch, of a
// new entry with a clear error, before it reaches the history, and the list is unchanged; an add of an entry it
// already holds (an extension) still goes through.
func TestSuppressionShardCapacity(t *testing.T) {
	st, n := fullShard(t)
	h := newEntityHarness(t)
	one := h.update(time.Second, appt.UpdateSuppressionAdd, appt.SuppressionEntry{Channel: appt.Email, Hash: numberedHash(n),
		Reason: appt.ReasonManual, Source: "import", CreatedAt: t0}, &appt.SuppressionAddResult{})
	many := h.update(2*time.Second, appt.UpdateSuppressionAddBatch, appt.SuppressionBatch{Entries: []appt.SuppressionEntry{
		{Channel: appt.Email, Hash: numberedHash(0), Reason: appt.ReasonManual, Source: "import", CreatedAt: t0},
		{Channel: appt.Email, Hash: numberedHash(n + 1), Reason: appt.ReasonManual, Source: "import", CreatedAt: t0},
	}}, &appt.SuppressionBatchResult{})
	var extended appt.SuppressionAddResult
	var changes appt.SuppressionChanges
	h.query(4*time.Second, appt.QuerySuppressionChanges, appt.SuppressionChangesQuery{Since: int64(n)}, &changes)
	var lookup []appt.SuppressionEntry
	h.query(4*time.Second, appt.QuerySuppressionLookup, appt.SuppressionLookupQuery{Channel: appt.Email, Hash: numberedHash(n)}, &lookup)
	h.update(5*time.Second, appt.UpdateSuppressionAdd, appt.SuppressionEntry{Channel: appt.Email, Hash: numberedHash(2),
		Reason: appt.ReasonManual, Source: "import", CreatedAt: t0, ExpiresAt: nil}, &extended)
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, time.Minute)
	h.env.ExecuteWorkflow(appt.SuppressionWorkflowType, st)
	require.True(t, temporal.IsCanceledError(h.env.GetWorkflowError()), "%v", h.env.GetWorkflowError())

	require.Error(t, *one, "a new entry past the capacity is refused")
	assert.Contains(t, (*one).Error(), "the suppression list is full: shard 5 of 32")
	require.Error(t, *many, "a batch with a new entry past the capacity is refused")
	assert.Contains(t, (*many).Error(), "the suppression list is full")
	assert.Empty(t, changes.Entries, "nothing changed: %+v", changes.Entries)
	assert.Empty(t, lookup)
	assert.False(t, extended.Changed, "an entry the shard holds is taken (it already lasts until lifted)")
	assert.Equal(t, numberedHash(2), extended.Entry.Hash)
}

// Batch add (docs/rules.md#suppression): each entry is validated (the error names entries[i]), a batch
// of more than appt.MaxSuppressionBatch is refused, and a batch sent again changes nothing (an import is safe to
// retry).
func TestSuppressionBatchAdd(t *testing.T) {
	h := newEntityHarness(t)
	var es []appt.SuppressionEntry
	for i := range 3 {
		es = append(es, appt.SuppressionEntry{Channel: appt.Email, Hash: numberedHash(i), Reason: appt.ReasonHardBounce,
			Source: "import", CreatedAt: t0})
	}
	var first, again appt.SuppressionBatchResult
	h.update(time.Second, appt.UpdateSuppressionAddBatch, appt.SuppressionBatch{Entries: es}, &first)
	h.update(2*time.Second, appt.UpdateSuppressionAddBatch, appt.SuppressionBatch{Entries: es}, &again)
	badEntry := h.update(3*time.Second, appt.UpdateSuppressionAddBatch, appt.SuppressionBatch{Entries: []appt.SuppressionEntry{
		es[0], {Channel: appt.Email, Hash: "nope", Reason: appt.ReasonManual, Source: "import", CreatedAt: t0}}},
		&appt.SuppressionBatchResult{})
	big := make([]appt.SuppressionEntry, appt.MaxSuppressionBatch+1)
	for i := range big {
		big[i] = appt.SuppressionEntry{Channel: appt.Email, Hash: numberedHash(100 + i), Reason: appt.ReasonManual, Source: "import", CreatedAt: t0}
	}
	tooBig := h.update(4*time.Second, appt.UpdateSuppressionAddBatch, appt.SuppressionBatch{Entries: big}, &appt.SuppressionBatchResult{})
	var changes appt.SuppressionChanges
	h.query(5*time.Second, appt.QuerySuppressionChanges, appt.SuppressionChangesQuery{}, &changes)
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, time.Minute)
	h.env.ExecuteWorkflow(appt.SuppressionWorkflowType, &appt.SuppressionState{Org: "acme", Shard: 0})
	require.True(t, temporal.IsCanceledError(h.env.GetWorkflowError()), "%v", h.env.GetWorkflowError())

	assert.Equal(t, appt.SuppressionBatchResult{Added: 3, Seq: 3}, first)
	assert.Equal(t, appt.SuppressionBatchResult{Added: 0, Seq: 3}, again, "the same batch again changes nothing")
	require.Error(t, *badEntry)
	assert.Contains(t, (*badEntry).Error(), "entries[1].hash")
	require.Error(t, *tooBig)
	assert.Contains(t, (*tooBig).Error(), "must hold 1 to 1000 entries")
	assert.Len(t, changes.Entries, 3)
	assert.EqualValues(t, 3, changes.Next)
}
