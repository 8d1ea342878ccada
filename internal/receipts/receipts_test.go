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
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	twclient "github.com/twilio/twilio-go/client"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/devserver"
	"github.com/apptnotify/apptnotify/internal/receipts"
	"github.com/apptnotify/apptnotify/internal/templates"
	"github.com/apptnotify/apptnotify/internal/testenv"
	"github.com/apptnotify/apptnotify/internal/workerapp"
	"github.com/apptnotify/apptnotify/workflows"
)

// publicURL is where Twilio would call: a proxy's address, not the listener's. Signatures cover it.
const publicURL = "https://hooks.acme.example/twilio/status"

// The fake's signer (written from Twilio's documentation) agrees with twilio-go's own validator and with
// Twilio's published example vector, so the callbacks the tests send are signed the way Twilio signs.
func TestSignatureSchemeMatchesTwilioGo(t *testing.T) {
	params := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"}}
	const vectorURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
	sig := testenv.TwilioSignature("12345", vectorURL, params)
	require.Equal(t, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", sig, "Twilio's published example")
	v := twclient.NewRequestValidator("12345")
	require.True(t, v.ValidateBody(vectorURL, []byte(params.Encode()), sig))

	r := testenv.TwilioRequest{To: "+15551234567", From: "+15550000000", SID: "SM0123",
		StatusCallback: activities.StatusCallbackURL(publicURL, "A:1.b")}
	for _, st := range []string{"sent", "undelivered"} {
		p := testenv.StatusParams(r, st, 30003)
		sig := testenv.TwilioSignature(testenv.TwilioAuthToken, r.StatusCallback, p)
		v := twclient.NewRequestValidator(testenv.TwilioAuthToken)
		assert.True(t, v.ValidateBody(r.StatusCallback, []byte(p.Encode()), sig))
		assert.False(t, v.ValidateBody(r.StatusCallback, []byte(p.Encode()), testenv.TwilioSignature("other", r.StatusCallback, p)))
	}
}

func TestNewHandlerRefusesAnEmptyToken(t *testing.T) {
	_, err := receipts.NewHandler(publicURL, "", nil, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "twilio.auth_token_env")
	_, err = receipts.NewHandler("", "tok", nil, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "twilio.status_callback_url")
}

// stack is a real worker on an embedded Temporal server, sending SMS through the real twilio-go sender to the
// Twilio-shaped fake, with the callback listener in front of the same Temporal client.
type stack struct {
	api      *api.Client
	tc       client.Client
	twilio   *testenv.Twilio
	listener string // http://127.0.0.1:PORT
	cfg      *config.Config
	srv      *devserver.Server
	dopts    devserver.Options // to start the server again on the same data and port
}

func newStack(t *testing.T) *stack {
	if testing.Short() {
		t.Skip("runs an embedded Temporal server: skipped with -short")
	}
	tw := testenv.StartTwilio(t)
	y := fmt.Sprintf(`
twilio: {base_url: %q, status_callback_url: %q}
organizations:
  - id: acme
    platform: genesys
    sms_from: "+15550000000"
    max_attempts: 1
    receipt_wait: 2m
`, tw.URL, publicURL)
	cfg, err := config.ParseWorker([]byte(y), func(k string) string {
		return map[string]string{"TWILIO_ACCOUNT_SID": testenv.TwilioAccountSID, "TWILIO_AUTH_TOKEN": testenv.TwilioAuthToken}[k]
	})
	require.NoError(t, err)
	tpl, err := templates.Load(cfg)
	require.NoError(t, err)
	sms, err := activities.NewTwilioSMS(cfg.Twilio, tpl)
	require.NoError(t, err)

	quiet := slog.New(slog.DiscardHandler)
	st := &stack{cfg: cfg}
	tc := st.embedded(t, quiet)
	w := worker.New(tc, appt.TaskQueue, worker.Options{})
	workflows.Register(w)
	activities.Register(w, &activities.Activities{Config: cfg, SMS: sms})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	h, err := receipts.NewHandler(cfg.Twilio.StatusCallbackURL, cfg.Twilio.AuthToken, tc, quiet)
	require.NoError(t, err)
	ls, err := receipts.Listen("127.0.0.1:0", h)
	require.NoError(t, err)
	t.Cleanup(ls.Close)
	st.api, st.tc, st.twilio, st.listener = api.New(tc, cfg), tc, tw, "http://"+ls.Addr()
	return st
}

// embedded starts an embedded Temporal server (stopped when the test ends, or earlier by a test that restarts it)
// and returns a client of it.
func (s *stack) embedded(t *testing.T, quiet *slog.Logger) client.Client {
	port, err := devserver.FreePort()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s.dopts = devserver.Options{DataDir: t.TempDir(), Port: port, UIPort: 0,
		SearchAttributes: workerapp.SearchAttributes, Logger: quiet}
	s.srv, err = devserver.Start(ctx, s.dopts)
	require.NoError(t, err)
	t.Cleanup(func() { s.srv.Stop() })
	tc, err := client.Dial(client.Options{HostPort: s.srv.FrontendAddress(), Namespace: s.srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(quiet)})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	return tc
}

func (s *stack) schedule(t *testing.T, id, phone string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	require.NoError(t, s.api.Schedule(ctx, &appt.ScheduleRequest{AppointmentID: id, Org: "acme", Start: start,
		End: start.Add(30 * time.Minute), Notifications: true,
		Participants: []appt.Participant{{ID: "c1", Name: "Ann Lee", Phone: phone, Locale: "en"}}}))
}

func (s *stack) status(t *testing.T, id string) *appt.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.api.Status(ctx, id)
	require.NoError(t, err)
	return st
}

// barrier returns once the workflow has applied every signal sent before it: an update (a metadata change, which
// sends nothing here) is applied by the workflow's main loop after the signals already in its history.
func (s *stack) barrier(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.api.UpdateMetadata(ctx, id, map[string]string{"barrier": time.Now().Format(time.RFC3339Nano)})
	require.NoError(t, err)
}

// await polls the status until cond holds.
func (s *stack) await(t *testing.T, id, what string, cond func(*appt.Status) bool) *appt.Status {
	t.Helper()
	var st *appt.Status
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		st, err = s.api.Status(ctx, id)
		return err == nil && cond(st)
	}, 60*time.Second, 100*time.Millisecond, "%s: %s", id, what)
	return st
}

func smsEntry(st *appt.Status, typ appt.NotificationType) *appt.DeliveryEntry {
	for i := range st.Deliveries {
		if e := &st.Deliveries[i]; e.Type == typ && e.Channel == appt.SMS {
			return e
		}
	}
	return nil
}

// sentSMS waits for the SMS of a type to be logged and returns the fake's record of it.
func (s *stack) sentSMS(t *testing.T, id, phone string, typ appt.NotificationType) (*appt.DeliveryEntry, testenv.TwilioRequest) {
	t.Helper()
	st := s.await(t, id, string(typ)+" SMS logged", func(st *appt.Status) bool { return smsEntry(st, typ) != nil })
	e := smsEntry(st, typ)
	require.Equal(t, appt.Sent, e.Status, "%+v", e)
	for _, r := range s.twilio.RequestsTo(phone) {
		if r.SID == e.ProviderID {
			require.Equal(t, activities.StatusCallbackURL(publicURL, id), r.StatusCallback,
				"every SMS asks for callbacks at the public URL with its appointment ID")
			return e, r
		}
	}
	t.Fatalf("the fake has no message %s", e.ProviderID)
	return nil, testenv.TwilioRequest{}
}

// Real signed callbacks, sent by the fake through the listener in several orders, end as the newest receipt; a
// late intermediate status never replaces a final one.
func TestCallbacksInEveryOrder(t *testing.T) {
	s := newStack(t)
	type cb struct {
		status string
		code   int
	}
	orders := []struct {
		order    []cb
		want     string
		wantCode int
	}{
		{[]cb{{"queued", 0}, {"sent", 0}, {"delivered", 0}}, "delivered", 0},
		{[]cb{{"delivered", 0}, {"sent", 0}, {"queued", 0}}, "delivered", 0},
		{[]cb{{"sent", 0}, {"undelivered", 30003}, {"sent", 0}}, "undelivered", 30003},
		{[]cb{{"failed", 30006}, {"delivered", 0}, {"sending", 0}}, "failed", 30006},
	}
	for i, o := range orders {
		id := fmt.Sprintf("ord-%d", i)
		phone := fmt.Sprintf("+1555123456%d", i)
		s.schedule(t, id, phone)
		e, r := s.sentSMS(t, id, phone, appt.Create)
		for _, c := range o.order {
			require.Equal(t, http.StatusOK, s.twilio.SendStatus(t, r, s.listener, c.status, c.code))
		}
		s.barrier(t, id)
		got := smsEntry(s.status(t, id), appt.Create)
		assert.Equal(t, e.ID, got.ID)
		assert.Equal(t, o.want, got.Receipt, "order %v", o.order)
		assert.Equal(t, o.wantCode, got.ReceiptError, "order %v", o.order)
		assert.NotNil(t, got.ReceiptAt)
	}
}

// Forged, unsigned, mis-addressed and tampered callbacks get 403 and change nothing; a signed callback for an
// unknown SID, an unknown appointment or a closed workflow gets 200 and changes nothing.
func TestForgedAndUnknownCallbacks(t *testing.T) {
	s := newStack(t)
	const id, phone = "forge-1", "+15557654321"
	s.schedule(t, id, phone)
	_, r := s.sentSMS(t, id, phone, appt.Create)

	p := testenv.StatusParams(r, "delivered", 0)
	local := s.listener + "/twilio/status?" + url.Values{"appointmentId": {id}}.Encode()
	cases := map[string]string{
		"unsigned":                            "",
		"wrong token":                         testenv.TwilioSignature("not-the-token", r.StatusCallback, p),
		"signed for the listener's local URL": testenv.TwilioSignature(testenv.TwilioAuthToken, local, p),
		"tampered":                            testenv.TwilioSignature(testenv.TwilioAuthToken, r.StatusCallback, testenv.StatusParams(r, "failed", 0)),
		"garbage":                             "bm90IGEgc2lnbmF0dXJl",
	}
	for name, sig := range cases {
		assert.Equal(t, http.StatusForbidden, testenv.PostCallback(t, r.StatusCallback, s.listener, p, sig), name)
	}
	// Another appointment's ID in the URL, with the signature of this one's URL.
	other := activities.StatusCallbackURL(publicURL, "someone-else")
	assert.Equal(t, http.StatusForbidden, testenv.PostCallback(t, other, s.listener, p,
		testenv.TwilioSignature(testenv.TwilioAuthToken, r.StatusCallback, p)))
	// Other paths and methods are not served.
	resp, err := http.Get(s.listener + "/twilio/status")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	resp, err = http.Post(s.listener+"/metrics", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Signed, but for a SID the appointment never sent: 200, nothing recorded.
	unknown := r
	unknown.SID = "SM" + "ffffffffffffffffffffffffffffffff"
	assert.Equal(t, http.StatusOK, s.twilio.SendStatus(t, unknown, s.listener, "delivered", 0))
	// Signed, for an appointment that has no workflow: 200.
	ghost := r
	ghost.StatusCallback = activities.StatusCallbackURL(publicURL, "no-such-appointment")
	assert.Equal(t, http.StatusOK, s.twilio.SendStatus(t, ghost, s.listener, "delivered", 0))
	// Signed, without MessageStatus: 400 naming the field.
	bad := url.Values{"MessageSid": {r.SID}}
	assert.Equal(t, http.StatusBadRequest, testenv.PostCallback(t, r.StatusCallback, s.listener, bad,
		testenv.TwilioSignature(testenv.TwilioAuthToken, r.StatusCallback, bad)))

	s.barrier(t, id)
	st := s.status(t, id)
	for _, e := range st.Deliveries {
		assert.Empty(t, e.Receipt, "entry %s", e.ID)
		assert.NotEqual(t, appt.Refused, e.Status, "entry %s", e.ID)
	}

	// A genuine one still goes through; then the appointment is cancelled, its CANCELLED SMS gets its final
	// receipt, the workflow completes, and a late callback to the closed workflow is answered 200.
	require.Equal(t, http.StatusOK, s.twilio.SendStatus(t, r, s.listener, "delivered", 0))
	s.await(t, id, "the genuine receipt", func(st *appt.Status) bool { return smsEntry(st, appt.Create).Receipt == "delivered" })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = s.api.Cancel(ctx, id, "")
	require.NoError(t, err)
	_, rc := s.sentSMS(t, id, phone, appt.Cancelled)
	require.Equal(t, http.StatusOK, s.twilio.SendStatus(t, rc, s.listener, "delivered", 0))
	require.NoError(t, s.tc.GetWorkflow(ctx, appt.WorkflowID(id), "").Get(ctx, nil), "completes once the last SMS has its receipt")
	assert.Equal(t, http.StatusOK, s.twilio.SendStatus(t, rc, s.listener, "undelivered", 30005), "closed workflow: 200")
	st = s.status(t, id)
	assert.Equal(t, "delivered", smsEntry(st, appt.Cancelled).Receipt)
}

// Opt-out: Twilio answers 21610; the SMS is failed with OptedOut, later SMS to that participant are skipped
// without calling Twilio, and a manual retry is refused.
func TestOptOutThroughTwilio(t *testing.T) {
	s := newStack(t)
	const id, phone = "opt-1", "+15550001111"
	s.twilio.Respond(func(w http.ResponseWriter, r testenv.TwilioRequest) {
		if r.To == phone {
			testenv.TwilioError(w, http.StatusBadRequest, 21610, nil)
			return
		}
		testenv.TwilioCreated(w, r)
	})
	s.schedule(t, id, phone)
	st := s.await(t, id, "CREATE SMS failed", func(st *appt.Status) bool {
		e := smsEntry(st, appt.Create)
		return e != nil && e.Status == appt.Failed
	})
	create := smsEntry(st, appt.Create)
	assert.Equal(t, activities.ErrOptedOut, create.ErrorType)
	assert.Contains(t, create.Error, "21610")
	require.Len(t, s.twilio.RequestsTo(phone), 1)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.api.Retry(ctx, id, create.ID)
	var refused *api.RefusedError
	require.ErrorAs(t, err, &refused)
	assert.Contains(t, refused.Reason, "opted out of SMS")

	_, err = s.api.Reschedule(ctx, id, time.Now().Add(96*time.Hour).Truncate(time.Second), time.Time{})
	require.NoError(t, err)
	st = s.await(t, id, "RESCHEDULE SMS logged", func(st *appt.Status) bool { return smsEntry(st, appt.Reschedule) != nil })
	r := smsEntry(st, appt.Reschedule)
	assert.Equal(t, appt.SkippedUnprovisioned, r.Status)
	assert.Equal(t, "opted out of SMS", r.Error)
	assert.Len(t, s.twilio.RequestsTo(phone), 1, "Twilio is not called again")
}

// Callbacks are UTF-8 forms: a signed callback whose form, once percent-decoded, is not valid UTF-8 gets 400 naming
// the parameter (or the body), one in another charset or media type gets 415, and neither records anything; a
// charset of UTF-8, in any case, is accepted.
func TestCallbackCharsetRule(t *testing.T) {
	s := newStack(t)
	const id, phone = "charset-1", "+15557650001"
	s.schedule(t, id, phone)
	_, r := s.sentSMS(t, id, phone, appt.Create)
	good := testenv.StatusParams(r, "delivered", 0)
	const form = "application/x-www-form-urlencoded"

	latin1 := testenv.StatusParams(r, "delivered", 0)
	latin1.Set("Body", "Zo\xeb M\xfcller") // ISO-8859-1 bytes, percent-encoded by Encode
	rawByte := good.Encode() + "&Body=Zo\xeb"
	badSID := testenv.StatusParams(r, "delivered", 0)
	badSID.Set("MessageSid", r.SID+"\xff")
	badName := good.Encode() + "&N%E4me=x"
	cases := []struct {
		name, contentType, body string
		want                    int
	}{
		{"ISO-8859-1 percent-encoded in an unused parameter", form, latin1.Encode(), http.StatusBadRequest},
		{"a raw byte that is not UTF-8", form, rawByte, http.StatusBadRequest},
		{"MessageSid not UTF-8", form, badSID.Encode(), http.StatusBadRequest},
		{"a parameter name not UTF-8", form, badName, http.StatusBadRequest},
		{"charset=iso-8859-1", form + "; charset=iso-8859-1", good.Encode(), http.StatusUnsupportedMediaType},
		{"charset=utf-16", form + "; charset=utf-16", good.Encode(), http.StatusUnsupportedMediaType},
		{"JSON", "application/json", good.Encode(), http.StatusUnsupportedMediaType},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, testenv.PostCallbackBody(t, r.StatusCallback, s.listener, c.contentType, c.body), c.name)
	}
	s.barrier(t, id)
	assert.Empty(t, smsEntry(s.status(t, id), appt.Create).Receipt, "nothing recorded")

	sent := testenv.StatusParams(r, "sent", 0)
	require.Equal(t, http.StatusOK, testenv.PostCallbackBody(t, r.StatusCallback, s.listener, form+"; charset=UTF-8", sent.Encode()))
	s.await(t, id, "the UTF-8 receipt", func(st *appt.Status) bool { return smsEntry(st, appt.Create).Receipt == "sent" })
}

// spooledListener is a callback listener with a spool at path and its forwarder, as the worker runs them; stop
// ends both, as a worker's shutdown does, leaving the file.
type spooledListener struct {
	url   string
	spool *receipts.Spool
	stop  func()
}

func startSpooled(t *testing.T, s *stack, path string, max int) *spooledListener {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	sp, err := receipts.OpenSpool(path, max)
	require.NoError(t, err)
	h, err := receipts.NewHandler(s.cfg.Twilio.StatusCallbackURL, s.cfg.Twilio.AuthToken, s.tc, quiet)
	require.NoError(t, err)
	h.SetSpool(sp)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sp.Forward(ctx, s.tc, quiet, receipts.ForwardOptions{MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second})
	}()
	ls, err := receipts.Listen("127.0.0.1:0", h)
	require.NoError(t, err)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ls.Close()
			cancel()
			<-done
			require.NoError(t, sp.Close())
		})
	}
	t.Cleanup(stop)
	return &spooledListener{url: "http://" + ls.Addr(), spool: sp, stop: stop}
}

// A receipt that arrives while Temporal is down is answered 200 and kept on disk (only the appointment ID and the
// signal: no phone number), survives a restart of the worker's listener, and is recorded once Temporal is back;
// a forged callback during the outage gets 403 and is not kept; forwarding it again is harmless.
func TestReceiptSurvivesAnOutage(t *testing.T) {
	s := newStack(t)
	const id, phone = "outage-1", "+15557650002"
	s.schedule(t, id, phone)
	_, r := s.sentSMS(t, id, phone, appt.Create)
	path := filepath.Join(t.TempDir(), receipts.SpoolFileName)
	l := startSpooled(t, s, path, receipts.DefaultSpoolMax)

	s.srv.Stop() // Temporal goes away; the worker and its client stay
	before := time.Now().UTC()
	require.Equal(t, http.StatusOK, s.twilio.SendStatus(t, r, l.url, "delivered", 0), "kept, so 200")
	require.Equal(t, 1, l.spool.Len())
	forged := testenv.StatusParams(r, "failed", 30003)
	assert.Equal(t, http.StatusForbidden, testenv.PostCallback(t, r.StatusCallback, l.url, forged,
		testenv.TwilioSignature("not-the-token", r.StatusCallback, forged)))
	require.Equal(t, http.StatusOK, s.twilio.SendStatus(t, r, l.url, "sent", 0), "queued behind the first")
	require.Equal(t, 2, l.spool.Len(), "the forged one is not kept")

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 2, "one fsync'd line per receipt: %s", b)
	assert.Contains(t, lines[0], r.SID)
	assert.Contains(t, lines[0], `"delivered"`)
	assert.NotContains(t, string(b), "failed")
	for _, p := range []string{phone, r.From, strings.TrimPrefix(phone, "+")} {
		assert.NotContains(t, string(b), p, "no phone number in the spool")
	}
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// The worker restarts while Temporal is still down: the receipts wait in the file. With the spool full, a
	// callback is answered 503 as before, and not kept.
	l.stop()
	l = startSpooled(t, s, path, 2)
	require.Equal(t, 2, l.spool.Len(), "loaded from the file")
	assert.Equal(t, http.StatusServiceUnavailable, s.twilio.SendStatus(t, r, l.url, "undelivered", 30003), "full")
	assert.Equal(t, 2, l.spool.Len())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, s.dopts) // Temporal is back, same data, same port
	require.NoError(t, err)
	s.srv = srv
	st := s.await(t, id, "the spooled receipt recorded", func(st *appt.Status) bool {
		return smsEntry(st, appt.Create).Receipt == "delivered"
	})
	got := smsEntry(st, appt.Create)
	require.NotNil(t, got.ReceiptAt)
	assert.False(t, got.ReceiptAt.Before(before.Truncate(time.Second)), "at is when the listener received it")
	assert.True(t, got.ReceiptAt.Before(time.Now()), "not when it was forwarded")
	require.Eventually(t, func() bool { return l.spool.Len() == 0 }, time.Minute, 50*time.Millisecond, "the spool drains")
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		return err == nil && len(b) == 0
	}, time.Minute, 50*time.Millisecond, "the file holds only what is pending")

	// Forwarded twice (the worker died between the signal and the rewrite): the receipt stays as it is.
	l.stop()
	line := lines[0] + "\n"
	require.NoError(t, os.WriteFile(path, []byte(line), 0o600))
	l = startSpooled(t, s, path, receipts.DefaultSpoolMax)
	require.Eventually(t, func() bool { return l.spool.Len() == 0 }, time.Minute, 50*time.Millisecond, "forwarded again")
	s.barrier(t, id)
	again := smsEntry(s.status(t, id), appt.Create)
	assert.Equal(t, "delivered", again.Receipt)
	assert.Equal(t, got.ReceiptAt, again.ReceiptAt)

	// With Temporal up and the spool empty, callbacks go straight through.
	require.Equal(t, http.StatusOK, s.twilio.SendStatus(t, r, l.url, "undelivered", 30003))
	assert.Equal(t, 0, l.spool.Len())
}
