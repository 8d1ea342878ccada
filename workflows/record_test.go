package workflows_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/devserver"
	"github.com/apptnotify/apptnotify/internal/seal"
	"github.com/apptnotify/apptnotify/internal/suppress"
	"github.com/apptnotify/apptnotify/internal/workerapp"
	"github.com/apptnotify/apptnotify/workflows"
)

var (
	record     = flag.Bool("record", false, "record the histories of the main scenarios into testdata/ (TestRecordHistories)")
	recordOnly = flag.String("record-only", "", "with -record: record only the scenarios whose name starts with this")
)

// recordKeys is the key ring of the encrypted recordings (testdata/encrypted-*.json): a test key, committed so the
// replay test can open them, never used anywhere else.
var recordKeys = "rec=" + base64.StdEncoding.EncodeToString([]byte("apptnotify-recorded-history-key!"))

// recordDataKeysRing is recordRing with the data-key store in file: testdata/data-keys.db holds the data key of the
// recording sealed with per-appointment keys (testdata/datakeys-*.json), wrapped by the recordKeys key.
func recordDataKeysRing(t testing.TB, file string) *codec.KeyRing {
	ring := recordRing(t)
	dk, err := codec.OpenDataKeys(context.Background(), file, ring)
	require.NoError(t, err)
	t.Cleanup(func() { dk.Close() })
	return ring.WithDataKeys(dk)
}

func recordRing(t testing.TB) *codec.KeyRing {
	r, err := codec.ParseKeyRing(recordKeys)
	if err != nil {
		panic(err) // a constant
	}
	return r
}

// recordConfig: acme sends on every channel with short reminder offsets; room has auto-activate off and a ROOM
// invite 4 s before the start; settings is only used by the organisation-settings scenario, so that turning its
// notifications off cannot disturb the others.
const recordConfig = `
smtp: {host: 127.0.0.1, port: 1025, tls: none}
organizations:
  - id: acme
    platform: genesys
    email_from: "Acme Care <care@acme.example>"
    sms_from: "+15550000000"
    reminder_offsets: [6s, 3s]
    max_attempts: 2
    receipt_wait: 0s
    webhooks:
      - {url: "https://hooks.acme.example/a", secret_env: HOOK_SECRET}
  - id: room
    platform: genesys
    email_from: "Room Care <care@room.example>"
    auto_activate: false
    reminder_offsets: [7s]
    room_offset: 4s
    webhooks:
      - {url: "https://hooks.room.example/a", secret_env: HOOK_SECRET}
  - id: settings
    platform: talkdesk
    auto_activate: false
  - id: receipts
    platform: genesys
    email_from: "Receipt Care <care@receipts.example>"
    sms_from: "+15550000000"
    reminder_offsets: [4s]
    max_attempts: 1
    receipt_wait: 20s
  - id: people
    platform: genesys
    email_from: "People Care <care@people.example>"
    sms_from: "+15550000000"
    reminder_offsets: [6s]
    notify_agents: true
    receipt_wait: 0s
    webhooks:
      - {url: "https://hooks.people.example/a", secret_env: HOOK_SECRET}
twilio: {status_callback_url: "https://hooks.acme.example/twilio/status"}
`

// recSenders are in-memory senders: everything is sent, except the webhooks of the event IDs in failing, which get
// a 503, and the SMS of the event IDs in optedOut, which get Twilio's 21610.
type recSenders struct {
	mu       sync.Mutex
	failing  map[string]bool
	optedOut map[string]bool
}

func (s *recSenders) SendEmail(_ context.Context, org *config.Org, _ *activities.Message, _ appt.Participant, nid string) (string, error) {
	return "<" + activities.MessageID(nid, org.EmailFrom) + ">", nil
}

func (s *recSenders) SendSMS(_ context.Context, _ *config.Org, msg *activities.Message, _ appt.Participant, nid string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.optedOut[msg.EventID] {
		return "", activities.Permanent(activities.ErrOptedOut, "Twilio HTTP 400, error 21610: the recipient opted out of SMS")
	}
	return recSID(nid), nil
}

// recSID is the message SID the in-memory sender gives a notification: SM and 32 hex digits, one per notification.
func recSID(nid string) string {
	sum := sha256.Sum256([]byte(nid))
	return "SM" + hex.EncodeToString(sum[:16])
}

func (s *recSenders) SendWebhook(_ context.Context, _ *config.Org, sub int, msg *activities.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing[msg.EventID] {
		return activities.Transient(0, "subscriber %d (hooks.acme.example): HTTP 503", sub)
	}
	return nil
}

func (s *recSenders) setFailing(eventID string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[eventID] = on
}

// recorder runs the real workflows and activities (with in-memory senders) on an embedded server.
type recorder struct {
	t     *testing.T
	tc    client.Client
	api   *api.Client
	cfg   *config.Config
	sends *recSenders
}

// TestRecordHistories records the histories that TestReplayRecordedHistories replays: it starts an embedded
// Temporal server in a temporary directory, runs a worker with the real workflows and activities (in-memory
// senders), drives each scenario in real time with offsets of a few seconds, and writes each history as JSON (the
// format of `temporal workflow show --output json`) to testdata/<scenario>.json. It runs only when asked:
//
//	go test ./workflows -run TestRecordHistories -record
//
// Record again after a deliberate, versioned change to the workflow code, and keep the old files as well (rename
// them) for as long as workflows recorded with the old code may still be running.
func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("records only with -record")
	}
	// Local delivery (the default) on one server, every scenario at once, each on its own appointment; remote
	// delivery (--remote-delivery, fan-outs as regular activities) on another at the same time. Each server has one
	// worker, with the same in-memory senders.
	local, remote, enc := newRecorder(t, false, nil), newRecorder(t, true, nil), newRecorder(t, false, recordRing(t))
	var dk *recorder
	if strings.HasPrefix("datakeys-lifecycle", *recordOnly) {
		dk = newRecorder(t, false, recordDataKeysRing(t, filepath.Join("testdata", codec.DataKeysFileName)))
	}
	scenarios := map[string]func(id string) error{
		"encrypted-lifecycle":        enc.lifecycle,
		"encrypted-manual-retry":     enc.manualRetry,
		"encrypted-api-tokens":       enc.apiTokens,
		"lifecycle":                  local.lifecycle,
		"reschedule":                 local.reschedule,
		"reschedule-beyond-400-days": local.rescheduleBeyondHorizon,
		"cancel":                     local.cancel,
		"call-started":               local.callStarted,
		"room":                       local.room,
		"manual-retry":               local.manualRetry,
		"orgsettings":                local.orgSettings,
		"orgdocument":                local.orgDocument,
		"remote-delivery":            remote.remoteDelivery,
		"receipts":                   local.receipts,
		"orgtests":                   local.orgTests,
		"suppression":                local.suppression,
		"participants":               local.participants,
	}
	if dk != nil {
		scenarios["datakeys-lifecycle"] = dk.lifecycle
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(scenarios))
	for name, run := range scenarios {
		if !strings.HasPrefix(name, *recordOnly) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(name); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// newRecorder starts an embedded server in a temporary directory and a worker on it, both stopped when the test
// ends. With a key ring, the worker and the client encrypt every payload.
func newRecorder(t *testing.T, remote bool, ring *codec.KeyRing) *recorder {
	r := newRecorderServer(t, ring)
	w := r.startWorker(remote)
	t.Cleanup(w.Stop)
	return r
}

// newRecorderServer starts an embedded server in a temporary directory, with no worker yet.
func newRecorderServer(t *testing.T, ring *codec.KeyRing) *recorder {
	cfg, err := config.ParseWorker([]byte(recordConfig), func(k string) string {
		return map[string]string{"HOOK_SECRET": testSecret, "TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "tok"}[k]
	})
	require.NoError(t, err)
	port, err := devserver.FreePort()
	require.NoError(t, err)
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: t.TempDir(), Port: port, UIPort: 0,
		SearchAttributes: workerapp.SearchAttributes, Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	copts := client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(quiet)}
	api.Encrypt(&copts, ring, nil)
	tc, err := client.Dial(copts)
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	c := api.New(tc, cfg)
	// An address key, as the starter and the API have: appointments carry AppointmentAddressHashes, and an added
	// customer's hashes join them (participants).
	hasher, err := addrhash.New(bytes.Repeat([]byte{7}, addrhash.KeySize))
	require.NoError(t, err)
	c.Addresses = hasher
	return &recorder{t: t, tc: tc, api: c, cfg: cfg,
		sends: &recSenders{failing: map[string]bool{}, optedOut: map[string]bool{}}}
}

func (r *recorder) startWorker(remote bool) worker.Worker {
	acts := &activities.Activities{Config: r.cfg, Email: r.sends, SMS: r.sends, Webhooks: r.sends,
		Settings: activities.NewTemporalSettingsReader(r.tc), RemoteDelivery: remote}
	w := worker.New(r.tc, appt.TaskQueue, worker.Options{})
	workflows.Register(w)
	activities.Register(w, acts)
	require.NoError(r.t, w.Start())
	return w
}

func (r *recorder) schedule(id, org string, start time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return r.api.Schedule(ctx, &appt.ScheduleRequest{AppointmentID: id, Org: org, Start: start, JoinURL: "https://video.example/j/" + id,
		Notifications: true, Metadata: map[string]string{"ticket": "T-1"},
		Participants: []appt.Participant{
			{ID: "c1", Name: "Ann Lee", Email: "ann@example.com", Phone: "+15551234567", TZ: "Europe/Berlin", Locale: "de"},
			{ID: "a1", Name: "Agent Smith", Email: "agent@acme.example", Role: appt.Agent},
		}})
}

// await polls the status until cond holds (30 s at most).
func (r *recorder) await(id, what string, cond func(st *appt.Status) bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := r.api.Status(ctx, id)
		cancel()
		if err == nil && cond(st) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not reached (last error %v, status %+v)", id, what, err, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func sentCount(st *appt.Status, t appt.NotificationType) int {
	n := 0
	for _, e := range st.Deliveries {
		if e.Type == t && e.Status == appt.Sent {
			n++
		}
	}
	return n
}

// finish waits for the workflow to complete (if it does) and writes its history to testdata/<name>.json.
func (r *recorder) finish(name, workflowID string, completes bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if completes {
		if err := r.tc.GetWorkflow(ctx, workflowID, "").Get(ctx, nil); err != nil {
			return fmt.Errorf("%s did not complete: %w", workflowID, err)
		}
	}
	it := r.tc.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err
		}
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: " "}.Marshal(h)
	if err != nil {
		return err
	}
	r.t.Logf("%s: %d events", name, len(h.Events))
	return os.WriteFile(filepath.Join("testdata", name+".json"), append(b, '\n'), 0o644)
}

func (r *recorder) op(res *appt.UpdateResult, err error) error { return err }

func bg() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}

// lifecycle: CREATE, both reminders, call-started, participant-joined, call-ended, FOLLOW_UP.
func (r *recorder) lifecycle(id string) error {
	ctx, cancel := bg()
	defer cancel()
	if err := r.schedule(id, "acme", time.Now().Add(12*time.Second)); err != nil {
		return err
	}
	if err := r.await(id, "both reminders", func(st *appt.Status) bool { return sentCount(st, appt.Reminder) == 2*3 }); err != nil {
		return err
	}
	for _, op := range []func() error{
		func() error { return r.op(r.api.CallStarted(ctx, id)) },
		func() error { return r.op(r.api.Joined(ctx, id, "c1")) },
		func() error { return r.op(r.api.Joined(ctx, id, "a1")) },
		func() error { return r.op(r.api.CallEnded(ctx, id)) },
	} {
		if err := op(); err != nil {
			return err
		}
	}
	return r.finish(id, appt.WorkflowID(id), true)
}

// reschedule: scheduled for later, moved to a few seconds ahead (RESCHEDULE, new reminders sent), then cancelled.
func (r *recorder) reschedule(id string) error {
	ctx, cancel := bg()
	defer cancel()
	if err := r.schedule(id, "acme", time.Now().Add(time.Hour)); err != nil {
		return err
	}
	if err := r.op(r.api.Reschedule(ctx, id, time.Now().Add(10*time.Second), time.Time{})); err != nil {
		return err
	}
	if err := r.await(id, "both reminders of the new time", func(st *appt.Status) bool { return sentCount(st, appt.Reminder) == 2*3 }); err != nil {
		return err
	}
	if err := r.op(r.api.Cancel(ctx, id, "customer asked")); err != nil {
		return err
	}
	return r.finish(id, appt.WorkflowID(id), true)
}

// reschedule-beyond-400-days: a reschedule *signal* (the edge refuses it as an update) to a start 401 days ahead,
// then a cancel. The current code refuses the reschedule and records the reschedule-start-horizon version marker.
//
// testdata/reschedule-beyond-400-days-v0.json is this scenario as the code before that guard ran it: the
// reschedule accepted, RESCHEDULE sent, no marker. It was recorded once with acceptsFarStart returning true without
// calling workflow.GetVersion (the old behaviour exactly), and is kept, not recorded again: it proves that a
// reschedule accepted by old code still replays.
func (r *recorder) rescheduleBeyondHorizon(id string) error {
	ctx, cancel := bg()
	defer cancel()
	if err := r.schedule(id, "acme", time.Now().Add(time.Hour)); err != nil {
		return err
	}
	far := time.Now().Add(appt.MaxStartAhead + 24*time.Hour).UTC().Truncate(time.Second)
	if err := r.tc.SignalWorkflow(ctx, appt.WorkflowID(id), "", appt.SignalReschedule, appt.RescheduleSignal{Start: far}); err != nil {
		return err
	}
	if err := r.await(id, "the reschedule applied or refused", func(st *appt.Status) bool {
		for _, e := range st.Deliveries {
			if (e.Type == appt.Reschedule && e.Status == appt.Sent) || (e.Status == appt.Refused && e.Signal == appt.SignalReschedule) {
				return true
			}
		}
		return false
	}); err != nil {
		return err
	}
	if err := r.op(r.api.Cancel(ctx, id, "too far ahead")); err != nil {
		return err
	}
	return r.finish(id, appt.WorkflowID(id), true)
}

// cancel: a metadata update, a refused signal (unknown participant), then a cancel.
func (r *recorder) cancel(id string) error {
	ctx, cancel := bg()
	defer cancel()
	if err := r.schedule(id, "acme", time.Now().Add(time.Hour)); err != nil {
		return err
	}
	if err := r.op(r.api.UpdateMetadata(ctx, id, map[string]string{"ticket": "T-2", "room": "4"})); err != nil {
		return err
	}
	var refused *api.RefusedError
	if err := r.op(r.api.Joined(ctx, id, "nobody")); !errors.As(err, &refused) {
		return fmt.Errorf("joined by an unknown participant: %v, want a refusal", err)
	}
	if err := r.op(r.api.Cancel(ctx, id, "no longer needed")); err != nil {
		return err
	}
	return r.finish(id, appt.WorkflowID(id), true)
}

// call-started: the first reminder goes out, the call starts before the second, which is cancelled; the call
// ends without anyone joining (no FOLLOW_UP).
func (r *recorder) callStarted(id string) error {
	ctx, cancel := bg()
	defer cancel()
	start := time.Now().Add(11 * time.Second)
	if err := r.schedule(id, "acme", start); err != nil {
		return err
	}
	if err := r.await(id, "the first reminder", func(st *appt.Status) bool { return sentCount(st, appt.Reminder) == 3 }); err != nil {
		return err
	}
	if err := r.op(r.api.CallStarted(ctx, id)); err != nil {
		return err
	}
	time.Sleep(time.Until(start.Add(-2 * time.Second))) // past the second reminder's due time
	if err := r.op(r.api.CallEnded(ctx, id)); err != nil {
		return err
	}
	return r.finish(id, appt.WorkflowID(id), true)
}

// room: auto-activate off; the reminder, then the ROOM invite at start - 4 s, activate, the call.
func (r *recorder) room(id string) error {
	ctx, cancel := bg()
	defer cancel()
	if err := r.schedule(id, "room", time.Now().Add(12*time.Second)); err != nil {
		return err
	}
	if err := r.await(id, "the ROOM invite", func(st *appt.Status) bool { return sentCount(st, appt.Room) == 2 }); err != nil {
		return err
	}
	for _, op := range []func() error{
		func() error { return r.op(r.api.Activate(ctx, id)) },
		func() error { return r.op(r.api.CallStarted(ctx, id)) },
		func() error { return r.op(r.api.Joined(ctx, id, "c1")) },
		func() error { return r.op(r.api.CallEnded(ctx, id)) },
	} {
		if err := op(); err != nil {
			return err
		}
	}
	return r.finish(id, appt.WorkflowID(id), true)
}

// manual-retry: the CREATE webhook fails twice (max_attempts 2), the subscriber recovers, support retries the
// entry (sent), then the appointment is cancelled.
func (r *recorder) manualRetry(id string) error {
	ctx, cancel := bg()
	defer cancel()
	create := appt.EventID(id, appt.Create, 0, 0)
	r.sends.setFailing(create, true)
	if err := r.schedule(id, "acme", time.Now().Add(time.Hour)); err != nil {
		return err
	}
	var entry string
	if err := r.await(id, "the CREATE webhook failed", func(st *appt.Status) bool {
		for _, e := range st.Deliveries {
			if e.EventID == create && e.Channel == appt.Webhook && e.Status == appt.Failed && e.Attempts == 2 {
				entry = e.ID
				return true
			}
		}
		return false
	}); err != nil {
		return err
	}
	r.sends.setFailing(create, false)
	res, err := r.api.Retry(ctx, id, entry)
	if err != nil {
		return err
	}
	if res.Entry == nil || res.Entry.Status != appt.Sent {
		return fmt.Errorf("the manual retry ended %+v", res.Entry)
	}
	if err := r.op(r.api.Cancel(ctx, id, "")); err != nil {
		return err
	}
	return r.finish(id, appt.WorkflowID(id), true)
}

// orgsettings: the organisation-settings workflow turned off and on, a refused request to turn auto-activate
// off (a raw signal: the starter refuses it before sending), auto-activate turned on. It never completes; its
// history so far is recorded.
func (r *recorder) orgSettings(string) error {
	ctx, cancel := bg()
	defer cancel()
	if err := r.api.SetNotifications(ctx, "settings", false); err != nil {
		return err
	}
	if err := r.api.SetNotifications(ctx, "settings", true); err != nil {
		return err
	}
	if err := r.api.EnableAutoActivate(ctx, "settings"); err != nil {
		return err
	}
	if err := r.tc.SignalWorkflow(ctx, appt.OrgWorkflowID("settings"), "", appt.SignalSetAutoActivate,
		appt.SetAutoActivateSignal{Enabled: false}); err != nil {
		return err
	}
	if err := r.api.SetNotifications(ctx, "settings", false); err != nil { // applied after the refused signal
		return err
	}
	return r.finish("orgsettings", appt.OrgWorkflowID("settings"), false)
}

// encrypted-api-tokens: the token table started by an issue, a second token for every organisation, a report of
// last uses, a revoke, and a second revoke that changes nothing. It never completes; its history so far is
// recorded, encrypted (only digests are in it, and those sealed).
func (r *recorder) apiTokens(name string) error {
	ctx, cancel := bg()
	defer cancel()
	_, a, err := r.api.IssueToken(ctx, api.TokenRequest{Org: "acme", Lifetime: 720 * time.Hour, IssuedBy: "env-000000000000"})
	if err != nil {
		return err
	}
	if _, _, err := r.api.IssueToken(ctx, api.TokenRequest{Org: appt.TokenScopeAll, IssuedBy: "starter"}); err != nil {
		return err
	}
	if err := r.api.MarkTokensUsed(ctx, []appt.TokenUse{{ID: a.ID, At: time.Now().UTC()}}); err != nil {
		return err
	}
	for range 2 {
		if _, err := r.api.RevokeToken(ctx, a.ID, "env-000000000000"); err != nil {
			return err
		}
	}
	return r.finish(name, appt.TokensWorkflowID, false)
}

// orgdocument: an organisation written through the API (the organisation document in its settings workflow): created
// with a subscriber secret (sealed), a stale write rejected, a patch that rotates the secret, disabled and enabled
// again. It never completes; its history so far is recorded.
func (r *recorder) orgDocument(string) error {
	ctx, cancel := bg()
	defer cancel()
	key, err := seal.NewPrivateKey()
	if err != nil {
		return err
	}
	opener, err := seal.ParsePrivateKeys(key)
	if err != nil {
		return err
	}
	c := api.New(r.tc, r.cfg)
	c.UseOrgDirectory(opener.Sealer(), nil)
	secret := func(b byte) string {
		return "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(b), 32)))
	}
	doc := &config.Org{ID: "docs", Platform: appt.Genesys, EmailFrom: "Docs <care@docs.example>",
		Templates: map[string]string{"create.subject.txt": "Docs {{.AppointmentID}}"},
		Webhooks:  []config.Webhook{{URL: "https://hooks.docs.example/a", Secret: secret('a')}}}
	zero := int64(0)
	if _, err := c.PutOrg(ctx, "env-recorder", doc, &zero); err != nil {
		return err
	}
	if _, err := c.PutOrg(ctx, "env-recorder", doc, &zero); err == nil {
		return errors.New("a stale If-Match was accepted")
	}
	patch := fmt.Sprintf(`{"webhooks":[{"url":"https://hooks.docs.example/a","secret":%q}],"max_attempts":2}`, secret('b'))
	if _, errs, err := c.PatchOrg(ctx, "env-recorder", "docs", []byte(patch), 1); err != nil || len(errs) > 0 {
		return fmt.Errorf("patch: %v %v", err, errs)
	}
	if _, err := c.SetOrgDisabled(ctx, "env-recorder", "docs", true); err != nil {
		return err
	}
	if _, err := c.SetOrgDisabled(ctx, "env-recorder", "docs", false); err != nil {
		return err
	}
	return r.finish("orgdocument", appt.OrgWorkflowID("docs"), false)
}

// suppression: a shard of acme's suppression list (the shard of the phone's hash) and acme's index: a batch of two
// entries (started by update-with-start, as is the index by its first bump), the same batch again (no change), a
// STOP added, the same event again (no change), a manual entry, an opt-in that lifts only the STOP, an operator's
// lift. Neither workflow completes; their histories so far are recorded (suppression, suppression-index).
// suppression-unsharded is the list recorded before shards (one workflow, suppression:acme), kept for lists written
// by that build.
func (r *recorder) suppression(string) error {
	ctx, cancel := bg()
	defer cancel()
	st := suppress.TemporalStore{C: r.tc}
	now := time.Now().UTC().Truncate(time.Second)
	exp := now.Add(7 * 24 * time.Hour)
	phone := strings.Repeat("a", 64)
	batch := []appt.SuppressionEntry{
		{Channel: appt.Email, Hash: "aa" + strings.Repeat("b", 62), Reason: appt.ReasonHardBounce, Source: "import", CreatedAt: now, ExpiresAt: &exp},
		{Channel: appt.Email, Hash: "aa" + strings.Repeat("c", 62), Reason: appt.ReasonManual, Source: "import", CreatedAt: now},
	}
	for range 2 {
		if _, err := st.AddBatch(ctx, "acme", batch); err != nil {
			return err
		}
	}
	for _, e := range []appt.SuppressionEntry{
		{Channel: appt.SMS, Hash: phone, Reason: appt.ReasonSMSStop, Source: appt.SourceTwilioInbound, EventID: "SM1", CreatedAt: now},
		{Channel: appt.SMS, Hash: phone, Reason: appt.ReasonSMSStop, Source: appt.SourceTwilioInbound, EventID: "SM1", CreatedAt: now},
		{Channel: appt.SMS, Hash: phone, Reason: appt.ReasonManual, Source: appt.SourceAPI, CreatedAt: now},
	} {
		if _, err := st.Add(ctx, "acme", e); err != nil {
			return err
		}
	}
	if _, err := st.Lift(ctx, "acme", appt.SuppressionLift{Channel: appt.SMS, Hash: phone, OptIn: true, Source: appt.SourceTwilioInbound}); err != nil {
		return err
	}
	if _, err := st.Lift(ctx, "acme", appt.SuppressionLift{Channel: appt.Email, Hash: batch[0].Hash, Source: appt.SourceAPI}); err != nil {
		return err
	}
	if err := r.finish("suppression", appt.SuppressionShardWorkflowID("acme", appt.SuppressionShard(phone)), false); err != nil {
		return err
	}
	return r.finish("suppression-index", appt.SuppressionIndexWorkflowID("acme"), false)
}

// remote-delivery: the fan-outs run as regular activities (--remote-delivery); the CREATE webhook fails once and
// its retry succeeds; both reminders; the call; FOLLOW_UP.
func (r *recorder) remoteDelivery(id string) error {
	ctx, cancel := bg()
	defer cancel()
	create := appt.EventID(id, appt.Create, 0, 0)
	r.sends.setFailing(create, true)
	if err := r.schedule(id, "acme", time.Now().Add(14*time.Second)); err != nil {
		return err
	}
	if err := r.await(id, "the CREATE webhook failed once", func(st *appt.Status) bool {
		for _, e := range st.Deliveries {
			if e.EventID == create && e.Channel == appt.Webhook && e.Status == appt.Failed {
				return true
			}
		}
		return false
	}); err != nil {
		return err
	}
	r.sends.setFailing(create, false)
	if err := r.await(id, "the retry and both reminders", func(st *appt.Status) bool {
		return sentCount(st, appt.Create) == 3 && sentCount(st, appt.Reminder) == 2*3
	}); err != nil {
		return err
	}
	for _, op := range []func() error{
		func() error { return r.op(r.api.CallStarted(ctx, id)) },
		func() error { return r.op(r.api.Joined(ctx, id, "c1")) },
		func() error { return r.op(r.api.CallEnded(ctx, id)) },
	} {
		if err := op(); err != nil {
			return err
		}
	}
	return r.finish(id, appt.WorkflowID(id), true)
}

// receipts: the CREATE SMS gets intermediate receipts, the REMINDER SMS is refused with 21610 (opted out), the
// cancel's SMS is skipped for the opt-out, and the finished workflow waits for the CREATE SMS's final receipt
// (receipt_wait 20s), which arrives and lets it complete; a receipt for an unknown SID changes nothing.
func (r *recorder) receipts(id string) error {
	ctx, cancel := bg()
	defer cancel()
	r.sends.mu.Lock()
	r.sends.optedOut[appt.EventID(id, appt.Reminder, 0, 4*time.Second)] = true
	r.sends.mu.Unlock()
	if err := r.schedule(id, "receipts", time.Now().Add(8*time.Second)); err != nil {
		return err
	}
	createSID := recSID(appt.NotificationID(appt.EventID(id, appt.Create, 0, 0), appt.SMS, "c1"))
	if err := r.await(id, "the CREATE SMS", func(st *appt.Status) bool { return sentCount(st, appt.Create) == 2 }); err != nil {
		return err
	}
	receipt := func(sid, status string, code int) error {
		return r.tc.SignalWorkflow(ctx, appt.WorkflowID(id), "", appt.SignalSMSStatus,
			appt.SMSStatusSignal{MessageSID: sid, Status: status, ErrorCode: code, At: time.Now().UTC()})
	}
	for _, st := range []string{appt.ReceiptSent, appt.ReceiptQueued} {
		if err := receipt(createSID, st, 0); err != nil {
			return err
		}
	}
	if err := r.await(id, "the opted-out REMINDER SMS", func(st *appt.Status) bool {
		for _, e := range st.Deliveries {
			if e.Type == appt.Reminder && e.Channel == appt.SMS && e.ErrorType == activities.ErrOptedOut {
				return true
			}
		}
		return false
	}); err != nil {
		return err
	}
	if err := r.op(r.api.Cancel(ctx, id, "")); err != nil {
		return err
	}
	time.Sleep(time.Second)
	if err := receipt("SMffffffffffffffffffffffffffffffff", appt.ReceiptDelivered, 0); err != nil {
		return err
	}
	if err := receipt(createSID, appt.ReceiptDelivered, 0); err != nil {
		return err
	}
	return r.finish(id, appt.WorkflowID(id), true)
}

// participants: an organisation with notify_agents (CREATE to the customer and the agent); a customer c2 added
// (its CREATE), a refused add of an ID that is there, the agent removed (its CANCELLED), the reminder to c1 and c2,
// c1 removed (its CANCELLED), a refused removal of the last customer, then a cancel (CANCELLED to c2).
func (r *recorder) participants(id string) error {
	ctx, cancel := bg()
	defer cancel()
	if err := r.schedule(id, "people", time.Now().Add(10*time.Second)); err != nil {
		return err
	}
	bob := appt.Participant{ID: "c2", Name: "Bob Meier", Email: "bob@example.com", Phone: "+4915123456789", Locale: "de"}
	if err := r.op(r.api.AddParticipant(ctx, id, bob)); err != nil {
		return err
	}
	var refused *api.RefusedError
	if err := r.op(r.api.AddParticipant(ctx, id, bob)); !errors.As(err, &refused) {
		return fmt.Errorf("adding c2 twice: %v, want a refusal", err)
	}
	if err := r.op(r.api.RemoveParticipant(ctx, id, "a1")); err != nil {
		return err
	}
	if err := r.await(id, "the reminder to c1 and c2", func(st *appt.Status) bool { return sentCount(st, appt.Reminder) == 2*2+1 }); err != nil {
		return err
	}
	if err := r.op(r.api.RemoveParticipant(ctx, id, "c1")); err != nil {
		return err
	}
	if err := r.op(r.api.RemoveParticipant(ctx, id, "c2")); !errors.As(err, &refused) {
		return fmt.Errorf("removing the last customer: %v, want a refusal", err)
	}
	if err := r.op(r.api.Cancel(ctx, id, "")); err != nil {
		return err
	}
	return r.finish(id, appt.WorkflowID(id), true)
}

// TestReminderPlannedFromSchedulingTime: an appointment is scheduled (its workflow started) while its 6 s reminder
// is still ahead, but its first workflow task runs only after that reminder's due time, as it does when workers are
// down or the server is backlogged. docs/rules.md#notifications-and-windows leaves out only the offsets already past "when the appointment is
// scheduled", so the reminder must be planned: here it woke 2-3 s late, inside the tolerance, so it must be sent
// (had it woken more than 60 s late, it would be logged skipped_missed). The workflow once planned from the time of
// its first workflow task, so the reminder silently disappeared; it now plans from the workflow's start time.
func TestReminderPlannedFromSchedulingTime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an embedded server: skipped with -short")
	}
	r := newRecorderServer(t, nil)
	scheduled := time.Now()
	require.NoError(t, r.schedule("late-first-task", "acme", scheduled.Add(8*time.Second))) // 6 s reminder due at +2 s
	time.Sleep(time.Until(scheduled.Add(4 * time.Second)))                                  // no worker yet
	w := r.startWorker(false)
	defer w.Stop()
	require.NoError(t, r.await("late-first-task", "the 3 s reminder", func(st *appt.Status) bool {
		return sentCount(st, appt.Reminder) >= 3
	}))
	ctx, cancel := bg()
	defer cancel()
	st, err := r.api.Status(ctx, "late-first-task")
	require.NoError(t, err)
	var early []appt.DeliveryEntry
	for _, e := range st.Deliveries {
		if e.Type == appt.Reminder && e.Offset == "6s" {
			early = append(early, e)
		}
	}
	require.Len(t, early, 3, "the 6 s reminder was ahead when the appointment was scheduled: it must be planned (email, SMS, webhook)")
	for _, e := range early {
		require.Equal(t, appt.Sent, e.Status, "woken %s late, inside the tolerance", e.CreatedAt.Sub(*e.Due))
	}
}
