// Package workflows holds the deterministic code: the appointment workflow, the organisation-settings workflow and
// the pure planning they share. Nothing here does I/O or reads the wall clock.
package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// Search attribute keys (docs/rules.md#the-worker: operators find appointments by organisation, state and start).
var (
	saOrg   = temporal.NewSearchAttributeKeyKeyword(appt.SearchAttrOrg)
	saState = temporal.NewSearchAttributeKeyKeyword(appt.SearchAttrState)
	saStart = temporal.NewSearchAttributeKeyTime(appt.SearchAttrStart)
)

// state is everything the appointment workflow carries across continue-as-new. Go randomises map iteration, so
// nothing in the workflow ranges over a map directly: the maps here are looked up by key, and where a map's
// contents are walked (the metadata merge of onUpdateMetadata) it is in appt.SortedKeys order, so the same history
// always gives the same commands.
type state struct {
	Req          appt.ScheduleRequest `json:"req"`
	Policy       activities.OrgPolicy `json:"policy"`
	State        appt.State           `json:"state"`
	Reason       string               `json:"reason,omitempty"`
	Captured     bool                 `json:"captured"`     // request flag AND global flag at scheduling, for life
	AutoActivate bool                 `json:"autoActivate"` // captured at scheduling
	Activated    bool                 `json:"activated"`
	CallStarted  bool                 `json:"callStarted"`
	Generation   int                  `json:"generation"`
	PlannedAt    time.Time            `json:"plannedAt"`
	Done         map[string]bool      `json:"done"`
	Joined       map[string]bool      `json:"joined"`
	Log          []appt.DeliveryEntry `json:"log"`
	Seq          int                  `json:"seq"`
	EventSeq     int                  `json:"eventSeq"`
	LingerUntil  time.Time            `json:"lingerUntil,omitempty"`
	// OptedOut holds the participants who opted out of SMS (Twilio 21610) during the appointment: they get no
	// further SMS in it.
	OptedOut map[string]bool `json:"optedOut,omitempty"`
	// Removed holds the participants removed from the appointment, in the order of removal, so that a manual retry
	// of the CANCELLED of a removal can be rebuilt; Changes counts the participant changes (add and remove), the
	// occurrence of their notifications' event IDs (appt.ParticipantEventID).
	Removed []appt.Participant `json:"removed,omitempty"`
	Changes int                `json:"changes,omitempty"`
}

// appointment is the running workflow: the carried state plus what lives only in this run.
type appointment struct {
	st         state
	logger     log.Logger
	signals    []workflow.ReceiveChannel // in appt.AppointmentSignals order
	receipts   workflow.ReceiveChannel   // appt.SignalSMSStatus, accepted in every state
	inbox      workflow.Channel          // updates, applied by the main loop one at a time like signals
	timer      *armedTimer
	inflight   int                            // automatic and manual retries under way
	retrying   map[string]workflow.CancelFunc // entry ID -> cancel of its retry
	retryNext  map[string]time.Time           // entry ID -> next attempt, while its retry waits for its backoff
	stopReason string                         // why stopRetries stopped them
}

type armedTimer struct {
	at     time.Time
	future workflow.Future
	cancel workflow.CancelFunc
}

// AppointmentWorkflow is the one long-running workflow of an appointment. It plans its notifications from the
// start time, sleeps until each, applies the missed-window rules when it wakes, and reacts to the signals of docs/rules.md#signals-and-updates
// until the appointment ends, is cancelled or expires.
func AppointmentWorkflow(ctx workflow.Context, req *appt.ScheduleRequest) (*appt.Status, error) {
	a := &appointment{logger: workflow.GetLogger(ctx), retrying: map[string]workflow.CancelFunc{},
		retryNext: map[string]time.Time{}}
	if err := a.setup(ctx, req); err != nil {
		return nil, err
	}
	if err := a.run(ctx); err != nil {
		return nil, err
	}
	s := a.status(workflow.Now(ctx))
	return &s, nil
}

// setup restores or creates the state and registers the message handlers. A new appointment reads its
// organisation's policy, captures the flags and sends CREATE.
func (a *appointment) setup(ctx workflow.Context, req *appt.ScheduleRequest) error {
	resumed := len(req.Resume) > 0
	if resumed {
		if err := json.Unmarshal(req.Resume, &a.st); err != nil {
			return temporal.NewNonRetryableApplicationError("cannot restore the carried state", "BadResume", err)
		}
	} else {
		a.st = state{Req: *req, Done: map[string]bool{}, Joined: map[string]bool{}, PlannedAt: scheduledAt(ctx)}
		if a.st.Req.End.IsZero() {
			a.st.Req.End = a.st.Req.Start.Add(appt.DefaultDuration)
		}
	}
	a.logger = log.With(a.logger, "appointmentId", a.st.Req.AppointmentID)
	for _, name := range appt.AppointmentSignals {
		a.signals = append(a.signals, workflow.GetSignalChannel(ctx, name))
	}
	a.receipts = workflow.GetSignalChannel(ctx, appt.SignalSMSStatus)
	if err := workflow.SetQueryHandler(ctx, appt.QueryStatus, func() (appt.Status, error) {
		return a.status(workflow.Now(ctx)), nil
	}); err != nil {
		return err
	}
	if err := a.setNotificationMessageQuery(ctx); err != nil {
		return err
	}
	a.inbox = workflow.NewChannel(ctx)
	for _, name := range append(append([]string{}, appt.AppointmentSignals...), appt.ParticipantUpdates...) {
		if err := a.registerUpdate(ctx, name); err != nil {
			return err
		}
	}
	if resumed {
		return nil
	}
	return a.schedule(ctx)
}

// scheduledAt is when the appointment was scheduled: when its workflow was started, not when its first workflow
// task ran, which may be much later if no worker was free. Offsets already past at that moment are not planned;
// the others are, and a late first task then sends them within the tolerance or logs them skipped_missed.
// Histories recorded before this change planned from the first task's time, and replay that way.
func scheduledAt(ctx workflow.Context) time.Time {
	if workflow.GetVersion(ctx, changePlanFromStart, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return workflow.Now(ctx)
	}
	return workflow.GetInfo(ctx).WorkflowStartTime
}

// Change IDs of workflow.GetVersion guards (docs/changing-workflows.md).
const (
	changePlanFromStart = "plan-from-workflow-start"
	// changeSMSOptOut: an SMS refused with Twilio 21610 stops later SMS to that participant (skipped without a
	// send, which can leave a fan-out with no target and so without its activity).
	changeSMSOptOut = "sms-opt-out"
	// changeReceiptWait: a finished appointment waits (a timer) for the delivery receipts of its last SMS.
	changeReceiptWait = "sms-receipt-wait"
	// changeStartHorizon: a reschedule to a start more than 400 days ahead is refused (acceptsFarStart).
	changeStartHorizon = "reschedule-start-horizon"
)

// schedule is the first thing a new appointment does.
func (a *appointment) schedule(ctx workflow.Context) error {
	if err := validateRequest(&a.st.Req); err != nil {
		a.reject(ctx, err.Error())
		return nil
	}
	var policy activities.OrgPolicy
	if err := workflow.ExecuteLocalActivity(loadOrgOptions(ctx), appt.ActivityLoadOrg,
		&activities.LoadOrgInput{Org: a.st.Req.Org}).Get(ctx, &policy); err != nil {
		return err
	}
	if !policy.Known {
		a.reject(ctx, "unknown organisation "+a.st.Req.Org)
		return nil
	}
	a.st.Policy = policy
	a.st.Captured = a.st.Req.Notifications && policy.NotificationsEnabled
	a.st.AutoActivate = policy.AutoActivate
	a.st.State = appt.Scheduled
	if a.st.AutoActivate {
		a.st.Activated = true
		a.st.State = appt.Active
	}
	a.upsertSearchAttributes(ctx)
	a.logger.Info("appointment scheduled", "org", a.st.Req.Org, "notifications", a.st.Captured,
		"autoActivate", a.st.AutoActivate)
	b := a.newBatch(ctx)
	b.lifecycle(appt.EventScheduled)
	if a.st.Activated {
		b.lifecycle(appt.EventActivated)
	}
	b.notify(appt.Create, 0, a.audience(ctx, appt.Create), nil)
	a.dispatch(ctx, b, "CREATE", 0)
	return nil
}

func (a *appointment) reject(ctx workflow.Context, reason string) {
	a.st.State = appt.Rejected
	a.st.Reason = reason
	a.logger.Warn("appointment rejected", "reason", reason)
	a.upsertSearchAttributes(ctx)
}

// validateRequest repeats, without I/O, the checks the starter makes, for requests that reach the workflow another
// way. The start may be in the past here: the workflow then plans nothing that is already due. It uses only the
// frozen rules of internal/appt (rules.go, pinned by TestFrozenRules), so an edge change cannot move its verdict.
func validateRequest(r *appt.ScheduleRequest) error {
	if err := appt.ValidateAppointmentID(r.AppointmentID); err != nil {
		return err
	}
	if r.Org == "" {
		return errors.New("org: is required")
	}
	if r.Start.IsZero() {
		return errors.New("start: is required")
	}
	if err := appt.ValidateDuration(r.End.Sub(r.Start)); err != nil {
		return err
	}
	if len(r.Participants) == 0 {
		return errors.New("participant: at least one is required")
	}
	seen := map[string]bool{}
	for i, p := range r.Participants {
		if err := appt.ValidateParticipantID(fmt.Sprintf("participant[%d].id", i), p.ID); err != nil {
			return err
		}
		if seen[p.ID] {
			return fmt.Errorf("participant[%d].id: %q is given twice", i, p.ID)
		}
		seen[p.ID] = true
	}
	return appt.ValidateMetadataLimits(r.Metadata)
}

// run is the main loop: apply the signals that arrived, fire what is due, sleep until the next wake-up.
func (a *appointment) run(ctx workflow.Context) error {
	for {
		a.drainSignals(ctx)
		now := workflow.Now(ctx)
		if a.st.State.Terminal() {
			return a.finish(ctx)
		}
		due, next := dueAt(plan(a.planState()), now)
		if len(due) > 0 {
			a.fire(ctx, due[0])
			continue
		}
		expiry := a.expiresAt()
		if !now.Before(expiry) {
			a.expire(ctx)
			continue
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := a.awaitIdle(ctx); err != nil {
				return err
			}
			if a.pendingSignals() {
				continue
			}
			return a.continueAsNew(ctx)
		}
		wake, label := expiry, "expiry "+a.st.Policy.Expiry.String()+" after the end"
		if !next.IsZero() && next.Before(expiry) {
			wake = next
			for _, it := range plan(a.planState()) {
				if it.FireAt.Equal(next) {
					label = it.summary()
					break
				}
			}
		}
		a.sleepUntil(ctx, wake, label)
	}
}

// sleepUntil waits for the wake-up time or the next signal, whichever comes first. The timer is kept across
// signals that do not move the wake-up, so the history shows one timer per planned notification.
func (a *appointment) sleepUntil(ctx workflow.Context, at time.Time, label string) {
	a.setDetails(ctx)
	if a.timer != nil && !a.timer.at.Equal(at) {
		a.timer.cancel()
		a.timer = nil
	}
	if a.timer == nil {
		tctx, cancel := workflow.WithCancel(ctx)
		d := at.Sub(workflow.Now(ctx))
		a.timer = &armedTimer{at: at, cancel: cancel,
			future: workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: label})}
	}
	sel := workflow.NewSelector(ctx)
	fired := false
	sel.AddFuture(a.timer.future, func(workflow.Future) { fired = true })
	for i, ch := range a.signals {
		name := appt.AppointmentSignals[i]
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) { a.receive(ctx, name, c) })
	}
	sel.AddReceive(a.inbox, func(c workflow.ReceiveChannel, _ bool) { a.receiveUpdate(ctx, c) })
	sel.AddReceive(a.receipts, func(c workflow.ReceiveChannel, _ bool) { a.receiveReceipt(ctx, c) })
	sel.Select(ctx)
	if fired {
		a.timer = nil
	}
}

// drainSignals applies every signal that has already arrived, in a fixed order. It runs before anything due fires,
// so a reschedule or cancel that arrives together with a timer wins over it.
func (a *appointment) drainSignals(ctx workflow.Context) {
	for {
		got := false
		for i, ch := range a.signals {
			for ch.Len() > 0 {
				a.receive(ctx, appt.AppointmentSignals[i], ch)
				got = true
			}
		}
		for a.inbox.Len() > 0 {
			a.receiveUpdate(ctx, a.inbox)
			got = true
		}
		for a.receipts.Len() > 0 {
			a.receiveReceipt(ctx, a.receipts)
			got = true
		}
		if !got {
			return
		}
	}
}

func (a *appointment) pendingSignals() bool {
	for _, ch := range a.signals {
		if ch.Len() > 0 {
			return true
		}
	}
	return a.inbox.Len() > 0 || a.receipts.Len() > 0
}

// awaitIdle waits until no retry and no handler is under way, so continue-as-new loses nothing.
func (a *appointment) awaitIdle(ctx workflow.Context) error {
	return workflow.Await(ctx, func() bool { return a.inflight == 0 && workflow.AllHandlersFinished(ctx) })
}

// continueAsNew carries the state, the delivery log included, into a new run, which rebuilds its timers from the
// plan.
func (a *appointment) continueAsNew(ctx workflow.Context) error {
	if a.timer != nil {
		a.timer.cancel()
	}
	b, err := json.Marshal(a.st)
	if err != nil {
		return err
	}
	next := a.st.Req
	next.Resume = b
	a.logger.Info("continuing as new", "entries", len(a.st.Log))
	return workflow.NewContinueAsNewError(ctx, AppointmentWorkflow, &next)
}

// finish ends a terminal appointment. If a delivery failed, the workflow stays open for a while so support can
// still retry it (docs/rules.md#delivery-and-retries: CANCELLED may be retried after a cancel); every other signal is then refused.
func (a *appointment) finish(ctx workflow.Context) error {
	if a.timer != nil {
		a.timer.cancel()
		a.timer = nil
	}
	if err := workflow.Await(ctx, func() bool { return a.inflight == 0 }); err != nil {
		return err
	}
	if a.st.State == appt.Rejected || !a.retryPossible(workflow.Now(ctx)) {
		if err := a.awaitReceipts(ctx); err != nil {
			return err
		}
		return a.settleHandlers(ctx)
	}
	if a.st.LingerUntil.IsZero() {
		a.st.LingerUntil = workflow.Now(ctx).Add(retryGrace)
	}
	for {
		a.drainSignals(ctx)
		if err := workflow.Await(ctx, func() bool { return a.inflight == 0 }); err != nil {
			return err
		}
		now := workflow.Now(ctx)
		if !now.Before(a.st.LingerUntil) || !a.retryPossible(now) {
			if err := a.awaitReceipts(ctx); err != nil {
				return err
			}
			return a.settleHandlers(ctx)
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() && !a.pendingSignals() {
			return a.continueAsNew(ctx)
		}
		a.sleepUntil(ctx, a.st.LingerUntil, "open for manual retry until")
	}
}

// retryPossible reports whether the most recent failed entry could still be retried by hand.
func (a *appointment) retryPossible(now time.Time) bool {
	e := a.lastFailed()
	return e != nil && a.staleRetry(e, now) == nil
}

// settleHandlers answers every update still waiting before the workflow completes: the main loop no longer runs,
// so they are applied (and refused, the appointment being over) here.
func (a *appointment) settleHandlers(ctx workflow.Context) error {
	a.setDetails(ctx)
	for {
		a.drainSignals(ctx)
		if err := workflow.Await(ctx, func() bool { return a.inflight == 0 }); err != nil {
			return err
		}
		if workflow.AllHandlersFinished(ctx) && !a.pendingSignals() {
			return nil
		}
		if err := workflow.Await(ctx, func() bool {
			return a.inbox.Len() > 0 || (workflow.AllHandlersFinished(ctx) && a.inflight == 0)
		}); err != nil {
			return err
		}
	}
}

func (a *appointment) planState() planState {
	return planState{
		AppointmentID: a.st.Req.AppointmentID,
		State:         a.st.State,
		Start:         a.st.Req.Start,
		PlannedAt:     a.st.PlannedAt,
		Generation:    a.st.Generation,
		Offsets:       a.st.Policy.ReminderOffsets,
		Room:          !a.st.AutoActivate,
		RoomOffset:    a.st.Policy.RoomOffset,
		Spread:        a.st.Policy.ReminderSpread,
		Done:          a.st.Done,
	}
}

func (a *appointment) expiresAt() time.Time { return a.st.Req.End.Add(a.st.Policy.Expiry) }

// fire handles one due notification: skipped_missed when the wake-up is too late, otherwise a send.
func (a *appointment) fire(ctx workflow.Context, it planItem) {
	a.st.Done[it.EventID] = true
	now := workflow.Now(ctx)
	a.observeLateness(ctx, it.occurrence, now)
	b := a.newBatch(ctx)
	if it.missed(now) {
		a.logger.Warn("notification missed its window", "type", string(it.Type), "offset", it.Offset.String(),
			"late", now.Sub(it.Due).String())
		b.notify(it.Type, it.Offset, a.audience(ctx, it.Type), &missed{late: now.Sub(it.Due)})
		a.commit(ctx, b)
		return
	}
	b.notify(it.Type, it.Offset, a.audience(ctx, it.Type), nil)
	a.dispatch(ctx, b, it.summary(), it.firstAttemptBound(now))
}

// expire ends an appointment whose call never ended: FOLLOW_UP to the customers who joined, then completion.
func (a *appointment) expire(ctx workflow.Context) {
	a.logger.Info("appointment expired")
	a.st.State = appt.Expired
	a.upsertSearchAttributes(ctx)
	b := a.newBatch(ctx)
	b.lifecycle(appt.EventExpired)
	if joined := a.joinedCustomers(); len(joined) > 0 {
		b.notify(appt.FollowUp, 0, joined, nil)
	}
	a.dispatch(ctx, b, "FOLLOW_UP at expiry", 0)
}

func (a *appointment) customers() []appt.Participant {
	var out []appt.Participant
	for _, p := range a.st.Req.Participants {
		if p.IsCustomer() {
			out = append(out, p)
		}
	}
	return out
}

func (a *appointment) joinedCustomers() []appt.Participant {
	var out []appt.Participant
	for _, p := range a.customers() {
		if a.st.Joined[p.ID] {
			out = append(out, p)
		}
	}
	return out
}

func (a *appointment) participant(id string) (appt.Participant, bool) {
	for _, p := range a.st.Req.Participants {
		if p.ID == id {
			return p, true
		}
	}
	return appt.Participant{}, false
}

func (a *appointment) upsertSearchAttributes(ctx workflow.Context) {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		saOrg.ValueSet(a.st.Req.Org), saState.ValueSet(string(a.st.State)), saStart.ValueSet(a.st.Req.Start))
	if err != nil {
		a.logger.Warn("cannot upsert search attributes", "error", err)
	}
}

// status is the document of the status query (docs/rules.md#the-status-document).
func (a *appointment) status(now time.Time) appt.Status {
	s := appt.Status{
		AppointmentID:        a.st.Req.AppointmentID,
		Org:                  a.st.Req.Org,
		State:                a.st.State,
		Reason:               a.st.Reason,
		Start:                a.st.Req.Start,
		End:                  a.st.Req.End,
		NotificationsEnabled: a.st.Captured,
		AutoActivate:         a.st.AutoActivate,
		Participants:         []appt.ParticipantStatus{},
		Pending:              []appt.PendingNotification{},
		Deliveries:           append([]appt.DeliveryEntry{}, a.st.Log...),
	}
	for _, p := range a.st.Req.Participants {
		role := p.Role
		if role == "" {
			role = appt.Customer
		}
		s.Participants = append(s.Participants, appt.ParticipantStatus{ID: p.ID, Role: role, Joined: a.st.Joined[p.ID]})
	}
	for _, it := range plan(a.planState()) {
		s.Pending = append(s.Pending, appt.PendingNotification{Type: it.Type, Due: it.Due, Offset: it.Offset.String()})
	}
	if !a.st.State.Terminal() && a.st.State != "" {
		exp := a.expiresAt()
		s.ExpiresAt = &exp
	}
	for _, e := range a.st.Log { // in log order, not map order
		if _, ok := a.retrying[e.ID]; !ok {
			continue
		}
		r := appt.PendingRetry{EntryID: e.ID}
		if next, ok := a.retryNext[e.ID]; ok {
			r.Next = &next
		}
		s.Retries = append(s.Retries, r)
	}
	if a.st.State.Terminal() && !a.st.LingerUntil.IsZero() && now.Before(a.st.LingerUntil) {
		until := a.st.LingerUntil
		s.OpenForRetryUntil = &until
	}
	return s
}
