package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
)

const (
	// DefaultSuppressionEntries is the size of the bench organisation's suppression list in herd-suppressed
	// (--suppression-entries): the 100,000 entries.
	DefaultSuppressionEntries = 100_000
	// SuppressedEvery: herd-suppressed suppresses the email and the phone of every SuppressedEvery-th herd
	// appointment, 1 % of the herd's addresses; the rest of the list is other addresses.
	SuppressedEvery = 100
)

// suppressedAppointment reports whether herd-suppressed suppresses the i-th herd appointment's addresses.
func (o Options) suppressedAppointment(i int) bool {
	return o.SuppressionEntries > 0 && i%SuppressedEvery == 0
}

// batchAdder is the suppression store's import: entries grouped and written in batches (internal/suppress).
type batchAdder interface {
	AddBatch(ctx context.Context, org string, es []appt.SuppressionEntry) (int, error)
}

// loadSuppressions fills the bench organisation's suppression list with o.SuppressionEntries entries through the
// store's batch import, before the herd is scheduled: the email (hard_bounce) and the phone (sms_stop) of every
// suppressed herd appointment, then other addresses, half emails and half phones. It returns the number of
// suppressed herd appointments.
func (e *env) loadSuppressions(ctx context.Context, n int, log io.Writer) (int, error) {
	now := time.Now()
	es := make([]appt.SuppressionEntry, 0, e.o.SuppressionEntries)
	add := func(ch appt.Channel, address string, r appt.SuppressionReason) error {
		h, err := e.supp.Hash(benchOrg, ch, "address", address)
		if err != nil {
			return err
		}
		es = append(es, appt.SuppressionEntry{Channel: ch, Hash: h, Reason: r, Source: appt.SourceAPI, CreatedAt: now})
		return nil
	}
	k := 0
	for i := 0; i < n && len(es)+2 <= e.o.SuppressionEntries; i++ {
		if !e.o.suppressedAppointment(i) {
			continue
		}
		p := request("herd", i, benchOrg, now).Participants[0]
		if err := add(appt.Email, p.Email, appt.ReasonHardBounce); err != nil {
			return 0, err
		}
		if err := add(appt.SMS, p.Phone, appt.ReasonSMSStop); err != nil {
			return 0, err
		}
		k++
	}
	for j := 0; len(es) < e.o.SuppressionEntries; j++ {
		var err error
		if j%2 == 0 {
			err = add(appt.Email, fmt.Sprintf("other-%07d@elsewhere.example", j), appt.ReasonHardBounce)
		} else {
			err = add(appt.SMS, fmt.Sprintf("+1666%07d", j), appt.ReasonSMSStop)
		}
		if err != nil {
			return 0, err
		}
	}
	b, ok := e.supp.Store.(batchAdder)
	if !ok {
		return 0, fmt.Errorf("the suppression store %T has no batch import", e.supp.Store)
	}
	t0 := time.Now()
	added, err := b.AddBatch(ctx, benchOrg, es)
	if err != nil {
		return 0, fmt.Errorf("importing the suppression list: %w", err)
	}
	fmt.Fprintf(log, "bench: herd: %d suppression entries imported in %.1f s; %d herd appointments (%d addresses) among them\n",
		added, time.Since(t0).Seconds(), k, 2*k)
	return k, nil
}
