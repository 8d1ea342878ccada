package workflows

import (
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// maxSummary bounds a fan-out's summary: the Web UI shows it on one line of the timeline, and the server caps user
// metadata. A longer list ends with "… (N more)"; the recorded result still names every target.
const maxSummary = 200

// fanOutSummary is the fixed summary of a fan-out, for the Web UI's timeline: the notification and the targets it
// is sent to, then the lifecycle events that go with it, for example
// "REMINDER 1h0m0s before start → email c1, sms c1, webhook subscriber-0" or
// "CREATE → email c1, webhook subscriber-0; appointment.scheduled, appointment.activated → webhook subscriber-0".
// Targets are participant IDs and subscriber indexes, never addresses.
func fanOutSummary(label string, b *batch) string {
	var notif []string
	var events []string
	var eventTargets []string
	for mi, msg := range b.msgs {
		var targets []string
		for _, it := range b.items {
			if it.send && it.target.Message == mi {
				targets = append(targets, string(it.target.Channel)+" "+it.target.Recipient)
			}
		}
		if msg.Type == appt.LifecycleEvent {
			if len(targets) > 0 {
				events = append(events, msg.Event)
				eventTargets = appendNew(eventTargets, targets...)
			}
			continue
		}
		notif = append(notif, targets...)
	}
	var parts []string
	switch {
	case len(notif) > 0:
		parts = append(parts, label+" → "+strings.Join(notif, ", "))
	case len(events) == 0 || label != events[0]:
		parts = append(parts, label+" → nothing to send")
	}
	if len(events) > 0 {
		parts = append(parts, strings.Join(events, ", ")+" → "+strings.Join(eventTargets, ", "))
	}
	return truncateList(strings.Join(parts, "; "), maxSummary)
}

func appendNew(list []string, add ...string) []string {
	for _, s := range add {
		found := false
		for _, x := range list {
			if x == s {
				found = true
				break
			}
		}
		if !found {
			list = append(list, s)
		}
	}
	return list
}

// truncateList cuts s to at most n bytes at a ", " boundary and says how many items were left off.
func truncateList(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := s[:n-20]
	if i := strings.LastIndex(cut, ", "); i > 0 {
		cut = cut[:i]
	}
	more := strings.Count(s[len(cut):], ",")
	return cut + " … (" + strconv.Itoa(more) + " more)"
}

// decided lists the targets of a batch that were decided without a send, as outcomes for the fan-out's input, so
// that its recorded result names every target.
func decided(b *batch) []activities.Outcome {
	var out []activities.Outcome
	for _, it := range b.items {
		if it.send {
			continue
		}
		o := activities.Outcome{Channel: it.target.Channel, Recipient: it.target.Recipient,
			Status: it.entry.Status, Error: it.entry.Error}
		if it.target.Channel == appt.Webhook {
			o.Event = it.entry.Event
		}
		out = append(out, o)
	}
	return out
}

// setDetails refreshes the workflow's current details (the Web UI's "Current Details", the
// __temporal_workflow_metadata query): a short Markdown summary with no personal data. It names the state, the
// start as it is now, the next planned wake-up, the outcomes of the last notification and the last failure with
// its entry ID. It issues no command, so it can change freely without breaking replays.
func (a *appointment) setDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, a.details(workflow.Now(ctx)))
}

func (a *appointment) details(now time.Time) string {
	var sb strings.Builder
	st := a.st
	sb.WriteString("**" + string(st.State) + "**")
	if st.Reason != "" {
		sb.WriteString(" (" + st.Reason + ")")
	}
	sb.WriteString(" · organisation " + st.Req.Org + " · start " + fmtTime(st.Req.Start))
	if st.Generation > 0 {
		sb.WriteString(" (rescheduled " + strconv.Itoa(st.Generation) + "×; the Input panel shows the first start)")
	}
	sb.WriteString("\n\n")
	sb.WriteString("- **Next:** " + a.nextWakeUp(now) + "\n")
	if last := a.lastNotification(); len(last) > 0 {
		e := last[0]
		name := string(e.Type)
		if e.Offset != "" {
			name += " " + e.Offset
		}
		var outs []string
		for _, x := range last {
			outs = append(outs, string(x.Channel)+" "+x.Recipient+" "+string(x.Status))
		}
		sb.WriteString("- **Last notification:** " + name + ": " + strings.Join(outs, ", ") + "\n")
	} else {
		sb.WriteString("- **Last notification:** none yet\n")
	}
	if last := a.lastFailed(); last != nil {
		e := *last
		what := string(e.Type)
		if e.Offset != "" {
			what += " " + e.Offset
		}
		what += " " + string(e.Channel) + " " + e.Recipient
		sb.WriteString("- **Last failure:** entry `" + e.ID + "`, " + what + ", " + strconv.Itoa(e.Attempts) +
			" attempt(s): " + e.Error)
		if _, retrying := a.retrying[e.ID]; retrying {
			sb.WriteString(" (retrying)")
		}
		sb.WriteString("\n")
	} else {
		sb.WriteString("- **Last failure:** none\n")
	}
	return sb.String()
}

// nextWakeUp names what the workflow waits for next.
func (a *appointment) nextWakeUp(now time.Time) string {
	if a.st.State.Terminal() {
		if !a.st.LingerUntil.IsZero() && now.Before(a.st.LingerUntil) {
			return "nothing to send; open for a manual retry until " + fmtTime(a.st.LingerUntil)
		}
		return "nothing; the appointment is over"
	}
	if items := plan(a.planState()); len(items) > 0 {
		return items[0].summary() + ", due " + fmtTime(items[0].Due)
	}
	if a.st.State == appt.InCall {
		return "call-ended (expiry at " + fmtTime(a.expiresAt()) + ")"
	}
	return "expiry at " + fmtTime(a.expiresAt())
}

// lastNotification returns the log entries of the most recent notification (not lifecycle events or refusals).
func (a *appointment) lastNotification() []appt.DeliveryEntry {
	log := a.st.Log
	for i := len(log) - 1; i >= 0; i-- {
		e := log[i]
		if e.Type == appt.LifecycleEvent || e.Type == appt.RefusedSignal || e.EventID == "" {
			continue
		}
		var out []appt.DeliveryEntry
		for _, x := range log {
			if x.EventID == e.EventID {
				out = append(out, x)
			}
		}
		return out
	}
	return nil
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
