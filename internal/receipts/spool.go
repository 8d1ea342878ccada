package receipts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Receipts that survive an outage (docs/calendar-and-receipts.md, "When Temporal cannot be reached").
//
// Twilio retries a status callback once, and only when the connection times out, never on a 5xx: a receipt the
// listener cannot hand to Temporal is lost unless the worker keeps it. The spool keeps it: the listener appends the
// receipt to a file in the worker's data directory, fsyncs it, answers 200, and a forwarder signals the workflow
// once Temporal answers again.

// SpoolFileName is the spool's file inside the worker's --data-dir.
const SpoolFileName = "receipts.spool"

// DefaultSpoolMax bounds the spool: 50,000 receipts (a line is about 160 bytes, so some 8 MB). A callback that
// finds the spool full is answered 503, as without a spool.
const DefaultSpoolMax = 50_000

// ErrSpoolFull is the error of Add when the spool holds its maximum.
var ErrSpoolFull = errors.New("the receipt spool is full")

// ErrSpoolInUse is the error of OpenSpool when another process (or another Spool in this one) holds the spool:
// two workers must not append to and forward the same file.
var ErrSpoolInUse = errors.New("in use by another worker process; each worker needs a --data-dir of its own")

// LockSuffix names the spool's lock file: <spool>.lock, next to it. The lock is an exclusive flock(2) on that
// file, held from OpenSpool to Close (and released by the kernel when the process dies). It is not on the spool
// itself, because rewrite renames a new file over the spool.
const LockSuffix = ".lock"

// spooled is one line of the spool: the appointment ID and the sms-status signal, nothing else. The callback's
// other parameters (To and From are phone numbers) are never written.
type spooled struct {
	AppointmentID string `json:"appointmentId"`
	appt.SMSStatusSignal
}

// Spool is an append-only file of receipts waiting for Temporal, one JSON object per line, each line fsync'd
// before Add returns. It is safe for concurrent use. Forwarded receipts are removed by rewriting the file with the
// rest (a temporary file renamed over it), so the file holds only what is still pending.
type Spool struct {
	path string
	max  int

	mu      sync.Mutex
	lock    *os.File // <path>.lock, flock'd exclusively until Close
	f       *os.File // open for appending
	size    int64    // bytes of f that hold whole lines
	pending []spooled
	wake    chan struct{}
	gauge   client.MetricsGauge // SpoolPendingMetric; nil until SetMetrics

	setAside int // damaged lines OpenSpool moved to <path>.bad
}

// SpoolPendingMetric is the gauge of the receipts waiting in the spool (no labels): above zero only while Temporal
// cannot take receipts, or could not since this worker started (docs/calendar-and-receipts.md).
const SpoolPendingMetric = "apptnotify_receipt_spool_pending"

// SetMetrics reports the number of receipts waiting in the spool on h's SpoolPendingMetric gauge, from now on and
// at once. A nil h reports nothing.
func (s *Spool) SetMetrics(h client.MetricsHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h == nil {
		s.gauge = nil
		return
	}
	s.gauge = h.Gauge(SpoolPendingMetric)
	s.report()
}

// report updates the gauge, if any; it is called with s.mu held after pending changes.
func (s *Spool) report() {
	if s.gauge != nil {
		s.gauge.Update(float64(len(s.pending)))
	}
}

// BadSuffix names the file next to the spool where OpenSpool sets aside lines it cannot read: <spool>.bad.
const BadSuffix = ".bad"

// SetAside is the number of damaged lines OpenSpool found in the middle of the file and moved to <spool>.bad
// (appended, fsync'd, 0600) instead of forwarding them. A torn last line is not counted: it was never answered 200.
func (s *Spool) SetAside() int { return s.setAside }

// valid says whether a line read back from the file is a receipt the forwarder can signal.
func (r spooled) valid() bool {
	return appt.ValidateAppointmentID(r.AppointmentID) == nil && r.MessageSID != "" && r.Status != ""
}

// appendLines appends lines to the file at path (created 0600) and fsyncs it.
func appendLines(path string, lines [][]byte) error {
	f, err := openPrivate(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND)
	if err != nil {
		return fmt.Errorf("receipt spool: %w", err)
	}
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("receipt spool: %w", err)
	}
	return nil
}

// OpenSpool opens the spool at path (mode 0600, its directory 0700 if it must be made), creating an empty one if
// there is none, and loads the receipts it holds: those a previous run could not forward. A torn last line (the
// process died during a write, before answering Twilio) is dropped. max bounds the receipts held (at least 1).
//
// It first takes an exclusive, non-blocking lock on <path>.lock: when another process holds the spool it fails at
// once with an error wrapping ErrSpoolInUse, without reading or changing the file.
func OpenSpool(path string, max int) (sp *Spool, err error) {
	if max < 1 {
		return nil, fmt.Errorf("receipt spool: the maximum must be at least 1, not %d", max)
	}
	s := &Spool{path: path, max: max, wake: make(chan struct{}, 1)}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("receipt spool: %w", err)
	}
	if s.lock, err = lockFile(path); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if s.f != nil {
				s.f.Close()
			}
			s.lock.Close() // releases the lock
		}
	}()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("receipt spool: %w", err)
	}
	whole := 0 // the bytes up to the last newline
	var bad [][]byte
	for len(b) > whole {
		n := bytes.IndexByte(b[whole:], '\n')
		if n < 0 {
			break
		}
		line := b[whole : whole+n]
		whole += n + 1
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec spooled
		if err := json.Unmarshal(line, &rec); err != nil || !rec.valid() {
			// A damaged line in the middle (a disk error, a hand edit) must not take the lines after it along:
			// it is set aside in <spool>.bad and the rest is kept.
			bad = append(bad, line)
			continue
		}
		s.pending = append(s.pending, rec)
	}
	if len(bad) > 0 {
		if err := appendLines(path+BadSuffix, bad); err != nil {
			return nil, err
		}
		s.setAside = len(bad)
	}
	if whole != len(b) || len(bad) > 0 {
		// A torn tail, or damaged lines: keep only the whole, readable lines.
		if err := s.rewrite(s.pending); err != nil {
			return nil, err
		}
	}
	if s.f == nil {
		if s.f, err = openPrivate(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND); err != nil {
			return nil, fmt.Errorf("receipt spool: %w", err)
		}
		s.size = int64(whole)
	}
	if len(s.pending) > 0 {
		s.wake <- struct{}{}
	}
	return s, nil
}

// Path is the spool's file.
func (s *Spool) Path() string { return s.path }

// Len is the number of receipts waiting to be forwarded.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Add appends one receipt for the appointment and returns once it is on disk (written and fsync'd). It returns
// ErrSpoolFull when the spool holds its maximum, or the I/O error; in either case nothing was added.
func (s *Spool) Add(appointmentID string, sig appt.SMSStatusSignal) error {
	rec := spooled{AppointmentID: appointmentID, SMSStatusSignal: sig}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("the receipt spool is closed")
	}
	if len(s.pending) >= s.max {
		return ErrSpoolFull
	}
	if _, err := s.f.Write(line); err != nil {
		_ = s.f.Truncate(s.size) // no torn line in front of the next one
		return fmt.Errorf("receipt spool: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		_ = s.f.Truncate(s.size)
		return fmt.Errorf("receipt spool: %w", err)
	}
	s.size += int64(len(line))
	s.pending = append(s.pending, rec)
	s.report()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close closes the file and releases the lock. Receipts not yet forwarded stay in it for the next OpenSpool.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.f != nil {
		err = s.f.Close()
		s.f = nil
	}
	if s.lock != nil {
		s.lock.Close() // closing the last descriptor releases the flock
		s.lock = nil
	}
	return err
}

// lockFile opens (creating, 0600) <spool>.lock and flocks it exclusively without waiting. The lock lives as long as the
// returned file is open. A flock is per open file description, so a second OpenSpool of the same spool in the same
// process is refused too.
func lockFile(spool string) (*os.File, error) {
	path := spool + LockSuffix
	f, err := openPrivate(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("receipt spool: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("receipt spool %s: %w", spool, ErrSpoolInUse)
		}
		return nil, fmt.Errorf("receipt spool: locking %s: %w", path, err)
	}
	return f, nil
}

// head returns a copy of the first n pending receipts (all when fewer).
func (s *Spool) head(n int) []spooled {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]spooled(nil), s.pending[:min(n, len(s.pending))]...)
}

// drop removes the first n pending receipts, in memory and on disk. If the file cannot be rewritten they stay on
// disk and are forwarded again after a restart, which the workflow ignores (the receipt is already recorded).
func (s *Spool) drop(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append([]spooled(nil), s.pending[n:]...)
	s.report()
	if s.f == nil {
		return nil
	}
	return s.rewrite(s.pending)
}

// rewrite replaces the file with recs, durably: a temporary file, fsync'd, renamed over the spool, and the
// directory fsync'd; then reopens it for appending. It is called with s.mu held (or before s is shared).
func (s *Spool) rewrite(recs []spooled) error {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	enc := json.NewEncoder(w)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	f, err := openPrivate(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("receipt spool: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("receipt spool: %w", err)
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	if s.f != nil {
		s.f.Close()
	}
	if s.f, err = os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		s.f = nil
		return fmt.Errorf("receipt spool: %w", err)
	}
	s.size = int64(buf.Len())
	return nil
}

// ForwardOptions tune Forward's retries; zero values take the defaults.
type ForwardOptions struct {
	// MinBackoff is the wait after the first failed pass (default 1 s); it doubles after each further failure.
	MinBackoff time.Duration
	// MaxBackoff caps the wait (default 30 s).
	MaxBackoff time.Duration
	// Batch is how many receipts one pass takes (default 100).
	Batch int
}

// Forward sends the spool's receipts to their workflows, oldest first, until ctx is done. A receipt leaves the
// spool when Temporal took the signal, and also when Temporal says the workflow is not running (NotFound: closed,
// or never existed, which the listener answers 200 too) or refuses the signal for good (InvalidArgument); the
// latter two are logged. Any other error ends the pass; the next pass comes after a backoff (MinBackoff, doubling
// to MaxBackoff), or at once after a pass that succeeded and left receipts behind. A receipt forwarded twice (the
// process died between the signal and the rewrite) is harmless: the workflow keeps the receipt it has when one of
// the same status and time arrives again (docs/calendar-and-receipts.md).
func (s *Spool) Forward(ctx context.Context, sig Signaller, logger *slog.Logger, o ForwardOptions) {
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	backoff := o.MinBackoff
	failing, lastErr := false, ""
	for {
		batch := s.head(o.Batch)
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				continue
			}
		}
		done, err := forwardBatch(ctx, sig, logger, batch)
		if done > 0 {
			if derr := s.drop(done); derr != nil {
				logger.Error("receipt spool: forwarded receipts stay in the file", "error", derr.Error())
			}
		}
		if err == nil {
			if failing {
				logger.Info("receipt spool: Temporal is reachable again; forwarding", "pending", s.Len())
			}
			failing, backoff = false, o.MinBackoff
			continue
		}
		if ctx.Err() != nil {
			return
		}
		// Logged when forwarding starts to fail, and again when the error changes (an outage that ends in a
		// refusal, PermissionDenied after a credential change, is not hidden behind the first "unavailable").
		if !failing || err.Error() != lastErr {
			logger.Warn("receipt spool: cannot forward receipts yet; retrying with backoff", "pending", s.Len(),
				"error", err.Error())
		}
		failing, lastErr = true, err.Error()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, o.MaxBackoff)
	}
}

// forwardBatch signals each receipt in order and returns how many are done with (sent, or refused for good) and
// the error that stopped it, if any.
func forwardBatch(ctx context.Context, sig Signaller, logger *slog.Logger, batch []spooled) (int, error) {
	for i, rec := range batch {
		sctx, cancel := context.WithTimeout(ctx, signalTimeout)
		err := sig.SignalWorkflow(sctx, appt.WorkflowID(rec.AppointmentID), "", appt.SignalSMSStatus, rec.SMSStatusSignal)
		cancel()
		var nf *serviceerror.NotFound
		var inv *serviceerror.InvalidArgument
		switch {
		case err == nil:
			logger.Debug("spooled status callback recorded", "appointmentId", rec.AppointmentID,
				"messageSid", rec.MessageSID, "status", rec.Status)
		case errors.As(err, &nf):
			logger.Info("spooled status callback for no running appointment workflow", "appointmentId",
				rec.AppointmentID, "messageSid", rec.MessageSID, "status", rec.Status)
		case errors.As(err, &inv):
			logger.Error("spooled status callback refused by Temporal; dropped", "appointmentId", rec.AppointmentID,
				"messageSid", rec.MessageSID, "error", err.Error())
		default:
			return i, err
		}
	}
	return len(batch), nil
}

// openPrivate opens path with flag (O_CREATE among them) and makes it 0600 whether it was just created or was
// already there with another mode: the spool's files are the worker's alone.
func openPrivate(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
