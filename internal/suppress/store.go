// Package suppress is the suppression list as the worker and the HTTP API use it (docs/rules.md#suppression): the
// keyed hash of each address (internal/addrhash), the organisation's suppression workflow through Temporal (Store),
// the in-memory copy every send is checked against (Cache), the operations the feeds and operators call (List),
// and the email relays' event webhooks (SendGrid, Amazon SES through SNS).
package suppress

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Store is the organisation's suppression workflow, as the list reads and changes it.
type Store interface {
	Add(ctx context.Context, org string, e appt.SuppressionEntry) (appt.SuppressionAddResult, error)
	Lift(ctx context.Context, org string, l appt.SuppressionLift) (appt.SuppressionLiftResult, error)
	Changes(ctx context.Context, org string, q appt.SuppressionChangesQuery) (appt.SuppressionChanges, error)
	Lookup(ctx context.Context, org string, q appt.SuppressionLookupQuery) ([]appt.SuppressionEntry, error)
}

// TemporalStore is the Store over a Temporal client: adds start the organisation's workflow when it does not exist
// (update-with-start); lifts, pages and lookups of an organisation without one find nothing.
type TemporalStore struct {
	C client.Client
}

func (s TemporalStore) update(ctx context.Context, org, name string, arg, out any, start bool) error {
	id := appt.SuppressionWorkflowID(org)
	var h client.WorkflowUpdateHandle
	var err error
	uo := client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: name, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted}
	if start {
		op := s.C.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: id, TaskQueue: appt.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING},
			appt.SuppressionWorkflowType, &appt.SuppressionState{Org: org})
		h, err = s.C.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op, UpdateOptions: uo})
	} else {
		h, err = s.C.UpdateWorkflow(ctx, uo)
	}
	if err != nil {
		return err
	}
	return h.Get(ctx, out)
}

// Add adds an entry (appt.UpdateSuppressionAdd).
func (s TemporalStore) Add(ctx context.Context, org string, e appt.SuppressionEntry) (appt.SuppressionAddResult, error) {
	var res appt.SuppressionAddResult
	err := s.update(ctx, org, appt.UpdateSuppressionAdd, e, &res, true)
	return res, err
}

// Lift lifts entries (appt.UpdateSuppressionLift).
func (s TemporalStore) Lift(ctx context.Context, org string, l appt.SuppressionLift) (appt.SuppressionLiftResult, error) {
	res := appt.SuppressionLiftResult{Lifted: []appt.SuppressionEntry{}}
	err := s.update(ctx, org, appt.UpdateSuppressionLift, l, &res, false)
	if isNotFound(err) {
		return appt.SuppressionLiftResult{Lifted: []appt.SuppressionEntry{}}, nil
	}
	return res, err
}

// Changes reads one page of changes (appt.QuerySuppressionChanges).
func (s TemporalStore) Changes(ctx context.Context, org string, q appt.SuppressionChangesQuery) (appt.SuppressionChanges, error) {
	out := appt.SuppressionChanges{Entries: []appt.SuppressionEntry{}, Next: q.Since}
	err := s.query(ctx, org, appt.QuerySuppressionChanges, q, &out)
	return out, err
}

// Lookup reads an address's entries (appt.QuerySuppressionLookup).
func (s TemporalStore) Lookup(ctx context.Context, org string, q appt.SuppressionLookupQuery) ([]appt.SuppressionEntry, error) {
	out := []appt.SuppressionEntry{}
	err := s.query(ctx, org, appt.QuerySuppressionLookup, q, &out)
	return out, err
}

func (s TemporalStore) query(ctx context.Context, org, name string, arg, out any) error {
	v, err := s.C.QueryWorkflow(ctx, appt.SuppressionWorkflowID(org), "", name, arg)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("querying the suppression list of %s: %w", org, err)
	}
	return v.Get(out)
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
