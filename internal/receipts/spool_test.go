package receipts_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/uber-go/tally/v4"
	sdktally "go.temporal.io/sdk/contrib/tally"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/receipts"
)

// The spool is bounded (a receipt beyond the maximum is refused with ErrSpoolFull and not written), and a torn
// last line, left by a crash during a write, is dropped on open while the whole lines before it are kept.
func TestSpoolBoundAndTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", receipts.SpoolFileName)
	sp, err := receipts.OpenSpool(path, 2)
	require.NoError(t, err)
	at := time.Date(2026, 3, 1, 9, 0, 7, 0, time.UTC)
	for i, sid := range []string{"SM1", "SM2"} {
		require.NoError(t, sp.Add("A1", appt.SMSStatusSignal{MessageSID: sid, Status: "delivered", At: at}), "receipt %d", i)
	}
	full, err := os.ReadFile(path)
	require.NoError(t, err)
	require.ErrorIs(t, sp.Add("A1", appt.SMSStatusSignal{MessageSID: "SM3", Status: "sent", At: at}), receipts.ErrSpoolFull)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, full, after, "nothing written when full")
	assert.Equal(t, 2, sp.Len())
	require.NoError(t, sp.Close())

	torn := append(append([]byte(nil), full...), []byte(`{"appointmentId":"A1","messageSid":"SM4","sta`)...)
	require.NoError(t, os.WriteFile(path, torn, 0o600))
	sp, err = receipts.OpenSpool(path, 10)
	require.NoError(t, err)
	defer sp.Close()
	assert.Equal(t, 2, sp.Len(), "the whole lines are kept")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, full, b, "the torn tail is gone from the file")
	require.NoError(t, sp.Add("A1", appt.SMSStatusSignal{MessageSID: "SM5", Status: "sent", At: at}))
	assert.Equal(t, 3, sp.Len())

	_, err = receipts.OpenSpool(path+"-other", 0)
	assert.Error(t, err)
}

// Two holders of one spool would both append to it and both forward it (and the rewrite of one would drop the
// other's receipts). OpenSpool locks it: a second OpenSpool of the same path, in another process or in this one,
// fails at once with ErrSpoolInUse and leaves the file as it is; once the holder closes (or dies), it opens.
func TestSpoolIsLockedAgainstASecondWorker(t *testing.T) {
	path := filepath.Join(t.TempDir(), receipts.SpoolFileName)
	at := time.Date(2026, 3, 1, 9, 0, 7, 0, time.UTC)
	sp, err := receipts.OpenSpool(path, 10)
	require.NoError(t, err)
	require.NoError(t, sp.Add("A1", appt.SMSStatusSignal{MessageSID: "SM1", Status: "delivered", At: at}))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	_, err = receipts.OpenSpool(path, 10)
	require.ErrorIs(t, err, receipts.ErrSpoolInUse, "a second holder in this process")
	assert.NotContains(t, err.Error(), "\n")
	assert.Contains(t, err.Error(), path)

	// Another process: the test binary again, opening the same spool.
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolLockHelper$")
	cmd.Env = append(os.Environ(), "RECEIPTS_SPOOL_LOCK_HELPER="+path)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "in use by another worker process")

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the refused opener changed nothing")

	require.NoError(t, sp.Close())
	sp, err = receipts.OpenSpool(path, 10)
	require.NoError(t, err, "free again once the holder closed it")
	defer sp.Close()
	assert.Equal(t, 1, sp.Len())
}

// TestSpoolLockHelper is the second process of TestSpoolIsLockedAgainstASecondWorker; it does nothing otherwise.
func TestSpoolLockHelper(t *testing.T) {
	path := os.Getenv("RECEIPTS_SPOOL_LOCK_HELPER")
	if path == "" {
		t.Skip("helper process only")
	}
	sp, err := receipts.OpenSpool(path, 10)
	if err == nil {
		sp.Close()
		t.Fatal("opened a spool another process holds")
	}
	fmt.Println(err.Error())
}

// A line damaged in the middle of the spool (not a torn tail: a disk error, a hand edit, a line that reads but
// names no appointment) must not take the receipts after it along. OpenSpool keeps every readable line, in order,
// sets the damaged ones aside in <spool>.bad and counts them.
func TestSpoolDamagedInTheMiddle(t *testing.T) {
	path := filepath.Join(t.TempDir(), receipts.SpoolFileName)
	line := func(sid string) string {
		return `{"appointmentId":"A1","messageSid":"` + sid + `","status":"delivered","at":"2026-03-01T09:00:07Z"}` + "\n"
	}
	damaged := `{"appointmentId":"A1","messageSid":"SM2","sta` + "\x00\x00\x00\n"
	noID := `{"messageSid":"SM3","status":"sent","at":"2026-03-01T09:00:07Z"}` + "\n"
	content := line("SM1") + damaged + "\n" + noID + line("SM4") + line("SM5") + `{"appointmentId":"A1","mess`
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))

	sp, err := receipts.OpenSpool(path, 10)
	require.NoError(t, err)
	assert.Equal(t, 3, sp.Len(), "SM1, SM4 and SM5 are kept")
	assert.Equal(t, 2, sp.SetAside())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, line("SM1")+line("SM4")+line("SM5"), string(b))
	bad, err := os.ReadFile(path + receipts.BadSuffix)
	require.NoError(t, err)
	assert.Equal(t, damaged+noID, string(bad), "the damaged lines are set aside, the torn tail is not")
	fi, err := os.Stat(path + receipts.BadSuffix)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	sig := &recorder{}
	drain(t, sp, sig)
	assert.Equal(t, []string{"SM1", "SM4", "SM5"}, sig.sids())
	require.NoError(t, sp.Close())

	sp, err = receipts.OpenSpool(path, 10)
	require.NoError(t, err)
	defer sp.Close()
	assert.Equal(t, 0, sp.Len())
	assert.Equal(t, 0, sp.SetAside(), "set aside once")
}

// recorder is a Signaller that takes every signal, or answers each with err when set.
type recorder struct {
	mu  sync.Mutex
	got []appt.SMSStatusSignal
	ids []string
	err func(id string) error
}

func (r *recorder) SignalWorkflow(_ context.Context, workflowID, _, _ string, arg any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		if err := r.err(workflowID); err != nil {
			return err
		}
	}
	r.got = append(r.got, arg.(appt.SMSStatusSignal))
	r.ids = append(r.ids, workflowID)
	return nil
}

func (r *recorder) sids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, g := range r.got {
		out = append(out, g.MessageSID)
	}
	return out
}

// The spool reports how many receipts wait in it on SpoolPendingMetric: at once when metrics are set (receipts
// left by an earlier run), after each Add, and after the forwarder drops what Temporal took.
func TestSpoolPendingMetric(t *testing.T) {
	path := filepath.Join(t.TempDir(), receipts.SpoolFileName)
	at := time.Date(2026, 3, 1, 9, 0, 7, 0, time.UTC)
	sp, err := receipts.OpenSpool(path, 10)
	require.NoError(t, err)
	require.NoError(t, sp.Add("A1", appt.SMSStatusSignal{MessageSID: "SM1", Status: "delivered", At: at}))
	require.NoError(t, sp.Close())

	scope := tally.NewTestScope("", nil)
	pending := func() (float64, bool) {
		for _, g := range scope.Snapshot().Gauges() {
			if g.Name() == receipts.SpoolPendingMetric {
				return g.Value(), true
			}
		}
		return 0, false
	}
	sp, err = receipts.OpenSpool(path, 10)
	require.NoError(t, err)
	defer sp.Close()
	_, reported := pending()
	require.False(t, reported, "nothing before SetMetrics")
	sp.SetMetrics(sdktally.NewMetricsHandler(scope))
	v, reported := pending()
	require.True(t, reported, "the gauge is set at once")
	assert.Equal(t, 1.0, v, "the receipt an earlier run left")
	require.NoError(t, sp.Add("A1", appt.SMSStatusSignal{MessageSID: "SM2", Status: "sent", At: at}))
	v, _ = pending()
	assert.Equal(t, 2.0, v)

	sig := &recorder{}
	drain(t, sp, sig)
	v, _ = pending()
	assert.Equal(t, 0.0, v, "forwarded receipts leave the gauge")
}

// drain runs the forwarder into sig until the spool is empty, then stops it.
func drain(t *testing.T, sp *receipts.Spool, sig receipts.Signaller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sp.Forward(ctx, sig, slog.New(slog.DiscardHandler), receipts.ForwardOptions{})
	}()
	require.Eventually(t, func() bool { return sp.Len() == 0 }, 30*time.Second, 10*time.Millisecond)
	cancel()
	<-done
}
