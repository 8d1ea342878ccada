package activities

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/smsparts"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// SampleAppointmentID is the appointment ID of a preview from sample fields that names none.
const SampleAppointmentID = "preview"

// AppointmentReader reads the message of a notification as an existing appointment's workflow would send it now,
// without changing or recording anything (appt.QueryNotificationMessage). found is false when there is no such
// appointment.
type AppointmentReader interface {
	NotificationMessage(ctx context.Context, appointmentID string, q appt.NotificationMessageQuery) (msg *Message, found bool, err error)
}

// TemporalAppointmentReader queries appointment workflows through a Temporal client.
type TemporalAppointmentReader struct{ Client client.Client }

// NotificationMessage runs the appointment workflow's notification-message query.
func (r TemporalAppointmentReader) NotificationMessage(ctx context.Context, id string, q appt.NotificationMessageQuery) (*Message, bool, error) {
	v, err := r.Client.QueryWorkflow(ctx, appt.WorkflowID(id), "", appt.QueryNotificationMessage, q)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("querying appointment %s: %w", id, err)
	}
	var msg Message
	if err := v.Get(&msg); err != nil {
		return nil, false, fmt.Errorf("decoding the message of appointment %s: %w", id, err)
	}
	return &msg, true, nil
}

// previewOrg is how previews and test sends read an organisation and the templates it renders with: the document in
// force (the API's, else the config file's) through the organisation directory, as LoadOrg and Deliver read it, so a
// preview renders what the next send would.
func (a *Activities) previewOrg(ctx context.Context, id string) (*config.Org, *templates.Set, error) {
	v, err := a.lookup(ctx, id) // the document in force, and its templates put in force in the shared set
	if err != nil {
		return nil, nil, err
	}
	if !v.Known || v.Org == nil {
		return nil, nil, temporal.NewNonRetryableApplicationError("unknown organisation "+id, ErrBadInput, nil)
	}
	set := a.Templates
	if set == nil {
		set = templates.Defaults()
	}
	return v.Org, set, nil
}

// previewMessage resolves what a preview or test send renders: the organisation, its templates with the request's
// unsaved ones over them, and the notification's message, read from the appointment's workflow or built from the
// sample fields with the code the workflow uses (NewNotification; the sample counts as activated, so the join link
// shows wherever the type may carry it).
func (a *Activities) previewMessage(ctx context.Context, req *appt.PreviewRequest) (*config.Org, *templates.Set, *Message, error) {
	org, set, err := a.previewOrg(ctx, req.Org)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(req.Templates) > 0 {
		if set, err = set.WithOverrides(org.ID, req.Templates); err != nil {
			var fe *templates.FileError
			file := ""
			if errors.As(err, &fe) {
				file = fe.File
			}
			return nil, nil, nil, temporal.NewNonRetryableApplicationError(err.Error(), appt.ErrTemplateInvalid, nil, file)
		}
	}
	at := req.At
	if at.IsZero() {
		at = time.Now()
	}
	if req.AppointmentID != "" {
		if a.Appointments == nil {
			return nil, nil, nil, temporal.NewNonRetryableApplicationError("this worker cannot read appointments", ErrUnprovisioned, nil)
		}
		msg, found, err := a.Appointments.NotificationMessage(ctx, req.AppointmentID,
			appt.NotificationMessageQuery{Type: req.Type, Offset: req.Offset})
		if err != nil {
			return nil, nil, nil, err
		}
		if !found || msg.Appointment.Org != org.ID {
			return nil, nil, nil, temporal.NewNonRetryableApplicationError("no appointment "+req.AppointmentID+
				" in organisation "+org.ID, appt.ErrPreviewAppointmentGone, nil)
		}
		return org, set, msg, nil
	}
	s := req.Sample
	if s == nil {
		return nil, nil, nil, temporal.NewNonRetryableApplicationError("neither an appointment nor sample fields", ErrBadInput, nil)
	}
	id := s.AppointmentID
	if id == "" {
		id = SampleAppointmentID
	}
	end := s.End
	if end.IsZero() {
		end = s.Start.Add(appt.DefaultDuration)
	}
	view := AppointmentView{ID: id, Org: org.ID, State: appt.Active, Start: s.Start, End: end, Metadata: s.Metadata}
	if appt.CarriesJoinLink(req.Type, true) {
		view.JoinURL = s.JoinURL
	}
	offset := req.Offset
	switch {
	case req.Type == appt.Reminder && offset == 0 && len(org.Offsets()) > 0:
		offset = org.Offsets()[0]
	case req.Type == appt.Room && offset == 0:
		offset = org.RoomOffset.D()
	case req.Type != appt.Reminder && req.Type != appt.Room:
		offset = 0
	}
	msg := NewNotification(view, req.Type, offset, 0, Customers(s.Participants), at)
	return org, set, &msg, nil
}

// Preview shows every message of one notification as it would go out, per channel the organisation has (or only
// req.Channel), without sending anything: it reads the message (previewMessage) and builds it with the builders
// the senders use (BuildPreview). The webhook signatures are computed over req.PreviewID (a new "preview_…" ID when
// empty) at req.At (now when zero).
func (a *Activities) Preview(ctx context.Context, req *appt.PreviewRequest) (*appt.PreviewResult, error) {
	org, set, msg, err := a.previewMessage(ctx, req)
	if err != nil {
		return nil, err
	}
	id := req.PreviewID
	if id == "" {
		id = "preview_" + randomHex(12)
	}
	at := req.At
	if at.IsZero() {
		at = time.Now()
	}
	return BuildPreview(set, org, msg, req.Channel, id, at), nil
}

// BuildPreview builds the messages of a notification for every channel the organisation has (or only channel, when
// set): for each customer with an address, the email (BuildEmail, composed with the Date at) and the SMS
// (BuildSMS, with its encoding and segments); for each webhook subscriber, the signed request (BuildWebhook) with
// previewID as its webhook-id and the body's id. A message that would not go out is listed under Problems.
func BuildPreview(set *templates.Set, org *config.Org, msg *Message, channel appt.Channel, previewID string, at time.Time) *appt.PreviewResult {
	res := &appt.PreviewResult{PreviewID: previewID, Org: org.ID, Type: msg.Type, AppointmentID: msg.Appointment.ID,
		Email: []appt.EmailPreview{}, SMS: []appt.SMSPreview{}, Webhooks: []appt.WebhookPreview{}, Problems: []appt.PreviewProblem{}}
	want := func(ch appt.Channel) bool { return channel == "" || channel == ch }
	problem := func(ch appt.Channel, recipient string, err error) {
		de := classify(err)
		res.Problems = append(res.Problems, appt.PreviewProblem{Channel: ch, Recipient: recipient, ErrorType: de.Type, Error: de.Msg})
	}
	for _, p := range msg.Recipients {
		if want(appt.Email) && org.EmailProvisioned() {
			d, err := BuildEmail(set, org, msg, p, appt.NotificationID(msg.EventID, appt.Email, p.ID))
			if err != nil {
				problem(appt.Email, p.ID, err)
			} else if ep, err := emailPreview(d, at); err != nil {
				problem(appt.Email, p.ID, err)
			} else {
				res.Email = append(res.Email, ep)
			}
		}
		if want(appt.SMS) && org.SMSProvisioned() {
			body, err := BuildSMS(set, org, msg, p)
			if err != nil {
				problem(appt.SMS, p.ID, err)
			} else {
				res.SMS = append(res.SMS, smsPreview(p.ID, body))
			}
		}
	}
	if want(appt.Webhook) {
		wm := *msg
		wm.EventID = previewID
		for i := range org.Webhooks {
			d, err := BuildWebhook(org, i, &wm, at)
			if err != nil {
				problem(appt.Webhook, appt.SubscriberRecipient(i), err)
				continue
			}
			res.Webhooks = append(res.Webhooks, appt.WebhookPreview{Recipient: appt.SubscriberRecipient(i),
				Host: d.URL.Host, Headers: sortedHeaders(d.Header), Body: string(d.Body)})
		}
	}
	return res
}

func smsPreview(recipient, body string) appt.SMSPreview {
	c := smsparts.Measure(body)
	return appt.SMSPreview{Recipient: recipient, Body: body, Encoding: string(c.Encoding), Units: c.Units, Segments: c.Segments}
}

// emailPreview is a draft as the preview shows it: the message Compose makes of it (with the addresses as given,
// which a server with SMTPUTF8 receives; see SendDraft), read back: its top-level header fields, and its text, HTML
// and invite.ics parts with their transfer encoding undone, so in the form they travel in (MIME text has CRLF line
// ends, RFC 2046 §4.1.1).
func emailPreview(d *EmailDraft, at time.Time) (appt.EmailPreview, error) {
	var buf bytes.Buffer
	if _, err := d.Compose(d.From.Address, d.To.Address, at).WriteTo(&buf); err != nil {
		return appt.EmailPreview{}, Permanent(ErrBadInput, "composing the email: %v", err)
	}
	p := appt.EmailPreview{Recipient: d.ParticipantID, Subject: d.Subject, Headers: headerFields(buf.Bytes())}
	msg, err := mail.ReadMessage(&buf)
	if err != nil {
		return appt.EmailPreview{}, Permanent(ErrBadInput, "reading the composed email: %v", err)
	}
	err = eachPart(textproto.MIMEHeader(msg.Header), msg.Body, func(h textproto.MIMEHeader, body []byte) {
		mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
		_, dp, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
		switch {
		case dp["filename"] == InviteFileName:
			p.Invite = string(body)
		case mt == "text/plain":
			p.Text = string(body)
		case mt == "text/html":
			p.HTML = string(body)
		}
	})
	if err != nil {
		return appt.EmailPreview{}, Permanent(ErrBadInput, "reading the composed email: %v", err)
	}
	return p, nil
}

// eachPart calls f with every leaf part of a MIME entity, its transfer encoding (base64, quoted-printable) undone.
func eachPart(h textproto.MIMEHeader, body io.Reader, f func(textproto.MIMEHeader, []byte)) error {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err == nil && strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := eachPart(part.Header, part, f); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	f(h, b)
	return nil
}

// headerFields reads the header section of a message, in order, each field unfolded (RFC 5322 §2.2.3).
func headerFields(msg []byte) []appt.Header {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg)))
	var out []appt.Header
	for {
		line, err := r.ReadContinuedLine()
		if err != nil || line == "" {
			return out
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		out = append(out, appt.Header{Name: name, Value: strings.TrimSpace(value)})
	}
}

// sortedHeaders lists HTTP headers in name order.
func sortedHeaders(h http.Header) []appt.Header {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []appt.Header
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, appt.Header{Name: k, Value: v})
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b)
}
