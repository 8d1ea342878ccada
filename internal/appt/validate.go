package appt

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"sort"
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

// ValidateParticipants checks the participant list: at least one, unique IDs, and each one's details. It returns
// the first problem; ParticipantsErrors lists them all.
func ValidateParticipants(ps []Participant) error { return first(ParticipantsErrors(ps)) }

// ParticipantsErrors lists every problem of a participant list, in list order. Fields are named
// participant[i].id, participant[i].email and so on (the starter's --participant flag, indexed).
func ParticipantsErrors(ps []Participant) []*FieldError {
	var errs fieldErrors
	if len(ps) == 0 {
		errs.add(fieldErr("participant", "at least one is required"))
		return errs
	}
	if len(ps) > MaxParticipants {
		errs.add(fieldErr("participant", "%d given, the limit is %d", len(ps), MaxParticipants))
		return errs
	}
	seen := make(map[string]bool, len(ps))
	for i, p := range ps {
		f := fmt.Sprintf("participant[%d]", i)
		if err := ValidateParticipantID(f+".id", p.ID); err != nil {
			errs.add(err)
		} else if seen[p.ID] {
			errs.add(fieldErr(f+".id", "%q is given twice", p.ID))
		}
		seen[p.ID] = true
		if len(p.Name) > MaxNameLen {
			errs.add(fieldErr(f+".name", "is longer than %d characters", MaxNameLen))
		}
		if p.Email != "" {
			errs.add(ValidateEmail(f+".email", p.Email))
		}
		if p.Phone != "" {
			errs.add(ValidatePhone(f+".phone", p.Phone))
		}
		errs.add(ValidateTimeZone(f+".tz", p.TZ))
		errs.add(ValidateLocale(f+".locale", p.Locale))
		if p.Role != "" && p.Role != Customer && p.Role != Agent {
			errs.add(fieldErr(f+".role", "%q is neither customer nor agent", p.Role))
		}
	}
	return errs
}

// ValidateMetadata checks metadata against the size limits. It returns the first problem; MetadataErrors lists
// them all.
func ValidateMetadata(md map[string]string) error { return first(MetadataErrors(md)) }

// MetadataErrors lists every problem of a metadata map, keys in sorted order. A bad key is reported on field
// "metadata", a value that is too long on "metadata.KEY".
func MetadataErrors(md map[string]string) []*FieldError {
	var errs fieldErrors
	if len(md) > MaxMetadataKeys {
		errs.add(fieldErr("metadata", "%d keys given, the limit is %d", len(md), MaxMetadataKeys))
		return errs
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	total := 0
	for _, k := range keys {
		v := md[k]
		if k == "" || len(k) > MaxMetadataKeyLen || !metadataKeyRe.MatchString(k) {
			errs.add(fieldErr("metadata", "key %q must be 1-%d characters from letters, digits and . _ -", k, MaxMetadataKeyLen))
		}
		if len(v) > MaxMetadataValueLen {
			errs.add(fieldErr("metadata."+k, "is longer than %d bytes", MaxMetadataValueLen))
		}
		total += len(k) + len(v)
	}
	if total > MaxMetadataBytes {
		errs.add(fieldErr("metadata", "is %d bytes, the limit is %d", total, MaxMetadataBytes))
	}
	return errs
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

// ValidateScheduleRequest checks everything about a new appointment that can be checked without the config. It
// returns the first problem; ScheduleRequestErrors lists them all.
func ValidateScheduleRequest(r *ScheduleRequest, now time.Time) error {
	return first(ScheduleRequestErrors(r, now))
}

// ScheduleRequestErrors lists every problem of a new appointment that can be found without the config, in the
// order id, org, start, duration, participant…, join-url, resume, metadata. The HTTP API reports them all at once;
// the starter reports the first.
func ScheduleRequestErrors(r *ScheduleRequest, now time.Time) []*FieldError {
	var errs fieldErrors
	errs.add(ValidateAppointmentID(r.AppointmentID))
	if r.Org == "" {
		errs.add(fieldErr("org", "is required"))
	}
	if r.Start.IsZero() {
		errs.add(fieldErr("start", "is required"))
	} else {
		errs.add(ValidateStart(r.Start, now))
		errs.add(ValidateDuration(r.End.Sub(r.Start)))
	}
	errs = append(errs, ParticipantsErrors(r.Participants)...)
	errs.add(ValidateJoinURL(r.JoinURL))
	if len(r.Resume) != 0 {
		errs.add(fieldErr("resume", "is set only by the workflow itself"))
	}
	return append(errs, MetadataErrors(r.Metadata)...)
}

// RescheduleErrors lists every problem of a reschedule: the start is required, in the future (after now) and at most
// MaxStartAhead ahead, and
// a non-zero end gives a duration in (0, 24h].
func RescheduleErrors(start, end, now time.Time) []*FieldError {
	var errs fieldErrors
	if start.IsZero() {
		errs.add(fieldErr("start", "is required"))
		return errs
	}
	errs.add(ValidateStart(start, now))
	if !end.IsZero() {
		errs.add(ValidateDuration(end.Sub(start)))
	}
	return errs
}

// fieldErrors collects validation problems. Every validator here returns nil or a *FieldError.
type fieldErrors []*FieldError

func (l *fieldErrors) add(err error) {
	if err == nil {
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		fe = &FieldError{Field: "", Msg: err.Error()}
	}
	*l = append(*l, fe)
}

// first returns the first problem of a list, as an error, or nil.
func first(errs []*FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}
