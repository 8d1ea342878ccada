// Package templates renders the text of every notification: an email subject, HTML body and text body, and an SMS,
// for each notification type, in the participant's language and time zone.
//
// Defaults are embedded in the binary, in English and German. An organisation overrides any of them with files in
// its templates_dir, named after the notification type in lower case (create, reschedule, cancelled, reminder, room,
// follow_up) and the part:
//
//	<type>.subject.txt   email subject (text/template; newlines are folded into spaces)
//	<type>.html          email HTML body (html/template, so every value is escaped)
//	<type>.txt           email text body (text/template)
//	<type>.sms.txt       SMS text (text/template)
//	<type>.ics-summary.txt      calendar invite SUMMARY (create, reschedule, cancelled only; folded into one line)
//	<type>.ics-description.txt  calendar invite DESCRIPTION (create, reschedule, cancelled only)
//
// Agents (participants with role agent) get their own templates, when their organisation's notify_agents is on,
// for CREATE, RESCHEDULE, CANCELLED and REMINDER only: the same names with the prefix agent- (agent-create.txt,
// agent-reminder.sms.txt, agent-cancelled.ics-summary.txt, ...), overridden the same way (docs/rules.md#participants).
//
// A file directly in templates_dir applies to every language. A file in a subdirectory named after a base language
// (templates_dir/de/reminder.txt) applies to participants with that locale (de, de-AT, ...) and wins over the
// language-neutral one. What an organisation does not override comes from the defaults in the participant's
// language, else English. Other files (a README, say) and other subdirectories are ignored; a .txt or .html file
// whose name fits none of the patterns is an error, so a typo cannot silently leave a default in place.
//
// Templates see a Data value. Load parses every organisation's templates and renders each of them with sample data,
// with and without a join link and a name, so a broken template stops the worker at start instead of failing a send.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htemplate "html/template"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	ttemplate "text/template"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

//go:embed defaults
var defaultFS embed.FS

// Part is one piece of rendered text.
type Part string

// The parts every notification type has.
const (
	Subject Part = "subject" // <type>.subject.txt
	HTML    Part = "html"    // <type>.html
	Text    Part = "text"    // <type>.txt
	SMSText Part = "sms"     // <type>.sms.txt
)

// The parts of a calendar invite (docs/calendar-and-receipts.md). Only the types with an invite have them.
const (
	ICSSummary     Part = "ics-summary"     // <type>.ics-summary.txt
	ICSDescription Part = "ics-description" // <type>.ics-description.txt
)

// Parts lists every part.
var Parts = []Part{Subject, HTML, Text, SMSText}

// InviteParts lists the parts of a calendar invite.
var InviteParts = []Part{ICSSummary, ICSDescription}

// HasInvite reports whether emails of a notification type carry a calendar invite: CREATE and RESCHEDULE carry
// a REQUEST, CANCELLED a CANCEL; REMINDER, ROOM and FOLLOW_UP carry none.
func HasInvite(t appt.NotificationType) bool {
	return t == appt.Create || t == appt.Reschedule || t == appt.Cancelled
}

// AgentPrefix starts the file name of an agents' template: agent-create.subject.txt.
const AgentPrefix = "agent-"

func partsOf(t appt.NotificationType) []Part {
	if HasInvite(t) {
		return append(append([]Part{}, Parts...), InviteParts...)
	}
	return Parts
}

// FileName is the file that holds a part of a notification type's template.
func FileName(t appt.NotificationType, p Part) string {
	base := strings.ToLower(string(t))
	switch p {
	case Subject:
		return base + ".subject.txt"
	case HTML:
		return base + ".html"
	case SMSText:
		return base + ".sms.txt"
	case ICSSummary, ICSDescription:
		return base + "." + string(p) + ".txt"
	}
	return base + ".txt"
}

// parseFileName is FileName's inverse; agent is true for an agents' template (AgentPrefix), which exists only for
// the types agents get (appt.AgentsGet).
func parseFileName(name string) (t appt.NotificationType, p Part, agent, ok bool) {
	if rest, cut := strings.CutPrefix(name, AgentPrefix); cut {
		t, p, ok = parseTypeFileName(rest)
		return t, p, true, ok && appt.AgentsGet(t)
	}
	t, p, ok = parseTypeFileName(name)
	return t, p, false, ok
}

func parseTypeFileName(name string) (appt.NotificationType, Part, bool) {
	var base string
	var p Part
	switch {
	case strings.HasSuffix(name, ".subject.txt"):
		base, p = strings.TrimSuffix(name, ".subject.txt"), Subject
	case strings.HasSuffix(name, ".sms.txt"):
		base, p = strings.TrimSuffix(name, ".sms.txt"), SMSText
	case strings.HasSuffix(name, ".ics-summary.txt"):
		base, p = strings.TrimSuffix(name, ".ics-summary.txt"), ICSSummary
	case strings.HasSuffix(name, ".ics-description.txt"):
		base, p = strings.TrimSuffix(name, ".ics-description.txt"), ICSDescription
	case strings.HasSuffix(name, ".html"):
		base, p = strings.TrimSuffix(name, ".html"), HTML
	case strings.HasSuffix(name, ".txt"):
		base, p = strings.TrimSuffix(name, ".txt"), Text
	default:
		return "", "", false
	}
	for _, t := range appt.NotificationTypes {
		if base == strings.ToLower(string(t)) {
			if (p == ICSSummary || p == ICSDescription) && !HasInvite(t) {
				return "", "", false
			}
			return t, p, true
		}
	}
	return "", "", false
}

// Input is what a notification to one participant is rendered from.
type Input struct {
	Type          appt.NotificationType
	AppointmentID string
	Start, End    time.Time
	JoinURL       string        // empty when the message may not carry the link
	Offset        time.Duration // REMINDER and ROOM
	Participant   appt.Participant
}

// Data is what templates see. Times are already in the participant's time zone and language.
type Data struct {
	Type          string    // CREATE, REMINDER, ...
	Name          string    // the participant's name; may be empty
	AppointmentID string    //
	Org           string    // the organisation ID
	OrgName       string    // the display name of the organisation's email sender, else its ID
	Start         string    // "Tuesday, March 3, 2026 at 9:00 AM EST" / "Dienstag, 3. März 2026 um 15:00 Uhr MEZ"
	StartDate     string    // "Tuesday, March 3, 2026"
	StartTime     string    // "9:00 AM EST"
	StartShort    string    // "Tue, Mar 3, 9:00 AM EST", for SMS
	TimeZone      string    // the IANA zone the times are in ("UTC" when the participant has none)
	Duration      string    // "30 minutes"
	Offset        string    // "1 hour"; empty unless REMINDER or ROOM
	JoinURL       string    // empty when there is no link to give
	Locale        string    // the language the times are written in: en or de
	StartAt       time.Time // the start in the participant's zone, for templates that format it themselves
	EndAt         time.Time // the end, likewise
}

// NewData computes the template data of an input.
func NewData(in Input, org, orgName string) Data {
	l := langFor(in.Participant.Locale)
	loc := time.UTC
	tz := "UTC"
	if in.Participant.TZ != "" {
		if z, err := time.LoadLocation(in.Participant.TZ); err == nil {
			loc, tz = z, in.Participant.TZ
		}
	}
	start, end := in.Start.In(loc), in.End.In(loc)
	d := Data{
		Type:          string(in.Type),
		Name:          in.Participant.Name,
		AppointmentID: in.AppointmentID,
		Org:           org,
		OrgName:       orgName,
		Start:         l.long(l, start),
		StartDate:     l.date(l, start),
		StartTime:     l.clock(l, start),
		StartShort:    l.shortFmt(l, start),
		TimeZone:      tz,
		Duration:      l.duration(end.Sub(start)),
		JoinURL:       in.JoinURL,
		Locale:        l.code,
		StartAt:       start,
		EndAt:         end,
	}
	if in.Offset > 0 && (in.Type == appt.Reminder || in.Type == appt.Room) {
		d.Offset = l.duration(in.Offset)
	}
	return d
}

// Email is a rendered email.
type Email struct {
	Subject string
	HTML    string
	Text    string
}

type executor interface {
	Execute(w io.Writer, data any) error
}

type tmpl struct {
	exec executor
	file string // where it came from, for error messages
}

type key struct {
	t     appt.NotificationType
	p     Part
	agent bool // the agents' template (AgentPrefix)
}

// bundle is one directory's templates; a missing key falls through to the next bundle.
type bundle map[key]*tmpl

type orgTemplates struct {
	name  string
	all   bundle            // templates_dir/*
	langs map[string]bundle // templates_dir/<lang>/*
}

// Set holds the default templates and every organisation's overrides. It is safe for concurrent use.
type Set struct {
	defaults map[string]bundle // by language

	mu   sync.RWMutex
	orgs map[string]*orgTemplates
}

var langDirRe = regexp.MustCompile(`^[a-z]{2,3}$`)

// Defaults returns the built-in templates with no organisation overrides.
func Defaults() *Set {
	s, err := newSet()
	if err != nil {
		panic("templates: the built-in templates are broken: " + err.Error())
	}
	return s
}

func newSet() (*Set, error) {
	s := &Set{defaults: map[string]bundle{}, orgs: map[string]*orgTemplates{}}
	for code := range languages {
		b, err := parseDir(defaultFS, path.Join("defaults", code), "built-in "+code+"/")
		if err != nil {
			return nil, err
		}
		s.defaults[code] = b
	}
	for _, k := range allKeys() {
		for code, b := range s.defaults {
			if b[k] == nil {
				return nil, fmt.Errorf("built-in %s/%s is missing", code, keyFile(k))
			}
		}
	}
	return s, nil
}

// Load returns the defaults plus every organisation's overrides, each parsed and trial-rendered. An error names the
// organisation and the file.
func Load(cfg *config.Config) (*Set, error) {
	s, err := newSet()
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	for i := range cfg.Organizations {
		if err := s.SetOrg(&cfg.Organizations[i]); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func orgName(o *config.Org) string {
	if a, err := mail.ParseAddress(o.EmailFrom); err == nil && a.Name != "" {
		return a.Name
	}
	return o.ID
}

func (ot *orgTemplates) load(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading templates_dir: %w", err)
	}
	fsys := os.DirFS(dir)
	if ot.all, err = parseDir(fsys, ".", dir+string(filepath.Separator)); err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() && langDirRe.MatchString(e.Name()) {
			b, err := parseDir(fsys, e.Name(), filepath.Join(dir, e.Name())+string(filepath.Separator))
			if err != nil {
				return err
			}
			ot.langs[e.Name()] = b
		}
	}
	return nil
}

// parseDir parses the template files of one directory. prefix is how error messages name the directory.
func parseDir(fsys fs.FS, dir, prefix string) (bundle, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	b := bundle{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".txt") || strings.HasSuffix(name, ".html")) {
			continue
		}
		file := prefix + name
		src, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		k, t, err := parseOne(name, string(src), file)
		if err != nil {
			return nil, err
		}
		b[k] = t
	}
	return b, nil
}

// parseOne parses one template file's source; name is its file name, file how errors name it.
func parseOne(name, src, file string) (key, *tmpl, error) {
	t, p, agent, ok := parseFileName(name)
	if !ok {
		return key{}, nil, fmt.Errorf("%s: not a template name: expected <type>.subject.txt, <type>.html, <type>.txt or "+
			"<type>.sms.txt, with type one of %s, or <type>.ics-summary.txt or <type>.ics-description.txt with "+
			"type create, reschedule or cancelled; agents' templates add the prefix agent- to the types "+
			"create, reschedule, cancelled and reminder", file, typeList())
	}
	var ex executor
	var err error
	if p == HTML {
		ex, err = htemplate.New(name).Option("missingkey=error").Parse(src)
	} else {
		ex, err = ttemplate.New(name).Option("missingkey=error").Parse(src)
	}
	if err != nil {
		return key{}, nil, fmt.Errorf("%s: %w", file, err)
	}
	return key{t, p, agent}, &tmpl{exec: ex, file: file}, nil
}

func typeList() string {
	var names []string
	for _, t := range appt.NotificationTypes {
		names = append(names, strings.ToLower(string(t)))
	}
	return strings.Join(names, ", ")
}

// lookup finds the template for a part: the organisation's language override, its language-neutral override, the
// default in the language, the English default.
func (s *Set) lookup(org, language string, k key) *tmpl {
	if ot := s.org(org); ot != nil {
		if t := ot.langs[language][k]; t != nil {
			return t
		}
		if t := ot.all[k]; t != nil {
			return t
		}
	}
	if t := s.defaults[language][k]; t != nil {
		return t
	}
	return s.defaults["en"][k]
}

func (s *Set) orgName(org string) string {
	if ot := s.org(org); ot != nil {
		return ot.name
	}
	return org
}

var (
	blankLines = regexp.MustCompile(`\n[ \t]*(\n[ \t]*)+\n`)
	spaces     = regexp.MustCompile(`\s+`)
	trailingWS = regexp.MustCompile(`[ \t]+\n`)
)

// ErrEmpty is returned when a template renders to nothing but white space.
var ErrEmpty = errors.New("renders to empty text")

// Render renders one part for one participant: from the agents' templates for an agent, who gets only the types
// appt.AgentsGet allows (any other is an error).
func (s *Set) Render(org string, in Input, p Part) (string, error) {
	agent := !in.Participant.IsCustomer()
	if agent && !appt.AgentsGet(in.Type) {
		return "", fmt.Errorf("agents get no %s", in.Type)
	}
	t := s.lookup(org, baseLanguage(in.Participant.Locale), key{in.Type, p, agent})
	if t == nil {
		return "", fmt.Errorf("no template for %s %s", in.Type, p)
	}
	var buf bytes.Buffer
	if err := t.exec.Execute(&buf, NewData(in, org, s.orgName(org))); err != nil {
		return "", fmt.Errorf("%s: %w", t.file, err)
	}
	out := buf.String()
	switch p {
	case Subject, ICSSummary:
		out = strings.TrimSpace(spaces.ReplaceAllString(out, " "))
	case Text, SMSText, ICSDescription:
		out = trailingWS.ReplaceAllString(out, "\n")
		out = strings.TrimSpace(blankLines.ReplaceAllString(out, "\n\n"))
	case HTML:
		out = strings.TrimSpace(out)
	}
	if out == "" {
		return "", fmt.Errorf("%s: %w", t.file, ErrEmpty)
	}
	if p == Text {
		out += "\n"
	}
	return out, nil
}

// Email renders the subject, HTML and text of a notification email.
func (s *Set) Email(org string, in Input) (*Email, error) {
	var e Email
	var err error
	if e.Subject, err = s.Render(org, in, Subject); err != nil {
		return nil, err
	}
	if e.HTML, err = s.Render(org, in, HTML); err != nil {
		return nil, err
	}
	if e.Text, err = s.Render(org, in, Text); err != nil {
		return nil, err
	}
	return &e, nil
}

// Invite is the rendered text of a calendar invite.
type Invite struct {
	Summary     string
	Description string
}

// Invite renders the SUMMARY and DESCRIPTION of a notification's calendar invite. Only the types HasInvite
// reports have one.
func (s *Set) Invite(org string, in Input) (*Invite, error) {
	if !HasInvite(in.Type) {
		return nil, fmt.Errorf("%s emails carry no calendar invite", in.Type)
	}
	var inv Invite
	var err error
	if inv.Summary, err = s.Render(org, in, ICSSummary); err != nil {
		return nil, err
	}
	if inv.Description, err = s.Render(org, in, ICSDescription); err != nil {
		return nil, err
	}
	return &inv, nil
}

// SMS renders the text of a notification SMS.
func (s *Set) SMS(org string, in Input) (string, error) { return s.Render(org, in, SMSText) }

// trial renders every part of every type for an organisation, in every language it may meet, with and without a
// name and a join link.
func (s *Set) trial(org string) error {
	langs := map[string]bool{}
	for code := range languages {
		langs[code] = true
	}
	if ot := s.org(org); ot != nil {
		for code := range ot.langs {
			langs[code] = true
		}
	}
	codes := make([]string, 0, len(langs))
	for code := range langs {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	start := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, code := range codes {
		for _, k := range allKeys() {
			role := appt.Customer
			if k.agent {
				role = appt.Agent
			}
			for _, join := range []string{"", "https://video.example/join/sample?token=abc"} {
				for _, name := range []string{"", "Sample Name"} {
					in := Input{
						Type: k.t, AppointmentID: "sample-appointment", Start: start, End: start.Add(appt.DefaultDuration),
						JoinURL: join, Offset: time.Hour,
						Participant: appt.Participant{ID: "p1", Name: name, Locale: code, TZ: "Europe/Berlin", Role: role},
					}
					if _, err := s.Render(org, in, k.p); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// allKeys lists every template there is: each part of each type, then each part of the agents' types.
func allKeys() []key {
	var out []key
	for _, agent := range []bool{false, true} {
		for _, t := range appt.NotificationTypes {
			if agent && !appt.AgentsGet(t) {
				continue
			}
			for _, p := range partsOf(t) {
				out = append(out, key{t, p, agent})
			}
		}
	}
	return out
}

// keyFile is the file name of a template.
func keyFile(k key) string {
	if k.agent {
		return AgentPrefix + FileName(k.t, k.p)
	}
	return FileName(k.t, k.p)
}
