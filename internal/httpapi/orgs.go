package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// Problems of the organisation operations (docs/api.md).
var (
	probPrecondition = Problem{Type: problemTypeBase + "precondition-failed", Title: "The organisation has changed since it was read", Status: http.StatusPreconditionFailed}
	probIfMatch      = Problem{Type: problemTypeBase + "precondition-required", Title: "If-Match is required", Status: http.StatusPreconditionRequired}
	probOrgRefused   = Problem{Type: problemTypeBase + "refused", Title: "The organisation refused the write", Status: http.StatusConflict}
)

// OrganizationList is the body of GET /v1/organizations.
type OrganizationList struct {
	Organizations []api.OrgSummary `json:"organizations"`
}

// OrganizationChanges is the body of GET /v1/organizations/{org}/changes.
type OrganizationChanges struct {
	Org     string           `json:"org"`
	Changes []appt.OrgChange `json:"changes"`
}

func (h *Handler) orgOperations() map[string]operation {
	return map[string]operation{
		"listOrganizations":      h.listOrgs,
		"getOrganization":        h.orgOp(h.getOrg),
		"putOrganization":        h.orgOp(h.putOrg),
		"patchOrganization":      h.orgOp(h.patchOrg),
		"disableOrganization":    h.orgOp(h.setDisabled(true)),
		"enableOrganization":     h.orgOp(h.setDisabled(false)),
		"getOrganizationChanges": h.orgOp(h.orgChanges),
	}
}

func (h *Handler) orgBodyChecks() map[string]bodyCheck {
	return map[string]bodyCheck{
		"putOrganization":   h.checkOrgDocument,
		"patchOrganization": checkPatch,
	}
}

// orgOp answers 403 for an organisation the token may not act for: an organisation-scoped token manages only its
// own organisation, an administrator token (*) every one.
func (h *Handler) orgOp(op func(ctx context.Context, r *request, org string) response) operation {
	return func(ctx context.Context, r *request) response {
		org := r.params["org"]
		if !r.grant.allows(org) {
			return fail(probForbidden.with(fmt.Sprintf("the token may not act for organisation %q", org),
				paramField("org", "the token may not act for this organisation")))
		}
		return op(ctx, r, org)
	}
}

// orgProblems turns the field errors of a document check into problems pointing into the body.
func orgProblems(errs []*appt.FieldError) []FieldProblem {
	out := make([]FieldProblem, 0, len(errs))
	for _, e := range errs {
		out = append(out, bodyField(config.FieldPath(e.Field), e.Msg))
	}
	return out
}

// checkOrgDocument decodes a PUT body and checks it by every rule of api.Client.CheckOrgDocument.
func (h *Handler) checkOrgDocument(r *request) checked {
	if !r.grant.allows(r.params["org"]) {
		p := probForbidden.with(fmt.Sprintf("the token may not act for organisation %q", r.params["org"]),
			paramField("org", "the token may not act for this organisation"))
		return checked{deny: &p}
	}
	// Unknown keys are the schema's to name (additionalProperties: false); the rules check the rest.
	var in api.OrgInfo
	if err := json.Unmarshal(r.body, &in); err != nil {
		return undecodable
	}
	doc := in.Org
	if errs := h.client.CheckOrgDocument(r.params["org"], &doc); len(errs) > 0 {
		return checked{errs: orgProblems(errs)}
	}
	r.input = &doc
	return checked{}
}

func checkPatch(r *request) checked {
	var m map[string]json.RawMessage
	if json.Unmarshal(r.body, &m) != nil {
		return undecodable
	}
	return checked{}
}

// ifMatch reads If-Match: a quoted revision ("3"); ok is false when the header is absent.
func ifMatch(r *request) (rev int64, ok bool, p *Problem) {
	v := strings.TrimSpace(r.header.Get("If-Match"))
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(v, "W/"), `"`), 10, 64)
	if err != nil || n < 0 {
		pr := probValidation.with("If-Match is the ETag of a read, such as \"3\"", FieldProblem{Parameter: "If-Match", Detail: "is not an ETag of this API"})
		return 0, false, &pr
	}
	return n, true, nil
}

func etag(rev int64) http.Header {
	return http.Header{"Etag": {strconv.Quote(strconv.FormatInt(rev, 10))}}
}

func (h *Handler) orgError(err error, r *request) response {
	var pe *api.PreconditionError
	var re *api.RefusedError
	var fe *appt.FieldError
	switch {
	case errors.Is(err, api.ErrOrgNotFound):
		return fail(probNoOrg.with("no organisation with that ID", paramField("org", "is not an organisation")))
	case errors.As(err, &pe):
		return fail(probPrecondition.with(pe.Error() + "; read it again and retry"))
	case errors.As(err, &fe):
		return fail(probValidation.with("1 field is not valid; see errors", orgProblems([]*appt.FieldError{fe})...))
	case errors.As(err, &re):
		return fail(probOrgRefused.with(re.Reason))
	}
	return fail(fromError(err, operationPointers, r.log))
}

func (h *Handler) listOrgs(ctx context.Context, r *request) response {
	all, err := h.client.ListOrgs(ctx)
	if err != nil {
		return h.orgError(err, r)
	}
	out := OrganizationList{Organizations: []api.OrgSummary{}}
	for _, o := range all {
		if r.grant.allows(o.ID) {
			out.Organizations = append(out.Organizations, o)
		}
	}
	return ok(http.StatusOK, out)
}

func (h *Handler) getOrg(ctx context.Context, r *request, org string) response {
	info, err := h.client.GetOrg(ctx, org)
	if err != nil {
		return h.orgError(err, r)
	}
	return response{status: http.StatusOK, body: info, header: etag(info.Revision)}
}

func (h *Handler) putOrg(ctx context.Context, r *request, org string) response {
	rev, has, p := ifMatch(r)
	if p != nil {
		return fail(*p)
	}
	var im *int64
	if has {
		im = &rev
	}
	if _, err := h.client.PutOrg(ctx, r.grant.id, r.input.(*config.Org), im); err != nil {
		return h.orgError(err, r)
	}
	return h.getOrg(ctx, r, org)
}

func (h *Handler) patchOrg(ctx context.Context, r *request, org string) response {
	rev, has, p := ifMatch(r)
	if p != nil {
		return fail(*p)
	}
	if !has {
		return fail(probIfMatch.with("send If-Match with the ETag of a read, so that no change made since is lost"))
	}
	_, errs, err := h.client.PatchOrg(ctx, r.grant.id, org, r.body, rev)
	if len(errs) > 0 {
		fp := orgProblems(errs)
		return fail(probValidation.with(summary(fp), fp...))
	}
	if err != nil {
		return h.orgError(err, r)
	}
	return h.getOrg(ctx, r, org)
}

func (h *Handler) setDisabled(disabled bool) func(ctx context.Context, r *request, org string) response {
	return func(ctx context.Context, r *request, org string) response {
		if _, err := h.client.SetOrgDisabled(ctx, r.grant.id, org, disabled); err != nil {
			return h.orgError(err, r)
		}
		return h.getOrg(ctx, r, org)
	}
}

func (h *Handler) orgChanges(ctx context.Context, r *request, org string) response {
	changes, err := h.client.OrgChanges(ctx, org)
	if err != nil {
		return h.orgError(err, r)
	}
	return ok(http.StatusOK, OrganizationChanges{Org: org, Changes: changes})
}
