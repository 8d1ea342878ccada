package api

import (
	"context"
	"errors"
	"strings"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// AddParticipant adds a participant to a scheduled or active appointment (docs/rules.md#participants): a customer
// gets CREATE at once and every later notification. It checks the participant completely first
// (appt.ParticipantErrors, fields named participant.id, participant.email, ...) and, for a customer with a phone in
// an organisation that sends SMS, that every SMS it can get fits Twilio's limit (CheckSMSLength, with the
// appointment's join link and start as scheduled, read from its history); only then does it send the
// add-participant update. The workflow refuses (RefusedError) an ID that is already a participant, a 51st
// participant, and an appointment that is not scheduled or active.
func (c *Client) AddParticipant(ctx context.Context, id string, p appt.Participant) (*appt.UpdateResult, error) {
	if err := appt.ValidateAppointmentID(id); err != nil {
		return nil, err
	}
	if errs := appt.ParticipantErrors(p); len(errs) > 0 {
		return nil, errs[0]
	}
	if err := c.checkAddedSMS(ctx, id, p); err != nil {
		return nil, err
	}
	u := appt.AddParticipantUpdate{Participant: p}
	if c.Addresses != nil && p.IsCustomer() && (p.Email != "" || p.Phone != "") {
		org, err := c.AppointmentOrg(ctx, id) // ErrNotFound for no such appointment
		if err != nil {
			return nil, err
		}
		u.AddressHashes = c.AddressHashes(org, []appt.Participant{p})
	}
	return c.operate(ctx, id, appt.UpdateAddParticipant, u)
}

// checkAddedSMS is CheckSMSLength for one participant added to an existing appointment.
func (c *Client) checkAddedSMS(ctx context.Context, id string, p appt.Participant) error {
	if !p.IsCustomer() || p.Phone == "" {
		return nil
	}
	orgID, err := c.AppointmentOrg(ctx, id) // ErrNotFound for no such appointment
	if err != nil {
		return err
	}
	if org, ok := c.orgOf(ctx, orgID); !ok || !org.SMSProvisioned() { // the API's document, else the file's
		return nil
	}
	req, err := c.scheduledRequest(ctx, id)
	if err != nil {
		return err
	}
	probe := *req
	probe.Participants = []appt.Participant{p}
	err = c.CheckSMSLength(&probe)
	var fe *appt.FieldError
	if errors.As(err, &fe) {
		return &appt.FieldError{Field: strings.Replace(fe.Field, "participant[0]", "participant", 1),
			Msg: strings.ReplaceAll(fe.Msg, "participant[0]", "the participant")}
	}
	return err
}

// RemoveParticipant removes a participant from a scheduled or active appointment (docs/rules.md#participants): a
// customer gets CANCELLED and nothing after it. The workflow refuses (RefusedError) an ID that is not a
// participant, the last customer, and an appointment that is not scheduled or active.
func (c *Client) RemoveParticipant(ctx context.Context, id, participantID string) (*appt.UpdateResult, error) {
	if err := appt.ValidateParticipantID("participantId", participantID); err != nil {
		return nil, err
	}
	return c.operate(ctx, id, appt.UpdateRemoveParticipant, appt.RemoveParticipantUpdate{ParticipantID: participantID})
}
