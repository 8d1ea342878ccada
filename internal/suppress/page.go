package suppress

import (
	"context"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Page reads one page of an organisation's list for a listing (GET /v1/organizations/{org}/suppressions, starter
// suppression list): at most limit entries and recent tombstones, shard after shard, each shard in change order,
// from cursor (appt.SuppressionCursor: the shard and that shard's counter; 0 is the start). Next is the cursor of
// the following page and More says whether there is one. Reset says a shard's changes after the cursor were gone
// (its tombstones expired): that shard was listed again from its beginning. Errors: a cursor that names no shard
// (*appt.FieldError on "since"), or a read failed.
func Page(ctx context.Context, s Store, org string, cursor int64, limit int) (appt.SuppressionChanges, error) {
	shard, since, ok := appt.SplitSuppressionCursor(cursor)
	if !ok {
		return appt.SuppressionChanges{}, &appt.FieldError{Field: "since", Msg: "is not a cursor of this list"}
	}
	out := appt.SuppressionChanges{Entries: []appt.SuppressionEntry{}, Next: cursor}
	for ; shard < appt.SuppressionShards; shard, since = shard+1, 0 {
		p, err := s.Changes(ctx, org, shard, appt.SuppressionChangesQuery{Since: since, Limit: limit - len(out.Entries),
			Full: since == 0})
		if err != nil {
			return appt.SuppressionChanges{}, err
		}
		out.Entries = append(out.Entries, p.Entries...)
		out.Reset = out.Reset || p.Reset
		out.Next = appt.SuppressionCursor(shard, p.Next)
		if p.More {
			out.More = true
			return out, nil
		}
		if len(out.Entries) >= limit && shard+1 < appt.SuppressionShards {
			out.Next, out.More = appt.SuppressionCursor(shard+1, 0), true
			return out, nil
		}
	}
	return out, nil
}
