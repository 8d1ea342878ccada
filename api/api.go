// Package api is the Go API behind the starter command: what an appointment backend calls to schedule appointments
// and tell their workflows what happened. Every call validates its input before it touches Temporal, so a bad
// request starts or signals nothing.
package api

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/orgs"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// The contract types, for callers outside this module.
type (
	ScheduleRequest = appt.ScheduleRequest
	Participant     = appt.Participant
	Status          = appt.Status
	DeliveryEntry   = appt.DeliveryEntry
	UpdateResult    = appt.UpdateResult
	FieldError      = appt.FieldError
)

// DefaultAddress is the frontend the client dials when TEMPORAL_ADDRESS is not set: the embedded server's.
const DefaultAddress = "127.0.0.1:7233"

// DefaultUpdateTimeout bounds how long a call waits for the worker to apply an operation.
const DefaultUpdateTimeout = 2 * time.Minute

var (
	// ErrAlreadyScheduled: the appointment ID already has a workflow; nothing was started.
	ErrAlreadyScheduled = errors.New("already scheduled")
	// ErrNotFound: no appointment with that ID exists.
	ErrNotFound = errors.New("no appointment with that ID")
	// ErrNoWorker: Temporal took the operation but no worker applied it in time; it may still be applied later.
	ErrNoWorker = errors.New("no worker answered")
)

// RefusedError is an operation the workflow refused (docs/rules.md#signals-and-updates): it changed nothing.
type RefusedError struct {
	Op     string
	Reason string
}

func (e *RefusedError) Error() string { return e.Op + " refused: " + e.Reason }

// Client talks to apptnotify workflows through a Temporal client.
type Client struct {
	Temporal      client.Client
	Config        *config.Config
	Now           func() time.Time // the clock validation uses; time.Now by default
	UpdateTimeout time.Duration
	// Namespace is the namespace List searches; "default" when empty.
	Namespace string
	// DataConverter decodes what Differences reads from a history; the SDK's default when nil. It must match the
	// Temporal client's (for example with a payload codec).
	DataConverter converter.DataConverter
	// Templates are what CheckSMSLength renders with; nil means the config's (templates.Load), loaded on first use.
	Templates *templates.Set
	// Addresses hashes customers' addresses for the AppointmentAddressHashes search attribute and for erasures
	// (docs/security.md#erasure); nil: appointments are scheduled without it, and an erasure by address is refused.
	Addresses *addrhash.Hasher
	// OrgOptions: organisations as run-time data (orgs.go).
	OrgOptions

	tmplMu sync.Mutex
}

// ClientOptions returns the Temporal client options from the standard TEMPORAL_* environment variables (and the
// Temporal CLI's config file, if any), with the embedded server's address as the default, and with the data and
// failure converters that encrypt every payload with the key ring in APPTNOTIFY_ENCRYPTION_KEYS (comma-separated
// KEYID=BASE64 entries of 32-byte keys; the first encrypts, all decrypt; docs/security.md). Without that variable
// it returns an error that says so: a Go backend never writes customer data to Temporal in plaintext by accident.
func ClientOptions() (client.Options, error) {
	ring, _, err := codec.Source{Getenv: os.Getenv}.Resolve(time.Now())
	if err != nil {
		return client.Options{}, err
	}
	return ClientOptionsWithKeys(ring)
}

// ClientOptionsWithKeys is ClientOptions with a key ring already resolved; a nil ring writes plaintext (the
// --plaintext-history choice).
func ClientOptionsWithKeys(ring *codec.KeyRing) (client.Options, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return client.Options{}, fmt.Errorf("reading the TEMPORAL_* settings: %w", err)
	}
	if opts.HostPort == "" {
		opts.HostPort = DefaultAddress
	}
	Encrypt(&opts, ring, nil)
	return opts, nil
}

// Encrypt sets opts' data converter and failure converter so that every payload the client writes (inputs,
// results, signal, update and query arguments, memo, user-metadata summaries, failure messages and stack traces)
// is sealed with ring's first key, and every payload it reads is opened with the key it names. A nil ring leaves
// opts unchanged (plaintext). reporter, which may be nil, hears of payloads whose key the ring lacks.
func Encrypt(opts *client.Options, ring *codec.KeyRing, reporter codec.Reporter) {
	if ring == nil {
		return
	}
	opts.DataConverter = codec.DataConverter(ring, reporter)
	opts.FailureConverter = codec.FailureConverter(opts.DataConverter)
}

// New returns a client over a connected Temporal client.
func New(t client.Client, cfg *config.Config) *Client {
	return &Client{Temporal: t, Config: cfg, Now: time.Now, UpdateTimeout: DefaultUpdateTimeout}
}

func (c *Client) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// CheckOrg refuses an organisation that is neither in the config nor written through the API (with
// UseOrgDirectory).
func (c *Client) CheckOrg(org string) error { return c.checkOrg(org, false) }

// checkOrg is CheckOrg that, for a new appointment, also refuses a disabled organisation.
func (c *Client) checkOrg(org string, schedule bool) error {
	if org == "" {
		return &appt.FieldError{Field: "org", Msg: "is required"}
	}
	v, err := c.lookupOrg(context.Background(), org)
	if err != nil {
		// Temporal cannot tell: the config file's organisations are known; another may have been written through
		// the API, so it is the error (a 503 over HTTP), not "no such organisation".
		o, ok := c.Config.Org(org)
		if !ok {
			return fmt.Errorf("reading organisation %q: %w", org, err)
		}
		v = orgs.View{Org: o, Known: true}
	}
	if !v.Known {
		return &appt.FieldError{Field: "org", Msg: fmt.Sprintf("%q is not an organisation of the config", org)}
	}
	if schedule && v.Live.Disabled {
		return &appt.FieldError{Field: "org", Msg: fmt.Sprintf("organisation %q is disabled: it takes no new appointment", org)}
	}
	return nil
}

// ValidateSchedule checks a request completely, without touching Temporal, and returns the first problem of
// ScheduleErrors: every field (appt.ScheduleRequestErrors), the organisation, and that every SMS the appointment can
// send fits Twilio's limit (CheckSMSLength).
func (c *Client) ValidateSchedule(req *appt.ScheduleRequest) error {
	if errs := c.ScheduleErrors(req); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// templateSet returns the templates the SMS check renders with: Client.Templates, else the config's, loaded once.
func (c *Client) templateSet() (*templates.Set, error) {
	c.tmplMu.Lock()
	defer c.tmplMu.Unlock()
	if c.Templates == nil {
		set, err := templates.Load(c.Config)
		if err != nil {
			return nil, err
		}
		c.Templates = set
	}
	return c.Templates, nil
}

// CheckSMSLength refuses an appointment whose SMS could not be sent: for an organisation that sends SMS
// (sms_from), it renders every notification type's SMS for every customer with a phone, in that customer's
// language and time zone, with the request's values (appointment ID, start, duration, name, join link) and the
// organisation's templates (templates_dir), for each reminder offset and the room offset, and refuses the request
// if any is longer than appt.MaxSMSLen characters (Unicode code points), which Twilio rejects for good (error
// 21617). The error names the field that pushes it over: join-url, participant[i].name, or the templates.
//
// The dates in an SMS are those of the requested start; a reschedule can change their length by a few characters,
// and the SMS sender checks the length again before every send.
func (c *Client) CheckSMSLength(req *appt.ScheduleRequest) error {
	v, _ := c.lookupOrg(context.Background(), req.Org)
	org := v.Org
	if !v.Known || !org.SMSProvisioned() {
		return nil
	}
	need := false
	for _, p := range req.Participants {
		need = need || (p.IsCustomer() && p.Phone != "")
	}
	if !need {
		return nil
	}
	set, err := c.templateSet()
	if err != nil {
		return &appt.FieldError{Field: "templates_dir", Msg: err.Error()}
	}
	render := func(in templates.Input) (int, string, error) {
		body, err := set.SMS(org.ID, in)
		if err != nil {
			return 0, "", &appt.FieldError{Field: "templates_dir", Msg: err.Error()}
		}
		return utf8.RuneCountInString(body), body, nil
	}
	for i, p := range req.Participants {
		if !p.IsCustomer() || p.Phone == "" {
			continue
		}
		for _, t := range appt.NotificationTypes {
			offsets := []time.Duration{0}
			switch t {
			case appt.Reminder:
				offsets = org.Offsets()
			case appt.Room:
				offsets = []time.Duration{org.RoomOffset.D()}
			}
			link := ""
			if appt.CarriesJoinLink(t, true) { // the longest SMS: as if the appointment were active
				link = req.JoinURL
			}
			for _, off := range offsets {
				in := templates.Input{Type: t, AppointmentID: req.AppointmentID, Start: req.Start, End: req.End,
					JoinURL: link, Offset: off, Participant: p}
				n, body, err := render(in)
				if err != nil {
					return err
				}
				if n <= appt.MaxSMSLen {
					continue
				}
				what := fmt.Sprintf("the %s SMS to participant[%d] would be %d characters, over Twilio's limit of %d (error 21617)",
					t, i, n, appt.MaxSMSLen)
				if link != "" {
					in.JoinURL = ""
					if m, _, err := render(in); err == nil && m <= appt.MaxSMSLen {
						linkLen := utf8.RuneCountInString(link)
						fit := linkLen - (n-appt.MaxSMSLen+strings.Count(body, link)-1)/max(1, strings.Count(body, link))
						return &appt.FieldError{Field: "join-url", Msg: fmt.Sprintf("is %d characters: %s; a link of at most %d characters fits",
							linkLen, what, max(0, fit))}
					}
					in.JoinURL = link
				}
				if p.Name != "" {
					in.Participant.Name = ""
					if m, _, err := render(in); err == nil && m <= appt.MaxSMSLen {
						return &appt.FieldError{Field: fmt.Sprintf("participant[%d].name", i),
							Msg: fmt.Sprintf("is %d characters: %s", utf8.RuneCountInString(p.Name), what)}
					}
				}
				return &appt.FieldError{Field: "templates_dir", Msg: fmt.Sprintf("of organisation %s: %s", org.ID, what)}
			}
		}
	}
	return nil
}

// ScheduleErrors checks a request completely, without touching Temporal, and lists every problem (the rules of
// appt.ScheduleRequestErrors, then the organisation against the config, then, when all of that passes, the SMS
// length of CheckSMSLength). A zero end becomes start + 30 min.
func (c *Client) ScheduleErrors(req *appt.ScheduleRequest) []*appt.FieldError {
	if req.End.IsZero() && !req.Start.IsZero() {
		req.End = req.Start.Add(DefaultDuration)
	}
	errs := appt.ScheduleRequestErrors(req, c.now())
	if fe := appt.CustomerAddressesError("participants", req.Participants); fe != nil {
		errs = append(errs, fe)
	}
	if req.Org != "" {
		var fe *appt.FieldError
		if errors.As(c.checkOrg(req.Org, true), &fe) {
			errs = append(errs, fe)
		}
	}
	if len(errs) == 0 {
		// The SMS rendering needs every other field valid.
		var fe *appt.FieldError
		if err := c.CheckSMSLength(req); errors.As(err, &fe) {
			errs = append(errs, fe)
		} else if err != nil {
			errs = append(errs, &appt.FieldError{Field: "templates_dir", Msg: err.Error()})
		}
	}
	return errs
}

// DefaultDuration is an appointment's length when the request gives no end (the starter's --duration default). Its
// source is appt.DefaultDuration.
const DefaultDuration = appt.DefaultDuration

// Schedule starts the appointment's workflow. An appointment ID never starts a second workflow: if it exists
// (running or closed), Schedule returns ErrAlreadyScheduled and starts nothing.
func (c *Client) Schedule(ctx context.Context, req *appt.ScheduleRequest) error {
	if err := c.ValidateSchedule(req); err != nil {
		return err
	}
	_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       appt.WorkflowID(req.AppointmentID),
		TaskQueue:                                appt.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            StaticSummary(req),
		StaticDetails:                            staticDetails,
		// Set at start (the workflow upserts it too) so that AppointmentOrg can read it from the first moment.
		TypedSearchAttributes: c.startSearchAttributes(req),
	}, appt.AppointmentWorkflowType, req)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return ErrAlreadyScheduled
	}
	return err
}

// StaticSummary is the fixed one-line summary of an appointment's workflow in the Web UI and CLI: the appointment
// and its organisation, for example "Appointment walk-1 · organisation demo". IDs only, no personal data.
func StaticSummary(req *appt.ScheduleRequest) string {
	return "Appointment " + req.AppointmentID + " · organisation " + req.Org
}

// staticDetails is the workflow's fixed details in the Web UI: where to read what the Input panel does not show.
const staticDetails = "The Input panel shows the request as it was scheduled: a reschedule does not change it. " +
	"Current Details shows the state, the start as it is now, the next notification and the last outcomes; the " +
	"`status` query (Queries tab) shows the whole delivery log."

// Reschedule moves an appointment. A zero end keeps the duration.
func (c *Client) Reschedule(ctx context.Context, id string, start, end time.Time) (*appt.UpdateResult, error) {
	if errs := appt.RescheduleErrors(start, end, c.now()); len(errs) > 0 {
		return nil, errs[0]
	}
	sig := appt.RescheduleSignal{Start: start}
	if !end.IsZero() {
		sig.End = &end
	}
	return c.operate(ctx, id, appt.SignalReschedule, sig)
}

// Cancel cancels an appointment.
func (c *Client) Cancel(ctx context.Context, id, reason string) (*appt.UpdateResult, error) {
	if err := appt.ValidateReason(reason); err != nil {
		return nil, err
	}
	return c.operate(ctx, id, appt.SignalCancel, appt.CancelSignal{Reason: reason})
}

// Activate activates an appointment.
func (c *Client) Activate(ctx context.Context, id string) (*appt.UpdateResult, error) {
	return c.operate(ctx, id, appt.SignalActivate, appt.ActivateSignal{})
}

// CallStarted says the call started.
func (c *Client) CallStarted(ctx context.Context, id string) (*appt.UpdateResult, error) {
	return c.operate(ctx, id, appt.SignalCallStarted, appt.CallStartedSignal{})
}

// Joined says a participant joined the call.
func (c *Client) Joined(ctx context.Context, id, participantID string) (*appt.UpdateResult, error) {
	if err := appt.ValidateParticipantID("participant", participantID); err != nil {
		return nil, err
	}
	return c.operate(ctx, id, appt.SignalParticipantJoined, appt.ParticipantJoinedSignal{ParticipantID: participantID})
}

// CallEnded says the call ended.
func (c *Client) CallEnded(ctx context.Context, id string) (*appt.UpdateResult, error) {
	return c.operate(ctx, id, appt.SignalCallEnded, appt.CallEndedSignal{})
}

// UpdateMetadata merges metadata; an empty value removes a key.
func (c *Client) UpdateMetadata(ctx context.Context, id string, md map[string]string) (*appt.UpdateResult, error) {
	if len(md) == 0 {
		return nil, &appt.FieldError{Field: "metadata", Msg: "at least one k=v is required"}
	}
	if err := appt.ValidateMetadata(md); err != nil {
		return nil, err
	}
	return c.operate(ctx, id, appt.SignalUpdateMetadata, appt.UpdateMetadataSignal{Metadata: md})
}

// Retry retries the most recent failed delivery and returns the entry as the retry left it.
func (c *Client) Retry(ctx context.Context, id, entryID string) (*appt.UpdateResult, error) {
	if entryID == "" {
		return nil, &appt.FieldError{Field: "entry", Msg: "is required"}
	}
	return c.operate(ctx, id, appt.SignalRetry, appt.RetrySignal{EntryID: entryID})
}

var searchAttrOrg = temporal.NewSearchAttributeKeyKeyword(appt.SearchAttrOrg)

// AppointmentOrg returns the organisation an appointment belongs to, or ErrNotFound. It reads the AppointmentOrg
// search attribute from a describe call, which needs no worker; for an appointment scheduled before the attribute
// was set at start, whose first workflow task has not run yet, it falls back to the status query.
func (c *Client) AppointmentOrg(ctx context.Context, id string) (string, error) {
	if err := appt.ValidateAppointmentID(id); err != nil {
		return "", err
	}
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, appt.WorkflowID(id), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", err
	}
	if p := d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[appt.SearchAttrOrg]; p != nil {
		var org string
		if err := converter.GetDefaultDataConverter().FromPayload(p, &org); err == nil && org != "" {
			return org, nil
		}
	}
	st, err := c.Status(ctx, id)
	if err != nil {
		return "", err
	}
	return st.Org, nil
}

// describe returns the workflow's status, or ErrNotFound.
func (c *Client) describe(ctx context.Context, id string) (enumspb.WorkflowExecutionStatus, error) {
	if err := appt.ValidateAppointmentID(id); err != nil {
		return 0, err
	}
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, appt.WorkflowID(id), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return d.GetWorkflowExecutionInfo().GetStatus(), nil
}

// operate sends one operation as an update, so that a refusal comes back at once.
func (c *Client) operate(ctx context.Context, id, op string, arg any) (*appt.UpdateResult, error) {
	st, err := c.describe(ctx, id)
	if err != nil {
		return nil, err
	}
	if st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return nil, &RefusedError{Op: op, Reason: "the appointment's workflow is closed (" + strings.ToLower(strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_")) + ")"}
	}
	var res appt.UpdateResult
	err = c.update(ctx, appt.WorkflowID(id), op, arg, &res)
	if err == nil {
		return &res, nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return nil, &RefusedError{Op: op, Reason: appErr.Message()}
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, &RefusedError{Op: op, Reason: "the appointment's workflow is closed"}
	}
	return nil, err
}

// update runs an update of a workflow and waits, at most UpdateTimeout, for its result in out. A workflow that
// does not answer in that time is ErrNoWorker; a refusal is the workflow's *temporal.ApplicationError.
func (c *Client) update(ctx context.Context, workflowID, name string, arg, out any) error {
	timeout := c.UpdateTimeout
	if timeout <= 0 {
		timeout = DefaultUpdateTimeout
	}
	uctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h, err := c.Temporal.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(uctx, out)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w within %s; is the worker running?", name, ErrNoWorker, timeout)
	}
	return err
}

// Status returns the appointment's status document. A closed workflow's comes from its result, so it needs no
// running worker.
func (c *Client) Status(ctx context.Context, id string) (*appt.Status, error) {
	st, err := c.describe(ctx, id)
	if err != nil {
		return nil, err
	}
	var s appt.Status
	if st == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		if err := c.Temporal.GetWorkflow(ctx, appt.WorkflowID(id), "").Get(ctx, &s); err == nil {
			return &s, nil
		}
	}
	v, err := c.Temporal.QueryWorkflow(ctx, appt.WorkflowID(id), "", appt.QueryStatus)
	if err != nil {
		return nil, fmt.Errorf("status query: %w", err)
	}
	if err := v.Get(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SetNotifications turns an organisation's global notification flag on or off, starting its settings workflow
// if needed. It returns once the settings workflow holds the new value; workers see it within appt.SettingsMaxAge.
func (c *Client) SetNotifications(ctx context.Context, org string, enabled bool) error {
	if err := c.signalOrg(ctx, org, appt.SignalSetNotifications, appt.SetNotificationsSignal{Enabled: enabled}); err != nil {
		return err
	}
	return c.awaitOrg(ctx, org, func(s appt.OrgSettings) bool { return s.NotificationsEnabled == enabled })
}

// EnableAutoActivate turns an organisation's auto-activate on. It cannot be turned off (docs/rules.md#flags).
func (c *Client) EnableAutoActivate(ctx context.Context, org string) error {
	if err := c.signalOrg(ctx, org, appt.SignalSetAutoActivate, appt.SetAutoActivateSignal{Enabled: true}); err != nil {
		return err
	}
	return c.awaitOrg(ctx, org, func(s appt.OrgSettings) bool { return s.AutoActivate })
}

// awaitOrg waits until the settings workflow has applied a change, so that the caller knows it is in force.
func (c *Client) awaitOrg(ctx context.Context, org string, applied func(appt.OrgSettings) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		s, err := c.OrgSettings(ctx, org)
		if err == nil && applied(s) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the settings workflow of %s did not confirm the change (%w); is the worker running?", org, ErrNoWorker)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// OrgSettings returns an organisation's live settings, or its config defaults when it has no settings workflow.
func (c *Client) OrgSettings(ctx context.Context, org string) (appt.OrgSettings, error) {
	if err := c.CheckOrg(org); err != nil {
		return appt.OrgSettings{}, err
	}
	o, _ := c.orgOf(ctx, org)
	v, err := c.Temporal.QueryWorkflow(ctx, appt.OrgWorkflowID(org), "", appt.QueryOrgSettings)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return appt.DefaultOrgSettings(*o.AutoActivate), nil
	}
	if err != nil {
		return appt.OrgSettings{}, err
	}
	var s appt.OrgSettings
	return s, v.Get(&s)
}

func (c *Client) signalOrg(ctx context.Context, org, signal string, arg any) error {
	if err := c.CheckOrg(org); err != nil {
		return err
	}
	o, _ := c.orgOf(ctx, org)
	_, err := c.Temporal.SignalWithStartWorkflow(ctx, appt.OrgWorkflowID(org), signal, arg, client.StartWorkflowOptions{
		ID:            appt.OrgWorkflowID(org),
		TaskQueue:     appt.TaskQueue,
		StaticSummary: "Notification settings of " + org,
	}, appt.OrgSettingsWorkflowType, &appt.OrgSettingsInput{
		Org:      org,
		Settings: appt.DefaultOrgSettings(*o.AutoActivate),
	})
	return err
}
