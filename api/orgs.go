package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/orgs"
	"github.com/apptnotify/apptnotify/internal/seal"
)

// Errors of the organisation operations (docs/api.md, "Organisations").
var (
	// ErrOrgNotFound: no organisation with that ID, in the file or written through the API.
	ErrOrgNotFound = errors.New("no organisation with that ID")
	// ErrOrgDisabled: the organisation is disabled and takes no new appointment.
	ErrOrgDisabled = errors.New("the organisation is disabled")
)

// PreconditionError is a write refused because its If-Match revision is not the current one (HTTP 412).
type PreconditionError struct{ Current int64 }

func (e *PreconditionError) Error() string {
	return fmt.Sprintf("the organisation has changed since it was read: its revision is now %d", e.Current)
}

// OrgOptions are the Client's settings for organisations as run-time data. The starter and the HTTP API set them
// (UseOrgDirectory); a zero OrgOptions knows the config file's organisations only, as before.
type OrgOptions struct {
	// Orgs finds an organisation as it is in force (orgs.Directory), for scheduling checks and reads.
	Orgs *orgs.Directory
	// Sealer seals subscriber secrets for the worker; without it a write that carries a secret is refused.
	Sealer *seal.Sealer
	// CheckURL checks subscriber URLs against the webhook address guard (activities.CheckWebhookURL).
	CheckURL orgs.URLCheck
}

// UseOrgDirectory makes the client see organisations written through the API, read from their settings
// workflows at most appt.SettingsMaxAge old, and seal secrets with s (nil: writes with secrets are refused).
func (c *Client) UseOrgDirectory(s *seal.Sealer, checkURL orgs.URLCheck) {
	set, _ := c.templateSet()
	c.OrgOptions = OrgOptions{
		Orgs:     orgs.NewDirectory(c.Config, orgs.TemporalQuery(c.Temporal), orgs.DirectoryOptions{TTL: appt.SettingsMaxAge, Templates: set}),
		Sealer:   s,
		CheckURL: checkURL,
	}
}

// lookupOrg finds an organisation in force; without a directory, the config file's.
func (c *Client) lookupOrg(ctx context.Context, id string) (orgs.View, error) {
	if c.Orgs == nil {
		o, ok := c.Config.Org(id)
		if !ok {
			return orgs.View{}, nil
		}
		return orgs.View{Org: o, Known: true, Source: orgs.SourceFile, Live: appt.DefaultOrgSettings(*o.AutoActivate)}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Orgs.Lookup(ctx, id)
}

// OrgInfo is an organisation as a read shows it: the document with every secret redacted (config.Org.Redacted),
// its revision (the ETag; 0 while only the config file defines it), whether it is disabled, and its source.
type OrgInfo struct {
	config.Org
	Revision int64  `json:"revision"`
	Disabled bool   `json:"disabled"`
	Source   string `json:"source"`
}

// GetOrg returns an organisation as it is in force, read fresh from its settings workflow.
func (c *Client) GetOrg(ctx context.Context, id string) (*OrgInfo, error) {
	v, err := c.freshOrg(ctx, id)
	if err != nil {
		return nil, err
	}
	if !v.Known {
		return nil, ErrOrgNotFound
	}
	return &OrgInfo{Org: v.Org.Redacted(), Revision: v.Live.Revision, Disabled: v.Live.Disabled, Source: v.Source}, nil
}

func (c *Client) freshOrg(ctx context.Context, id string) (orgs.View, error) {
	d := orgs.NewDirectory(c.Config, orgs.TemporalQuery(c.Temporal), orgs.DirectoryOptions{})
	return d.Lookup(ctx, id)
}

// OrgSummary is one line of ListOrgs.
type OrgSummary struct {
	ID       string `json:"id"`
	Revision int64  `json:"revision"`
	Disabled bool   `json:"disabled"`
	Source   string `json:"source"`
}

// ListOrgs lists every organisation, sorted by ID: the config file's, and those written through the API, found in
// the visibility store by the memo of their settings workflows (so it reads no workflow and needs no worker).
func (c *Client) ListOrgs(ctx context.Context) ([]OrgSummary, error) {
	byID := map[string]OrgSummary{}
	for _, o := range c.Config.Organizations {
		byID[o.ID] = OrgSummary{ID: o.ID, Source: orgs.SourceFile}
	}
	ns := c.Namespace
	if ns == "" {
		ns = "default"
	}
	dc := c.dataConverter()
	var token []byte
	for {
		res, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: ns, NextPageToken: token, PageSize: 1000,
			Query: fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", appt.OrgSettingsWorkflowType),
		})
		if err != nil {
			return nil, err
		}
		for _, e := range res.GetExecutions() {
			id := strings.TrimPrefix(e.GetExecution().GetWorkflowId(), appt.OrgWorkflowID(""))
			s, ok := byID[id]
			s.ID = id
			fields := e.GetMemo().GetFields()
			if p := fields[appt.MemoOrgRevision]; p != nil && dc.FromPayload(p, &s.Revision) == nil && s.Revision > 0 {
				s.Source = orgs.SourceAPI
				_ = dc.FromPayload(fields[appt.MemoOrgDisabled], &s.Disabled)
			} else if !ok {
				continue // a settings workflow of an organisation that is neither in the file nor written
			}
			byID[id] = s
		}
		if token = res.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	out := make([]OrgSummary, 0, len(byID))
	for _, id := range appt.SortedKeys(byID) {
		out = append(out, byID[id])
	}
	return out, nil
}

// OrgChanges returns an organisation's audit trail, oldest first (the latest appt.MaxOrgChanges; the settings
// workflow's history in the Web UI holds them all).
func (c *Client) OrgChanges(ctx context.Context, id string) ([]appt.OrgChange, error) {
	v, err := c.freshOrg(ctx, id)
	if err != nil {
		return nil, err
	}
	if !v.Known {
		return nil, ErrOrgNotFound
	}
	val, err := c.Temporal.QueryWorkflow(ctx, appt.OrgWorkflowID(id), "", appt.QueryOrgChanges)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return []appt.OrgChange{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []appt.OrgChange{}
	return out, val.Get(&out)
}

// CheckOrgDocument checks a document written through the API (orgs.Check) and completes its defaults: every
// failing field is named. The organisation's ID is the path's: a different id in the body is an error.
func (c *Client) CheckOrgDocument(id string, doc *config.Org) []*appt.FieldError {
	var errs []*appt.FieldError
	if doc.ID == "" {
		doc.ID = id
	} else if doc.ID != id {
		errs = append(errs, &appt.FieldError{Field: "id", Msg: fmt.Sprintf("%q is not the organisation of the path (%s)", doc.ID, id)})
	}
	set, _ := c.templateSet()
	errs = append(errs, orgs.Check(doc, set, c.CheckURL)...)
	for i, w := range doc.Webhooks {
		if w.Secret != "" && c.Sealer == nil {
			errs = append(errs, &appt.FieldError{Field: fmt.Sprintf("webhooks[%d].secret", i), Msg: "cannot be sealed: " + seal.ErrNoPublicKey.Error()})
		}
		if w.SealedSecret != "" || w.SecretDigest != "" || w.PreviousSealedSecret != "" {
			errs = append(errs, &appt.FieldError{Field: fmt.Sprintf("webhooks[%d]", i), Msg: "sealed fields are the server's; send secret"})
		}
	}
	return append(errs, orgs.CheckSealable(doc, c.Sealer)...)
}

// PutOrg creates or replaces an organisation (action "created", "replaced" or "patched") as who (the API token's
// ID), after CheckOrgDocument: each secret given in the clear is sealed for the worker at once and the clear
// value dropped; ifMatch, when not nil, must be the current revision. A write that changes nothing returns the
// current revision and no change. The organisation's settings workflow is started if it does not exist
// (update-with-start), with the document's auto_activate.
func (c *Client) PutOrg(ctx context.Context, who string, doc *config.Org, ifMatch *int64) (*appt.PutOrgResult, error) {
	if errs := c.CheckOrgDocument(doc.ID, doc); len(errs) > 0 {
		return nil, errs[0]
	}
	action := "replaced"
	if cur, err := c.freshOrg(ctx, doc.ID); err != nil {
		return nil, err
	} else if cur.Source != orgs.SourceAPI {
		action = "created"
	}
	return c.putOrg(ctx, who, action, doc, ifMatch)
}

func (c *Client) putOrg(ctx context.Context, who, action string, doc *config.Org, ifMatch *int64) (*appt.PutOrgResult, error) {
	stored := *doc
	stored.Webhooks = append([]config.Webhook(nil), doc.Webhooks...)
	for i := range stored.Webhooks {
		w := &stored.Webhooks[i]
		if err := orgs.SealCredentials(c.Sealer, doc.ID, w); err != nil {
			return nil, err
		}
		if w.Secret == "" {
			continue
		}
		sealed, err := c.Sealer.Seal(orgs.SecretContext(doc.ID), []byte(w.Secret))
		if err != nil {
			return nil, err
		}
		w.SealedSecret, w.SecretDigest = sealed, orgs.SecretDigest(w.Secret)
		w.Secret, w.PreviousSecret, w.SecretSet = "", "", false
	}
	b, err := json.Marshal(&stored)
	if err != nil {
		return nil, err
	}
	return c.updateOrg(ctx, doc.ID, *doc.AutoActivate, appt.PutOrgRequest{Document: b, IfMatch: ifMatch, Who: who, Action: action})
}

// PatchOrg applies a JSON merge patch (RFC 7396) to the organisation as a read shows it, checks the result as
// PutOrg does and writes it if the current revision is still ifMatch. An organisation the config file seeded
// starts from the file's document without templates_dir and secret_env, which the API cannot carry: its first
// write through the API gives each subscriber's secret and its templates as data.
func (c *Client) PatchOrg(ctx context.Context, who, id string, patch []byte, ifMatch int64) (*appt.PutOrgResult, []*appt.FieldError, error) {
	cur, err := c.freshOrg(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !cur.Known {
		return nil, nil, ErrOrgNotFound
	}
	if cur.Live.Revision != ifMatch {
		return nil, nil, &PreconditionError{Current: cur.Live.Revision}
	}
	base := cur.Org.Redacted()
	base.TemplatesDir = ""
	for i := range base.Webhooks {
		base.Webhooks[i].SecretEnv = ""
		base.Webhooks[i].Sealing = config.Sealing{}
	}
	baseJSON, err := json.Marshal(base)
	if err != nil {
		return nil, nil, err
	}
	merged, err := MergePatch(baseJSON, patch)
	if err != nil {
		return nil, []*appt.FieldError{{Field: "", Msg: err.Error()}}, nil
	}
	var doc config.Org
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, []*appt.FieldError{{Field: "", Msg: "the patched document is not an organisation: " + err.Error()}}, nil
	}
	if errs := c.CheckOrgDocument(id, &doc); len(errs) > 0 {
		return nil, errs, nil
	}
	action := "patched"
	if cur.Source != orgs.SourceAPI {
		action = "created"
	}
	res, err := c.putOrg(ctx, who, action, &doc, &ifMatch)
	return res, nil, err
}

// SetOrgDisabled disables (or enables again) an organisation as who: while disabled it takes no new appointment
// and its pending notifications are skipped as under the global flag (docs/rules.md#organisations).
func (c *Client) SetOrgDisabled(ctx context.Context, who, id string, disabled bool) (*appt.PutOrgResult, error) {
	cur, err := c.freshOrg(ctx, id)
	if err != nil {
		return nil, err
	}
	if !cur.Known {
		return nil, ErrOrgNotFound
	}
	action := "enabled"
	if disabled {
		action = "disabled"
	}
	return c.updateOrg(ctx, id, *cur.Org.AutoActivate, appt.PutOrgRequest{Who: who, Action: action, Disabled: disabled})
}

// updateOrg sends the write to the organisation's settings workflow, starting it if needed, and waits for the
// worker to apply it.
func (c *Client) updateOrg(ctx context.Context, id string, autoActivate bool, req appt.PutOrgRequest) (*appt.PutOrgResult, error) {
	timeout := c.UpdateTimeout
	if timeout <= 0 {
		timeout = DefaultUpdateTimeout
	}
	uctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := c.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       appt.OrgWorkflowID(id),
		TaskQueue:                appt.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Settings of " + id,
	}, appt.OrgSettingsWorkflowType, &appt.OrgSettingsInput{Org: id, Settings: appt.DefaultOrgSettings(autoActivate)})
	h, err := c.Temporal.UpdateWithStartWorkflow(uctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			WorkflowID: appt.OrgWorkflowID(id), UpdateName: appt.UpdatePutOrg, Args: []any{req},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var res appt.PutOrgResult
	if err == nil {
		err = h.Get(uctx, &res)
	}
	if err == nil {
		return &res, nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if appErr.Type() == appt.OrgPreconditionFailed {
			var cur int64
			_ = appErr.Details(&cur)
			return nil, &PreconditionError{Current: cur}
		}
		return nil, &RefusedError{Op: appt.UpdatePutOrg, Reason: appErr.Message()}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%s: %w within %s; is the worker running?", appt.UpdatePutOrg, ErrNoWorker, timeout)
	}
	return nil, err
}

// MergePatch applies a JSON merge patch (RFC 7396) to a JSON object.
func MergePatch(doc, patch []byte) ([]byte, error) {
	var d, p any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, errors.New("the patch is not JSON")
	}
	return json.Marshal(mergeValue(d, p))
}

func mergeValue(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	keys := make([]string, 0, len(pm))
	for k := range pm {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if pm[k] == nil {
			delete(tm, k)
		} else {
			tm[k] = mergeValue(tm[k], pm[k])
		}
	}
	return tm
}

// orgOf is the document of a known organisation (CheckOrg passed): the one in force, else the config file's.
func (c *Client) orgOf(ctx context.Context, id string) (*config.Org, bool) {
	if v, err := c.lookupOrg(ctx, id); err == nil && v.Known {
		return v.Org, true
	}
	return c.Config.Org(id)
}

// PlanOrg names the fields a PutOrg of doc (checked by CheckOrgDocument) would change, and the current revision
// to send as If-Match; an empty plan is no change. A secret counts as changed only when it differs from the one
// stored (by digest), so re-applying the same file plans nothing.
func (c *Client) PlanOrg(ctx context.Context, doc *config.Org) ([]string, int64, error) {
	cur, err := c.freshOrg(ctx, doc.ID)
	if err != nil {
		return nil, 0, err
	}
	next := *doc
	next.Webhooks = append([]config.Webhook(nil), doc.Webhooks...)
	for i := range next.Webhooks {
		w := &next.Webhooks[i]
		if w.Secret != "" {
			w.Sealing = config.Sealing{SealedSecret: orgs.SecretDigest(w.Secret)}
		}
		w.Secret = ""
		orgs.PlanCredentials(w)
	}
	nb, err := json.Marshal(&next)
	if err != nil {
		return nil, 0, err
	}
	if cur.Source != orgs.SourceAPI {
		return orgs.Diff(nil, nb), cur.Live.Revision, nil
	}
	prev := *cur.Org
	prev.Webhooks = append([]config.Webhook(nil), cur.Org.Webhooks...)
	for i := range prev.Webhooks {
		w := &prev.Webhooks[i]
		w.Sealing = config.Sealing{SealedSecret: w.SecretDigest}
		w.Secret, w.PreviousSecret = "", ""
		orgs.PlanCredentials(w)
	}
	// A subscriber written without a secret keeps its own: compare it as such.
	for i := range next.Webhooks {
		if next.Webhooks[i].SealedSecret == "" {
			for _, p := range prev.Webhooks {
				if p.URL == next.Webhooks[i].URL {
					next.Webhooks[i].Sealing = p.Sealing
				}
			}
		}
		for j := range prev.Webhooks {
			if prev.Webhooks[j].URL == next.Webhooks[i].URL {
				orgs.KeepCredentials(&prev.Webhooks[j], &next.Webhooks[i])
			}
		}
	}
	nb, _ = json.Marshal(&next)
	pb, err := json.Marshal(&prev)
	if err != nil {
		return nil, 0, err
	}
	return orgs.Diff(pb, nb), cur.Live.Revision, nil
}
