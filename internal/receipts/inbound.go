package receipts

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// OptOuts is what the listener needs of the suppression list (internal/suppress.List is one): sender is the
// organisation's number (sms_from), customer the number that opted out or back in; eventID makes a repeated
// callback change nothing.
type OptOuts interface {
	// StopSMS suppresses the customer's number (sms_stop) in every organisation that sends from sender.
	StopSMS(ctx context.Context, sender, customer, source, eventID string) error
	// StartSMS lifts the customer's sms_stop (only that reason) in every organisation that sends from sender.
	StartSMS(ctx context.Context, sender, customer, eventID string) error
}

// Twilio's opt-out keywords (Twilio Messaging, "Opt-out keywords"): a message that is one of them, alone and in any
// case, opts the sender out (stopKeywords) or back in (startKeywords); HELP and INFO only get Twilio's help reply.
var (
	stopKeywords  = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
	startKeywords = []string{"START", "YES", "UNSTOP"}
)

// OptOutAction is what an inbound message does to the suppression list.
type OptOutAction int

// The actions of an inbound message.
const (
	OptOutNone OptOutAction = iota
	OptOutStop
	OptOutStart
)

// InboundAction decides what an inbound message does: Twilio's OptOutType (STOP, START, HELP; set with Advanced
// Opt-Out) when present, else the body when it is one keyword alone (surrounding spaces and case ignored).
func InboundAction(body, optOutType string) OptOutAction {
	switch strings.ToUpper(optOutType) {
	case "STOP":
		return OptOutStop
	case "START":
		return OptOutStart
	case "HELP":
		return OptOutNone
	}
	w := strings.ToUpper(strings.TrimSpace(body))
	for _, k := range stopKeywords {
		if w == k {
			return OptOutStop
		}
	}
	for _, k := range startKeywords {
		if w == k {
			return OptOutStart
		}
	}
	return OptOutNone
}

// SetOptOuts turns on the inbound-message route (POST config.InboundPath, the number's "A message comes in"
// webhook, signed like the status callbacks against the status callback URL with the inbound path) and makes a
// status callback with error 21610 suppress the number too. Call it before serving.
func (h *Handler) SetOptOuts(o OptOuts) error {
	u, err := url.Parse(h.publicURL)
	if err != nil {
		return err
	}
	u.Path = config.InboundPath
	h.inboundURL, h.optOuts = u.String(), o
	return nil
}

// optOutFromCallback writes a 21610 reported in a status callback to the suppression list. Failures are logged: the
// receipt itself is recorded either way.
func (h *Handler) optOutFromCallback(ctx context.Context, form url.Values, in appt.SMSStatusSignal) {
	if h.optOuts == nil || in.ErrorCode != 21610 {
		return
	}
	if err := h.optOuts.StopSMS(ctx, form.Get("From"), form.Get("To"), appt.SourceTwilio21610, in.MessageSID+"/21610"); err != nil {
		h.logger.Error("opt-out (21610) not added to the suppression list", "messageSid", in.MessageSID, "error", err.Error())
	}
}

// serveInbound handles one inbound message:
//   - 405 for any method but POST; 403 when X-Twilio-Signature is absent or does not match (nothing changes);
//   - 415 and 400 as for status callbacks, and 400 naming From or To when one is missing or not a phone number;
//   - 200 with an empty TwiML response once a STOP keyword (or OptOutType=STOP) suppressed From for every
//     organisation sending from To, a START, YES or UNSTOP lifted its sms_stop, or the message was anything else
//     (HELP included), which changes nothing;
//   - 503 when the suppression list could not be changed.
func (h *Handler) serveInbound(w http.ResponseWriter, r *http.Request) {
	form, ok := h.verified(w, r, h.inboundURL, "inbound message")
	if !ok {
		return
	}
	for _, f := range []string{"From", "To"} {
		if _, err := addrhash.NormalizePhone(form.Get(f)); err != nil {
			problem(w, http.StatusBadRequest, "Bad Request", f+" "+err.Error(), f)
			return
		}
	}
	sid := form.Get("MessageSid")
	var err error
	ctx, cancel := context.WithTimeout(r.Context(), signalTimeout)
	defer cancel()
	switch InboundAction(form.Get("Body"), form.Get("OptOutType")) {
	case OptOutStop:
		err = h.optOuts.StopSMS(ctx, form.Get("To"), form.Get("From"), appt.SourceTwilioInbound, sid)
	case OptOutStart:
		err = h.optOuts.StartSMS(ctx, form.Get("To"), form.Get("From"), sid)
	}
	if err != nil {
		h.logger.Error("inbound opt-out not recorded", "messageSid", sid, "error", err.Error())
		var fe *appt.FieldError
		if errors.As(err, &fe) {
			problem(w, http.StatusBadRequest, "Bad Request", fe.Error(), fe.Field)
			return
		}
		problem(w, http.StatusServiceUnavailable, "Service Unavailable", "the opt-out could not be recorded; retry later", "")
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)
}
