package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// Previews and test sends (docs/rules.md#previews, docs/rules.md#test-sends). Their validation errors name fields
// by JSON pointer into the request body of the HTTP API (/sample/participants/0/email, /templates/de~1reminder.txt),
// which the starter's flags map onto.

// RateLimitedError is a test send refused because the organisation's test-send rate is used up
// (appt.TestSendLimit per appt.TestSendWindow). RetryAfter is how long until one more is accepted.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("at most %d test sends per %s: try again in %s", appt.TestSendLimit, appt.TestSendWindow,
		e.RetryAfter.Round(time.Second))
}

// TestRefusedError is a test-recipient operation or a test send that the organisation's workflow refused. Field
// is the JSON pointer of the field at fault.
type TestRefusedError struct {
	Field  string
	Reason string
}

func (e *TestRefusedError) Error() string { return e.Field + ": " + e.Reason }

// jsonPointer escapes one reference token (RFC 6901).
func jsonPointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// PreviewErrors checks a preview (or the preview of a test send) completely, without touching Temporal: the
// organisation, the type (a notification type), the channel (email, sms, webhook or none), the offset (REMINDER
// and ROOM only, not negative), exactly one of appointmentId and sample, the sample's fields by the rules of a new
// appointment but the start's window (a preview may be of any time), and the unsaved templates (parsed and
// trial-rendered: templates.Set.WithOverrides). Each error's Field is a JSON pointer.
func (c *Client) PreviewErrors(req *appt.PreviewRequest) []*appt.FieldError {
	var errs []*appt.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, &appt.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if err := c.CheckOrg(req.Org); err != nil {
		add("/org", "%s", err.(*appt.FieldError).Msg)
	}
	if !slices.Contains(appt.NotificationTypes, req.Type) {
		add("/type", "%q is not a notification type (CREATE, RESCHEDULE, CANCELLED, REMINDER, ROOM, FOLLOW_UP)", req.Type)
	}
	switch req.Channel {
	case "", appt.Email, appt.SMS, appt.Webhook:
	default:
		add("/channel", "%q is not email, sms or webhook", req.Channel)
	}
	if req.Offset < 0 || (req.Offset > 0 && req.Type != appt.Reminder && req.Type != appt.Room) {
		add("/offset", "is for REMINDER and ROOM only, and not negative")
	}
	switch {
	case req.AppointmentID != "" && req.Sample != nil:
		add("/sample", "give appointmentId or sample, not both")
	case req.AppointmentID != "":
		if err := appt.ValidateAppointmentID(req.AppointmentID); err != nil {
			add("/appointmentId", "%s", err.(*appt.FieldError).Msg)
		}
	case req.Sample == nil:
		add("/sample", "give appointmentId (an existing appointment) or sample (appointment fields)")
	default:
		errs = append(errs, sampleErrors(req.Sample)...)
	}
	if len(req.Templates) > 0 {
		if set, err := c.templateSet(); err != nil {
			add("/templates", "%v", err)
		} else if _, err := set.WithOverrides(req.Org, req.Templates); err != nil {
			var fe *templates.FileError
			if errors.As(err, &fe) && fe.File != "" {
				add(jsonPointer("templates", fe.File), "%v", fe.Err)
			} else {
				add("/templates", "%v", err)
			}
		}
	}
	return errs
}

func sampleErrors(s *appt.PreviewSample) []*appt.FieldError {
	var errs []*appt.FieldError
	add := func(field, msg string) { errs = append(errs, &appt.FieldError{Field: field, Msg: msg}) }
	if s.AppointmentID != "" {
		if err := appt.ValidateAppointmentID(s.AppointmentID); err != nil {
			add("/sample/appointmentId", err.(*appt.FieldError).Msg)
		}
	}
	if s.Start.IsZero() {
		add("/sample/start", "is required")
	}
	if !s.End.IsZero() {
		if err := appt.ValidateDuration(s.End.Sub(s.Start)); err != nil {
			add("/sample/end", err.(*appt.FieldError).Msg)
		}
	}
	for _, fe := range appt.ParticipantsErrors(s.Participants) {
		add(participantPointer(fe.Field), fe.Msg)
	}
	if len(s.Participants) > 0 && !slices.ContainsFunc(s.Participants, appt.Participant.IsCustomer) {
		add("/sample/participants", "has no customer: notifications go to customers only")
	}
	if s.JoinURL != "" {
		if err := appt.ValidateJoinURL(s.JoinURL); err != nil {
			add("/sample/joinUrl", err.(*appt.FieldError).Msg)
		}
	}
	for _, fe := range appt.MetadataErrors(s.Metadata) {
		field := "/sample/metadata"
		if key, ok := strings.CutPrefix(fe.Field, "metadata."); ok {
			field = jsonPointer("sample", "metadata", key)
		}
		add(field, fe.Msg)
	}
	return errs
}

// participantPointer maps the participant rules' field names (participant[i].email) into the sample.
func participantPointer(field string) string {
	rest, ok := strings.CutPrefix(field, "participant[")
	if !ok {
		return "/sample/participants"
	}
	i, sub, _ := strings.Cut(rest, "]")
	if _, err := strconv.Atoi(i); err != nil {
		return "/sample/participants"
	}
	if sub = strings.TrimPrefix(sub, "."); sub == "" {
		return jsonPointer("sample", "participants", i)
	}
	return jsonPointer(append([]string{"sample", "participants", i}, strings.Split(sub, ".")...)...)
}

// Preview shows how a notification would go out, on a worker, without sending anything or touching the
// appointment (docs/rules.md#previews). Errors: the first of PreviewErrors; ErrNotFound for an appointment that
// does not exist or belongs to another organisation; ErrNoWorker.
func (c *Client) Preview(ctx context.Context, req *appt.PreviewRequest) (*appt.PreviewResult, error) {
	if errs := c.PreviewErrors(req); len(errs) > 0 {
		return nil, errs[0]
	}
	if req.AppointmentID != "" {
		org, err := c.AppointmentOrg(ctx, req.AppointmentID)
		if err != nil {
			return nil, err
		}
		if org != req.Org {
			return nil, ErrNotFound
		}
	}
	var res appt.PreviewResult
	if err := c.orgTests(ctx, req.Org, appt.UpdatePreview, req, &res, "/appointmentId"); err != nil {
		return nil, err
	}
	return &res, nil
}

// TestAddressError checks a test recipient's address: an email address (appt.ValidateEmail) or an E.164 number
// (appt.ValidatePhone), for the channel; field is /address. It returns the address normalised (addrhash.Normalize).
func TestAddressError(ch appt.Channel, address string) (string, *appt.FieldError) {
	switch ch {
	case appt.Email:
		if err := appt.ValidateEmail("/address", address); err != nil {
			return "", err.(*appt.FieldError)
		}
	case appt.SMS:
		if err := appt.ValidatePhone("/address", address); err != nil {
			return "", err.(*appt.FieldError)
		}
	default:
		return "", &appt.FieldError{Field: "/channel", Msg: fmt.Sprintf("%q is not email or sms", ch)}
	}
	n, err := addrhash.Normalize(ch, address)
	if err != nil {
		return "", &appt.FieldError{Field: "/address", Msg: err.Error()}
	}
	return n, nil
}

// AddTestRecipient registers a test recipient of the organisation (or asks for a new code for one not yet
// verified) and has the worker send it a verification code through the organisation's channel. The recipient can
// receive test sends once VerifyTestRecipient confirms the code.
func (c *Client) AddTestRecipient(ctx context.Context, org string, req *appt.AddTestRecipientRequest) (*appt.TestRecipient, error) {
	if err := c.CheckOrg(org); err != nil {
		return nil, err
	}
	n, fe := TestAddressError(req.Channel, req.Address)
	if fe != nil {
		return nil, fe
	}
	req.Address = n
	var r appt.TestRecipient
	return &r, c.orgTests(ctx, org, appt.UpdateAddTestRecipient, req, &r, "/address")
}

// VerifyTestRecipient confirms a test recipient with the code it received.
func (c *Client) VerifyTestRecipient(ctx context.Context, org, id, code string) (*appt.TestRecipient, error) {
	if err := c.CheckOrg(org); err != nil {
		return nil, err
	}
	if len(code) != appt.TestCodeDigits || strings.Trim(code, "0123456789") != "" {
		return nil, &appt.FieldError{Field: "/code", Msg: fmt.Sprintf("is %d digits", appt.TestCodeDigits)}
	}
	var r appt.TestRecipient
	return &r, c.orgTests(ctx, org, appt.UpdateVerifyTestRecipient, &appt.VerifyTestRecipientRequest{ID: id, Code: code}, &r, "/code")
}

// RemoveTestRecipient removes a test recipient.
func (c *Client) RemoveTestRecipient(ctx context.Context, org, id string) error {
	if err := c.CheckOrg(org); err != nil {
		return err
	}
	return c.orgTests(ctx, org, appt.UpdateRemoveTestRecipient, id, nil, "id")
}

// TestRecipients lists the organisation's test recipients (none when it has never had one).
func (c *Client) TestRecipients(ctx context.Context, org string) ([]appt.TestRecipient, error) {
	out := []appt.TestRecipient{}
	return out, c.queryOrgTests(ctx, org, appt.QueryTestRecipients, &out)
}

// TestSends lists the organisation's recorded test sends, oldest first (at most appt.MaxTestSendRecords).
func (c *Client) TestSends(ctx context.Context, org string) ([]appt.TestSendRecord, error) {
	out := []appt.TestSendRecord{}
	return out, c.queryOrgTests(ctx, org, appt.QueryTestSends, &out)
}

// TestSend sends one notification, built as its preview, through the real channel to a verified test recipient
// (email, sms) or to the organisation's webhook subscribers (webhook), marked as a test
// (docs/rules.md#test-sends). Errors: the first of PreviewErrors; a channel other than email, sms or webhook
// (/preview/channel... reported as /channel); *TestRefusedError for an unknown or unverified recipient;
// *RateLimitedError.
func (c *Client) TestSend(ctx context.Context, req *appt.TestSendRequest) (*appt.TestSendResult, error) {
	if errs := c.TestSendErrors(req); len(errs) > 0 {
		return nil, errs[0]
	}
	var res appt.TestSendResult
	if err := c.orgTests(ctx, req.Preview.Org, appt.UpdateTestSend, req, &res, "/recipient"); err != nil {
		return nil, err
	}
	return &res, nil
}

// TestSendErrors checks a test send without touching Temporal: PreviewErrors, a channel (required), and a
// recipient for email and SMS (none for webhooks).
func (c *Client) TestSendErrors(req *appt.TestSendRequest) []*appt.FieldError {
	errs := c.PreviewErrors(&req.Preview)
	switch req.Preview.Channel {
	case appt.Email, appt.SMS:
		if req.Recipient == "" {
			errs = append(errs, &appt.FieldError{Field: "/recipient", Msg: "is required: a verified test recipient's ID"})
		}
	case appt.Webhook:
		if req.Recipient != "" {
			errs = append(errs, &appt.FieldError{Field: "/recipient", Msg: "a test webhook goes to the organisation's subscribers: name no recipient"})
		}
	case "":
		errs = append(errs, &appt.FieldError{Field: "/channel", Msg: "is required: email, sms or webhook"})
	}
	return errs
}

func (c *Client) queryOrgTests(ctx context.Context, org, query string, out any) error {
	if err := c.CheckOrg(org); err != nil {
		return err
	}
	v, err := c.Temporal.QueryWorkflow(ctx, appt.OrgTestsWorkflowID(org), "", query)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return err
	}
	return v.Get(out)
}

// orgTests runs an update of the organisation's preview-and-test workflow, starting it if it is not running, and
// turns its refusals into errors: field names the field a refusal is about.
func (c *Client) orgTests(ctx context.Context, org, update string, arg, out any, field string) error {
	_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       appt.OrgTestsWorkflowID(org),
		TaskQueue:                appt.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Previews and test sends of " + org,
	}, appt.OrgTestsWorkflowType, &appt.OrgTestsInput{Org: org})
	if err != nil {
		return err
	}
	err = c.update(ctx, appt.OrgTestsWorkflowID(org), update, arg, out)
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		switch appErr.Type() {
		case appt.ErrTestSendRateLimited:
			var d appt.RateLimitDetails
			_ = appErr.Details(&d)
			return &RateLimitedError{RetryAfter: d.RetryAfter}
		case appt.ErrTemplateInvalid:
			var file string
			_ = appErr.Details(&file)
			return &appt.FieldError{Field: jsonPointer("templates", file), Msg: appErr.Message()}
		case appt.ErrPreviewAppointmentGone:
			return ErrNotFound
		}
		return &TestRefusedError{Field: field, Reason: appErr.Message()}
	}
	return err
}
