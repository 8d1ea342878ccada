package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// orgSettings is the state of an organisation's settings entity.
type orgSettings struct {
	in appt.OrgSettingsInput
}

// OrgSettingsWorkflow is the entity workflow, one per organisation, that holds the live global notification flag
// and the auto-activate flag, and, once the organisation is written through the API, its document, revision,
// disabled flag and audit trail (orgdoc.go). Appointments capture both at scheduling; deliveries read the global flag in every
// attempt. Auto-activate can be turned on but never off.
func OrgSettingsWorkflow(ctx workflow.Context, in *appt.OrgSettingsInput) error {
	o := &orgSettings{in: *in}
	logger := workflow.GetLogger(ctx)
	if err := workflow.SetQueryHandler(ctx, appt.QueryOrgSettings, func() (appt.OrgSettings, error) {
		return o.in.Settings, nil
	}); err != nil {
		return err
	}
	wake := workflow.NewBufferedChannel(ctx, 1)
	if err := registerOrgDocument(ctx, o, wake); err != nil {
		return err
	}
	notif := workflow.GetSignalChannel(ctx, appt.SignalSetNotifications)
	auto := workflow.GetSignalChannel(ctx, appt.SignalSetAutoActivate)
	apply := func(c workflow.ReceiveChannel, more bool) {
		switch c {
		case notif:
			var s appt.SetNotificationsSignal
			c.Receive(ctx, &s)
			o.in.Settings.NotificationsEnabled = s.Enabled
			logger.Info("global notifications changed", "org", o.in.Org, "enabled", s.Enabled)
		case auto:
			var s appt.SetAutoActivateSignal
			c.Receive(ctx, &s)
			if !s.Enabled && o.in.Settings.AutoActivate {
				logger.Warn("refused to turn auto-activate off: it is one-way", "org", o.in.Org)
				return
			}
			o.in.Settings.AutoActivate = o.in.Settings.AutoActivate || s.Enabled
			logger.Info("auto-activate changed", "org", o.in.Org, "enabled", o.in.Settings.AutoActivate)
		}
	}
	for {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(notif, apply)
		sel.AddReceive(auto, apply)
		sel.AddReceive(wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
		sel.Select(ctx)
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			for notif.Len() > 0 || auto.Len() > 0 {
				if notif.Len() > 0 {
					apply(notif, true)
				}
				if auto.Len() > 0 {
					apply(auto, true)
				}
			}
			// Writes of the organisation document run to completion before the state is carried over.
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			return workflow.NewContinueAsNewError(ctx, OrgSettingsWorkflow, &o.in)
		}
	}
}
