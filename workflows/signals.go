package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// receive takes one signal off its channel and applies it. A signal with bad input, or one that makes no sense in
// the current state, is refused: logged in the delivery log as refused, changing nothing else (docs/rules.md#signals-and-updates).
func (a *appointment) receive(ctx workflow.Context, name string, ch workflow.ReceiveChannel) {
	var raw json.RawMessage
	ch.Receive(ctx, &raw)
	if err := a.apply(ctx, name, raw); err != nil {
		a.refuse(ctx, name, err.Error())
	}
}

// update is an update waiting for the main loop.
type update struct {
	name  string
	raw   json.RawMessage
	reply workflow.Settable
}

// registerUpdate offers a signal's operation as an update of the same name (docs/rules.md#signals-and-updates), so a caller learns of a
// refusal at once. The validator rejects what cannot be decoded, before anything is written to the history; the
// handler hands the update to the main loop, so updates and signals apply one at a time, in order. A refused update
// is logged as refused, like a refused signal, and returns the reason. A retry returns when it has ended.
func (a *appointment) registerUpdate(ctx workflow.Context, name string) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, name,
		func(ctx workflow.Context, raw json.RawMessage) (*appt.UpdateResult, error) {
			f, s := workflow.NewFuture(ctx)
			a.inbox.Send(ctx, update{name: name, raw: raw, reply: s})
			var entryID string
			if err := f.Get(ctx, &entryID); err != nil {
				return nil, err
			}
			res := &appt.UpdateResult{State: a.st.State}
			if entryID != "" {
				if err := workflow.Await(ctx, func() bool { _, busy := a.retrying[entryID]; return !busy }); err != nil {
					return nil, err
				}
				if e := a.entry(entryID); e != nil {
					cp := *e
					res.Entry = &cp
				}
				res.State = a.st.State
			}
			return res, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, raw json.RawMessage) error {
			return validatePayload(ctx, name, raw)
		}})
}

// validatePayload checks that an update's payload decodes into its operation's input.
func validatePayload(ctx workflow.Context, name string, raw json.RawMessage) error {
	var err error
	switch name {
	case appt.SignalReschedule:
		_, err = decode[appt.RescheduleSignal](raw)
	case appt.SignalCancel:
		_, err = decode[appt.CancelSignal](raw)
	case appt.SignalParticipantJoined:
		_, err = decode[appt.ParticipantJoinedSignal](raw)
	case appt.SignalUpdateMetadata:
		_, err = decode[appt.UpdateMetadataSignal](raw)
	case appt.SignalRetry:
		_, err = decode[appt.RetrySignal](raw)
	case appt.UpdateAddParticipant, appt.UpdateRemoveParticipant:
		err = validateParticipantUpdate(ctx, name, raw)
	}
	return err
}

// receiveUpdate applies one update from the inbox and answers it: the retried entry's ID for an accepted retry,
// or the refusal.
func (a *appointment) receiveUpdate(ctx workflow.Context, ch workflow.ReceiveChannel) {
	var u update
	ch.Receive(ctx, &u)
	if err := a.apply(ctx, u.name, u.raw); err != nil {
		a.refuse(ctx, u.name, err.Error())
		u.reply.Set(nil, temporal.NewApplicationError(err.Error(), "Refused"))
		return
	}
	id := ""
	if u.name == appt.SignalRetry {
		sig, _ := decode[appt.RetrySignal](u.raw)
		id = sig.EntryID
	}
	u.reply.Set(id, nil)
}

func decode[T any](raw json.RawMessage) (T, error) {
	var v T
	if len(raw) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("cannot decode the signal: %v", err)
	}
	return v, nil
}

// apply dispatches a signal to its handler.
func (a *appointment) apply(ctx workflow.Context, name string, raw json.RawMessage) error {
	if name == appt.SignalRetry {
		sig, err := decode[appt.RetrySignal](raw)
		if err != nil {
			return err
		}
		return a.onRetry(ctx, sig)
	}
	if a.st.State.Terminal() {
		return fmt.Errorf("the appointment is %s", a.st.State)
	}
	switch name {
	case appt.SignalReschedule:
		sig, err := decode[appt.RescheduleSignal](raw)
		if err != nil {
			return err
		}
		return a.onReschedule(ctx, sig)
	case appt.SignalCancel:
		sig, err := decode[appt.CancelSignal](raw)
		if err != nil {
			return err
		}
		return a.onCancel(ctx, sig)
	case appt.SignalActivate:
		return a.onActivate(ctx)
	case appt.SignalCallStarted:
		return a.onCallStarted(ctx)
	case appt.SignalParticipantJoined:
		sig, err := decode[appt.ParticipantJoinedSignal](raw)
		if err != nil {
			return err
		}
		return a.onJoined(ctx, sig)
	case appt.SignalCallEnded:
		return a.onCallEnded(ctx)
	case appt.SignalUpdateMetadata:
		sig, err := decode[appt.UpdateMetadataSignal](raw)
		if err != nil {
			return err
		}
		return a.onUpdateMetadata(ctx, sig)
	case appt.UpdateAddParticipant, appt.UpdateRemoveParticipant:
		return a.applyParticipantUpdate(ctx, name, raw)
	}
	return fmt.Errorf("unknown signal %q", name)
}

// onReschedule moves the appointment: pending reminders and invites (and their retries) are dropped, RESCHEDULE goes
// out, and the plan is rebuilt from the new start as a new generation.
func (a *appointment) onReschedule(ctx workflow.Context, sig appt.RescheduleSignal) error {
	if a.st.State != appt.Scheduled && a.st.State != appt.Active {
		return fmt.Errorf("cannot reschedule in state %s", a.st.State)
	}
	now := workflow.Now(ctx)
	if sig.Start.IsZero() {
		return errors.New("start: is required")
	}
	// The start window of appt.ValidateStart, with the messages this workflow has always refused with.
	if !appt.StartInFuture(sig.Start, now) {
		return errors.New("start: is not in the future")
	}
	if appt.StartBeyondHorizon(sig.Start, now) && !a.acceptsFarStart(ctx) {
		return errors.New("start: is more than 400 days ahead")
	}
	end := sig.Start.Add(a.st.Req.End.Sub(a.st.Req.Start))
	if sig.End != nil {
		end = *sig.End
	}
	if err := appt.ValidateDuration(end.Sub(sig.Start)); err != nil {
		return err
	}
	startMoved := !sig.Start.Equal(a.st.Req.Start)
	if !startMoved && end.Equal(a.st.Req.End) {
		return errors.New("start: unchanged")
	}
	a.st.Req.End = end
	b := a.newBatch(ctx)
	if !startMoved {
		// Only the end moved: not a reschedule for customers (docs/rules.md#notifications-and-windows), but subscribers learn of it.
		b.lifecycle(appt.EventRescheduled)
		a.dispatch(ctx, b, appt.EventRescheduled, 0)
		return nil
	}
	a.stopRetries("the appointment was rescheduled", true)
	a.st.Req.Start = sig.Start
	a.st.Generation++
	a.st.PlannedAt = now
	a.upsertSearchAttributes(ctx)
	a.logger.Info("appointment rescheduled", "generation", a.st.Generation)
	b.lifecycle(appt.EventRescheduled)
	b.notify(appt.Reschedule, 0, a.audience(ctx, appt.Reschedule), nil)
	a.dispatch(ctx, b, "RESCHEDULE", 0)
	return nil
}

// acceptsFarStart reports whether a reschedule to a start more than appt.MaxStartAhead (400 days) ahead is accepted,
// as it was before the horizon reached the workflow: only on the replay of a history recorded then (no
// changeStartHorizon marker; testdata/reschedule-beyond-400-days-v0.json replays that branch). It is asked only for
// such a start, so the marker is recorded only when it decides something.
func (a *appointment) acceptsFarStart(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, changeStartHorizon, workflow.DefaultVersion, 1) == workflow.DefaultVersion
}

// onCancel cancels everything pending, sends CANCELLED and ends the appointment.
func (a *appointment) onCancel(ctx workflow.Context, sig appt.CancelSignal) error {
	if a.st.State == appt.InCall {
		return errors.New("the call has started; end it with call-ended")
	}
	a.stopRetries("the appointment was cancelled", false)
	a.st.State = appt.CancelledSt
	a.st.Reason = sig.Reason
	a.upsertSearchAttributes(ctx)
	a.logger.Info("appointment cancelled")
	b := a.newBatch(ctx)
	b.lifecycle(appt.EventCancelled)
	b.notify(appt.Cancelled, 0, a.audience(ctx, appt.Cancelled), nil)
	a.dispatch(ctx, b, "CANCELLED", 0)
	return nil
}

// onActivate makes the join link available. It sends no email or SMS; a pending ROOM invite still goes out.
func (a *appointment) onActivate(ctx workflow.Context) error {
	if a.st.Activated {
		return errors.New("the appointment is already active")
	}
	if a.st.State != appt.Scheduled {
		return fmt.Errorf("cannot activate in state %s", a.st.State)
	}
	a.st.Activated = true
	a.st.State = appt.Active
	a.upsertSearchAttributes(ctx)
	b := a.newBatch(ctx)
	b.lifecycle(appt.EventActivated)
	a.dispatch(ctx, b, appt.EventActivated, 0)
	return nil
}

// onCallStarted cancels the pending reminders and invites.
func (a *appointment) onCallStarted(ctx workflow.Context) error {
	if a.st.State != appt.Scheduled && a.st.State != appt.Active {
		return fmt.Errorf("cannot start the call in state %s", a.st.State)
	}
	a.stopRetries("the call started", true)
	a.st.State = appt.InCall
	a.st.CallStarted = true
	a.upsertSearchAttributes(ctx)
	b := a.newBatch(ctx)
	b.lifecycle(appt.EventCallStarted)
	a.dispatch(ctx, b, appt.EventCallStarted, 0)
	return nil
}

// onJoined records a participant who joined the call; only they get FOLLOW_UP.
func (a *appointment) onJoined(ctx workflow.Context, sig appt.ParticipantJoinedSignal) error {
	if _, ok := a.participant(sig.ParticipantID); !ok {
		return fmt.Errorf("participant: %q is not a participant of the appointment", sig.ParticipantID)
	}
	if a.st.Joined[sig.ParticipantID] {
		return fmt.Errorf("participant: %q has already joined", sig.ParticipantID)
	}
	a.st.Joined[sig.ParticipantID] = true
	b := a.newBatch(ctx)
	b.lifecycleFor(appt.EventParticipantJoined, sig.ParticipantID)
	a.dispatch(ctx, b, appt.EventParticipantJoined, 0)
	return nil
}

// onCallEnded sends FOLLOW_UP to the customers who joined, and ends the appointment.
func (a *appointment) onCallEnded(ctx workflow.Context) error {
	a.stopRetries("the call ended", true)
	a.st.State = appt.Ended
	a.upsertSearchAttributes(ctx)
	b := a.newBatch(ctx)
	b.lifecycle(appt.EventCallEnded)
	b.notify(appt.FollowUp, 0, a.joinedCustomers(), nil)
	a.dispatch(ctx, b, "FOLLOW_UP", 0)
	return nil
}

// onUpdateMetadata merges metadata (an empty value removes a key). It is webhook-only: appointment.updated, no email
// and no SMS (docs/rules.md#notifications-and-windows).
func (a *appointment) onUpdateMetadata(ctx workflow.Context, sig appt.UpdateMetadataSignal) error {
	if len(sig.Metadata) == 0 {
		return errors.New("metadata: nothing to update")
	}
	merged := make(map[string]string, len(a.st.Req.Metadata)+len(sig.Metadata))
	for _, k := range appt.SortedKeys(a.st.Req.Metadata) {
		merged[k] = a.st.Req.Metadata[k]
	}
	for _, k := range appt.SortedKeys(sig.Metadata) {
		if v := sig.Metadata[k]; v == "" {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	if err := appt.ValidateMetadataLimits(merged); err != nil {
		return err
	}
	a.st.Req.Metadata = merged
	b := a.newBatch(ctx)
	b.lifecycle(appt.EventUpdated)
	a.dispatch(ctx, b, appt.EventUpdated, 0)
	return nil
}

// onRetry accepts a manual retry of the most recent failed entry, and refuses it in every stale case of docs/rules.md#delivery-and-retries.
func (a *appointment) onRetry(ctx workflow.Context, sig appt.RetrySignal) error {
	found := a.entry(sig.EntryID)
	if found == nil {
		return fmt.Errorf("entry: %q is not in the delivery log", sig.EntryID)
	}
	e := *found
	if e.Status != appt.Failed {
		return fmt.Errorf("entry: %s is %s, not failed", e.ID, e.Status)
	}
	if last := a.lastFailed(); last.ID != e.ID {
		return fmt.Errorf("entry: %s is older than the most recent failed entry %s", e.ID, last.ID)
	}
	if _, busy := a.retrying[e.ID]; busy {
		return fmt.Errorf("entry: %s is being retried already", e.ID)
	}
	if err := a.staleRetry(&e, workflow.Now(ctx)); err != nil {
		return err
	}
	msg, t := a.rebuild(ctx, e)
	a.logger.Info("manual retry accepted", "entry", e.ID)
	a.countManualRetry(ctx)
	a.startRetry(ctx, e.ID, msg, t, 0, true)
	return nil
}

// staleRetry says why a failed entry can no longer be retried (docs/rules.md#delivery-and-retries), or nil when it
// still can. The occurrence's own window (a REMINDER after the start, a ROOM invite after its window) is
// occurrence.manualRetryClosed.
func (a *appointment) staleRetry(e *appt.DeliveryEntry, now time.Time) error {
	if e.Channel == appt.SMS && (e.ErrorType == activities.ErrOptedOut || a.st.OptedOut[e.Recipient]) {
		return fmt.Errorf("entry: %s is an SMS to %s, who %s", e.ID, e.Recipient, optedOutReason)
	}
	if err := a.removedRecipient(e); err != nil {
		return err
	}
	if occ := occurrenceOf(e); occ.timed() {
		switch {
		case a.st.State == appt.CancelledSt:
			return fmt.Errorf("entry: %s is a %s and the appointment was cancelled", e.ID, e.Type)
		case e.Generation != a.st.Generation:
			return fmt.Errorf("entry: %s is a %s and the appointment was rescheduled", e.ID, e.Type)
		case a.st.CallStarted:
			return fmt.Errorf("entry: %s is a %s and the call has started", e.ID, e.Type)
		}
		if why := occ.manualRetryClosed(now, a.st.Req.Start); why != "" {
			return fmt.Errorf("entry: %s %s", e.ID, why)
		}
	}
	if a.st.State == appt.CancelledSt && e.Type != appt.Cancelled {
		return fmt.Errorf("entry: %s is a %s and the appointment was cancelled", e.ID, e.Type)
	}
	return nil
}

// rebuild recreates the message and target of a logged delivery, for a manual retry. The event ID (the webhook-id
// and the base of the notification ID) is the original one; the content is the appointment as it is now.
func (a *appointment) rebuild(ctx workflow.Context, e appt.DeliveryEntry) (activities.Message, activities.Target) {
	b := a.newBatch(ctx)
	msg := activities.Message{EventID: e.EventID, Type: e.Type, Timestamp: b.now, Sequence: activities.InviteSequence(e.Type, e.Generation),
		ParticipantID: e.ParticipantID}
	if e.Type == appt.LifecycleEvent {
		msg.Event = e.Event
		msg.Appointment = a.view(false)
	} else {
		msg.Event = e.Type.WebhookEvent()
		msg.Appointment = a.view(a.carriesLink(e.Type))
		if e.Offset != "" {
			msg.Offset = parseOffset(e.Offset)
		}
		msg.Recipients = a.recipientsOf(ctx, e)
	}
	sub := 0
	if e.Channel == appt.Webhook {
		fmt.Sscanf(e.Recipient, "subscriber-%d", &sub)
	}
	return msg, activities.Target{Channel: e.Channel, Recipient: e.Recipient, Subscriber: sub, NotificationID: e.NotificationID}
}
