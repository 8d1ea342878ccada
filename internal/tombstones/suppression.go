package tombstones

import (
	"context"
	"fmt"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// SuppressionAdder adds an entry to an organisation's suppression list (suppress.Store's Add).
type SuppressionAdder interface {
	Add(ctx context.Context, org string, e appt.SuppressionEntry) (appt.SuppressionAddResult, error)
}

// Suppressing is the Recorder an erasure writes through when the worker has a suppression list: each tombstone is
// kept by the Recorder it wraps (which answers Lookup) and added to the organisation's suppression list with the
// reason appt.ReasonErased, on both channels, so that every later send to the address is suppressed. The keyed hash
// includes its channel, so the entry of the other channel matches no address; it costs one entry.
type Suppressing struct {
	Recorder
	List SuppressionAdder
}

// Record records t, then adds its suppression entries. Idempotent: the list's entries carry the event ID
// "erasure:<hash>:<channel>", which the list applies once. Error: either store's.
func (s Suppressing) Record(ctx context.Context, t Tombstone) error {
	if err := s.Recorder.Record(ctx, t); err != nil {
		return err
	}
	for _, ch := range []appt.Channel{appt.Email, appt.SMS} {
		e := appt.SuppressionEntry{Channel: ch, Hash: t.Hash, Reason: appt.ReasonErased, Source: appt.SourceErasure,
			EventID: "erasure:" + t.Hash + ":" + string(ch), CreatedAt: t.At.UTC()}
		if _, err := s.List.Add(ctx, t.Org, e); err != nil {
			return fmt.Errorf("adding the erasure's suppression entry: %w", err)
		}
	}
	return nil
}
