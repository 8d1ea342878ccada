package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/supplist"
)

// SuppressionIndexWorkflow is the entity workflow, one per organisation (appt.SuppressionIndexWorkflowID), that
// holds the change counter of each shard of its suppression list: writers bump it after each change of a shard
// (the bump update keeps the larger counter), readers query the vector once per refresh and read only the shards
// that moved (internal/suppress.Cache). It continues as new, carrying the vector, when Temporal suggests it or after
// supplist.IndexUpdatesPerRun bumps.
func SuppressionIndexWorkflow(ctx workflow.Context, in *appt.SuppressionIndexState) error {
	x := supplist.NewIndex(in)
	updates := 0
	if err := workflow.SetQueryHandler(ctx, appt.QuerySuppressionIndexShards, func() (appt.SuppressionIndex, error) {
		return x.Seqs(), nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, appt.UpdateSuppressionIndexBump,
		func(ctx workflow.Context, b appt.SuppressionBump) (appt.SuppressionIndex, error) {
			updates++
			return x.Bump(b), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, b appt.SuppressionBump) error {
			return supplist.ValidateBump(b)
		}}); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool {
		return updates >= supplist.IndexUpdatesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	}); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, SuppressionIndexWorkflow, x.State())
}
