package startercli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
)

// The verbs of previews and test sends (docs/operations.md, "Preview a template change").
const (
	verbPreview        = "preview"
	verbTestSend       = "test-send"
	verbTestRecipients = "test-recipients"
)

const previewUsage = `  preview --org ORG --type TYPE [--channel email|sms|webhook] [--offset D] [--template NAME=FILE]… [--json]
          (--id APPOINTMENT_ID | --start RFC3339 [--duration D] --participant '…' [--participant …] [--join-url URL] [--metadata k=v]…)
  test-send   (the preview's flags) --channel email|sms|webhook [--recipient TEST_RECIPIENT_ID]   test-send --org ORG --list
  test-recipients add --org ORG --channel email|sms --address ADDR    verify --org ORG --recipient ID --code CODE
  test-recipients remove --org ORG --recipient ID                      list --org ORG`

// isPreviewVerb reports whether args start with one of these verbs.
func isPreviewVerb(args []string) bool {
	return len(args) > 0 && (args[0] == verbPreview || args[0] == verbTestSend || args[0] == verbTestRecipients)
}

// previewCommand is a parsed preview, test-send or test-recipients invocation.
type previewCommand struct {
	command
	req       appt.PreviewRequest
	recipient string
	address   string
	code      string
	list      bool
}

// runPreview runs preview, test-send and test-recipients. Bad input exits 2 naming the flag.
func runPreview(ctx context.Context, args []string, env Env) (int, error) {
	pc, err := parsePreview(args, env)
	if err != nil {
		return previewExit(err), err
	}
	if pc.help {
		fmt.Fprintln(env.Stdout, usage)
		return ExitOK, nil
	}
	tc, _, code, err := pc.dial(env)
	if err != nil {
		return code, err
	}
	defer tc.Close()
	cl := api.New(tc, pc.cfg)
	if err := pc.exec(ctx, cl, env.Stdout); err != nil {
		if unreachable(err) {
			return ExitOther, connectionError(env.address(), err)
		}
		return previewExit(err), flagError(err)
	}
	return ExitOK, nil
}

func previewExit(err error) int {
	var tr *api.TestRefusedError
	var rl *api.RateLimitedError
	if errors.As(err, &tr) || errors.As(err, &rl) {
		return ExitBadInput
	}
	return exitCode(err)
}

// flagError names the flag behind a JSON pointer of the api package's checks.
func flagError(err error) error {
	var fe *appt.FieldError
	if errors.As(err, &fe) {
		return &appt.FieldError{Field: flagOf(fe.Field), Msg: fe.Msg}
	}
	var tr *api.TestRefusedError
	if errors.As(err, &tr) {
		return &appt.FieldError{Field: flagOf(tr.Field), Msg: tr.Reason}
	}
	return err
}

// flagOf maps a JSON pointer of a preview request to the starter's flag: /sample/participants/0/email is
// participant[0].email, /templates/de~1reminder.txt is template de/reminder.txt, /appointmentId is id.
func flagOf(ptr string) string {
	toks := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	if len(toks) > 0 && toks[0] == "sample" {
		toks = toks[1:]
	}
	switch {
	case len(toks) == 0:
		return ptr
	case toks[0] == "templates" && len(toks) > 1:
		return "template " + toks[1]
	case toks[0] == "participants" && len(toks) > 1:
		f := "participant[" + toks[1] + "]"
		if len(toks) > 2 {
			f += "." + strings.Join(toks[2:], ".")
		}
		return f
	case toks[0] == "appointmentId":
		return "id"
	case toks[0] == "joinUrl":
		return "join-url"
	case toks[0] == "end":
		return "duration"
	case toks[0] == "metadata" && len(toks) > 1:
		return "metadata." + toks[1]
	}
	return strings.Join(toks, ".")
}

func parsePreview(args []string, env Env) (*previewCommand, error) {
	pc := &previewCommand{command: command{verb: args[0]}}
	rest := args[1:]
	if pc.verb == verbTestRecipients {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return nil, usagef("%s: add, verify, remove or list is required", pc.verb)
		}
		pc.sub, rest = rest[0], rest[1:]
		switch pc.sub {
		case "add", "verify", "remove", "list":
		default:
			return nil, usagef("%s: %q is not add, verify, remove or list", pc.verb, pc.sub)
		}
	}
	fs := flag.NewFlagSet(pc.verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfgPath, typ, channel, offset, start, duration string
	var participants, metadata, tmpls multi
	fs.StringVar(&cfgPath, "config", "", "config file")
	fs.StringVar(&pc.dataDir, "data-dir", ".data", "the local worker's data directory, for its encryption-keys file")
	fs.BoolVar(&pc.plaintext, codec.PlaintextFlag, false, "write payloads to Temporal unencrypted")
	fs.StringVar(&pc.org, "org", "", "organisation")
	fs.StringVar(&channel, "channel", "", "email, sms or webhook")
	fs.StringVar(&pc.recipient, "recipient", "", "test recipient ID")
	if pc.verb == verbTestRecipients {
		fs.StringVar(&pc.address, "address", "", "email address or E.164 number")
		fs.StringVar(&pc.code, "code", "", "verification code")
	} else {
		fs.StringVar(&typ, "type", "", "notification type")
		fs.StringVar(&offset, "offset", "", "REMINDER or ROOM offset")
		fs.StringVar(&pc.id, "id", "", "appointment ID")
		fs.StringVar(&start, "start", "", "sample start, RFC3339")
		fs.StringVar(&duration, "duration", "", "sample length")
		fs.StringVar(&pc.joinURL, "join-url", "", "sample join link")
		fs.Var(&participants, "participant", "sample participant (repeat)")
		fs.Var(&metadata, "metadata", "k=v (repeat)")
		fs.Var(&tmpls, "template", "NAME=FILE: an unsaved template (repeat)")
		fs.BoolVar(&pc.asJSON, "json", false, "print JSON")
		if pc.verb == verbTestSend {
			fs.BoolVar(&pc.list, "list", false, "list the organisation's test sends")
		}
	}
	if help, err := parseFlags(fs, pc.verb, rest); help || err != nil {
		pc.help = help
		return pc, err
	}
	var err error
	if pc.cfg, err = config.Resolve(cfgPath, env.Getenv); err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	pc.now = time.Now()
	if pc.org == "" {
		return nil, &appt.FieldError{Field: "org", Msg: "is required"}
	}
	// An organisation the file does not know may have been written through the API: the API checks it once
	// connected (api.Client.CheckOrg); only its shape is checked here.
	if _, ok := pc.cfg.Org(pc.org); !ok {
		if err := appt.ValidateParticipantID("org", pc.org); err != nil {
			return nil, err
		}
	}
	pc.req = appt.PreviewRequest{Org: pc.org, Type: appt.NotificationType(strings.ToUpper(typ)),
		Channel: appt.Channel(channel), AppointmentID: pc.id}
	switch {
	case pc.sub == "add":
		if _, fe := api.TestAddressError(pc.req.Channel, pc.address); fe != nil {
			return nil, flagError(fe)
		}
		return pc, nil
	case pc.sub == "verify" || pc.sub == "remove":
		if pc.recipient == "" {
			return nil, &appt.FieldError{Field: "recipient", Msg: "is required"}
		}
		if pc.sub == "verify" && (len(pc.code) != appt.TestCodeDigits || strings.Trim(pc.code, "0123456789") != "") {
			return nil, &appt.FieldError{Field: "code", Msg: fmt.Sprintf("is %d digits", appt.TestCodeDigits)}
		}
		return pc, nil
	case pc.verb == verbTestRecipients || pc.list:
		return pc, nil
	}
	if offset != "" {
		if pc.req.Offset, err = time.ParseDuration(offset); err != nil {
			return nil, &appt.FieldError{Field: "offset", Msg: fmt.Sprintf("%q is not a duration such as 1h", offset)}
		}
	}
	if start != "" || len(participants) > 0 {
		s := &appt.PreviewSample{JoinURL: pc.joinURL}
		if s.Start, err = time.Parse(time.RFC3339, start); err != nil {
			return nil, &appt.FieldError{Field: "start", Msg: fmt.Sprintf("%q is not an RFC3339 time such as 2026-05-01T14:00:00Z", start)}
		}
		if duration != "" {
			d, err := time.ParseDuration(duration)
			if err != nil {
				return nil, &appt.FieldError{Field: "duration", Msg: fmt.Sprintf("%q is not a duration such as 30m", duration)}
			}
			s.End = s.Start.Add(d)
		}
		for i, p := range participants {
			pp, err := ParseParticipant(p)
			if err != nil {
				return nil, &appt.FieldError{Field: "participant[" + strconv.Itoa(i) + "]", Msg: err.Error()}
			}
			s.Participants = append(s.Participants, pp)
		}
		for _, kv := range metadata {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, &appt.FieldError{Field: "metadata", Msg: fmt.Sprintf("%q is not k=v", kv)}
			}
			if s.Metadata == nil {
				s.Metadata = map[string]string{}
			}
			s.Metadata[k] = v
		}
		pc.req.Sample = s
	}
	for _, nf := range tmpls {
		name, file, ok := strings.Cut(nf, "=")
		if !ok {
			return nil, &appt.FieldError{Field: "template", Msg: fmt.Sprintf("%q is not NAME=FILE (de/reminder.txt=./reminder.txt)", nf)}
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, &appt.FieldError{Field: "template " + name, Msg: "cannot read " + file}
		}
		if pc.req.Templates == nil {
			pc.req.Templates = map[string]string{}
		}
		pc.req.Templates[name] = string(b)
	}
	cl := &api.Client{Config: pc.cfg}
	var errs []*appt.FieldError
	if pc.verb == verbTestSend {
		errs = cl.TestSendErrors(&appt.TestSendRequest{Preview: pc.req, Recipient: pc.recipient})
	} else {
		errs = cl.PreviewErrors(&pc.req)
	}
	if len(errs) > 0 {
		return nil, flagError(errs[0])
	}
	return pc, nil
}

func (pc *previewCommand) exec(ctx context.Context, cl *api.Client, out io.Writer) error {
	var v any
	var err error
	switch {
	case pc.verb == verbPreview:
		var res *appt.PreviewResult
		if res, err = cl.Preview(ctx, &pc.req); err == nil && !pc.asJSON {
			printPreview(out, res)
			return nil
		}
		v = res
	case pc.verb == verbTestSend && pc.list:
		v, err = cl.TestSends(ctx, pc.org)
	case pc.verb == verbTestSend:
		v, err = cl.TestSend(ctx, &appt.TestSendRequest{Preview: pc.req, Recipient: pc.recipient, Actor: "starter"})
	case pc.sub == "add":
		v, err = cl.AddTestRecipient(ctx, pc.org, &appt.AddTestRecipientRequest{Channel: pc.req.Channel, Address: pc.address, Actor: "starter"})
	case pc.sub == "verify":
		v, err = cl.VerifyTestRecipient(ctx, pc.org, pc.recipient, pc.code)
	case pc.sub == "remove":
		err = cl.RemoveTestRecipient(ctx, pc.org, pc.recipient)
		v = map[string]string{"removed": pc.recipient}
	default:
		v, err = cl.TestRecipients(ctx, pc.org)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printPreview writes a preview for a person: per message, its headers and its parts.
func printPreview(out io.Writer, p *appt.PreviewResult) {
	fmt.Fprintf(out, "preview %s of %s for appointment %s\n", p.PreviewID, p.Type, p.AppointmentID)
	for _, e := range p.Email {
		fmt.Fprintf(out, "\n== email to %s\n", e.Recipient)
		for _, h := range e.Headers {
			fmt.Fprintf(out, "%s: %s\n", h.Name, h.Value)
		}
		fmt.Fprintf(out, "-- text\n%s\n-- html\n%s\n", strings.ReplaceAll(e.Text, "\r\n", "\n"), e.HTML)
		if e.Invite != "" {
			fmt.Fprintf(out, "-- invite.ics\n%s", strings.ReplaceAll(e.Invite, "\r\n", "\n"))
		}
	}
	for _, s := range p.SMS {
		fmt.Fprintf(out, "\n== sms to %s: %s, %d units, %d segment(s)\n%s\n", s.Recipient, s.Encoding, s.Units, s.Segments, s.Body)
	}
	for _, w := range p.Webhooks {
		fmt.Fprintf(out, "\n== webhook to %s (%s)\n", w.Recipient, w.Host)
		for _, h := range w.Headers {
			fmt.Fprintf(out, "%s: %s\n", h.Name, h.Value)
		}
		fmt.Fprintf(out, "%s\n", w.Body)
	}
	for _, pr := range p.Problems {
		fmt.Fprintf(out, "\n!! %s to %s would not go out: %s (%s)\n", pr.Channel, pr.Recipient, pr.Error, pr.ErrorType)
	}
}
