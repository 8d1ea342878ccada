package workflows

import (
	"encoding/json"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/orgs"
)

// changeOrgMemo guards the memo upsert of an organisation-document write (docs/changing-workflows.md).
const changeOrgMemo = "org-document-memo"

// registerOrgDocument installs the organisation-document update and the audit-trail query (docs/production.md,
// "Organisations"). A write is an Update with a validator, so a refused write (a stale If-Match revision, a new
// subscriber without a secret) is rejected before it reaches the history and changes nothing. An accepted write
// bumps the revision, appends who/when/which fields to the audit trail (never a value), turns the live auto-activate flag on if the document asks (one way), and upserts the memo the
// organisation list reads. wake hears of every accepted write, so the main loop checks for continue-as-new.
func registerOrgDocument(ctx workflow.Context, o *orgSettings, wake workflow.Channel) error {
	if err := workflow.SetQueryHandler(ctx, appt.QueryOrgChanges, func() ([]appt.OrgChange, error) {
		return o.in.Changes, nil
	}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, appt.UpdatePutOrg,
		func(ctx workflow.Context, req *appt.PutOrgRequest) (*appt.PutOrgResult, error) {
			now := workflow.Now(ctx)
			doc, next, err := o.prepare(req, now)
			if err != nil {
				return nil, err
			}
			if next != nil && next.AutoActivate != nil && *next.AutoActivate {
				o.in.Settings.AutoActivate = true // one way, as the set-auto-activate signal
			}
			cur := &o.in.Settings.OrgDocument
			var change *appt.OrgChange
			switch req.Action {
			case "disabled", "enabled":
				if cur.Disabled != req.Disabled {
					change = &appt.OrgChange{Fields: []string{"disabled"}}
					cur.Disabled = req.Disabled
				}
			default:
				if fields := orgs.Diff(cur.Document, doc); len(fields) > 0 || cur.Document == nil {
					change = &appt.OrgChange{Fields: fields}
					cur.Document = doc
				}
			}
			if change == nil {
				return &appt.PutOrgResult{Revision: cur.Revision}, nil
			}
			cur.Revision++
			change.Revision, change.Who, change.At, change.Action = cur.Revision, req.Who, now, req.Action
			o.in.Changes = append(o.in.Changes, *change)
			if n := len(o.in.Changes); n > appt.MaxOrgChanges {
				o.in.Changes = append([]appt.OrgChange(nil), o.in.Changes[n-appt.MaxOrgChanges:]...)
			}
			if workflow.GetVersion(ctx, changeOrgMemo, workflow.DefaultVersion, 1) == 1 {
				if err := workflow.UpsertMemo(ctx, map[string]any{appt.MemoOrgRevision: cur.Revision, appt.MemoOrgDisabled: cur.Disabled}); err != nil {
					return nil, err
				}
			}
			workflow.GetLogger(ctx).Info("organisation changed", "org", o.in.Org, "revision", cur.Revision,
				"action", req.Action, "who", req.Who, "fields", change.Fields)
			wake.SendAsync(true)
			return &appt.PutOrgResult{Revision: cur.Revision, Change: change}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req *appt.PutOrgRequest) error {
			_, _, err := o.prepare(req, workflow.Now(ctx))
			return err
		}})
}

// prepare checks a write against the current state and returns the document to store (nil for a disable or
// enable): the If-Match revision, and the subscribers' secrets merged (orgs.Merge). It changes nothing.
func (o *orgSettings) prepare(req *appt.PutOrgRequest, now time.Time) (json.RawMessage, *config.Org, error) {
	cur := o.in.Settings.OrgDocument
	if req.IfMatch != nil && *req.IfMatch != cur.Revision {
		return nil, nil, temporal.NewNonRetryableApplicationError("the organisation has changed since it was read", appt.OrgPreconditionFailed, nil, cur.Revision)
	}
	switch req.Action {
	case "disabled", "enabled":
		return nil, nil, nil
	case "created", "replaced", "patched":
	default:
		return nil, nil, temporal.NewNonRetryableApplicationError("unknown action "+req.Action, appt.OrgWriteRefused, nil)
	}
	var next config.Org
	if err := json.Unmarshal(req.Document, &next); err != nil {
		return nil, nil, temporal.NewNonRetryableApplicationError("the document is not an organisation: "+err.Error(), appt.OrgWriteRefused, nil)
	}
	var prev *config.Org
	if cur.Document != nil {
		prev = &config.Org{}
		if err := json.Unmarshal(cur.Document, prev); err != nil {
			prev = nil
		}
	}
	if err := orgs.Merge(prev, &next, now); err != nil {
		return nil, nil, temporal.NewNonRetryableApplicationError(err.Error(), appt.OrgWriteRefused, nil)
	}
	b, err := json.Marshal(&next)
	if err != nil {
		return nil, nil, temporal.NewNonRetryableApplicationError(err.Error(), appt.OrgWriteRefused, nil)
	}
	return b, &next, nil
}
