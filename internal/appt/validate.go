package appt

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/language"
)

// Limits on what an appointment may carry. They keep workflow histories and webhook payloads small.
const (
	MaxAppointmentIDLen = 128
	MaxParticipantIDLen = 64
	MaxParticipants     = 50
	MaxNameLen          = 200
	MaxDuration         = 24 * time.Hour
	// MaxStartAhead bounds how far ahead an appointment may start (400 days). It bounds how long an encryption key
	// must be kept after rotation: docs/security.md.
	MaxStartAhead       = 400 * 24 * time.Hour
	MaxMetadataKeys     = 50
	MaxMetadataKeyLen   = 64
	MaxMetadataValueLen = 1024
	MaxMetadataBytes    = 8 << 10
	MaxJoinURLLen       = 2048
	MaxReminderOffsets  = 10
	MaxReminderOffset   = 30 * 24 * time.Hour
)

// FieldError is a validation error that names the field at fault.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// IsFieldError reports whether err is (or wraps) a validation error.
func IsFieldError(err error) bool {
	var fe *FieldError
	return errors.As(err, &fe)
}

var (
	appointmentIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)
	metadataKeyRe   = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// ValidateAppointmentID checks an appointment ID: 1–128 characters from [A-Za-z0-9._:-].
func ValidateAppointmentID(id string) error {
	switch {
	case id == "":
		return fieldErr("id", "is required")
	case len(id) > MaxAppointmentIDLen:
		return fieldErr("id", "is %d characters long, the limit is %d", len(id), MaxAppointmentIDLen)
	case !appointmentIDRe.MatchString(id):
		return fieldErr("id", "may contain only letters, digits and . _ : -")
	}
	return nil
}

// ValidateParticipantID checks a participant ID, with the same charset as appointment IDs.
func ValidateParticipantID(field, id string) error {
	switch {
	case id == "":
		return fieldErr(field, "is required")
	case len(id) > MaxParticipantIDLen:
		return fieldErr(field, "is %d characters long, the limit is %d", len(id), MaxParticipantIDLen)
	case !appointmentIDRe.MatchString(id):
		return fieldErr(field, "may contain only letters, digits and . _ : -")
	}
	return nil
}

// ValidateTimes checks a start and end: the start in the future (after now) and a duration in (0, 24h].
func ValidateTimes(start, end, now time.Time) error {
	if start.IsZero() {
		return fieldErr("start", "is required")
	}
	if err := ValidateStart(start, now); err != nil {
		return err
	}
	return ValidateDuration(end.Sub(start))
}

// ValidateStart checks that a start is in the future (after now) and at most MaxStartAhead (400 days) ahead.
func ValidateStart(start, now time.Time) error {
	if !start.After(now) {
		return fieldErr("start", "%s is not in the future", start.UTC().Format(time.RFC3339))
	}
	if start.Sub(now) > MaxStartAhead {
		return fieldErr("start", "%s is more than 400 days ahead", start.UTC().Format(time.RFC3339))
	}
	return nil
}

// ValidateDuration checks an appointment's length.
func ValidateDuration(d time.Duration) error {
	if d <= 0 {
		return fieldErr("duration", "must be positive")
	}
	if d > MaxDuration {
		return fieldErr("duration", "%s is longer than %s", d, MaxDuration)
	}
	return nil
}

// ValidateEmail checks a bare email address (no display name).
func ValidateEmail(field, addr string) error {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr || a.Name != "" {
		return fieldErr(field, "is not a valid email address")
	}
	return nil
}

// ValidatePhone checks that a phone number is written in E.164 (+ and digits) and is a possible number for its
// country calling code. It does not insist that the number range is assigned (libphonenumber's IsValidNumber):
// that would refuse the fictional +1 555 numbers that contact centres use for testing, and the SPEC's own examples.
// Twilio reports a truly unreachable number as 21211, which is a permanent failure.
func ValidatePhone(field, phone string) error {
	if !strings.HasPrefix(phone, "+") {
		return fieldErr(field, "must be in E.164 format, such as +15551234567")
	}
	num, err := phonenumbers.Parse(phone, "")
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return fieldErr(field, "is not a valid phone number")
	}
	if phonenumbers.Format(num, phonenumbers.E164) != phone {
		return fieldErr(field, "must be in E.164 format, such as +15551234567")
	}
	return nil
}

// ValidateTimeZone checks an IANA time zone name. The empty string means UTC.
func ValidateTimeZone(field, tz string) error {
	if tz == "" {
		return nil
	}
	if tz == "Local" {
		return fieldErr(field, "must be an IANA time zone name, not Local")
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fieldErr(field, "%q is not an IANA time zone", tz)
	}
	return nil
}

// ValidateLocale checks a BCP 47 language tag. The empty string means English.
func ValidateLocale(field, locale string) error {
	if locale == "" {
		return nil
	}
	if _, err := language.Parse(locale); err != nil {
		return fieldErr(field, "%q is not a BCP 47 language tag", locale)
	}
	return nil
}

// ValidateParticipants checks the participant list: at least one, unique IDs, and each one's details.
func ValidateParticipants(ps []Participant) error {
	if len(ps) == 0 {
		return fieldErr("participant", "at least one is required")
	}
	if len(ps) > MaxParticipants {
		return fieldErr("participant", "%d given, the limit is %d", len(ps), MaxParticipants)
	}
	seen := make(map[string]bool, len(ps))
	for i, p := range ps {
		f := fmt.Sprintf("participant[%d]", i)
		if err := ValidateParticipantID(f+".id", p.ID); err != nil {
			return err
		}
		if seen[p.ID] {
			return fieldErr(f+".id", "%q is given twice", p.ID)
		}
		seen[p.ID] = true
		if len(p.Name) > MaxNameLen {
			return fieldErr(f+".name", "is longer than %d characters", MaxNameLen)
		}
		if p.Email != "" {
			if err := ValidateEmail(f+".email", p.Email); err != nil {
				return err
			}
		}
		if p.Phone != "" {
			if err := ValidatePhone(f+".phone", p.Phone); err != nil {
				return err
			}
		}
		if err := ValidateTimeZone(f+".tz", p.TZ); err != nil {
			return err
		}
		if err := ValidateLocale(f+".locale", p.Locale); err != nil {
			return err
		}
		if p.Role != "" && p.Role != Customer && p.Role != Agent {
			return fieldErr(f+".role", "%q is neither customer nor agent", p.Role)
		}
	}
	return nil
}

// ValidateMetadata checks metadata against the size limits.
func ValidateMetadata(md map[string]string) error {
	if len(md) > MaxMetadataKeys {
		return fieldErr("metadata", "%d keys given, the limit is %d", len(md), MaxMetadataKeys)
	}
	total := 0
	for k, v := range md {
		if k == "" || len(k) > MaxMetadataKeyLen || !metadataKeyRe.MatchString(k) {
			return fieldErr("metadata", "key %q must be 1-%d characters from letters, digits and . _ -", k, MaxMetadataKeyLen)
		}
		if len(v) > MaxMetadataValueLen {
			return fieldErr("metadata."+k, "is longer than %d bytes", MaxMetadataValueLen)
		}
		total += len(k) + len(v)
	}
	if total > MaxMetadataBytes {
		return fieldErr("metadata", "is %d bytes, the limit is %d", total, MaxMetadataBytes)
	}
	return nil
}

// ValidateJoinURL checks the join link: empty, or an absolute http(s) URL.
func ValidateJoinURL(u string) error {
	if u == "" {
		return nil
	}
	if len(u) > MaxJoinURLLen {
		return fieldErr("join-url", "is longer than %d characters", MaxJoinURLLen)
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return fieldErr("join-url", "must be an absolute http or https URL")
	}
	return nil
}

// ValidateOffsets checks reminder offsets: each positive, at most 30 days, and no two equal.
func ValidateOffsets(field string, offsets []time.Duration) error {
	if len(offsets) > MaxReminderOffsets {
		return fieldErr(field, "%d offsets given, the limit is %d", len(offsets), MaxReminderOffsets)
	}
	seen := make(map[time.Duration]bool, len(offsets))
	for _, o := range offsets {
		if o <= 0 {
			return fieldErr(field, "offset %s must be positive", o)
		}
		if o > MaxReminderOffset {
			return fieldErr(field, "offset %s is longer than %s", o, MaxReminderOffset)
		}
		if seen[o] {
			return fieldErr(field, "offset %s is given twice", o)
		}
		seen[o] = true
	}
	return nil
}

// ValidateScheduleRequest checks everything about a new appointment that can be checked without the config.
func ValidateScheduleRequest(r *ScheduleRequest, now time.Time) error {
	if err := ValidateAppointmentID(r.AppointmentID); err != nil {
		return err
	}
	if r.Org == "" {
		return fieldErr("org", "is required")
	}
	if err := ValidateTimes(r.Start, r.End, now); err != nil {
		return err
	}
	if err := ValidateParticipants(r.Participants); err != nil {
		return err
	}
	if err := ValidateJoinURL(r.JoinURL); err != nil {
		return err
	}
	if len(r.Resume) != 0 {
		return fieldErr("resume", "is set only by the workflow itself")
	}
	return ValidateMetadata(r.Metadata)
}
