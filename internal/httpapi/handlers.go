package httpapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"time"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// The request bodies, as decoded by decodeLenient (a field of the wrong type stays unset: the schema names it).
// Times are strings here so that a bad one is reported with the other rule failures, naming its field.
type (
	scheduleBody struct {
		AppointmentID string             `json:"appointmentId"`
		Org           string             `json:"org"`
		Start         string             `json:"start"`
		End           string             `json:"end"`
		Duration      string             `json:"duration"`
		Participants  []appt.Participant `json:"participants"`
		JoinURL       string             `json:"joinUrl"`
		Notifications *bool              `json:"notifications"`
		Metadata      map[string]string  `json:"metadata"`
	}
	rescheduleBody struct {
		Start    string `json:"start"`
		End      string `json:"end"`
		Duration string `json:"duration"`
	}
	cancelBody struct {
		Reason string `json:"reason"`
	}
	metadataBody struct {
		Metadata map[string]string `json:"metadata"`
	}
	notificationsBody struct {
		Enabled *bool `json:"enabled"`
	}
)

// ScheduleResponse answers POST /v1/appointments.
type ScheduleResponse struct {
	AppointmentID    string `json:"appointmentId"`
	WorkflowID       string `json:"workflowId"`
	AlreadyScheduled bool   `json:"alreadyScheduled"`
}

// OrgSettingsResponse answers the organisation endpoints.
type OrgSettingsResponse struct {
	Org                  string `json:"org"`
	NotificationsEnabled bool   `json:"notificationsEnabled"`
	AutoActivate         bool   `json:"autoActivate"`
}

// schedulePointers names the starter's fields in the schedule body. "duration" is set per request: it is the
// body's end when that was given.
var schedulePointers = fieldPointers{
	"id": "/appointmentId", "org": "/org", "start": "/start", "duration": "/duration",
	"participant": "/participants", "join-url": "/joinUrl", "metadata": "/metadata",
}

var reschedulePointers = fieldPointers{"start": "/start", "duration": "/duration"}

// operationPointers names fields of the operations whose input is in the path or a small body.
var operationPointers = fieldPointers{"reason": "/reason", "metadata": "/metadata"}

func (h *Handler) operations() map[string]operation {
	ops := map[string]operation{
		"getHealth":             h.health,
		"getOpenAPI":            func(context.Context, *request) response { return ok(http.StatusOK, api.OpenAPIDocument) },
		"scheduleAppointment":   h.schedule,
		"getAppointment":        h.status,
		"rescheduleAppointment": h.reschedule,
		"cancelAppointment": h.update(func(ctx context.Context, id string, r *request) (*appt.UpdateResult, error) {
			return h.client.Cancel(ctx, id, r.input.(string))
		}),
		"activateAppointment": h.update(func(ctx context.Context, id string, _ *request) (*appt.UpdateResult, error) {
			return h.client.Activate(ctx, id)
		}),
		"callStarted": h.update(func(ctx context.Context, id string, _ *request) (*appt.UpdateResult, error) {
			return h.client.CallStarted(ctx, id)
		}),
		"callEnded": h.update(func(ctx context.Context, id string, _ *request) (*appt.UpdateResult, error) {
			return h.client.CallEnded(ctx, id)
		}),
		"participantJoined": h.update(func(ctx context.Context, id string, r *request) (*appt.UpdateResult, error) {
			return h.client.Joined(ctx, id, r.params["participantId"])
		}),
		"retryDelivery": h.update(func(ctx context.Context, id string, r *request) (*appt.UpdateResult, error) {
			return h.client.Retry(ctx, id, r.params["entryId"])
		}),
		"addParticipant":     h.addParticipant,
		"removeParticipant":  h.removeParticipant,
		"updateMetadata":     h.updateMetadata,
		"setNotifications":   h.setNotifications,
		"enableAutoActivate": h.enableAutoActivate,
		"eraseCustomer":      h.erase,
		"getErasure":         h.getErasure,
	}
	maps.Copy(ops, h.orgOperations())
	maps.Copy(ops, h.previewOperations())
	return ops
}

// bodyCheck applies the rules of internal/appt to an operation's body, decoded as far as it goes, whether or not
// the body matched the document's schema, so that one answer names every field that fails either (docs/api.md,
// "Errors"). It calls nothing but the config. When the rules pass, r.input holds what the operation takes.
type bodyCheck func(r *request) checked

// checked is what a bodyCheck found: the rule failures, as fields of the body; or deny, a refusal of the request as a
// whole (403), answered when the body has no other fault.
type checked struct {
	errs []FieldProblem
	deny *Problem
}

// bodyChecks are the checks of the operations that take a body; New refuses a document with a body operation that
// has none.
func (h *Handler) bodyChecks() map[string]bodyCheck {
	checks := map[string]bodyCheck{
		"scheduleAppointment":   h.checkSchedule,
		"rescheduleAppointment": h.checkReschedule,
		"cancelAppointment":     checkCancel,
		"updateMetadata":        checkMetadata,
		"setNotifications":      checkNotifications,
		"addParticipant":        checkAddParticipant,
		"eraseCustomer":         h.checkErasure,
	}
	maps.Copy(checks, h.orgBodyChecks())
	maps.Copy(checks, h.previewBodyChecks())
	return checks
}

// undecodable is the rule failure of a body the schema let through but that cannot be decoded.
var undecodable = checked{errs: []FieldProblem{bodyField("", "cannot be decoded")}}

func (h *Handler) now() time.Time {
	if h.client.Now != nil {
		return h.client.Now()
	}
	return time.Now()
}

func (h *Handler) health(ctx context.Context, _ *request) response {
	ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
	defer cancel()
	if _, err := h.client.Temporal.CheckHealth(ctx, nil); err != nil {
		return fail(probUnavailable.with("Temporal does not answer its health check"))
	}
	return ok(http.StatusOK, map[string]string{"status": "ok"})
}

// parseTime parses an RFC 3339 body field, adding a problem when it is malformed.
func parseTime(s, ptr string, errs *[]FieldProblem) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		*errs = append(*errs, bodyField(ptr, fmt.Sprintf("%q is not an RFC 3339 time such as 2026-05-01T14:00:00Z", s)))
	}
	return t
}

// endOf works out an end from a body's end or duration (not both); zero when neither is given.
func endOf(start time.Time, end, duration string, errs *[]FieldProblem) time.Time {
	if end != "" && duration != "" {
		*errs = append(*errs, bodyField("/duration", "give end or duration, not both"))
		return time.Time{}
	}
	if end != "" {
		return parseTime(end, "/end", errs)
	}
	if duration != "" {
		d, err := time.ParseDuration(duration)
		if err != nil {
			*errs = append(*errs, bodyField("/duration", fmt.Sprintf("%q is not a duration such as 30m or 1h", duration)))
			return time.Time{}
		}
		if start.IsZero() {
			return time.Time{}
		}
		if d <= 0 {
			// An end before the start would read as "no end" downstream; the duration rule says why it is refused.
			*errs = append(*errs, bodyField("/duration", "must be positive"))
			return time.Time{}
		}
		return start.Add(d)
	}
	return time.Time{}
}

// merge appends the rule failures of the appt validators, skipping fields already reported as malformed.
func merge(errs []FieldProblem, more []FieldProblem) []FieldProblem {
	seen := map[string]bool{}
	for _, e := range errs {
		if e.Pointer != nil {
			seen[*e.Pointer] = true
		}
	}
	for _, e := range more {
		if e.Pointer != nil && seen[*e.Pointer] {
			continue
		}
		errs = append(errs, e)
	}
	return errs
}

// scheduleInput is what a schedule request takes once its body passed every rule.
type scheduleInput struct {
	req  *appt.ScheduleRequest
	ptrs fieldPointers
}

// checkSchedule applies the rules of a new appointment (api.Client.ScheduleErrors) to the body. An organisation the
// token may not act for is refused (403) before any rule runs, so the rules tell nothing about it.
func (h *Handler) checkSchedule(r *request) checked {
	var b scheduleBody
	if !decodeLenient(r.body, &b) {
		return undecodable
	}
	if appt.ValidateAppointmentID(b.AppointmentID) == nil {
		r.log.appointmentID = b.AppointmentID // only a well-formed ID is logged
	}
	if appt.ValidateParticipantID("org", b.Org) == nil {
		r.log.org = b.Org
	}
	if !r.grant.allows(b.Org) {
		p := probForbidden.with(fmt.Sprintf("the token may not act for organisation %q", b.Org),
			bodyField("/org", "the token may not act for this organisation"))
		return checked{deny: &p}
	}
	var errs []FieldProblem
	req := &appt.ScheduleRequest{
		AppointmentID: b.AppointmentID, Org: b.Org, Participants: b.Participants, JoinURL: b.JoinURL,
		Notifications: b.Notifications == nil || *b.Notifications, Metadata: b.Metadata,
	}
	req.Start = parseTime(b.Start, "/start", &errs)
	req.End = endOf(req.Start, b.End, b.Duration, &errs)
	ptrs := schedulePointers
	if b.End != "" {
		ptrs = fieldPointers{"duration": "/end"}
		for k, v := range schedulePointers {
			if k != "duration" {
				ptrs[k] = v
			}
		}
	}
	if req.Start.IsZero() && b.Start == "" {
		errs = append(errs, bodyField("/start", "is required"))
	}
	if !req.Start.IsZero() {
		errs = merge(errs, ptrs.problems(h.client.ScheduleErrors(req)))
	} else {
		// Without a start the time rules cannot run; every other field is still checked.
		probe := *req
		probe.Start = h.now().Add(time.Hour)
		probe.End = probe.Start.Add(api.DefaultDuration)
		for _, e := range ptrs.problems(h.client.ScheduleErrors(&probe)) {
			if p := *e.Pointer; p != "/start" && p != "/duration" && p != "/end" {
				errs = merge(errs, []FieldProblem{e})
			}
		}
	}
	r.input = scheduleInput{req: req, ptrs: ptrs}
	return checked{errs: errs}
}

func (h *Handler) schedule(ctx context.Context, r *request) response {
	in := r.input.(scheduleInput)
	id := in.req.AppointmentID
	res := ScheduleResponse{AppointmentID: id, WorkflowID: appt.WorkflowID(id)}
	err := h.client.Schedule(ctx, in.req)
	if errors.Is(err, api.ErrAlreadyScheduled) {
		res.AlreadyScheduled = true
		return ok(http.StatusOK, res)
	}
	if err != nil {
		return fail(fromError(err, in.ptrs, r.log))
	}
	out := ok(http.StatusCreated, res)
	out.header = http.Header{"Location": {"/v1/appointments/" + url.PathEscape(id)}}
	return out
}

// checkAccess answers 404 for an appointment that does not exist or belongs to an organisation the token may not
// act for, so that its existence does not leak. A token for every organisation skips the look-up: the operation
// itself finds a missing appointment.
func (h *Handler) checkAccess(ctx context.Context, r *request) *Problem {
	if r.grant.all {
		return nil
	}
	org, err := h.client.AppointmentOrg(ctx, r.params["id"])
	if err == nil && !r.grant.allows(org) {
		err = api.ErrNotFound
	}
	if err != nil {
		p := fromError(err, operationPointers, r.log)
		return &p
	}
	r.log.org = org
	return nil
}

func (h *Handler) status(ctx context.Context, r *request) response {
	if p := h.checkAccess(ctx, r); p != nil {
		return fail(*p)
	}
	st, err := h.client.Status(ctx, r.params["id"])
	if err != nil {
		return fail(fromError(err, operationPointers, r.log))
	}
	r.log.org = st.Org
	return ok(http.StatusOK, st)
}

// update runs one operation of an appointment's workflow, after the access check.
func (h *Handler) update(do func(ctx context.Context, id string, r *request) (*appt.UpdateResult, error)) operation {
	return func(ctx context.Context, r *request) response {
		if p := h.checkAccess(ctx, r); p != nil {
			return fail(*p)
		}
		res, err := do(ctx, r.params["id"], r)
		if err != nil {
			return fail(fromError(err, operationPointers, r.log))
		}
		return ok(http.StatusOK, res)
	}
}

// rescheduleInput is what a reschedule takes once its body passed every rule.
type rescheduleInput struct{ start, end time.Time }

// checkReschedule applies the rules of a reschedule (appt.RescheduleErrors) to the body.
func (h *Handler) checkReschedule(r *request) checked {
	var b rescheduleBody
	if !decodeLenient(r.body, &b) {
		return undecodable
	}
	var errs []FieldProblem
	start := parseTime(b.Start, "/start", &errs)
	end := endOf(start, b.End, b.Duration, &errs)
	ptrs := reschedulePointers
	if b.End != "" {
		ptrs = fieldPointers{"start": "/start", "duration": "/end"}
	}
	if !start.IsZero() {
		errs = merge(errs, ptrs.problems(appt.RescheduleErrors(start, end, h.now())))
	}
	r.input = rescheduleInput{start: start, end: end}
	return checked{errs: errs}
}

func (h *Handler) reschedule(ctx context.Context, r *request) response {
	in := r.input.(rescheduleInput)
	return h.update(func(ctx context.Context, id string, _ *request) (*appt.UpdateResult, error) {
		return h.client.Reschedule(ctx, id, in.start, in.end)
	})(ctx, r)
}

// checkCancel applies the cancel reason's rule (appt.ValidateReason) to the optional body; r.input is the reason.
func checkCancel(r *request) checked {
	var b cancelBody
	if !decodeLenient(r.body, &b) {
		return undecodable
	}
	r.input = b.Reason
	var errs []FieldProblem
	if fe := fieldError(appt.ValidateReason(b.Reason)); fe != nil {
		errs = operationPointers.problems([]*appt.FieldError{fe})
	}
	return checked{errs: errs}
}

// checkMetadata applies the metadata rules at the edge (appt.MetadataErrors); r.input is the metadata.
func checkMetadata(r *request) checked {
	var b metadataBody
	if !decodeLenient(r.body, &b) {
		return undecodable
	}
	r.input = b.Metadata
	return checked{errs: operationPointers.problems(appt.MetadataErrors(b.Metadata))}
}

func (h *Handler) updateMetadata(ctx context.Context, r *request) response {
	md := r.input.(map[string]string)
	return h.update(func(ctx context.Context, id string, _ *request) (*appt.UpdateResult, error) {
		return h.client.UpdateMetadata(ctx, id, md)
	})(ctx, r)
}

// checkNotifications requires the flag; r.input is its value.
func checkNotifications(r *request) checked {
	var b notificationsBody
	if !decodeLenient(r.body, &b) {
		return undecodable
	}
	if b.Enabled == nil {
		return checked{errs: []FieldProblem{bodyField("/enabled", "is required")}}
	}
	r.input = *b.Enabled
	return checked{}
}

// fieldError is err as a validation error of internal/appt, or nil.
func fieldError(err error) *appt.FieldError {
	var fe *appt.FieldError
	if errors.As(err, &fe) {
		return fe
	}
	return nil
}

// checkOrg answers 403 for an organisation the token may not act for, and 404 for one the config does not know.
func (h *Handler) checkOrg(r *request) *Problem {
	org := r.params["org"]
	if !r.grant.allows(org) {
		p := probForbidden.with(fmt.Sprintf("the token may not act for organisation %q", org),
			paramField("org", "the token may not act for this organisation"))
		return &p
	}
	if err := h.client.CheckOrg(org); err != nil {
		var fe *appt.FieldError
		if !errors.As(err, &fe) { // Temporal could not tell
			p := fromError(err, nil, r.log)
			return &p
		}
		p := probNoOrg.with("no such organisation", paramField("org", "is not an organisation (neither in the config nor written through the API)"))
		return &p
	}
	return nil
}

func (h *Handler) orgSettings(ctx context.Context, r *request, org string) response {
	s, err := h.client.OrgSettings(ctx, org)
	if err != nil {
		return fail(fromError(err, operationPointers, r.log))
	}
	return ok(http.StatusOK, OrgSettingsResponse{Org: org, NotificationsEnabled: s.NotificationsEnabled, AutoActivate: s.AutoActivate})
}

func (h *Handler) setNotifications(ctx context.Context, r *request) response {
	if p := h.checkOrg(r); p != nil {
		return fail(*p)
	}
	if err := h.client.SetNotifications(ctx, r.params["org"], r.input.(bool)); err != nil {
		return fail(fromError(err, operationPointers, r.log))
	}
	return h.orgSettings(ctx, r, r.params["org"])
}

func (h *Handler) enableAutoActivate(ctx context.Context, r *request) response {
	if p := h.checkOrg(r); p != nil {
		return fail(*p)
	}
	if err := h.client.EnableAutoActivate(ctx, r.params["org"]); err != nil {
		return fail(fromError(err, operationPointers, r.log))
	}
	return h.orgSettings(ctx, r, r.params["org"])
}
