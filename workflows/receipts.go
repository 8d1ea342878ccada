package workflows

import (
	"encoding/json"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// receiveReceipt takes one sms-status signal and records it. It is accepted in every state, the time after the
// work is done included, and is never logged as refused: a receipt that matches nothing (an unknown message SID,
// an unknown status, a payload that does not decode) is only logged, since Twilio cannot be told to stop sending it
// (docs/calendar-and-receipts.md).
func (a *appointment) receiveReceipt(ctx workflow.Context, ch workflow.ReceiveChannel) {
	var raw json.RawMessage
	ch.Receive(ctx, &raw)
	sig, err := decode[appt.SMSStatusSignal](raw)
	if err != nil {
		a.logger.Warn("SMS receipt ignored: the payload does not decode", "error", err.Error())
		return
	}
	a.observeReceipt(ctx, a.recordReceipt(sig))
}

// recordReceipt records a Twilio status on the SMS entry whose provider ID is the receipt's message SID. Only the
// newest receipt is kept: a status that ranks below the recorded one (sent after delivered) is a callback that
// arrived out of order, and a final status (delivered, undelivered, failed) is never replaced by another of the same
// rank. Among non-final statuses of equal rank the later one wins. It returns the entry it updated, or nil.
func (a *appointment) recordReceipt(sig appt.SMSStatusSignal) *appt.DeliveryEntry {
	rank := appt.ReceiptRank(sig.Status)
	if rank == 0 {
		a.logger.Warn("SMS receipt ignored: unknown status", "messageSid", sig.MessageSID, "status", sig.Status)
		return nil
	}
	var e *appt.DeliveryEntry
	for i := range a.st.Log {
		if a.st.Log[i].Channel == appt.SMS && sig.MessageSID != "" && a.st.Log[i].ProviderID == sig.MessageSID {
			e = &a.st.Log[i]
			break
		}
	}
	if e == nil {
		a.logger.Info("SMS receipt for no message of this appointment", "messageSid", sig.MessageSID, "status", sig.Status)
		return nil
	}
	if cur := appt.ReceiptRank(e.Receipt); cur > 0 {
		older := rank < cur || (rank == cur && (appt.ReceiptFinal(e.Receipt) || (e.ReceiptAt != nil && sig.At.Before(*e.ReceiptAt))))
		if older {
			a.logger.Info("SMS receipt ignored: older than the recorded one", "entry", e.ID, "status", sig.Status,
				"recorded", e.Receipt)
			return nil
		}
	}
	at := sig.At
	e.Receipt, e.ReceiptError, e.ReceiptAt = sig.Status, sig.ErrorCode, &at
	a.logger.Info("SMS receipt recorded", "entry", e.ID, "status", sig.Status, "errorCode", sig.ErrorCode)
	return e
}

// receiptDeadline is how long the finished appointment still waits for receipts: the latest of send time +
// receipt_wait over the SMS entries that were sent and have no final receipt yet. ok is false when there is
// nothing left to wait for.
func (a *appointment) receiptDeadline(now time.Time) (time.Time, bool) {
	wait := a.st.Policy.ReceiptWait
	if wait <= 0 {
		return time.Time{}, false
	}
	var deadline time.Time
	for i := range a.st.Log {
		e := &a.st.Log[i]
		if e.Channel != appt.SMS || e.Status != appt.Sent || appt.ReceiptFinal(e.Receipt) {
			continue
		}
		if d := e.At.Add(wait); d.After(now) && d.After(deadline) {
			deadline = d
		}
	}
	return deadline, !deadline.IsZero()
}

// awaitReceipts keeps an appointment that would otherwise complete open for the delivery receipts of its last SMS
// sends, for at most the organisation's receipt_wait after each send (0: no wait). Signals still apply meanwhile;
// the wait ends early when every such SMS has a final receipt.
func (a *appointment) awaitReceipts(ctx workflow.Context) error {
	if _, ok := a.receiptDeadline(workflow.Now(ctx)); !ok {
		return nil
	}
	if workflow.GetVersion(ctx, changeReceiptWait, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	for {
		a.drainSignals(ctx)
		deadline, ok := a.receiptDeadline(workflow.Now(ctx))
		if !ok {
			break
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() && !a.pendingSignals() {
			if err := workflow.Await(ctx, func() bool { return a.inflight == 0 }); err != nil {
				return err
			}
			return a.continueAsNew(ctx)
		}
		a.sleepUntil(ctx, deadline, "waiting for SMS delivery receipts")
	}
	if a.timer != nil {
		a.timer.cancel()
		a.timer = nil
	}
	return workflow.Await(ctx, func() bool { return a.inflight == 0 })
}

// noteOptOut remembers that a participant opted out of SMS, when an SMS to them failed with OptedOut: every later
// SMS to them in this appointment is skipped_unprovisioned without a send.
func (a *appointment) noteOptOut(ctx workflow.Context, e *appt.DeliveryEntry) {
	if e.Channel != appt.SMS || e.ErrorType != activities.ErrOptedOut || a.st.OptedOut[e.Recipient] {
		return
	}
	if workflow.GetVersion(ctx, changeSMSOptOut, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	if a.st.OptedOut == nil {
		a.st.OptedOut = map[string]bool{}
	}
	a.st.OptedOut[e.Recipient] = true
	a.logger.Info("participant opted out of SMS", "participant", e.Recipient, "entry", e.ID)
}

// optedOutReason is the reason every later SMS to an opted-out participant is skipped, and a manual retry refused.
const optedOutReason = "opted out of SMS"
