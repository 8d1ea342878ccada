package workflows

import (
	"errors"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/metrics"
)

// batch collects the messages and targets that go out together in one fan-out activity: for example
// appointment.scheduled, appointment.activated and CREATE at scheduling. Targets that need no send (skipped) are
// decided here, without an activity.
type batch struct {
	now   time.Time
	msgs  []activities.Message
	items []batchItem
	a     *appointment
}

type batchItem struct {
	entry  appt.DeliveryEntry
	target activities.Target
	send   bool
}

// missed marks a notification whose wake-up came after its window: late is how long after its due time.
type missed struct {
	late time.Duration
}

func (a *appointment) newBatch(ctx workflow.Context) *batch {
	return &batch{a: a, now: workflow.Now(ctx)}
}

// view is the appointment as a message shows it; the join link only when the message may carry it.
func (a *appointment) view(withLink bool) activities.AppointmentView {
	v := activities.AppointmentView{
		ID: a.st.Req.AppointmentID, Org: a.st.Req.Org, State: a.st.State,
		Start: a.st.Req.Start, End: a.st.Req.End, Metadata: a.st.Req.Metadata,
	}
	if withLink {
		v.JoinURL = a.st.Req.JoinURL
	}
	return v
}

// carriesLink reports whether a notification of this type carries the join link now: appt.CarriesJoinLink, for
// the appointment as activated or not.
func (a *appointment) carriesLink(t appt.NotificationType) bool {
	return appt.CarriesJoinLink(t, a.st.Activated)
}

// notification is the message of a notification to the given customers now (activities.NewNotification): the
// appointment as it stands, the join link only where the type carries it. Previews read the same message through
// the notification-message query.
func (a *appointment) notification(t appt.NotificationType, offset time.Duration, to []appt.Participant, now time.Time) activities.Message {
	return activities.NewNotification(a.view(a.carriesLink(t)), t, offset, a.st.Generation, to, now)
}

// lifecycle adds an appointment.* event for every webhook subscriber. Lifecycle events are not notifications: the
// flags never hold them back.
func (b *batch) lifecycle(event string) { b.lifecycleFor(event, "") }

func (b *batch) lifecycleFor(event, participantID string) {
	a := b.a
	a.st.EventSeq++
	msg := activities.Message{
		EventID:       appt.LifecycleEventID(a.st.Req.AppointmentID, event, a.st.EventSeq),
		Event:         event,
		Type:          appt.LifecycleEvent,
		Appointment:   a.view(false),
		ParticipantID: participantID,
		Timestamp:     b.now,
	}
	b.msgs = append(b.msgs, msg)
	for i := 0; i < a.st.Policy.Webhooks; i++ {
		b.add(msg, appt.Webhook, appt.SubscriberRecipient(i), i, "", "")
	}
}

// notify adds a notification to the given participants (customers, and agents where they are notified): email and
// SMS to each, and one notification.* webhook message to every subscriber. Targets that cannot be sent are decided
// here: missed, disabled by the captured flag, or unprovisioned.
func (b *batch) notify(t appt.NotificationType, offset time.Duration, to []appt.Participant, m *missed) {
	b.notifyAs(appt.EventID(b.a.st.Req.AppointmentID, t, b.a.st.Generation, offset), t, offset, to, "", m)
}

// notifyAs is notify under a given event ID; participantID names the participant of a participant change
// (notifyParticipant), "" otherwise.
func (b *batch) notifyAs(eventID string, t appt.NotificationType, offset time.Duration, to []appt.Participant, participantID string, m *missed) {
	if len(to) == 0 {
		return
	}
	a := b.a
	msg := a.notification(t, offset, to, b.now)
	msg.EventID, msg.ParticipantID = eventID, participantID
	b.msgs = append(b.msgs, msg)
	decide := func(provisioned bool, contact string, what string) (appt.DeliveryStatus, string) {
		switch {
		case m != nil:
			return appt.SkippedMissed, "woke " + m.late.Round(time.Second).String() + " after the due time"
		case !a.st.Captured:
			return appt.SkippedDisabled, "notifications were off when the appointment was scheduled"
		case !provisioned:
			return appt.SkippedUnprovisioned, what + " is not provisioned for the organisation"
		case contact == "":
			return appt.SkippedUnprovisioned, "the participant has no " + what + " contact"
		}
		return "", ""
	}
	for _, p := range to {
		st, why := decide(a.st.Policy.Email, p.Email, "email")
		b.add(msg, appt.Email, p.ID, 0, st, why)
		st, why = decide(a.st.Policy.SMS, p.Phone, "SMS")
		if st == "" && a.st.OptedOut[p.ID] {
			st, why = appt.SkippedUnprovisioned, optedOutReason
		}
		b.add(msg, appt.SMS, p.ID, 0, st, why)
	}
	for i := 0; i < a.st.Policy.Webhooks; i++ {
		st, why := decide(true, "subscriber", "webhook")
		b.add(msg, appt.Webhook, appt.SubscriberRecipient(i), i, st, why)
	}
}

func (b *batch) add(msg activities.Message, ch appt.Channel, recipient string, subscriber int, st appt.DeliveryStatus, why string) {
	nid := appt.NotificationID(msg.EventID, ch, recipient)
	e := appt.DeliveryEntry{
		NotificationID: nid, EventID: msg.EventID, Type: msg.Type, Channel: ch, Recipient: recipient,
		Generation: b.a.st.Generation, CreatedAt: b.now, At: b.now, Status: st, Error: why,
		ParticipantID: msg.ParticipantID,
	}
	if ch == appt.Webhook {
		e.Event = msg.Event
	}
	if msg.Offset > 0 {
		e.Offset = msg.Offset.String()
	}
	if o := timedOccurrence(msg.Type, msg.Appointment.Start, msg.Offset); o.timed() {
		e.Due = &o.Due
	}
	b.items = append(b.items, batchItem{
		entry:  e,
		target: activities.Target{Message: len(b.msgs) - 1, Channel: ch, Recipient: recipient, Subscriber: subscriber, NotificationID: nid},
		send:   st == "",
	})
}

// dispatch sends a batch in one fan-out activity (send), logs one entry per target (record), and retries every
// target that failed with a retryable error (retry). bound > 0 bounds the fan-out (what is left of a ROOM window).
func (a *appointment) dispatch(ctx workflow.Context, b *batch, label string, bound time.Duration) {
	outcomes := a.send(ctx, b, label, bound)
	ids, retries := a.record(ctx, b, outcomes)
	for _, id := range ids {
		a.noteOptOut(ctx, a.entry(id))
	}
	a.retry(ctx, b, ids, retries, outcomes)
	a.logDispatch(label, b.items)
	a.setDetails(ctx)
}

// retry starts the automatic retry of each batch item in retries (indexes into b.items), addressed by the entry
// ID record gave it, with the provider's Retry-After from its outcome.
func (a *appointment) retry(ctx workflow.Context, b *batch, ids []string, retries []int, outcomes []activities.Outcome) {
	for _, i := range retries {
		it := b.items[i]
		a.startRetry(ctx, ids[i], b.msgs[it.target.Message], it.target, outcomes[i].RetryAfter, false)
	}
}

// send runs the batch's fan-out (a local activity, or a regular one with remote delivery) for the targets that
// need a send, and returns one outcome per batch item (the zero Outcome for items decided without a send). A
// fan-out that fails as a whole fails each of its targets; one stopped by bound is skipped_missed.
func (a *appointment) send(ctx workflow.Context, b *batch, label string, bound time.Duration) []activities.Outcome {
	outcomes := make([]activities.Outcome, len(b.items))
	in := &activities.DeliverInput{AppointmentID: a.st.Req.AppointmentID, Org: a.st.Req.Org, Messages: b.msgs,
		Decided: decided(b)}
	var sendIdx []int
	for i, it := range b.items {
		if it.send {
			sendIdx = append(sendIdx, i)
			in.Targets = append(in.Targets, it.target)
		}
	}
	if len(sendIdx) == 0 {
		return outcomes
	}
	summary := fanOutSummary(label, b)
	var res activities.DeliverResult
	var f workflow.Future
	if a.st.Policy.RemoteDelivery {
		f = workflow.ExecuteActivity(deliverOptions(ctx, summary, len(b.msgs), bound), appt.ActivityDeliver, in)
	} else {
		f = workflow.ExecuteLocalActivity(localDeliverOptions(ctx, summary, len(b.msgs), bound), appt.ActivityDeliver, in)
	}
	err := f.Get(ctx, &res)
	for k, i := range sendIdx {
		switch {
		case err == nil && k < len(res.Outcomes):
			outcomes[i] = res.Outcomes[k]
		case err == nil:
			outcomes[i] = activities.Outcome{Status: appt.Failed, ErrorType: activities.ErrTransient, Error: "no outcome reported"}
		default:
			outcomes[i] = outcomeOf(err)
			if bound > 0 && windowClosed(err) {
				outcomes[i].Status = appt.SkippedMissed
			}
		}
	}
	return outcomes
}

// record logs one entry per batch item, with the outcome of those that were sent, and returns the entry IDs (by
// batch item) and the batch items to retry: those that failed with a retryable error while the organisation allows
// more than one attempt. An entry that will be retried is counted in the metric when its retry ends.
func (a *appointment) record(ctx workflow.Context, b *batch, outcomes []activities.Outcome) (ids []string, retries []int) {
	now := workflow.Now(ctx)
	ids = make([]string, len(b.items))
	for i := range b.items {
		it := &b.items[i]
		if it.send {
			o := outcomes[i]
			e := &it.entry
			e.Status, e.Error, e.ProviderID, e.Attempts, e.At = o.Status, o.Error, o.ProviderID, 1, now
			if o.Status == appt.Suppressed {
				e.Attempts, e.Suppression = 0, o.Suppression // stopped before the provider
			}
			if o.Status == appt.Failed {
				e.ErrorType = o.ErrorType
				if retryable(o.ErrorType) && a.st.Policy.MaxAttempts > 1 {
					retries = append(retries, i)
				}
			}
		}
		if len(retries) == 0 || retries[len(retries)-1] != i {
			a.count(ctx, &it.entry)
		}
		ids[i] = a.appendEntry(it.entry)
	}
	return ids, retries
}

// commit logs a batch whose targets were all decided without a send.
func (a *appointment) commit(ctx workflow.Context, b *batch) {
	for _, it := range b.items {
		a.count(ctx, &it.entry)
		a.appendEntry(it.entry)
	}
}

// NotificationsMetric counts deliveries by final status, type, channel and organisation (metrics.Notifications).
// The workflow's metrics handler skips replays, so each outcome counts once.
const NotificationsMetric = metrics.Notifications

// SuppressedMetric counts suppressed deliveries by the suppression's reason and channel (never an address); they
// also count in NotificationsMetric with status suppressed.
const SuppressedMetric = "apptnotify_suppressed"

func (a *appointment) count(ctx workflow.Context, e *appt.DeliveryEntry) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{
		"type": string(e.Type), "channel": string(e.Channel), "status": string(e.Status), metrics.LabelOrg: a.st.Req.Org,
	}).Counter(NotificationsMetric).Inc(1)
	if e.Status == appt.Suppressed {
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{
			"reason": string(e.Suppression), "channel": string(e.Channel),
		}).Counter(SuppressedMetric).Inc(1)
	}
}

func (a *appointment) logDispatch(summary string, items []batchItem) {
	sent, failed, skipped := 0, 0, 0
	for _, it := range items {
		switch it.entry.Status {
		case appt.Sent:
			sent++
		case appt.Failed:
			failed++
		default:
			skipped++
		}
	}
	a.logger.Info("notifications dispatched", "what", summary, "sent", sent, "failed", failed, "skipped", skipped)
}

// appendEntry adds an entry to the delivery log under the next entry ID, and returns the ID.
func (a *appointment) appendEntry(e appt.DeliveryEntry) string {
	a.st.Seq++
	e.ID = "e" + strconv.Itoa(a.st.Seq)
	a.st.Log = append(a.st.Log, e)
	return e.ID
}

// entry returns the delivery-log entry with the given ID, or nil. The pointer is valid until the next entry is
// appended: use it at once, never across a yield.
func (a *appointment) entry(id string) *appt.DeliveryEntry {
	for i := len(a.st.Log) - 1; i >= 0; i-- {
		if a.st.Log[i].ID == id {
			return &a.st.Log[i]
		}
	}
	return nil
}

// refuse logs a refused signal (docs/rules.md#signals-and-updates): it changes nothing else.
func (a *appointment) refuse(ctx workflow.Context, signal, reason string) {
	now := workflow.Now(ctx)
	a.logger.Info("signal refused", "signal", signal, "reason", reason)
	a.appendEntry(appt.DeliveryEntry{Type: appt.RefusedSignal, Signal: signal, Status: appt.Refused, Error: reason,
		Generation: a.st.Generation, CreatedAt: now, At: now})
}

// lastFailed returns the most recent failed entry, or nil. The pointer is valid until the next entry is appended.
func (a *appointment) lastFailed() *appt.DeliveryEntry {
	for i := len(a.st.Log) - 1; i >= 0; i-- {
		if a.st.Log[i].Status == appt.Failed {
			return &a.st.Log[i]
		}
	}
	return nil
}

// startRetry retries one failed target on its own, under its channel's retry policy, so that nothing that already
// succeeded is sent again. An automatic retry first waits its backoff; a manual one starts at once with a fresh
// attempt budget. Either can be stopped by stopRetries.
func (a *appointment) startRetry(ctx workflow.Context, id string, msg activities.Message, t activities.Target, retryAfter time.Duration, manual bool) {
	rctx, cancel := workflow.WithCancel(ctx)
	a.retrying[id] = cancel
	a.inflight++
	workflow.Go(rctx, func(gctx workflow.Context) {
		defer func() {
			delete(a.retrying, id)
			delete(a.retryNext, id)
			a.inflight--
		}()
		e := *a.entry(id)
		occ := occurrenceOf(&e)
		label := string(e.Type) + " " + string(e.Channel) + " to " + e.Recipient
		if e.Offset != "" {
			label = string(e.Type) + " " + e.Offset + " " + string(e.Channel) + " to " + e.Recipient
		}
		budget := a.st.Policy.MaxAttempts - e.Attempts
		if manual {
			budget = a.st.Policy.MaxAttempts
		} else {
			wait := backoffBefore(e.Channel, e.Attempts, retryAfter)
			if workflow.Now(gctx).Add(wait).Before(occ.retriesUntil(a.st.Req.Start, workflow.Now(gctx))) {
				a.retryNext[id] = workflow.Now(gctx).Add(wait)
				err := workflow.NewTimerWithOptions(gctx, wait, workflow.TimerOptions{Summary: "backoff: " + label}).Get(gctx, nil)
				delete(a.retryNext, id)
				if err != nil {
					a.endRetry(gctx, id, budget, 0, nil, err)
					return
				}
			}
		}
		now := workflow.Now(gctx)
		window := occ.retryBound(a.st.Req.Start, now)
		if window <= 0 || budget <= 0 {
			a.endRetry(gctx, id, budget, 0, nil, errWindowClosed)
			return
		}
		var res activities.DeliverOneResult
		err := workflow.ExecuteActivity(retryOptions(gctx, "retry: "+label, e.Channel, budget, window), appt.ActivityDeliverOne,
			&activities.DeliverOneInput{AppointmentID: a.st.Req.AppointmentID, Org: a.st.Req.Org, Message: msg, Target: t}).Get(gctx, &res)
		a.endRetry(gctx, id, budget, res.Attempt, &res, err)
	})
}

var errWindowClosed = errors.New("window closed")

// endRetry logs how a retry ended.
func (a *appointment) endRetry(ctx workflow.Context, id string, budget int, attempts int32, res *activities.DeliverOneResult, err error) {
	defer a.setDetails(ctx)
	e := a.entry(id)
	e.At = workflow.Now(ctx)
	if err == nil {
		e.Attempts += int(attempts)
		e.Status, e.ProviderID, e.ErrorType = res.Status, res.ProviderID, ""
		if res.Status == appt.Sent {
			e.Error = ""
		}
		if res.Status == appt.Suppressed {
			e.Suppression = res.Suppression
			e.Error = "the address is on the organisation's suppression list (" + string(res.Suppression) + ")"
		}
		a.logger.Info("retry ended", "entry", e.ID, "status", string(e.Status), "attempts", e.Attempts)
		a.count(ctx, e)
		return
	}
	var canceled *temporal.CanceledError
	switch {
	case errors.As(err, &canceled) || temporal.IsCanceledError(err):
		e.Error = "retries stopped: " + a.stopReason + "; last error: " + e.Error
	case errors.Is(err, errWindowClosed):
		occurrenceOf(e).closeWindow(e, "no attempt left inside the window")
	default:
		o := outcomeOf(err)
		last := int32(0)
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.HasDetails() {
			var d activities.FailureDetails
			if appErr.Details(&d) == nil {
				last = d.Attempt
			}
		}
		e.Attempts += int(last)
		e.Error, e.ErrorType = o.Error, o.ErrorType
		a.noteOptOut(ctx, e)
		// A retryable failure that stopped before the attempt budget ran out stopped at the window's bound.
		if windowClosed(err) || (retryable(o.ErrorType) && last > 0 && int(last) < budget) {
			occurrenceOf(e).closeWindow(e, "the window closed while retrying")
		}
	}
	a.logger.Info("retry ended", "entry", e.ID, "status", string(e.Status), "attempts", e.Attempts)
	a.count(ctx, e)
}

// stopRetries cancels the retries under way: of every entry, or with onlyTimed of the REMINDER and ROOM entries
// alone (occurrence.timed), which a reschedule, the call's start or its end make stale.
func (a *appointment) stopRetries(reason string, onlyTimed bool) {
	a.stopReason = reason
	for i := range a.st.Log {
		e := &a.st.Log[i]
		cancel, ok := a.retrying[e.ID]
		if !ok || (onlyTimed && !occurrenceOf(e).timed()) {
			continue
		}
		cancel()
	}
}

// outcomeOf turns an activity error into a failed outcome, keeping the application error type.
func outcomeOf(err error) activities.Outcome {
	o := activities.Outcome{Status: appt.Failed, ErrorType: activities.ErrTransient, Error: err.Error()}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		o.Error = appErr.Message()
		if appErr.Type() != "" {
			o.ErrorType = appErr.Type()
		}
		if appErr.NonRetryable() && retryable(o.ErrorType) {
			o.ErrorType = activities.ErrBadInput
		}
	} else if isTimeout(err) {
		o.Error = "timed out"
	}
	return o
}

// windowClosed reports whether an activity ended because its schedule-to-close bound (the window) ran out: a
// timeout, or a retry that would have started past it.
func windowClosed(err error) bool {
	var ae *temporal.ActivityError
	if errors.As(err, &ae) && ae.RetryState() == enumspb.RETRY_STATE_TIMEOUT {
		return true
	}
	return isTimeout(err)
}

func isTimeout(err error) bool {
	var te *temporal.TimeoutError
	return errors.As(err, &te)
}
