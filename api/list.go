package api

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// ListFilter selects appointments from the visibility store by their search attributes. Zero fields match
// everything; From and To bound AppointmentStart, both inclusive (To to the second).
type ListFilter struct {
	Org      string
	State    appt.State
	From, To time.Time
}

// Listed is one appointment as the visibility store has it: its search attributes and its workflow's status
// (running, completed, …). It holds no personal data.
type Listed struct {
	AppointmentID  string     `json:"appointmentId"`
	Org            string     `json:"org"`
	State          appt.State `json:"state"`
	Start          time.Time  `json:"start"`
	WorkflowStatus string     `json:"workflowStatus"` // running, completed, failed, terminated, …
	WorkflowID     string     `json:"workflowId"`
}

// States lists every appointment state, for validating a filter.
var States = []appt.State{appt.Scheduled, appt.Active, appt.InCall, appt.Ended, appt.CancelledSt, appt.Expired, appt.Rejected}

// Query returns the visibility query of a filter (the same text works in the Web UI's search box).
func (f ListFilter) Query() string {
	q := []string{fmt.Sprintf("WorkflowType = '%s'", appt.AppointmentWorkflowType)}
	if f.Org != "" {
		q = append(q, fmt.Sprintf("%s = '%s'", appt.SearchAttrOrg, f.Org))
	}
	if f.State != "" {
		q = append(q, fmt.Sprintf("%s = '%s'", appt.SearchAttrState, f.State))
	}
	if !f.From.IsZero() {
		q = append(q, fmt.Sprintf("%s >= '%s'", appt.SearchAttrStart, f.From.UTC().Format(time.RFC3339)))
	}
	if !f.To.IsZero() {
		// "<= To" misses a start exactly at To on the SQLite visibility store (it compares the stored text), so the
		// bound is "< the next second": inclusive to the second.
		q = append(q, fmt.Sprintf("%s < '%s'", appt.SearchAttrStart, f.To.UTC().Truncate(time.Second).Add(time.Second).Format(time.RFC3339)))
	}
	return strings.Join(q, " AND ")
}

// Validate checks a filter without touching Temporal: a known organisation, a known state, From not after To.
// The values then go into the query as they are, so they must not contain quotes.
func (c *Client) ValidateList(f ListFilter) error {
	if f.Org != "" {
		if err := c.CheckOrg(f.Org); err != nil {
			return err
		}
	}
	if f.State != "" {
		ok := false
		for _, s := range States {
			ok = ok || s == f.State
		}
		if !ok {
			names := make([]string, len(States))
			for i, s := range States {
				names[i] = string(s)
			}
			return &appt.FieldError{Field: "state", Msg: fmt.Sprintf("%q is not one of %s", f.State, strings.Join(names, ", "))}
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return &appt.FieldError{Field: "from", Msg: "is after --to"}
	}
	return nil
}

// List returns the appointments that match the filter, ordered by start, then ID. It reads the visibility store
// only, so it needs no worker (but the Temporal server, which locally is the worker).
func (c *Client) List(ctx context.Context, f ListFilter) ([]Listed, error) {
	if err := c.ValidateList(f); err != nil {
		return nil, err
	}
	ns := c.Namespace
	if ns == "" {
		ns = "default"
	}
	var out []Listed
	var token []byte
	for {
		res, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: ns, Query: f.Query(), NextPageToken: token, PageSize: 1000,
		})
		if err != nil {
			return nil, err
		}
		for _, e := range res.GetExecutions() {
			l := Listed{
				AppointmentID:  strings.TrimPrefix(e.GetExecution().GetWorkflowId(), appt.WorkflowID("")),
				WorkflowID:     e.GetExecution().GetWorkflowId(),
				WorkflowStatus: workflowStatus(e.GetStatus()),
			}
			fields := e.GetSearchAttributes().GetIndexedFields()
			l.Org = saString(fields[appt.SearchAttrOrg])
			l.State = appt.State(saString(fields[appt.SearchAttrState]))
			if s := saString(fields[appt.SearchAttrStart]); s != "" {
				l.Start, _ = time.Parse(time.RFC3339Nano, s)
			}
			out = append(out, l)
		}
		token = res.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].AppointmentID < out[j].AppointmentID
	})
	return out, nil
}

// saString decodes a Keyword or Datetime search attribute (never encrypted: codecs do not apply to them).
func saString(p *commonpb.Payload) string {
	var s string
	if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &s) != nil {
		return ""
	}
	return s
}

func workflowStatus(s enumspb.WorkflowExecutionStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// Differences compares a schedule request with the appointment that already has its ID, and names what differs:
// the organisation, the start and end as they are now (after any reschedule), and the participants (added,
// missing, or with a different field, named but never shown). It changes nothing. An empty list means the
// request matches.
func (c *Client) Differences(ctx context.Context, req *appt.ScheduleRequest) ([]string, error) {
	existing, err := c.scheduledRequest(ctx, req.AppointmentID)
	if err != nil {
		return nil, err
	}
	start, end := existing.Start, existing.End
	if st, err := c.Status(ctx, req.AppointmentID); err == nil {
		start, end = st.Start, st.End
	}
	var diffs []string
	if existing.Org != req.Org {
		diffs = append(diffs, fmt.Sprintf("org (existing %s, requested %s)", existing.Org, req.Org))
	}
	if !start.Equal(req.Start) {
		diffs = append(diffs, fmt.Sprintf("start (existing %s, requested %s)", start.UTC().Format(time.RFC3339), req.Start.UTC().Format(time.RFC3339)))
	} else if !req.End.IsZero() && !end.IsZero() && !end.Equal(req.End) {
		diffs = append(diffs, fmt.Sprintf("end (existing %s, requested %s)", end.UTC().Format(time.RFC3339), req.End.UTC().Format(time.RFC3339)))
	}
	if p := participantDiffs(existing.Participants, req.Participants); len(p) > 0 {
		diffs = append(diffs, "participants ("+strings.Join(p, "; ")+")")
	}
	return diffs, nil
}

// participantDiffs names the participants that differ, by ID and field name only: values are personal data.
func participantDiffs(existing, requested []appt.Participant) []string {
	have := map[string]appt.Participant{}
	for _, p := range existing {
		have[p.ID] = p
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range requested {
		seen[p.ID] = true
		e, ok := have[p.ID]
		if !ok {
			out = append(out, p.ID+" is not in the existing appointment")
			continue
		}
		var fields []string
		for _, f := range []struct {
			name string
			a, b string
		}{{"name", e.Name, p.Name}, {"email", e.Email, p.Email}, {"phone", e.Phone, p.Phone}, {"tz", e.TZ, p.TZ},
			{"locale", e.Locale, p.Locale}, {"role", string(roleOf(e)), string(roleOf(p))}} {
			if f.a != f.b {
				fields = append(fields, f.name)
			}
		}
		if len(fields) > 0 {
			verb := " differ"
			if len(fields) == 1 {
				verb = " differs"
			}
			out = append(out, p.ID+": "+strings.Join(fields, ", ")+verb)
		}
	}
	for _, p := range existing {
		if !seen[p.ID] {
			out = append(out, p.ID+" is missing from the request")
		}
	}
	return out
}

func roleOf(p appt.Participant) appt.Role {
	if p.Role == "" {
		return appt.Customer
	}
	return p.Role
}

// scheduledRequest reads the request an appointment's workflow was started with, from its history's first event.
func (c *Client) scheduledRequest(ctx context.Context, id string) (*appt.ScheduleRequest, error) {
	it := c.Temporal.GetWorkflowHistory(ctx, appt.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return nil, ErrNotFound
	}
	ev, err := it.Next()
	if err != nil {
		return nil, err
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		return nil, errors.New("the appointment's history does not begin with its start")
	}
	var req appt.ScheduleRequest
	if err := c.dataConverter().FromPayloads(attrs.GetInput(), &req); err != nil {
		return nil, fmt.Errorf("reading the scheduled request: %w", err)
	}
	return &req, nil
}

func (c *Client) dataConverter() converter.DataConverter {
	if c.DataConverter != nil {
		return c.DataConverter
	}
	return converter.GetDefaultDataConverter()
}
