package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// Previews, test recipients and test sends (docs/api.md, "Previews and test sends").

var probRateLimited = Problem{Type: problemTypeBase + "rate-limited", Title: "Too many test sends", Status: http.StatusTooManyRequests}

type (
	sampleBody struct {
		AppointmentID string             `json:"appointmentId"`
		Start         string             `json:"start"`
		End           string             `json:"end"`
		Participants  []appt.Participant `json:"participants"`
		JoinURL       string             `json:"joinUrl"`
		Metadata      map[string]string  `json:"metadata"`
	}
	previewBody struct {
		Type          string            `json:"type"`
		Channel       string            `json:"channel"`
		Offset        string            `json:"offset"`
		AppointmentID string            `json:"appointmentId"`
		Sample        *sampleBody       `json:"sample"`
		Templates     map[string]string `json:"templates"`
		Recipient     string            `json:"recipient"` // test sends only
	}
	testRecipientBody struct {
		Channel string `json:"channel"`
		Address string `json:"address"`
	}
	verifyBody struct {
		Code string `json:"code"`
	}
)

func (h *Handler) previewOperations() map[string]operation {
	return map[string]operation{
		"previewNotification": h.preview,
		"testSend":            h.testSend,
		"listTestSends": h.testOp(func(ctx context.Context, r *request) (any, error) {
			return h.client.TestSends(ctx, r.params["org"])
		}),
		"listTestRecipients": h.testOp(func(ctx context.Context, r *request) (any, error) {
			return h.client.TestRecipients(ctx, r.params["org"])
		}),
		"addTestRecipient": h.addTestRecipient,
		"verifyTestRecipient": h.testOp(func(ctx context.Context, r *request) (any, error) {
			return h.client.VerifyTestRecipient(ctx, r.params["org"], r.params["recipientId"], r.input.(string))
		}),
		"removeTestRecipient": h.testOp(func(ctx context.Context, r *request) (any, error) {
			if err := h.client.RemoveTestRecipient(ctx, r.params["org"], r.params["recipientId"]); err != nil {
				return nil, err
			}
			return h.client.TestRecipients(ctx, r.params["org"])
		}),
	}
}

func (h *Handler) previewBodyChecks() map[string]bodyCheck {
	return map[string]bodyCheck{
		"previewNotification": func(r *request) checked { return h.checkPreview(r, false) },
		"testSend":            func(r *request) checked { return h.checkPreview(r, true) },
		"addTestRecipient":    checkTestRecipient,
		"verifyTestRecipient": checkVerify,
	}
}

// orgDenied is the 403 of an organisation the token may not act for, decided before any rule runs.
func orgDenied(r *request) *checked {
	if org := r.params["org"]; !r.grant.allows(org) {
		p := probForbidden.with(fmt.Sprintf("the token may not act for organisation %q", org),
			paramField("org", "the token may not act for this organisation"))
		return &checked{deny: &p}
	}
	return nil
}

// checkPreview applies the rules of a preview (api.Client.PreviewErrors), or of a test send
// (api.Client.TestSendErrors), to the body; r.input is the request.
func (h *Handler) checkPreview(r *request, test bool) checked {
	if d := orgDenied(r); d != nil {
		return *d
	}
	var b previewBody
	if !decodeLenient(r.body, &b) {
		return undecodable
	}
	var errs []FieldProblem
	req := appt.PreviewRequest{Org: r.params["org"], Type: appt.NotificationType(b.Type), Channel: appt.Channel(b.Channel),
		AppointmentID: b.AppointmentID, Templates: b.Templates}
	if b.Offset != "" {
		d, err := time.ParseDuration(b.Offset)
		if err != nil {
			errs = append(errs, bodyField("/offset", fmt.Sprintf("%q is not a duration such as 1h", b.Offset)))
		}
		req.Offset = d
	}
	if s := b.Sample; s != nil {
		req.Sample = &appt.PreviewSample{AppointmentID: s.AppointmentID, Participants: s.Participants, JoinURL: s.JoinURL,
			Metadata: s.Metadata, Start: parseTime(s.Start, "/sample/start", &errs), End: parseTime(s.End, "/sample/end", &errs)}
	}
	var rules []*appt.FieldError
	if test {
		tr := &appt.TestSendRequest{Preview: req, Recipient: b.Recipient, Actor: r.grant.id}
		rules = h.client.TestSendErrors(tr)
		r.input = tr
	} else {
		rules = h.client.PreviewErrors(&req)
		r.input = &req
	}
	for _, fe := range rules {
		if fe.Field == "/org" {
			continue // the path's organisation: checkOrg answers 404
		}
		errs = merge(errs, []FieldProblem{bodyField(fe.Field, fe.Msg)})
	}
	return checked{errs: errs}
}

func checkTestRecipient(r *request) checked {
	if d := orgDenied(r); d != nil {
		return *d
	}
	var b testRecipientBody
	if !decodeLenient(r.body, &b) {
		return undecodable
	}
	req := &appt.AddTestRecipientRequest{Channel: appt.Channel(b.Channel), Address: b.Address, Actor: r.grant.id}
	r.input = req
	if _, fe := api.TestAddressError(req.Channel, req.Address); fe != nil {
		return checked{errs: []FieldProblem{bodyField(fe.Field, fe.Msg)}}
	}
	return checked{}
}

func checkVerify(r *request) checked {
	if d := orgDenied(r); d != nil {
		return *d
	}
	var b verifyBody
	if !decodeLenient(r.body, &b) {
		return undecodable
	}
	r.input = b.Code
	if len(b.Code) != appt.TestCodeDigits || !isDigits(b.Code) {
		return checked{errs: []FieldProblem{bodyField("/code", fmt.Sprintf("is %d digits", appt.TestCodeDigits))}}
	}
	return checked{}
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// testOp runs a preview or test operation of an organisation after checkOrg, answering 200 with its result, 429 with
// Retry-After for a used-up rate, or the problem of testProblem.
func (h *Handler) testOp(do func(ctx context.Context, r *request) (any, error)) operation {
	return func(ctx context.Context, r *request) response {
		if p := h.checkOrg(r); p != nil {
			return fail(*p)
		}
		v, err := do(ctx, r)
		var rl *api.RateLimitedError
		if errors.As(err, &rl) {
			// A used-up rate of test sends and codes: 429 with Retry-After in whole seconds, rounded up.
			out := fail(probRateLimited.with(rl.Error()))
			out.header = http.Header{"Retry-After": {strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds())))}}
			return out
		}
		if err != nil {
			return fail(h.testProblem(err, r))
		}
		return ok(http.StatusOK, v)
	}
}

func (h *Handler) preview(ctx context.Context, r *request) response {
	return h.testOp(func(ctx context.Context, r *request) (any, error) {
		return h.client.Preview(ctx, r.input.(*appt.PreviewRequest))
	})(ctx, r)
}

func (h *Handler) addTestRecipient(ctx context.Context, r *request) response {
	res := h.testOp(func(ctx context.Context, r *request) (any, error) {
		return h.client.AddTestRecipient(ctx, r.params["org"], r.input.(*appt.AddTestRecipientRequest))
	})(ctx, r)
	if res.problem == nil {
		res.status = http.StatusCreated
	}
	return res
}

func (h *Handler) testSend(ctx context.Context, r *request) response {
	return h.testOp(func(ctx context.Context, r *request) (any, error) {
		return h.client.TestSend(ctx, r.input.(*appt.TestSendRequest))
	})(ctx, r)
}

// testProblem turns the errors of previews and test sends into problems: a rule (the field's pointer), a
// refusal of the organisation's workflow (409, naming the field), an appointment that is not there (404, naming
// appointmentId).
func (h *Handler) testProblem(err error, r *request) Problem {
	var fe *appt.FieldError
	var tr *api.TestRefusedError
	switch {
	case errors.As(err, &fe):
		f := bodyField(fe.Field, fe.Msg)
		if fe.Field == "" || fe.Field[0] != '/' {
			f = paramField(fe.Field, fe.Msg)
		}
		return probValidation.with(summary([]FieldProblem{f}), f)
	case errors.As(err, &tr):
		f := bodyField(tr.Field, tr.Reason)
		if tr.Field == "" || tr.Field[0] != '/' {
			f = paramField("recipientId", tr.Reason)
		}
		return probRefused.with(tr.Reason, f)
	case errors.Is(err, api.ErrNotFound):
		return probNotFound.with("no appointment with that ID in the organisation",
			bodyField("/appointmentId", "no appointment with that ID in the organisation"))
	}
	return fromError(err, operationPointers, r.log)
}
