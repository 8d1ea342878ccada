package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/supplist"
)

// SuppressionWorkflow is the entity workflow, one per organisation (appt.SuppressionWorkflowID), that holds its
// suppression list: entries keyed by channel, the keyed hash of a normalised address and a reason, never an
// address. Feeds and operators change it with the add and lift updates; workers read it with the changes query,
// page by page, and keep it in memory (internal/suppress); the lookup query answers one address. Every
// supplist.SweepEvery it tombstones expired entries; it continues as new, carrying the list, when Temporal
// suggests it or after supplist.UpdatesPerRun updates.
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
			return e.Validate()
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
			if err := appt.ValidateSuppressionTarget(lf.Channel, lf.Hash); err != nil {
				return err
			}
			for _, r := range lf.Reasons {
				if !r.Known() {
					return &appt.FieldError{Field: "reasons", Msg: "has an unknown reason " + string(r)}
				}
			}
			if lf.Source == "" {
				return &appt.FieldError{Field: "source", Msg: "is required"}
			}
			return nil
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
