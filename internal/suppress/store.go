// Package suppress is the suppression list as the worker and the HTTP API use it (docs/rules.md#suppression): the
// keyed hash of each address (internal/addrhash), the organisation's suppression workflows through Temporal (Store:
// SuppressionShards shards and an index), the in-memory copy every send is checked against (Cache), the operations
// the feeds and operators call (List), and the email relays' event webhooks (SendGrid, Amazon SES through SNS).
package suppress

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Store is an organisation's suppression list as the list reads and changes it: SuppressionShards shard workflows,
// chosen by the address's hash (appt.SuppressionShard), and an index of their change counters. Adds go to the
// address's shard; lifts and lookups also reach shard 0, which may hold entries of any hash written before shards.
// Every write reports the shard's counter to the index; a write whose index bump failed returns the error, and is
// safe to retry (adds and lifts are idempotent).
type Store interface {
	// Add adds an entry to its shard. Errors: the entry is not valid (*appt.FieldError), the shard is full
	// (*appt.SuppressionFullError), or Temporal failed.
	Add(ctx context.Context, org string, e appt.SuppressionEntry) (appt.SuppressionAddResult, error)
	// AddBatch adds entries (an import), grouped by shard, at most appt.MaxSuppressionBatch per update, and bumps
	// the index once per shard. It returns how many entries changed the list; on an error, those before it stay
	// added. Errors: as Add (a field error names entries[i] within its shard's chunk).
	AddBatch(ctx context.Context, org string, es []appt.SuppressionEntry) (int, error)
	// Lift lifts an address's entries in its shard and in shard 0.
	Lift(ctx context.Context, org string, l appt.SuppressionLift) (appt.SuppressionLiftResult, error)
	// Lookup returns an address's entries (tombstones included) of its shard and shard 0, in reason order.
	Lookup(ctx context.Context, org string, q appt.SuppressionLookupQuery) ([]appt.SuppressionEntry, error)
	// Index returns the change counter of every shard as the index knows it (SuppressionShards long; zeros for an
	// organisation without an index).
	Index(ctx context.Context, org string) (appt.SuppressionIndex, error)
	// Changes reads one page of a shard's changes (appt.QuerySuppressionChanges).
	Changes(ctx context.Context, org string, shard int, q appt.SuppressionChangesQuery) (appt.SuppressionChanges, error)
}

// shards is what a Store does on one shard and on the index; the routing over shards (routed) is common to every
// Store.
type shards interface {
	add(ctx context.Context, org string, shard int, e appt.SuppressionEntry) (appt.SuppressionAddResult, error)
	addBatch(ctx context.Context, org string, shard int, es []appt.SuppressionEntry) (appt.SuppressionBatchResult, error)
	lift(ctx context.Context, org string, shard int, l appt.SuppressionLift) (appt.SuppressionLiftResult, error)
	lookup(ctx context.Context, org string, shard int, q appt.SuppressionLookupQuery) ([]appt.SuppressionEntry, error)
	bump(ctx context.Context, org string, b appt.SuppressionBump) error
}

// routed is the routing of adds, lifts and lookups over shards, and the index bumps after writes.
type routed struct{ s shards }

func (r routed) add(ctx context.Context, org string, e appt.SuppressionEntry) (appt.SuppressionAddResult, error) {
	k := appt.SuppressionShard(e.Hash)
	res, err := r.s.add(ctx, org, k, e)
	if err != nil {
		return res, err
	}
	return res, r.bump(ctx, org, k, res.Entry.Seq)
}

func (r routed) addBatch(ctx context.Context, org string, es []appt.SuppressionEntry) (int, error) {
	var by [appt.SuppressionShards][]appt.SuppressionEntry
	for _, e := range es {
		k := appt.SuppressionShard(e.Hash)
		by[k] = append(by[k], e)
	}
	added := 0
	for k, part := range by {
		var seq int64
		for len(part) > 0 {
			n := min(len(part), appt.MaxSuppressionBatch)
			res, err := r.s.addBatch(ctx, org, k, part[:n])
			if err != nil {
				if seq > 0 {
					err = errors.Join(err, r.bump(ctx, org, k, seq))
				}
				return added, err
			}
			added += res.Added
			seq = res.Seq
			part = part[n:]
		}
		if err := r.bump(ctx, org, k, seq); err != nil {
			return added, err
		}
	}
	return added, nil
}

func (r routed) lift(ctx context.Context, org string, l appt.SuppressionLift) (appt.SuppressionLiftResult, error) {
	out := appt.SuppressionLiftResult{Lifted: []appt.SuppressionEntry{}}
	for _, k := range lookIn(l.Hash) {
		res, err := r.s.lift(ctx, org, k, l)
		if err != nil {
			return out, err
		}
		out.Lifted = append(out.Lifted, res.Lifted...)
		if err := r.bump(ctx, org, k, res.Seq); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (r routed) lookup(ctx context.Context, org string, q appt.SuppressionLookupQuery) ([]appt.SuppressionEntry, error) {
	var all []appt.SuppressionEntry
	for _, k := range lookIn(q.Hash) {
		es, err := r.s.lookup(ctx, org, k, q)
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
	}
	out := []appt.SuppressionEntry{}
	for _, reason := range appt.SuppressionReasons {
		for _, e := range all {
			if e.Reason == reason {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// bump reports a shard's counter to the index; a write that changed nothing (seq 0) has nothing to report.
func (r routed) bump(ctx context.Context, org string, shard int, seq int64) error {
	if seq <= 0 {
		return nil
	}
	if err := r.s.bump(ctx, org, appt.SuppressionBump{Shard: shard, Seq: seq}); err != nil {
		return fmt.Errorf("reporting shard %d's change to the suppression index of %s: %w", shard, org, err)
	}
	return nil
}

// lookIn is where an address's entries may be: its shard, and shard 0 (the list before shards).
func lookIn(hash string) []int {
	if k := appt.SuppressionShard(hash); k != 0 {
		return []int{k, 0}
	}
	return []int{0}
}

// TemporalStore is the Store over a Temporal client: adds start the shard's workflow, and bumps the index's, when
// they do not exist (update-with-start); lifts, pages and lookups of a shard without one find nothing.
type TemporalStore struct {
	C client.Client
}

var _ Store = TemporalStore{}

func (s TemporalStore) r() routed { return routed{s: temporalShards(s)} }

// Add implements Store (appt.UpdateSuppressionAdd on the address's shard, then appt.UpdateSuppressionIndexBump).
func (s TemporalStore) Add(ctx context.Context, org string, e appt.SuppressionEntry) (appt.SuppressionAddResult, error) {
	return s.r().add(ctx, org, e)
}

// AddBatch implements Store (appt.UpdateSuppressionAddBatch).
func (s TemporalStore) AddBatch(ctx context.Context, org string, es []appt.SuppressionEntry) (int, error) {
	return s.r().addBatch(ctx, org, es)
}

// Lift implements Store (appt.UpdateSuppressionLift).
func (s TemporalStore) Lift(ctx context.Context, org string, l appt.SuppressionLift) (appt.SuppressionLiftResult, error) {
	return s.r().lift(ctx, org, l)
}

// Lookup implements Store (appt.QuerySuppressionLookup).
func (s TemporalStore) Lookup(ctx context.Context, org string, q appt.SuppressionLookupQuery) ([]appt.SuppressionEntry, error) {
	return s.r().lookup(ctx, org, q)
}

// Index implements Store (appt.QuerySuppressionIndexShards).
func (s TemporalStore) Index(ctx context.Context, org string) (appt.SuppressionIndex, error) {
	var out appt.SuppressionIndex
	if err := s.query(ctx, appt.SuppressionIndexWorkflowID(org), appt.QuerySuppressionIndexShards, nil, &out); err != nil {
		return nil, err
	}
	full := make(appt.SuppressionIndex, appt.SuppressionShards)
	copy(full, out)
	return full, nil
}

// Changes implements Store (appt.QuerySuppressionChanges on one shard).
func (s TemporalStore) Changes(ctx context.Context, org string, shard int, q appt.SuppressionChangesQuery) (appt.SuppressionChanges, error) {
	out := appt.SuppressionChanges{Entries: []appt.SuppressionEntry{}, Next: q.Since}
	err := s.query(ctx, appt.SuppressionShardWorkflowID(org, shard), appt.QuerySuppressionChanges, q, &out)
	return out, err
}

func (s TemporalStore) query(ctx context.Context, id, name string, arg, out any) error {
	var args []any
	if arg != nil {
		args = []any{arg}
	}
	v, err := s.C.QueryWorkflow(ctx, id, "", name, args...)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("querying %s: %w", id, err)
	}
	return v.Get(out)
}

// temporalShards is TemporalStore's work on one shard.
type temporalShards TemporalStore

// update runs an update on a workflow, starting it with input when start is not nil.
func (s temporalShards) update(ctx context.Context, id, name string, arg, out any, wfType string, start any) error {
	var h client.WorkflowUpdateHandle
	var err error
	uo := client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: name, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted}
	if start != nil {
		op := s.C.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: id, TaskQueue: appt.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}, wfType, start)
		h, err = s.C.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op, UpdateOptions: uo})
	} else {
		h, err = s.C.UpdateWorkflow(ctx, uo)
	}
	if err == nil {
		err = h.Get(ctx, out)
	}
	return fullError(err)
}

// fullError gives back the *appt.SuppressionFullError a shard's validator refused an add with.
func fullError(err error) error {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Type() == "SuppressionFullError" {
		return &appt.SuppressionFullError{Msg: ae.Message()}
	}
	return err
}

func (s temporalShards) shardUpdate(ctx context.Context, org string, shard int, name string, arg, out any, start bool) error {
	var in any
	if start {
		in = &appt.SuppressionState{Org: org, Shard: shard}
	}
	return s.update(ctx, appt.SuppressionShardWorkflowID(org, shard), name, arg, out, appt.SuppressionWorkflowType, in)
}

func (s temporalShards) add(ctx context.Context, org string, shard int, e appt.SuppressionEntry) (appt.SuppressionAddResult, error) {
	var res appt.SuppressionAddResult
	err := s.shardUpdate(ctx, org, shard, appt.UpdateSuppressionAdd, e, &res, true)
	return res, err
}

func (s temporalShards) addBatch(ctx context.Context, org string, shard int, es []appt.SuppressionEntry) (appt.SuppressionBatchResult, error) {
	var res appt.SuppressionBatchResult
	err := s.shardUpdate(ctx, org, shard, appt.UpdateSuppressionAddBatch, appt.SuppressionBatch{Entries: es}, &res, true)
	return res, err
}

func (s temporalShards) lift(ctx context.Context, org string, shard int, l appt.SuppressionLift) (appt.SuppressionLiftResult, error) {
	res := appt.SuppressionLiftResult{Lifted: []appt.SuppressionEntry{}}
	err := s.shardUpdate(ctx, org, shard, appt.UpdateSuppressionLift, l, &res, false)
	if isNotFound(err) {
		return appt.SuppressionLiftResult{Lifted: []appt.SuppressionEntry{}}, nil
	}
	return res, err
}

func (s temporalShards) lookup(ctx context.Context, org string, shard int, q appt.SuppressionLookupQuery) ([]appt.SuppressionEntry, error) {
	out := []appt.SuppressionEntry{}
	err := TemporalStore(s).query(ctx, appt.SuppressionShardWorkflowID(org, shard), appt.QuerySuppressionLookup, q, &out)
	return out, err
}

func (s temporalShards) bump(ctx context.Context, org string, b appt.SuppressionBump) error {
	var out appt.SuppressionIndex
	return s.update(ctx, appt.SuppressionIndexWorkflowID(org), appt.UpdateSuppressionIndexBump, b, &out,
		appt.SuppressionIndexWorkflowType, &appt.SuppressionIndexState{Org: org})
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
