package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/supplist"
)

// SuppressionWorkflow is the entity workflow that holds one shard of an organisation's suppression list
// (appt.SuppressionShardWorkflowID; shard 0 is the list of the build before shards, appt.SuppressionWorkflowID):
// entries keyed by channel, the keyed hash of a normalised address and a reason, never an address. Feeds and
// operators change it with the add, add-batch and lift updates; the add validators refuse what would pass the
// shard's capacity (supplist.MaxShardBytes) with an *appt.SuppressionFullError, so that the state it carries across
// continue-as-new stays well under Temporal's 2 MB. Workers read it with the changes query, page by page, and keep
// it in memory (internal/suppress); the lookup query answers one address. Every supplist.SweepEvery it tombstones
// expired entries; it continues as new, carrying the list, when Temporal suggests it or after
// supplist.UpdatesPerRun updates (a batch counts its entries).
func SuppressionWorkflow(ctx workflow.Context, in *appt.SuppressionState) error {
	l := supplist.New(in)
	logger := workflow.GetLogger(ctx)
	updates := 0
	if err := workflow.SetQueryHandler(ctx, appt.QuerySuppressionChanges, func(q appt.SuppressionChangesQuery) (appt.SuppressionChanges, error) {
		return l.Changes(q), nil
	}); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, appt.QuerySuppressionLookup, func(q appt.SuppressionLookupQuery) ([]appt.SuppressionEntry, error) {
		return l.Lookup(q), nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, appt.UpdateSuppressionAdd,
		func(ctx workflow.Context, e appt.SuppressionEntry) (appt.SuppressionAddResult, error) {
			updates++
			res := l.Add(e, workflow.Now(ctx))
			if res.Changed {
				logger.Info("suppression added", "org", in.Org, "channel", string(e.Channel), "reason", string(e.Reason),
					"source", e.Source, "seq", res.Entry.Seq)
			}
			return res, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, e appt.SuppressionEntry) error {
			if err := e.Validate(); err != nil {
				return err
			}
			return l.Fits([]appt.SuppressionEntry{e})
		}}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, appt.UpdateSuppressionLift,
		func(ctx workflow.Context, lf appt.SuppressionLift) (appt.SuppressionLiftResult, error) {
			updates++
			res := l.Lift(lf, workflow.Now(ctx))
			for _, e := range res.Lifted {
				logger.Info("suppression lifted", "org", in.Org, "channel", string(e.Channel), "reason", string(e.Reason),
					"source", lf.Source, "seq", e.Seq)
			}
			return res, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, lf appt.SuppressionLift) error {
			return lf.Validate()
		}}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, appt.UpdateSuppressionAddBatch,
		func(ctx workflow.Context, b appt.SuppressionBatch) (appt.SuppressionBatchResult, error) {
			updates += len(b.Entries)
			n := l.AddBatch(b.Entries, workflow.Now(ctx))
			logger.Info("suppression batch added", "org", in.Org, "shard", in.Shard, "entries", len(b.Entries),
				"added", n, "seq", l.Seq())
			return appt.SuppressionBatchResult{Added: n, Seq: l.Seq()}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, b appt.SuppressionBatch) error {
			if err := b.Validate(); err != nil {
				return err
			}
			return l.Fits(b.Entries)
		}}); err != nil {
		return err
	}
	for {
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: supplist.SweepEvery,
			TimerOptions: workflow.TimerOptions{Summary: "sweep expired suppressions"}}, func() bool {
			return updates >= supplist.UpdatesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		})
		if err != nil {
			return err
		}
		if !ok {
			l.Sweep(workflow.Now(ctx))
			continue
		}
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return err
		}
		l.Sweep(workflow.Now(ctx))
		return workflow.NewContinueAsNewError(ctx, SuppressionWorkflow, l.State())
	}
}
