package receipts_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/receipts"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// logLines returns the lines of logs that contain every one of subs.
func logLines(logs *testenv.SyncBuffer, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(logs.String(), "\n") {
		ok := l != ""
		for _, sub := range subs {
			ok = ok && strings.Contains(l, sub)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// switchable is a Signaller that fails with Unavailable while down, and otherwise answers per workflow ID.
type switchable struct {
	down  atomic.Bool
	mu    sync.Mutex
	calls map[string]int // "<workflowID> <messageSid>" → signals seen
	byID  map[string]error
}

func newSwitchable() *switchable {
	return &switchable{calls: map[string]int{}, byID: map[string]error{}}
}

func (s *switchable) SignalWorkflow(_ context.Context, workflowID, _, _ string, arg any) error {
	if s.down.Load() {
		return serviceerror.NewUnavailable("connection refused")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[workflowID+" "+arg.(appt.SMSStatusSignal).MessageSID]++
	return s.byID[workflowID]
}

func (s *switchable) count(id, sid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[appt.WorkflowID(id)+" "+sid]
}

func (s *switchable) set(id string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[appt.WorkflowID(id)] = err
}

// spooledHandler serves a handler with a spool at path and its forwarder, logging at debug into a buffer.
func spooledHandler(t *testing.T, sig receipts.Signaller, path string) (string, *receipts.Spool, *testenv.SyncBuffer) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sp, err := receipts.OpenSpool(path, receipts.DefaultSpoolMax)
	require.NoError(t, err)
	h, err := receipts.NewHandler(publicURL, testenv.TwilioAuthToken, sig, logger)
	require.NoError(t, err)
	h.SetSpool(sp)
	ls, err := receipts.Listen("127.0.0.1:0", h)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sp.Forward(ctx, sig, logger, receipts.ForwardOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	}()
	t.Cleanup(func() {
		ls.Close()
		cancel()
		<-done
		require.NoError(t, sp.Close())
	})
	return "http://" + ls.Addr(), sp, logs
}

// twilioCallback posts the status callback Twilio sends, with all of its form fields (To and From among them),
// signed, to the listener at via.
func twilioCallback(t *testing.T, via, id, sid, to, status string, errorCode int) int {
	t.Helper()
	r := testenv.TwilioRequest{To: to, From: "+15550000000", SID: sid, StatusCallback: activities.StatusCallbackURL(publicURL, id)}
	p := testenv.StatusParams(r, status, errorCode)
	for _, k := range []string{"MessageStatus", "ErrorCode", "AccountSid", "MessageSid", "To", "From", "ApiVersion", "SmsSid", "SmsStatus"} {
		if k != "ErrorCode" || errorCode != 0 {
			require.NotEmpty(t, p.Get(k), "Twilio's field %s", k)
		}
	}
	return testenv.PostCallback(t, r.StatusCallback, via, p, testenv.TwilioSignature(testenv.TwilioAuthToken, r.StatusCallback, p))
}

func assertNoPhones(t *testing.T, what, text string, phones ...string) {
	t.Helper()
	for _, p := range phones {
		assert.NotContains(t, text, p, "%s", what)
		assert.NotContains(t, text, strings.TrimPrefix(p, "+"), "%s", what)
		assert.NotContains(t, text, url.QueryEscape(p), "%s", what)
	}
}

// Many callbacks at once while Temporal is away, then more while the forwarder drains the spool: every one is
// answered 200 and signalled (at least once), the spool ends empty, and neither the spool nor any log line holds
// a phone number. Run with -race.
func TestConcurrentCallbacksWhileSpooling(t *testing.T) {
	sig := newSwitchable()
	sig.down.Store(true)
	path := filepath.Join(t.TempDir(), receipts.SpoolFileName)
	via, sp, logs := spooledHandler(t, sig, path)

	const n = 24
	phone := func(i int) string { return fmt.Sprintf("+1555765%04d", i) }
	post := func(from, to int) {
		var wg sync.WaitGroup
		for i := from; i < to; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				assert.Equal(t, http.StatusOK, twilioCallback(t, via, fmt.Sprintf("A%d", i), fmt.Sprintf("SM%d", i), phone(i), "undelivered", 30003))
			}()
		}
		wg.Wait()
	}
	post(0, n)
	assert.Equal(t, n, sp.Len(), "all kept during the outage")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Len(t, strings.Split(strings.TrimSpace(string(b)), "\n"), n, "one whole line each")
	var phones []string
	for i := range 2 * n {
		phones = append(phones, phone(i))
	}
	assertNoPhones(t, "spool", string(b), phones...)

	sig.down.Store(false)
	post(n, 2*n) // while the forwarder drains
	require.Eventually(t, func() bool { return sp.Len() == 0 }, 30*time.Second, 5*time.Millisecond)
	for i := range 2 * n {
		assert.GreaterOrEqual(t, sig.count(fmt.Sprintf("A%d", i), fmt.Sprintf("SM%d", i)), 1, "receipt %d", i)
	}
	b, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Empty(t, b)
	assertNoPhones(t, "logs", logs.String(), append(phones, "+15550000000")...)
}

// A receipt whose workflow completed while Temporal was away (Temporal answers NotFound, "workflow execution
// already completed") is dropped after one signal, with one log line naming it and no phone number, and does not
// hold up the receipts behind it. A refusal for good (InvalidArgument) is dropped the same way. A refusal that is
// about the cluster, not the receipt (PermissionDenied), keeps every receipt in the spool, logged once, until it
// clears.
func TestForwarderDropsWhatTemporalRefusesForGood(t *testing.T) {
	sig := newSwitchable()
	sig.set("done-1", serviceerror.NewNotFound("workflow execution already completed"))
	sig.set("big-1", serviceerror.NewInvalidArgument("exceeded workflow execution limit for signal events"))
	sig.down.Store(true)
	path := filepath.Join(t.TempDir(), receipts.SpoolFileName)
	via, sp, logs := spooledHandler(t, sig, path)
	const phone = "+15557650099"
	require.Equal(t, http.StatusOK, twilioCallback(t, via, "done-1", "SMdone", phone, "delivered", 0))
	require.Equal(t, http.StatusOK, twilioCallback(t, via, "big-1", "SMbig", phone, "delivered", 0))
	require.Equal(t, http.StatusOK, twilioCallback(t, via, "live-1", "SMlive", phone, "delivered", 0))
	require.Equal(t, 3, sp.Len())

	sig.down.Store(false)
	require.Eventually(t, func() bool { return sp.Len() == 0 }, 30*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1, sig.count("done-1", "SMdone"), "signalled once, not looped")
	assert.Equal(t, 1, sig.count("big-1", "SMbig"))
	assert.Equal(t, 1, sig.count("live-1", "SMlive"))
	assert.Len(t, logLines(logs, "spooled status callback", "SMdone"), 1, "%s", logs)
	assert.Len(t, logLines(logs, "spooled status callback", "SMbig"), 1, "%s", logs)
	assertNoPhones(t, "logs", logs.String(), phone, "+15550000000")

	// PermissionDenied: nothing is dropped; one warning however many passes fail.
	sig.set("perm-1", serviceerror.NewPermissionDenied("request unauthorized", ""))
	sig.down.Store(true)
	require.Equal(t, http.StatusOK, twilioCallback(t, via, "perm-1", "SMperm", phone, "sent", 0))
	require.Equal(t, http.StatusOK, twilioCallback(t, via, "live-2", "SMlive2", phone, "sent", 0))
	sig.down.Store(false)
	require.Eventually(t, func() bool { return sig.count("perm-1", "SMperm") >= 3 }, 30*time.Second, 5*time.Millisecond)
	assert.Equal(t, 2, sp.Len(), "kept while the cluster refuses")
	assert.Equal(t, 0, sig.count("live-2", "SMlive2"), "in order: behind the refused one")
	sig.set("perm-1", nil)
	require.Eventually(t, func() bool { return sp.Len() == 0 }, 30*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1, sig.count("live-2", "SMlive2"))
	assert.Len(t, logLines(logs, "cannot forward receipts yet", "request unauthorized"), 1,
		"the operator hears of the refusal once, though it followed an outage: %s", logs)
}

// A restart with an empty spool file, or none, forwards nothing and takes new receipts; the file is 0600 even
// when an earlier one had looser permissions.
func TestSpoolRestartEmptyAndPermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, receipts.SpoolFileName)
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	sig := newSwitchable()
	sig.down.Store(true)
	via, sp, _ := spooledHandler(t, sig, path)
	assert.Equal(t, 0, sp.Len())
	require.Equal(t, http.StatusOK, twilioCallback(t, via, "A1", "SM1", "+15557650001", "sent", 0))
	assert.Equal(t, 1, sp.Len())
	for _, p := range []string{path, path + receipts.LockSuffix} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "%s", filepath.Base(p))
	}
}

// A full spool with Temporal reachable (it came back and the forwarder has not yet made room): a new callback is
// signalled straight away rather than answered 503 and lost. With Temporal still away it is 503, as documented.
func TestFullSpoolFallsBackToTemporal(t *testing.T) {
	path := filepath.Join(t.TempDir(), receipts.SpoolFileName)
	sp, err := receipts.OpenSpool(path, 1)
	require.NoError(t, err)
	defer sp.Close()
	at := time.Date(2026, 3, 1, 9, 0, 7, 0, time.UTC)
	require.NoError(t, sp.Add("A0", appt.SMSStatusSignal{MessageSID: "SM0", Status: "sent", At: at}))
	sig := newSwitchable()
	h, err := receipts.NewHandler(publicURL, testenv.TwilioAuthToken, sig, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	h.SetSpool(sp) // no forwarder: the spool stays full
	ls, err := receipts.Listen("127.0.0.1:0", h)
	require.NoError(t, err)
	defer ls.Close()
	via := "http://" + ls.Addr()

	assert.Equal(t, http.StatusOK, twilioCallback(t, via, "A1", "SM1", "+15557650001", "delivered", 0))
	assert.Equal(t, 1, sig.count("A1", "SM1"), "signalled past the full spool")
	assert.Equal(t, 1, sp.Len())

	sig.down.Store(true)
	assert.Equal(t, http.StatusServiceUnavailable, twilioCallback(t, via, "A2", "SM2", "+15557650002", "delivered", 0))
	assert.Equal(t, 1, sp.Len())
}
