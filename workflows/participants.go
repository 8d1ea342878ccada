package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Change IDs of the participant changes and the agents' notifications (docs/changing-workflows.md).
const (
	// changeParticipants: the add-participant and remove-participant updates. Only histories recorded with them hold
	// such an update, so the marker is recorded where one is applied and decides nothing older.
	changeParticipants = "participants-add-remove"
	// changeNotifyAgents: agents are targets of CREATE, RESCHEDULE, CANCELLED and REMINDER when the captured policy
	// says notify_agents. It is asked only then, and older histories never captured it.
	changeNotifyAgents = "notify-agents"
	// changeParticipantHashes: an added customer's address hashes join the AppointmentAddressHashes search
	// attribute (an upsert command). Asked only when an add carries hashes, which no older history holds.
	changeParticipantHashes = "participant-address-hashes"
)

// saAddressHashes is the appointment's AppointmentAddressHashes search attribute, set at start by the API and
// extended by each added customer (docs/security.md#erasure).
var saAddressHashes = temporal.NewSearchAttributeKeyKeywordList(appt.SearchAttrAddressHashes)

// audience is who a notification of type t goes to now (docs/rules.md#notifications-and-windows): every customer,
// and every agent too when the organisation's notify_agents was on at scheduling and agents get the type
// (appt.AgentsGet: never ROOM or FOLLOW_UP), in the order of the participant list.
func (a *appointment) audience(ctx workflow.Context, t appt.NotificationType) []appt.Participant {
	agents := a.agentsGet(ctx, t)
	var out []appt.Participant
	for _, p := range a.st.Req.Participants {
		if p.IsCustomer() || agents {
			out = append(out, p)
		}
	}
	return out
}

// agentsGet reports whether agents are sent notifications of type t in this appointment.
func (a *appointment) agentsGet(ctx workflow.Context, t appt.NotificationType) bool {
	return a.st.Policy.NotifyAgents && appt.AgentsGet(t) &&
		workflow.GetVersion(ctx, changeNotifyAgents, workflow.DefaultVersion, 1) == 1
}

// notified reports whether p gets notifications of type t in this appointment: a customer always, an agent as
// agentsGet says.
func (a *appointment) notified(ctx workflow.Context, p appt.Participant, t appt.NotificationType) bool {
	return p.IsCustomer() || a.agentsGet(ctx, t)
}

// validateParticipantUpdate checks an add-participant or remove-participant payload in the update's validator,
// before anything is written to the history: it decodes, and an added participant passes every rule the edge
// applies (appt.ParticipantErrors), and the customers' address hashes with the added ones stay within
// appt.MaxCustomerAddresses. Validators do not run on replay, so these rules may change without a version.
func validateParticipantUpdate(ctx workflow.Context, name string, raw json.RawMessage) error {
	switch name {
	case appt.UpdateAddParticipant:
		u, err := decode[appt.AddParticipantUpdate](raw)
		if err != nil {
			return err
		}
		//workflowcheck:ignore validators never run on replay; net/mail's address parser is deterministic (its debug log is off)
		if errs := appt.ParticipantErrors(u.Participant); len(errs) > 0 {
			return errs[0]
		}
		if err := u.Validate(); err != nil {
			return err
		}
		if n := len(unionHashes(ctx, u.AddressHashes)); n > appt.MaxCustomerAddresses {
			return &appt.FieldError{Field: "participant", Msg: fmt.Sprintf(
				"the appointment's customers would have %d distinct email addresses and phone numbers; it takes at most %d",
				n, appt.MaxCustomerAddresses)}
		}
	case appt.UpdateRemoveParticipant:
		u, err := decode[appt.RemoveParticipantUpdate](raw)
		if err != nil {
			return err
		}
		return appt.ValidateParticipantID("participantId", u.ParticipantID)
	}
	return nil
}

// applyParticipantUpdate applies an add-participant or remove-participant update from the main loop.
func (a *appointment) applyParticipantUpdate(ctx workflow.Context, name string, raw json.RawMessage) error {
	if workflow.GetVersion(ctx, changeParticipants, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return fmt.Errorf("%s is not supported by the code this appointment started with", name)
	}
	if name == appt.UpdateAddParticipant {
		u, err := decode[appt.AddParticipantUpdate](raw)
		if err != nil {
			return err
		}
		return a.onAddParticipant(ctx, u.Participant, u.AddressHashes)
	}
	u, err := decode[appt.RemoveParticipantUpdate](raw)
	if err != nil {
		return err
	}
	return a.onRemoveParticipant(ctx, u.ParticipantID)
}

// participantsChangeable refuses a participant change outside the scheduled and active states: once the call has
// started nothing more is planned for anyone, and a terminal appointment changes no more.
func (a *appointment) participantsChangeable() error {
	if a.st.State != appt.Scheduled && a.st.State != appt.Active {
		return fmt.Errorf("participants cannot change in state %s", a.st.State)
	}
	return nil
}

// onAddParticipant adds a participant (docs/rules.md#participants): participant.added to every subscriber, and
// CREATE to the participant alone (a customer; an agent only with notify_agents), with the join link as the
// activation rules give it and a REQUEST invite. From then on the participant is part of every notification.
// A customer's address hashes join the appointment's AppointmentAddressHashes search attribute, so that an
// erasure by its address finds the appointment. Refused, changing nothing: an ID that is already a participant,
// the 51st participant.
func (a *appointment) onAddParticipant(ctx workflow.Context, p appt.Participant, hashes []string) error {
	if err := a.participantsChangeable(); err != nil {
		return err
	}
	if err := appt.ValidateParticipantID("participant.id", p.ID); err != nil {
		return err
	}
	if _, ok := a.participant(p.ID); ok {
		return fmt.Errorf("participant.id: %q is already a participant of the appointment", p.ID)
	}
	if len(a.st.Req.Participants) >= appt.MaxParticipants {
		return fmt.Errorf("participant: the appointment has %d participants, the limit", appt.MaxParticipants)
	}
	if err := a.addAddressHashes(ctx, hashes); err != nil {
		return err
	}
	a.st.Req.Participants = append(a.st.Req.Participants, p)
	a.st.Changes++
	a.logger.Info("participant added", "participant", p.ID, "role", string(roleOf(p)))
	b := a.newBatch(ctx)
	b.lifecycleFor(appt.EventParticipantAdded, p.ID)
	if a.notified(ctx, p, appt.Create) {
		b.notifyParticipant(appt.Create, p)
	}
	a.dispatch(ctx, b, "CREATE to added "+p.ID, 0)
	return nil
}

// onRemoveParticipant removes a participant (docs/rules.md#participants): its retries under way stop, its pending
// reminders and invites are dropped (they go to the participants of the moment), participant.removed goes to every
// subscriber, and CANCELLED with a CANCEL invite to the participant alone (a customer; an agent only with
// notify_agents). Nothing is sent to it afterwards. Refused, changing nothing: an ID that is not a participant,
// the last customer (cancel the appointment instead).
func (a *appointment) onRemoveParticipant(ctx workflow.Context, id string) error {
	if err := a.participantsChangeable(); err != nil {
		return err
	}
	p, ok := a.participant(id)
	if !ok {
		return fmt.Errorf("participantId: %q is not a participant of the appointment", id)
	}
	if p.IsCustomer() && len(a.customers()) == 1 {
		return fmt.Errorf("participantId: %q is the last customer; cancel the appointment instead", id)
	}
	a.stopRetriesTo(id)
	kept := make([]appt.Participant, 0, len(a.st.Req.Participants)-1)
	for _, q := range a.st.Req.Participants {
		if q.ID != id {
			kept = append(kept, q)
		}
	}
	a.st.Req.Participants = kept
	delete(a.st.Joined, id)
	a.st.Removed = append(a.st.Removed, p)
	a.st.Changes++
	a.logger.Info("participant removed", "participant", id, "role", string(roleOf(p)))
	b := a.newBatch(ctx)
	b.lifecycleFor(appt.EventParticipantRemoved, id)
	if a.notified(ctx, p, appt.Cancelled) {
		b.notifyParticipant(appt.Cancelled, p)
	}
	a.dispatch(ctx, b, "CANCELLED to removed "+id, 0)
	return nil
}

// stopRetriesTo cancels the retries under way of every email and SMS to a participant.
func (a *appointment) stopRetriesTo(id string) {
	for i := range a.st.Log {
		e := &a.st.Log[i]
		if cancel, ok := a.retrying[e.ID]; ok && e.Channel != appt.Webhook && e.Recipient == id {
			a.stopReason = "the participant was removed"
			cancel()
		}
	}
}

// notifyParticipant adds the notification of a participant change, addressed to that participant alone: its email
// and SMS, and a notification.* webhook whose recipients are that participant and whose data.participantId names
// it. Its event ID is appt.ParticipantEventID, so it never collides with the appointment's own CREATE or CANCELLED.
func (b *batch) notifyParticipant(t appt.NotificationType, p appt.Participant) {
	a := b.a
	b.notifyAs(appt.ParticipantEventID(a.st.Req.AppointmentID, t, a.st.Generation, a.st.Changes), t, 0,
		[]appt.Participant{p}, p.ID, nil)
}

// lookupParticipant finds a participant of the appointment, or one removed from it (the most recent removal), for
// rebuilding the messages of a manual retry.
func (a *appointment) lookupParticipant(id string) (appt.Participant, bool) {
	if p, ok := a.participant(id); ok {
		return p, true
	}
	for i := len(a.st.Removed) - 1; i >= 0; i-- {
		if a.st.Removed[i].ID == id {
			return a.st.Removed[i], true
		}
	}
	return appt.Participant{}, false
}

// removedRecipient says why an email or SMS entry can no longer be retried by hand because its participant was
// removed, or nil: only the CANCELLED of the removal itself may still be retried.
func (a *appointment) removedRecipient(e *appt.DeliveryEntry) error {
	if e.Channel == appt.Webhook || e.Type == appt.LifecycleEvent || e.Type == appt.RefusedSignal {
		return nil
	}
	if _, ok := a.participant(e.Recipient); ok {
		return nil
	}
	if e.Type == appt.Cancelled && e.ParticipantID == e.Recipient {
		return nil
	}
	return errors.New("entry: " + e.ID + " is addressed to " + e.Recipient + ", who was removed from the appointment")
}

// recipientsOf are the recipients a rebuilt message of entry e carries: the participant of a participant change,
// the joined customers for FOLLOW_UP, the audience of the type otherwise (webhooks); the entry's own recipient for
// email and SMS.
func (a *appointment) recipientsOf(ctx workflow.Context, e appt.DeliveryEntry) []appt.Participant {
	id := e.Recipient
	switch {
	case e.Channel != appt.Webhook:
	case e.ParticipantID != "":
		id = e.ParticipantID
	case e.Type == appt.FollowUp:
		return a.joinedCustomers()
	default:
		return a.audience(ctx, e.Type)
	}
	if p, ok := a.lookupParticipant(id); ok {
		return []appt.Participant{p}
	}
	return nil
}

func roleOf(p appt.Participant) appt.Role {
	if p.IsCustomer() {
		return appt.Customer
	}
	return p.Role
}

// addAddressHashes adds hashes to the appointment's AppointmentAddressHashes search attribute: the union with
// what it holds, sorted, without repeats.
// The update's validator refuses an add past appt.MaxCustomerAddresses; a list that would still exceed it (an
// appointment scheduled before the edge checked) is left as it is, with a warning, rather than ending the workflow
// with a value Temporal refuses.
func (a *appointment) addAddressHashes(ctx workflow.Context, hashes []string) error {
	if len(hashes) == 0 || workflow.GetVersion(ctx, changeParticipantHashes, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	cur, _ := workflow.GetTypedSearchAttributes(ctx).GetKeywordList(saAddressHashes)
	all := unionHashes(ctx, hashes)
	if slices.Equal(all, cur) {
		return nil
	}
	if len(all) > appt.MaxCustomerAddresses {
		a.logger.Warn("an added customer's address hashes do not fit AppointmentAddressHashes; an erasure by its address must name the appointment",
			"hashes", len(all), "max", appt.MaxCustomerAddresses)
		return nil
	}
	return workflow.UpsertTypedSearchAttributes(ctx, saAddressHashes.ValueSet(all))
}

// unionHashes is the appointment's AppointmentAddressHashes with hashes added: sorted, without repeats.
func unionHashes(ctx workflow.Context, hashes []string) []string {
	cur, _ := workflow.GetTypedSearchAttributes(ctx).GetKeywordList(saAddressHashes)
	all := append(slices.Clone(cur), hashes...)
	slices.Sort(all)
	return slices.Compact(all)
}
