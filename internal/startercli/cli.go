// Package startercli is the starter command: it parses a verb and its flags, validates them completely, and only
// then calls the api package. Exit codes: docs/rules.md#the-starter.
package startercli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// Exit codes (docs/rules.md#the-starter).
const (
	ExitOK       = 0
	ExitOther    = 1
	ExitBadInput = 2
	ExitNotFound = 3
)

// The verbs (docs/rules.md#the-starter). Where a verb is a signal of the workflow, it is spelled by the contract's constant.
const (
	verbSchedule      = "schedule"
	verbReschedule    = appt.SignalReschedule
	verbCancel        = appt.SignalCancel
	verbActivate      = appt.SignalActivate
	verbCallStarted   = appt.SignalCallStarted
	verbJoined        = "joined"
	verbCallEnded     = appt.SignalCallEnded
	verbUpdate        = "update"
	verbRetry         = appt.SignalRetry
	verbStatus        = appt.QueryStatus
	verbNotifications = "notifications"
	verbAutoActivate  = "auto-activate"
	verbList          = "list"
	// verbAddParticipant and verbRemoveParticipant are updates only (participants.go).
	verbAddParticipant    = appt.UpdateAddParticipant
	verbRemoveParticipant = appt.UpdateRemoveParticipant
	verbErase             = "erase"
)

// Env is what Run needs from the process.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	// Dial connects to Temporal with a client that encrypts with ring (nil: plaintext, --plaintext-history). It is
	// called only after the input has been validated and the key ring found.
	Dial func(ring *codec.KeyRing) (client.Client, error)
	// Address is the frontend Dial connects to, for messages; TEMPORAL_ADDRESS or api.DefaultAddress when nil.
	Address func() string
	// Namespace is the namespace list searches; TEMPORAL_NAMESPACE or "default" when nil.
	Namespace func() string
}

// hint is what a connection failure adds: the local worker hosts the server, so no worker means no server.
const hint = "is the worker running? Locally it hosts the Temporal server"

func (e Env) address() string {
	if e.Address != nil {
		return e.Address()
	}
	if e.Getenv != nil && e.Getenv("TEMPORAL_ADDRESS") != "" {
		return e.Getenv("TEMPORAL_ADDRESS")
	}
	return api.DefaultAddress
}

func (e Env) namespace() string {
	if e.Namespace != nil {
		return e.Namespace()
	}
	if e.Getenv != nil && e.Getenv("TEMPORAL_NAMESPACE") != "" {
		return e.Getenv("TEMPORAL_NAMESPACE")
	}
	return "default"
}

// connectionError reports a failure to reach the server by its address, with the hint, instead of gRPC's text.
func connectionError(addr string, err error) error {
	cause := "unreachable"
	switch msg := err.Error(); {
	case strings.Contains(msg, "connection refused"):
		cause = "connection refused"
	case strings.Contains(msg, "no such host"):
		cause = "no such host"
	case strings.Contains(msg, "deadline exceeded"), strings.Contains(msg, "timeout"):
		cause = "no answer"
	}
	return fmt.Errorf("cannot reach Temporal at %s (%s): %s", addr, cause, hint)
}

// unreachable reports whether an error from a call means the server could not be reached at all.
func unreachable(err error) bool {
	var u *serviceerror.Unavailable
	return errors.As(err, &u) || status.Code(err) == codes.Unavailable
}

// usageError is bad input found while parsing.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

const usage = `usage: starter <verb> [flags]
  schedule --id ID --org ORG --start RFC3339 [--duration 30m] --participant 'id=c1,name=Ann Lee,email=…,phone=+1…,tz=Europe/Berlin,locale=de,role=customer' [--participant …] [--join-url URL] [--notifications=false] [--metadata k=v]…
  reschedule --id ID --start RFC3339 [--duration D]
  cancel --id ID [--reason TEXT]        activate --id ID
  call-started --id ID                  joined --id ID --participant PID
  call-ended --id ID                    update --id ID --metadata k=v …
  retry --id ID --entry ENTRY_ID        status --id ID [--json]
  add-participant --id ID --participant 'id=c2,name=…,email=…,phone=…,tz=…,locale=…,role=customer'
  remove-participant --id ID --participant PID
  list [--org ORG] [--state STATE] [--from RFC3339] [--to RFC3339] [--json]
  notifications enable|disable --org ORG
  auto-activate enable --org ORG
  erase --org ORG [--email ADDR] [--phone +1…] [--appointment ID]… [--json]   erase a customer (docs/security.md#erasure)
  serve [--listen 127.0.0.1:8088]       the HTTP API (docs/api.md); tokens from APPTNOTIFY_API_TOKENS
  token issue (--org ORG | --all) [--expires 720h] | token list [--json] | token revoke ID   issued API tokens
  org list | org get|disable|enable --org ORG | org apply -f FILE [--dry-run]   organisations at run time
  seal-public-key                       the public key of APPTNOTIFY_SEAL_KEYS, for APPTNOTIFY_SEAL_PUBLIC_KEY
  ` + suppressionUsage + `
` + previewUsage + `
every verb takes --config FILE (or APPTNOTIFY_CONFIG); TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE choose the cluster;
payloads are encrypted with APPTNOTIFY_ENCRYPTION_KEYS, else with --data-dir's encryption-keys file (default .data,
the local worker's), unless --plaintext-history is given`

// Run runs one starter command and returns its exit code. Errors are one line on stderr naming the field.
func Run(ctx context.Context, args []string, env Env) int {
	code, err := run(ctx, args, env)
	if err != nil {
		fmt.Fprintln(env.Stderr, "error: "+oneLine(err.Error()))
	}
	return code
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func run(ctx context.Context, args []string, env Env) (int, error) {
	if len(args) > 0 && args[0] == verbServe {
		return serve(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == verbToken {
		return token(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == verbOrg {
		return runOrg(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == verbSuppression {
		return suppressionCmd(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == verbSealPublicKey {
		return sealPublicKey(args[1:], env)
	}
	if isPreviewVerb(args) {
		return runPreview(ctx, args, env)
	}
	cmd, err := parse(args, env)
	if err != nil {
		return exitCode(err), err
	}
	if cmd.help {
		fmt.Fprintln(env.Stdout, usage)
		return ExitOK, nil
	}
	if err := cmd.validate(); err != nil {
		return exitCode(err), err
	}
	c, code, err := cmd.connect(env)
	if err != nil {
		return code, err
	}
	defer c.Temporal.Close()
	c.Templates = cmd.templates
	if err := cmd.exec(ctx, c, env.Stdout); err != nil {
		if errors.Is(err, api.ErrAlreadyScheduled) {
			fmt.Fprintln(env.Stdout, "already scheduled")
			// Nothing was started or changed; say what differs, so a script notices a request it meant as a change.
			if diffs, derr := c.Differences(ctx, cmd.request()); derr == nil && len(diffs) > 0 {
				fmt.Fprintln(env.Stdout, "the existing appointment differs and was not changed: "+strings.Join(diffs, "; "))
			}
			return ExitOK, nil
		}
		if unreachable(err) {
			return ExitOther, connectionError(env.address(), err)
		}
		return exitCode(err), err
	}
	return ExitOK, nil
}

// dialClient connects to Temporal with a client that encrypts with ring, and returns the api client on cfg, with
// env's clock. A failure to connect names the address.
func dialClient(env Env, ring *codec.KeyRing, cfg *config.Config) (*api.Client, error) {
	tc, err := env.Dial(ring)
	if err != nil {
		return nil, connectionError(env.address(), err)
	}
	c := api.New(tc, cfg)
	if env.Now != nil {
		c.Now = env.Now
	}
	return c, nil
}

func exitCode(err error) int {
	var ue *usageError
	var fe *appt.FieldError
	var re *api.RefusedError
	switch {
	case errors.As(err, &ue), errors.As(err, &fe), errors.As(err, &re), errors.Is(err, api.ErrNoAddressKey):
		return ExitBadInput
	case errors.Is(err, api.ErrNotFound):
		return ExitNotFound
	}
	return ExitOther
}

// command is a parsed invocation.
type command struct {
	verb, sub string
	help      bool
	cfg       *config.Config
	now       time.Time

	id, org, entry, participant, reason, joinURL string
	start, from, to                              time.Time
	state                                        string
	duration                                     time.Duration
	durationSet                                  bool
	notifications, asJSON                        bool
	participants                                 []appt.Participant
	metadata                                     map[string]string
	templates                                    *templates.Set // what the SMS-length check rendered with
	dataDir                                      string
	plaintext                                    bool
	email, phone                                 string
	appointmentIDs                               []string
}

// keys finds the key ring the starter encrypts with: APPTNOTIFY_ENCRYPTION_KEYS, else the local worker's key file
// in --data-dir when it exists; with the data-key store of APPTNOTIFY_DATA_KEYS, else the local worker's
// data-keys.db in --data-dir when it exists. With --plaintext-history it warns and returns nil.
func (c *command) keys(env Env) (*codec.KeyRing, error) {
	if c.plaintext {
		fmt.Fprintln(env.Stderr, "warning: --"+codec.PlaintextFlag+": customer data goes to Temporal unencrypted")
		return nil, nil
	}
	ring, _, err := codec.Source{Getenv: env.Getenv, KeyFile: filepath.Join(c.dataDir, codec.KeyFileName),
		DataKeysFile: filepath.Join(c.dataDir, codec.DataKeysFileName)}.Resolve(c.now)
	return ring, err
}

// dial resolves the key ring (keys) and connects to Temporal; on failure, the exit code says whose fault it is.
func (c *command) dial(env Env) (client.Client, *codec.KeyRing, int, error) {
	ring, err := c.keys(env)
	if err != nil {
		return nil, nil, ExitBadInput, err
	}
	tc, err := env.Dial(ring)
	if err != nil {
		return nil, nil, ExitOther, connectionError(env.address(), err)
	}
	return tc, ring, ExitOK, nil
}

// parseFlags parses a verb's flags: help is -h or --help; an unknown flag or a left-over argument is a usage error.
func parseFlags(fs *flag.FlagSet, verb string, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, usagef("%s: %v", verb, err)
	}
	if fs.NArg() > 0 {
		return false, usagef("%s: unexpected argument %q", verb, fs.Arg(0))
	}
	return false, nil
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func parse(args []string, env Env) (*command, error) {
	if len(args) == 0 {
		return nil, usagef("a verb is required\n%s", usage)
	}
	c := &command{verb: args[0], notifications: true, duration: appt.DefaultDuration}
	if c.verb == "help" || c.verb == "-h" || c.verb == "--help" {
		c.help = true
		return c, nil
	}
	rest := args[1:]
	if c.verb == verbNotifications || c.verb == verbAutoActivate {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return nil, usagef("%s: enable or disable is required", c.verb)
		}
		c.sub, rest = rest[0], rest[1:]
		if c.sub != "enable" && (c.verb == verbAutoActivate || c.sub != "disable") {
			if c.verb == verbAutoActivate && c.sub == "disable" {
				return nil, usagef("auto-activate: it cannot be turned off once on (docs/rules.md#flags)")
			}
			return nil, usagef("%s: %q is not enable or disable", c.verb, c.sub)
		}
	}
	fs := flag.NewFlagSet(c.verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfgPath, start, duration, from, to string
	var participants, metadata multi
	fs.StringVar(&cfgPath, "config", "", "config file")
	fs.StringVar(&c.dataDir, "data-dir", ".data", "the local worker's data directory, for its encryption-keys file")
	fs.BoolVar(&c.plaintext, codec.PlaintextFlag, false, "write payloads to Temporal unencrypted")
	need := map[string]bool{}
	str := func(p *string, name, help string, required bool) {
		fs.StringVar(p, name, "", help)
		need[name] = required
	}
	switch c.verb {
	case verbSchedule:
		str(&c.id, "id", "appointment ID", true)
		str(&c.org, "org", "organisation", true)
		str(&start, "start", "start, RFC3339", true)
		str(&duration, "duration", "length", false)
		str(&c.joinURL, "join-url", "join link", false)
		fs.Var(&participants, "participant", "participant (repeat)")
		fs.Var(&metadata, "metadata", "k=v (repeat)")
		fs.BoolVar(&c.notifications, "notifications", true, "request flag")
	case verbReschedule:
		str(&c.id, "id", "appointment ID", true)
		str(&start, "start", "new start, RFC3339", true)
		str(&duration, "duration", "new length", false)
	case verbCancel:
		str(&c.id, "id", "appointment ID", true)
		str(&c.reason, "reason", "why", false)
	case verbActivate, verbCallStarted, verbCallEnded:
		str(&c.id, "id", "appointment ID", true)
	case verbJoined, verbRemoveParticipant:
		str(&c.id, "id", "appointment ID", true)
		str(&c.participant, "participant", "participant ID", true)
	case verbAddParticipant:
		str(&c.id, "id", "appointment ID", true)
		fs.Var(&participants, "participant", "the participant to add")
		need["participant"] = true
	case verbUpdate:
		str(&c.id, "id", "appointment ID", true)
		fs.Var(&metadata, "metadata", "k=v (repeat)")
	case verbRetry:
		str(&c.id, "id", "appointment ID", true)
		str(&c.entry, "entry", "delivery-log entry ID", true)
	case verbStatus:
		str(&c.id, "id", "appointment ID", true)
		fs.BoolVar(&c.asJSON, "json", false, "print JSON")
	case verbNotifications, verbAutoActivate:
		str(&c.org, "org", "organisation", true)
	case verbErase:
		str(&c.org, "org", "organisation", true)
		str(&c.email, "email", "the customer's email address", false)
		str(&c.phone, "phone", "the customer's phone number, international format", false)
		fs.Var((*multi)(&c.appointmentIDs), "appointment", "appointment ID (repeat)")
		fs.BoolVar(&c.asJSON, "json", false, "print the receipt as JSON")
	case verbList:
		str(&c.org, "org", "organisation", false)
		str(&c.state, "state", "appointment state", false)
		str(&from, "from", "earliest start, RFC3339", false)
		str(&to, "to", "latest start, RFC3339", false)
		fs.BoolVar(&c.asJSON, "json", false, "print JSON")
	default:
		return nil, usagef("unknown verb %q\n%s", c.verb, usage)
	}
	if help, err := parseFlags(fs, c.verb, rest); help || err != nil {
		c.help = help
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	names := make([]string, 0, len(need))
	for n := range need {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if need[n] && !set[n] {
			return nil, &appt.FieldError{Field: n, Msg: "is required"}
		}
	}
	var err error
	if c.cfg, err = config.Resolve(cfgPath, env.Getenv); err != nil {
		return nil, &usageError{msg: err.Error()} // a bad config is bad input: exit 2
	}
	c.now = time.Now()
	if env.Now != nil {
		c.now = env.Now()
	}
	if start != "" {
		if c.start, err = time.Parse(time.RFC3339, start); err != nil {
			return nil, &appt.FieldError{Field: "start", Msg: fmt.Sprintf("%q is not an RFC3339 time such as 2026-05-01T14:00:00Z", start)}
		}
	}
	for _, t := range []struct {
		name, v string
		p       *time.Time
	}{{"from", from, &c.from}, {"to", to, &c.to}} {
		if t.v == "" {
			continue
		}
		if *t.p, err = time.Parse(time.RFC3339, t.v); err != nil {
			return nil, &appt.FieldError{Field: t.name, Msg: fmt.Sprintf("%q is not an RFC3339 time such as 2026-05-01T14:00:00Z", t.v)}
		}
	}
	if duration != "" {
		c.durationSet = true
		if c.duration, err = time.ParseDuration(duration); err != nil {
			return nil, &appt.FieldError{Field: "duration", Msg: fmt.Sprintf("%q is not a duration such as 30m or 1h", duration)}
		}
	}
	for i, p := range participants {
		pp, err := ParseParticipant(p)
		if err != nil {
			return nil, &appt.FieldError{Field: participantFlagError(c.verb, fmt.Sprintf("participant[%d]", i)), Msg: err.Error()}
		}
		c.participants = append(c.participants, pp)
	}
	if len(metadata) > 0 {
		c.metadata = map[string]string{}
		for _, kv := range metadata {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, &appt.FieldError{Field: "metadata", Msg: fmt.Sprintf("%q is not k=v", kv)}
			}
			if _, dup := c.metadata[k]; dup {
				return nil, &appt.FieldError{Field: "metadata", Msg: fmt.Sprintf("key %q is given twice", k)}
			}
			c.metadata[k] = v
		}
	}
	return c, nil
}

// ParseParticipant parses 'id=c1,name=Ann Lee,email=…,phone=…,tz=…,locale=…,role=…'; `\,` escapes a comma and
// `\\` a backslash inside a value.
func ParseParticipant(s string) (appt.Participant, error) {
	var p appt.Participant
	seen := map[string]bool{}
	for _, part := range splitEscaped(s) {
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return p, fmt.Errorf("%q is not key=value", part)
		}
		if seen[k] {
			return p, fmt.Errorf("key %q is given twice", k)
		}
		seen[k] = true
		switch k {
		case "id":
			p.ID = v
		case "name":
			p.Name = v
		case "email":
			p.Email = v
		case "phone":
			p.Phone = v
		case "tz":
			p.TZ = v
		case "locale":
			p.Locale = v
		case "role":
			p.Role = appt.Role(v)
		default:
			return p, fmt.Errorf("unknown key %q (id, name, email, phone, tz, locale, role)", k)
		}
	}
	if p.ID == "" {
		return p, errors.New("id= is required")
	}
	return p, nil
}

func splitEscaped(s string) []string {
	var parts []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == ',' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		case s[i] == ',':
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(parts, b.String())
}

// validate checks everything that can be checked before connecting, so a bad command touches nothing.
func (c *command) validate() error {
	if c.id != "" {
		if err := appt.ValidateAppointmentID(c.id); err != nil {
			return err
		}
	}
	// An organisation the file does not know may have been written through the API: it is checked once connected;
	// only its shape is checked here.
	_, inFile := c.cfg.Org(c.org)
	if c.org != "" && !inFile {
		if err := appt.ValidateParticipantID("org", c.org); err != nil {
			return err
		}
	}
	switch c.verb {
	case verbSchedule:
		req := c.request()
		cl := &api.Client{Config: c.cfg, Now: func() time.Time { return c.now }}
		if !inFile {
			return appt.ValidateScheduleRequest(req, c.now)
		}
		err := cl.ValidateSchedule(req)
		c.templates = cl.Templates // loaded for the SMS check, if it ran: Schedule need not load them again
		return err
	case verbReschedule:
		if err := appt.ValidateStart(c.start, c.now); err != nil {
			return err
		}
		if c.durationSet {
			return appt.ValidateDuration(c.duration)
		}
	case verbJoined, verbRemoveParticipant:
		return appt.ValidateParticipantID("participant", c.participant)
	case verbAddParticipant:
		return c.validateAdd()
	case verbUpdate:
		if len(c.metadata) == 0 {
			return &appt.FieldError{Field: "metadata", Msg: "at least one k=v is required"}
		}
		return appt.ValidateMetadata(c.metadata)
	case verbRetry:
		if c.entry == "" {
			return &appt.FieldError{Field: "entry", Msg: "is required"}
		}
	case verbCancel:
		return appt.ValidateReason(c.reason)
	case verbList:
		return (&api.Client{Config: c.cfg}).ValidateList(c.filter())
	case verbErase:
		if errs := (&api.Client{Config: c.cfg}).ErasureErrors(c.erasure()); len(errs) > 0 {
			return errs[0]
		}
	}
	return nil
}

func (c *command) filter() api.ListFilter {
	return api.ListFilter{Org: c.org, State: appt.State(c.state), From: c.from, To: c.to}
}

func (c *command) request() *appt.ScheduleRequest {
	return &appt.ScheduleRequest{
		AppointmentID: c.id, Org: c.org, Start: c.start, End: c.start.Add(c.duration),
		Participants: c.participants, JoinURL: c.joinURL, Notifications: c.notifications, Metadata: c.metadata,
	}
}

func (c *command) exec(ctx context.Context, cl *api.Client, out io.Writer) error {
	var res *appt.UpdateResult
	var err error
	switch c.verb {
	case verbSchedule:
		if err := cl.Schedule(ctx, c.request()); err != nil {
			return err
		}
		fmt.Fprintf(out, "scheduled %s (workflow %s)\n", c.id, appt.WorkflowID(c.id))
		return nil
	case verbReschedule:
		var end time.Time
		if c.durationSet {
			end = c.start.Add(c.duration)
		}
		res, err = cl.Reschedule(ctx, c.id, c.start, end)
	case verbCancel:
		res, err = cl.Cancel(ctx, c.id, c.reason)
	case verbActivate:
		res, err = cl.Activate(ctx, c.id)
	case verbCallStarted:
		res, err = cl.CallStarted(ctx, c.id)
	case verbJoined:
		res, err = cl.Joined(ctx, c.id, c.participant)
	case verbAddParticipant:
		res, err = cl.AddParticipant(ctx, c.id, c.participants[0])
	case verbRemoveParticipant:
		res, err = cl.RemoveParticipant(ctx, c.id, c.participant)
	case verbCallEnded:
		res, err = cl.CallEnded(ctx, c.id)
	case verbUpdate:
		res, err = cl.UpdateMetadata(ctx, c.id, c.metadata)
	case verbRetry:
		res, err = cl.Retry(ctx, c.id, c.entry)
		if err == nil && res.Entry != nil {
			printEntries(out, []appt.DeliveryEntry{*res.Entry})
			return nil
		}
	case verbStatus:
		st, err := cl.Status(ctx, c.id)
		if err != nil {
			return err
		}
		if c.asJSON {
			return printJSON(out, st)
		}
		printStatus(out, st)
		return nil
	case verbList:
		list, err := cl.List(ctx, c.filter())
		if err != nil {
			return err
		}
		if c.asJSON {
			if list == nil {
				list = []api.Listed{}
			}
			return printJSON(out, list)
		}
		printList(out, list)
		return nil
	case verbNotifications:
		if err := cl.SetNotifications(ctx, c.org, c.sub == "enable"); err != nil {
			return err
		}
		fmt.Fprintf(out, "notifications %sd for %s (workers apply it within %s)\n", c.sub, c.org, appt.SettingsMaxAge)
		return nil
	case verbErase:
		return c.erase(ctx, cl, out)
	case verbAutoActivate:
		if err := cl.EnableAutoActivate(ctx, c.org); err != nil {
			return err
		}
		fmt.Fprintf(out, "auto-activate enabled for %s\n", c.org)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: done; state %s\n", c.verb, res.State)
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func printStatus(out io.Writer, s *appt.Status) {
	fmt.Fprintf(out, "Appointment %s (%s): %s", s.AppointmentID, s.Org, s.State)
	if s.Reason != "" {
		fmt.Fprintf(out, " (%s)", s.Reason)
	}
	fmt.Fprintf(out, "\n  start %s  end %s\n  notifications %s  auto-activate %s\n",
		s.Start.UTC().Format(time.RFC3339), s.End.UTC().Format(time.RFC3339), onOff(s.NotificationsEnabled), onOff(s.AutoActivate))
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPARTICIPANT\tROLE\tJOINED")
	for _, p := range s.Participants {
		fmt.Fprintf(tw, "%s\t%s\t%t\n", p.ID, p.Role, p.Joined)
	}
	tw.Flush()
	printPending(out, s)
	fmt.Fprintln(out)
	printEntries(out, s.Deliveries)
}

func printEntries(out io.Writer, es []appt.DeliveryEntry) {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTRY\tTYPE\tCHANNEL\tRECIPIENT\tSTATUS\tATTEMPTS\tAT\tDETAIL")
	for _, e := range es {
		typ := string(e.Type)
		if e.Offset != "" {
			typ += " " + e.Offset
		}
		if e.Type == appt.LifecycleEvent {
			typ = e.Event
		}
		if e.Type == appt.RefusedSignal {
			typ = "signal " + e.Signal
		}
		detail := e.Error
		if detail == "" {
			detail = e.ProviderID
		}
		if r := receiptText(e); r != "" {
			detail += "; " + r
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, typ, e.Channel, e.Recipient, e.Status, e.Attempts,
			e.At.UTC().Format(time.RFC3339), oneLine(detail))
	}
	tw.Flush()
}

// printPending lists every timer the workflow waits on: the planned notifications, the retries waiting for their
// backoff (or running), the expiry, and the end of the manual-retry window; "none" when nothing is pending.
func printPending(out io.Writer, s *appt.Status) {
	type row struct {
		what, due, detail string
		at                time.Time
	}
	var rows []row
	for _, p := range s.Pending {
		detail := ""
		if p.Offset != "" && p.Offset != "0s" {
			detail = p.Offset + " before the start"
		}
		rows = append(rows, row{string(p.Type), p.Due.UTC().Format(time.RFC3339), detail, p.Due})
	}
	for _, r := range s.Retries {
		if r.Next != nil {
			rows = append(rows, row{"RETRY " + r.EntryID, r.Next.UTC().Format(time.RFC3339), "next attempt after the backoff", *r.Next})
		} else {
			rows = append(rows, row{"RETRY " + r.EntryID, "now", "an attempt is running", time.Time{}})
		}
	}
	if s.ExpiresAt != nil {
		rows = append(rows, row{"EXPIRY", s.ExpiresAt.UTC().Format(time.RFC3339), "ends the appointment if no call-ended arrives", *s.ExpiresAt})
	}
	if s.OpenForRetryUntil != nil {
		rows = append(rows, row{"RETRY WINDOW", s.OpenForRetryUntil.UTC().Format(time.RFC3339), "the workflow completes; the last failure can be retried until then", *s.OpenForRetryUntil})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].at.Before(rows[j].at) })
	if len(rows) == 0 {
		fmt.Fprintln(out, "\nPENDING: none")
		fmt.Fprintln(out)
		return
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPENDING\tDUE\tDETAIL")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.what, r.due, r.detail)
	}
	tw.Flush()
	fmt.Fprintln(out)
}

// printList prints the appointments list found, one line each; "no appointment matches" when there is none.
func printList(out io.Writer, list []api.Listed) {
	if len(list) == 0 {
		fmt.Fprintln(out, "no appointment matches")
		return
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APPOINTMENT\tORG\tSTATE\tSTART\tWORKFLOW")
	for _, l := range list {
		start := ""
		if !l.Start.IsZero() {
			start = l.Start.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.AppointmentID, l.Org, l.State, start, l.WorkflowStatus)
	}
	tw.Flush()
}

// receiptText is an SMS entry's delivery receipt as the status text shows it: "receipt undelivered (error 30003)
// at 2026-03-01T09:00:05Z", or "" before any receipt.
func receiptText(e appt.DeliveryEntry) string {
	if e.Receipt == "" {
		return ""
	}
	out := "receipt " + e.Receipt
	if e.ReceiptError != 0 {
		out += fmt.Sprintf(" (error %d)", e.ReceiptError)
	}
	if e.ReceiptAt != nil {
		out += " at " + e.ReceiptAt.UTC().Format(time.RFC3339)
	}
	return out
}
