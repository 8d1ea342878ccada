package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/apptnotify/apptnotify/api"
)

// erasureBody is the body of POST /v1/organizations/{org}/erasures.
type erasureBody struct {
	Email          string   `json:"email"`
	Phone          string   `json:"phone"`
	AppointmentIDs []string `json:"appointmentIds"`
}

// probNoErasure is the 404 of an erasure ID the organisation does not have.
var probNoErasure = Problem{Type: problemTypeBase + "not-found", Title: "No such erasure", Status: http.StatusNotFound}

// orgNotFound is the 404 of an organisation the token may not act for or the config does not know: an erasure
// request tells nothing about organisations it may not touch.
func orgNotFound() *Problem {
	p := probNoOrg.with("no such organisation", paramField("org", "no such organisation"))
	return &p
}

// erasureOrg checks the path's organisation for an erasure: 404 unless the token may act for it and the config
// knows it.
func (h *Handler) erasureOrg(r *request) *Problem {
	org := r.params["org"]
	if !r.grant.allows(org) || h.client.CheckOrg(org) != nil {
		return orgNotFound()
	}
	return nil
}

// erasurePointer maps a field of api.Client.ErasureErrors to its JSON pointer: email, phone, appointmentIds and
// appointmentIds[i].
func erasurePointer(field string) string {
	if rest, ok := strings.CutPrefix(field, "appointmentIds["); ok {
		return pointer("appointmentIds", strings.TrimSuffix(rest, "]"))
	}
	return pointer(field)
}

// checkErasure applies api.Client.ErasureErrors to the body; an organisation the token may not act for is refused
// (404) before any rule runs.
func (h *Handler) checkErasure(r *request) checked {
	if p := h.erasureOrg(r); p != nil {
		return checked{deny: p}
	}
	var b erasureBody
	if !decodeLenient(r.body, &b) {
		return undecodable
	}
	e := &api.Erasure{Org: r.params["org"], Email: b.Email, Phone: b.Phone, AppointmentIDs: b.AppointmentIDs}
	var errs []FieldProblem
	for _, fe := range h.client.ErasureErrors(e) {
		errs = append(errs, bodyField(erasurePointer(fe.Field), fe.Msg))
	}
	r.input = e
	return checked{errs: errs}
}

func erasureLocation(org, id string) http.Header {
	return http.Header{"Location": {"/v1/organizations/" + url.PathEscape(org) + "/erasures/" + id}}
}

// erase answers 200 with the receipt once every step but the SMS redaction finished, else 202 with the receipt so
// far.
func (h *Handler) erase(ctx context.Context, r *request) response {
	e := r.input.(*api.Erasure)
	rc, erased, err := h.client.Erase(ctx, e)
	if errors.Is(err, api.ErrNoAddressKey) {
		r.log.err = err
		p := probInternal.with("the server has no address key, so it cannot erase by address; erase by appointment IDs or set " +
			"APPTNOTIFY_ADDRESS_KEY")
		return fail(p)
	}
	if fe := fieldError(err); fe != nil {
		p := probValidation.with("1 field is not valid; see errors", bodyField(erasurePointer(fe.Field), fe.Msg))
		return fail(p)
	}
	if err != nil {
		return fail(fromError(err, operationPointers, r.log))
	}
	status := http.StatusOK
	if !erased {
		status = http.StatusAccepted
	}
	out := ok(status, rc)
	out.header = erasureLocation(e.Org, rc.ErasureID)
	return out
}

// getErasure answers an erasure's receipt; 404 for an organisation the token may not act for, or no such erasure.
func (h *Handler) getErasure(ctx context.Context, r *request) response {
	if p := h.erasureOrg(r); p != nil {
		return fail(*p)
	}
	rc, err := h.client.Erasure(ctx, r.params["org"], r.params["erasureId"])
	if errors.Is(err, api.ErrNotFound) {
		return fail(probNoErasure.with("no such erasure", paramField("erasureId", "no such erasure")))
	}
	if err != nil {
		return fail(fromError(err, operationPointers, r.log))
	}
	return ok(http.StatusOK, rc)
}
