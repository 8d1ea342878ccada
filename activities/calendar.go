package activities

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// InviteFileName is the name of the calendar attachment of CREATE, RESCHEDULE and CANCELLED emails.
const InviteFileName = "invite.ics"

// InviteProductID is the PRODID of every calendar invite (RFC 5545 §3.7.3).
const InviteProductID = "-//apptnotify//appointment notifications//EN"

// InviteUID is the RFC 5545 UID of an appointment's calendar entry: the appointment ID at the sender's domain
// (apptnotify.invalid when the sender has none that fits). It is the same in every invite of the appointment, so
// a reschedule moves, and a cancellation removes, the entry the CREATE invite made.
func InviteUID(appointmentID, from string) string {
	return appointmentID + "@" + senderDomain(from)
}

func senderDomain(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 && msgIDDomain.MatchString(a.Address[i+1:]) {
			return a.Address[i+1:]
		}
	}
	return "apptnotify.invalid"
}

// InviteMethod is the iTIP method (RFC 5546) of a notification type's invite: REQUEST for CREATE and RESCHEDULE,
// CANCEL for CANCELLED, "" for the types that carry none.
func InviteMethod(t appt.NotificationType) ics.Method {
	switch t {
	case appt.Create, appt.Reschedule:
		return ics.MethodRequest
	case appt.Cancelled:
		return ics.MethodCancel
	}
	return ""
}

// BuildInvite returns the iCalendar object (RFC 5545, with the iTIP method of RFC 5546) of a CREATE, RESCHEDULE
// or CANCELLED email to one participant:
//   - one VEVENT whose UID is InviteUID, SEQUENCE msg.Sequence and DTSTAMP msg.Timestamp, so a retry of the
//     same email carries the same invite;
//   - DTSTART and DTEND in UTC, SUMMARY and DESCRIPTION from the templates in the participant's language;
//   - ORGANIZER from the organisation's email_from and the participant as ATTENDEE (RSVP=FALSE: the sender takes
//     no replies);
//   - URL and LOCATION set to the join link only when the message carries it (msg.Appointment.JoinURL is empty
//     whenever the email may not carry the link);
//   - for CANCELLED, METHOD:CANCEL and STATUS:CANCELLED, so calendars remove the entry;
//   - for CREATE and RESCHEDULE (METHOD:REQUEST), a VALARM at the organisation's first reminder offset (addAlarm).
//
// Every content line, folded continuation lines included, ends in CRLF (RFC 5545 §3.1): the same bytes go into
// the text/calendar part and the base64 invite.ics attachment, which no mail server normalises. Lines are folded
// at 75 octets without splitting a UTF-8 character. It fails for the types HasInvite rejects
// and for a sender address that does not parse.
func BuildInvite(org *config.Org, msg *Message, to appt.Participant, text *templates.Invite) (string, error) {
	method := InviteMethod(msg.Type)
	if method == "" {
		return "", fmt.Errorf("%s emails carry no calendar invite", msg.Type)
	}
	from, err := mail.ParseAddress(org.EmailFrom)
	if err != nil {
		return "", fmt.Errorf("organisation %s: email_from is not a valid address", org.ID)
	}
	stamp := msg.Timestamp
	if stamp.IsZero() {
		stamp = time.Now()
	}
	cal := ics.NewCalendar()
	cal.SetProductId(InviteProductID)
	cal.SetMethod(method)
	ev := cal.AddEvent(InviteUID(msg.Appointment.ID, org.EmailFrom))
	ev.SetSequence(msg.Sequence)
	ev.SetDtStampTime(stamp)
	ev.SetStartAt(msg.Appointment.Start)
	ev.SetEndAt(msg.Appointment.End)
	ev.SetSummary(text.Summary)
	ev.SetDescription(text.Description)
	if method == ics.MethodCancel {
		ev.SetStatus(ics.ObjectStatusCancelled)
	} else {
		ev.SetStatus(ics.ObjectStatusConfirmed)
	}
	if link := msg.Appointment.JoinURL; link != "" {
		ev.SetURL(link)
		ev.SetLocation(link)
	}
	var oparams []ics.PropertyParameter
	if cn := paramText(from.Name); cn != "" {
		oparams = append(oparams, ics.WithCN(cn))
	}
	ev.SetOrganizer("mailto:"+from.Address, oparams...)
	aparams := []ics.PropertyParameter{ics.CalendarUserTypeIndividual, ics.ParticipationRoleReqParticipant,
		ics.ParticipationStatusNeedsAction, ics.WithRSVP(false)}
	if cn := paramText(to.Name); cn != "" {
		aparams = append(aparams, ics.WithCN(cn))
	}
	ev.AddAttendee("mailto:"+to.Email, aparams...)
	if offsets := org.Offsets(); method == ics.MethodRequest && len(offsets) > 0 {
		addAlarm(ev, offsets[0], text.Summary)
	}
	return cal.Serialize(ics.WithNewLineWindows), nil
}

// addAlarm adds the VALARM of a REQUEST invite (RFC 5545 §3.6.6): a display alarm (ACTION:DISPLAY, whose
// DESCRIPTION is required; it is the invite's SUMMARY) that triggers offset before the start (TRIGGER a negative
// duration, relative to DTSTART by default, §3.8.6.3). The offset is the organisation's first reminder_offsets entry,
// so the calendar reminds the customer when the first REMINDER email or SMS goes out, for those whose email filters
// hide it.
func addAlarm(ev *ics.VEvent, offset time.Duration, description string) {
	a := ev.AddAlarm()
	a.SetAction(ics.ActionDisplay)
	a.SetTrigger("-" + ICalDuration(offset))
	a.SetDescription(description)
}

// ICalDuration writes a positive duration as an RFC 5545 §3.3.6 dur-value: whole days as nD, the rest as
// T[nH][nM][nS], fractions of a second dropped: 24h is P1D, 90m PT1H30M, 36h P1DT12H. Zero is PT0S.
func ICalDuration(d time.Duration) string {
	d = d.Truncate(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h, m, sec := d/time.Hour, (d%time.Hour)/time.Minute, (d%time.Minute)/time.Second
	out := "P"
	if days > 0 {
		out += fmt.Sprintf("%dD", days)
	}
	if h > 0 || m > 0 || sec > 0 || days == 0 {
		out += "T"
		if h > 0 {
			out += fmt.Sprintf("%dH", h)
		}
		if m > 0 {
			out += fmt.Sprintf("%dM", m)
		}
		if sec > 0 || (h == 0 && m == 0) {
			out += fmt.Sprintf("%dS", sec)
		}
	}
	return out
}

// paramText makes a display name safe as an unquoted RFC 5545 parameter value. The library writes parameter
// values unquoted, and a backslash escape there is not RFC 5545, so the characters that would need quoting are
// replaced: apostrophes and double quotes by their typographic forms, ',', ';', ':' and control characters by a
// space. The name is display text only; the address identifies the attendee.
func paramText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\'':
			return '’'
		case r == '"':
			return '”'
		case r == '\\':
			return '/'
		case r == ',' || r == ';' || r == ':' || r < 0x20 || r == 0x7f:
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// buildInvite adds the calendar invite to the draft of a CREATE, RESCHEDULE or CANCELLED email when the
// organisation's calendar_invites is on: Compose sends it as a text/calendar alternative with the iTIP method (what
// calendar clients act on) and as the invite.ics attachment (for clients that only offer attachments). Other types
// are left alone.
func buildInvite(d *EmailDraft, set *templates.Set, org *config.Org, msg *Message, to appt.Participant) error {
	if !org.InvitesOn() || !templates.HasInvite(msg.Type) {
		return nil
	}
	text, err := set.Invite(org.ID, templateInput(msg, to))
	if err != nil {
		return Permanent(ErrBadInput, "rendering the calendar invite: %v", err)
	}
	obj, err := BuildInvite(org, msg, to, text)
	if err != nil {
		return Permanent(ErrBadInput, "building the calendar invite: %v", err)
	}
	d.Invite, d.InviteMethod = obj, string(InviteMethod(msg.Type))
	return nil
}
