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
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"
	"golang.org/x/text/language"
)

// Limits on what an appointment may carry. They keep workflow histories and webhook payloads small, and every value
// within them fits every channel it reaches (docs/validation.md lists each field, where it goes and why). A limit
// in characters counts Unicode code points; a limit in bytes counts UTF-8 bytes.
const (
	MaxAppointmentIDLen = 128            // characters, ASCII only
	MaxParticipantIDLen = 64             // characters, ASCII only
	MaxParticipants     = 50             //
	MaxNameLen          = 200            // characters (code points)
	MaxDuration         = 24 * time.Hour //
	// MaxStartAhead bounds how far ahead an appointment may start (400 days). It bounds how long an encryption key
	// must be kept after rotation: docs/security.md.
	MaxStartAhead       = 400 * 24 * time.Hour //
	MaxMetadataKeys     = 50                   //
	MaxMetadataKeyLen   = 64                   // characters, ASCII only
	MaxMetadataValueLen = 1024                 // bytes of UTF-8
	MaxMetadataBytes    = 8 << 10              // bytes: all keys and values together
	MaxJoinURLLen       = 2048                 // characters, ASCII only
	MaxReasonLen        = 1024                 // characters (code points): a cancel reason
	MaxLocaleLen        = 35                   // characters: RFC 5646 §4.4.1's minimum buffer for a language tag
	MaxEmailLen         = 254                  // bytes: RFC 5321 §4.5.3.1.3 (a 256-octet path, less its angle brackets)
	MaxEmailLocalLen    = 64                   // bytes: RFC 5321 §4.5.3.1.1
	MaxReminderOffsets  = 10                   //
	MaxReminderOffset   = 30 * 24 * time.Hour  //
)

// MaxSMSLen is the longest SMS body Twilio's Messages API accepts, in characters (Unicode code points); a longer
// one fails for good with Twilio error 21617 (https://www.twilio.com/docs/errors/21617).
const MaxSMSLen = 1600

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

// ValidateAppointmentID checks an appointment ID: 1–128 characters from [A-Za-z0-9._:-]. Frozen (rules.go): the
// workflow rejects a request with it.
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

// ValidateParticipantID checks a participant ID: 1–64 characters, with the same charset as appointment IDs. Frozen
// (rules.go): the workflow rejects a request with it.
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

// ValidateStart is the start window: a start must be in the future (after now) and at most MaxStartAhead (400 days)
// ahead (StartBeyondHorizon). The edge checks new appointments and reschedules with it, and the workflow checks a
// reschedule with it. Frozen (rules.go).
func ValidateStart(start, now time.Time) error {
	if !StartInFuture(start, now) {
		return fieldErr("start", "%s is not in the future", start.UTC().Format(time.RFC3339))
	}
	if StartBeyondHorizon(start, now) {
		return fieldErr("start", "%s is more than 400 days ahead", start.UTC().Format(time.RFC3339))
	}
	return nil
}

// ValidateDuration checks an appointment's length: in (0, MaxDuration]. Frozen (rules.go): the workflow checks
// requests and reschedules with it.
func ValidateDuration(d time.Duration) error {
	if d <= 0 {
		return fieldErr("duration", "must be positive")
	}
	if d > MaxDuration {
		return fieldErr("duration", "%s is longer than %s", d, MaxDuration)
	}
	return nil
}

// ValidateText checks free text that reaches a channel (a name, a metadata value, a cancel reason): valid UTF-8,
// at most max characters (Unicode code points; max <= 0 means no limit), and no character that no channel can carry
// as typed: control characters (Unicode Cc: C0, DEL and C1, which includes CR, LF and tab) and the line and paragraph
// separators U+2028 and U+2029. A CR LF in a name would end an email header; a tab or newline would end the
// starter's one-line error and break the status table. Everything else, including combining marks, emoji and
// right-to-left text with its direction marks, is allowed and reaches every channel unchanged.
func ValidateText(field, s string, max int) error {
	if err := ValidateUTF8(field, s); err != nil {
		return err
	}
	if max > 0 {
		if n := utf8.RuneCountInString(s); n > max {
			return fieldErr(field, "is %d characters long, the limit is %d", n, max)
		}
	}
	for i, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fieldErr(field, "contains the control character %U at character %d; control characters and line breaks are not allowed",
				r, utf8.RuneCountInString(s[:i])+1)
		}
	}
	return nil
}

// ValidateUTF8 checks that text is valid UTF-8 (RFC 3629): every text the edge takes must be, so that it reaches
// each channel as typed rather than with U+FFFD in place of the bytes that are not. The starter applies it through
// ValidateText; the HTTP API applies it to every string of a JSON body before decoding, which would replace those
// bytes silently. The error is a *FieldError naming field: "is not valid UTF-8".
func ValidateUTF8(field, s string) error {
	if !utf8.ValidString(s) {
		return fieldErr(field, "is not valid UTF-8")
	}
	return nil
}

// encodedWordRe matches an RFC 2047 encoded-word (=?charset?Q?text?=).
var encodedWordRe = regexp.MustCompile(`=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=`)

// ValidateDisplayName checks a name that becomes an email display name: free text (ValidateText) that holds no
// RFC 2047 encoded-word. Mail programs decode such a word even inside a quoted-string, so a name typed as
// "=?utf-8?q?Mallory?=" would be shown as "Mallory": no encoding makes it arrive as typed.
func ValidateDisplayName(field, name string, max int) error {
	if err := ValidateText(field, name, max); err != nil {
		return err
	}
	if encodedWordRe.MatchString(name) {
		return fieldErr(field, "contains an RFC 2047 encoded-word (=?charset?q?...?=), which mail programs would decode instead of showing as typed")
	}
	return nil
}

// emailIDNA converts an email domain to its ASCII (A-label) form by IDNA2008 as UTS #46 maps it for lookup, with
// the DNS length limits (63 bytes per label, 253 in all) and the STD3 host-name rules (letters, digits, hyphens).
var emailIDNA = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.ValidateLabels(true), idna.StrictDomainName(true),
	idna.VerifyDNSLength(true))

// EmailASCIIDomain returns addr with its domain in ASCII: an internationalised domain (bücher.example) becomes its
// IDNA A-label form (xn--bcher-kva.example), which is the same mailbox to every relay. The local part is left as
// it is. It fails when the domain is not a valid (internationalised) host name.
func EmailASCIIDomain(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", errors.New("no @")
	}
	d, err := emailIDNA.ToASCII(addr[at+1:])
	if err != nil {
		return "", err
	}
	return addr[:at+1] + d, nil
}

// IsASCII reports whether s is all ASCII.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// ValidateEmail checks a bare email address (no display name, no quoted local part, no domain literal): RFC 5322
// syntax as net/mail reads it, UTF-8 local parts as RFC 6532 allows, a domain that IDNA2008 turns into a valid
// host name, at most 64 bytes before the @ and 254 in all (RFC 5321). The message never quotes the address.
func ValidateEmail(field, addr string) error {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr || a.Name != "" || !utf8.ValidString(addr) {
		return fieldErr(field, "is not a valid email address")
	}
	if len(addr) > MaxEmailLen {
		return fieldErr(field, "is %d bytes long, the limit is %d (RFC 5321)", len(addr), MaxEmailLen)
	}
	at := strings.LastIndexByte(addr, '@')
	if at > MaxEmailLocalLen {
		return fieldErr(field, "has a local part (before the @) of %d bytes, the limit is %d (RFC 5321)", at, MaxEmailLocalLen)
	}
	ascii, err := EmailASCIIDomain(addr)
	if err != nil {
		return fieldErr(field, "has a domain that is not a valid host name (IDNA2008: letters, digits and hyphens, labels of at most 63 bytes)")
	}
	if len(ascii) > MaxEmailLen {
		return fieldErr(field, "is %d bytes long with its domain in IDNA ASCII form, the limit is %d (RFC 5321)", len(ascii), MaxEmailLen)
	}
	return nil
}

// ValidatePhone checks that a phone number is written in E.164 (+ and digits) and is a possible number for its
// country calling code. It does not insist that the number range is assigned (libphonenumber's IsValidNumber):
// that would refuse the fictional +1 555 numbers that contact centres use for testing, and the examples in docs/rules.md.
// Twilio reports a truly unreachable number as 21211, which is a permanent failure.
func ValidatePhone(field, phone string) error {
	if !strings.HasPrefix(phone, "+") {
		return fieldErr(field, "must be in E.164 format, such as +15551234567")
	}
	if len(phone) > 16 {
		return fieldErr(field, "has more than 15 digits, the most E.164 allows")
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

// ValidateLocale checks a BCP 47 language tag of at most 35 characters. The empty string means English.
func ValidateLocale(field, locale string) error {
	if locale == "" {
		return nil
	}
	if len(locale) > MaxLocaleLen || !IsASCII(locale) {
		return fieldErr(field, "is not a BCP 47 language tag of at most %d ASCII characters", MaxLocaleLen)
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
		errs.add(ValidateDisplayName(f+".name", p.Name, MaxNameLen))
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

// ValidateMetadata checks metadata at the edge: ValidateMetadataLimits, and every value free text (ValidateText:
// valid UTF-8, no control characters). Keys are checked in sorted order, so the error for a request is always the
// same. It returns the first problem; MetadataErrors lists them all.
func ValidateMetadata(md map[string]string) error { return first(MetadataErrors(md)) }

// MetadataErrors lists every problem of a metadata map at the edge, keys in sorted order: the limits first, then
// the text rule of every value. A bad key is reported on field "metadata", a bad value on "metadata.KEY".
func MetadataErrors(md map[string]string) []*FieldError {
	errs := fieldErrors(metadataLimitsErrors(md))
	for _, k := range SortedKeys(md) {
		errs.add(ValidateText("metadata."+k, md[k], 0))
	}
	return errs
}

// ValidateMetadataLimits checks metadata against the size limits only: keys of 1-64 ASCII letters, digits and
// . _ -, values of at most 1024 bytes, at most 8 KiB in all. The workflow uses it for requests and updates that did
// not come through the edge: its verdict must stay what it was when older histories were recorded, so the text
// rules of ValidateMetadata are not part of it (a workflow that applied them would replay differently). It returns
// the first problem, in the order the limits are listed.
func ValidateMetadataLimits(md map[string]string) error { return first(metadataLimitsErrors(md)) }

func metadataLimitsErrors(md map[string]string) []*FieldError {
	var errs fieldErrors
	if len(md) > MaxMetadataKeys {
		errs.add(fieldErr("metadata", "%d keys given, the limit is %d", len(md), MaxMetadataKeys))
		return errs
	}
	total := 0
	for _, k := range SortedKeys(md) {
		v := md[k]
		if k == "" || len(k) > MaxMetadataKeyLen || !metadataKeyRe.MatchString(k) {
			errs.add(fieldErr("metadata", "key %q must be 1-%d characters from letters, digits and . _ -", k, MaxMetadataKeyLen))
		}
		if len(v) > MaxMetadataValueLen {
			errs.add(fieldErr("metadata."+k, "is %d bytes long, the limit is %d bytes", len(v), MaxMetadataValueLen))
		}
		total += len(k) + len(v)
	}
	if total > MaxMetadataBytes {
		errs.add(fieldErr("metadata", "is %d bytes, the limit is %d", total, MaxMetadataBytes))
	}
	return errs
}

// SortedKeys returns a map's keys in ascending order. Validation reports in this order, and the workflow walks a
// map only through it: Go randomises map iteration, and a workflow must decide the same way on every replay.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	//workflowcheck:ignore the keys are sorted below, so their order in the map does not matter
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ValidateJoinURL checks the join link: empty, or an absolute http(s) URI (RFC 3986) of at most 2048 characters.
// Only printable ASCII without spaces is allowed: anything else must be percent-encoded, as a URI requires, so the
// link reaches the SMS, the email's text and HTML and the webhook byte for byte, and an SMS app still sees one
// link. Whether the link fits the organisation's SMS is checked separately, with the templates (see api).
func ValidateJoinURL(u string) error {
	if u == "" {
		return nil
	}
	if n := utf8.RuneCountInString(u); n > MaxJoinURLLen {
		return fieldErr("join-url", "is %d characters long, the limit is %d", n, MaxJoinURLLen)
	}
	for i, r := range u {
		if r <= ' ' || r >= 0x7f {
			return fieldErr("join-url", "has %U at character %d: a URL may hold only printable ASCII; percent-encode the rest (RFC 3986)",
				r, utf8.RuneCountInString(u[:i])+1)
		}
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return fieldErr("join-url", "must be an absolute http or https URL")
	}
	return nil
}

// ValidateReason checks a cancel reason: free text (ValidateText) of at most 1024 characters.
func ValidateReason(reason string) error { return ValidateText("reason", reason, MaxReasonLen) }

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
