package supplist

import (
	"fmt"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// IndexUpdatesPerRun continues the index as new after this many bumps.
const IndexUpdatesPerRun = 2000

// Index is an organisation's suppression index: the highest change counter reported for each shard of its list.
// A reader queries it once per refresh and reads the changes only of the shards whose counter moved past its copy.
type Index struct {
	org  string
	seqs appt.SuppressionIndex
}

// NewIndex returns the index a run of the index workflow starts with: zeros, or what the run before carried.
func NewIndex(in *appt.SuppressionIndexState) *Index {
	x := &Index{org: in.Org, seqs: make(appt.SuppressionIndex, appt.SuppressionShards)}
	copy(x.seqs, in.Seqs)
	return x
}

// ValidateBump checks a bump: a shard of the list and a counter that is not negative.
func ValidateBump(b appt.SuppressionBump) error {
	if b.Shard < 0 || b.Shard >= appt.SuppressionShards {
		return &appt.FieldError{Field: "shard", Msg: fmt.Sprintf("must be 0 to %d", appt.SuppressionShards-1)}
	}
	if b.Seq < 0 {
		return &appt.FieldError{Field: "seq", Msg: "must not be negative"}
	}
	return nil
}

// Bump raises the shard's counter to b.Seq, keeping the larger (bumps may arrive out of order), and returns the
// vector.
func (x *Index) Bump(b appt.SuppressionBump) appt.SuppressionIndex {
	if b.Seq > x.seqs[b.Shard] {
		x.seqs[b.Shard] = b.Seq
	}
	return x.Seqs()
}

// Seqs returns a copy of the vector.
func (x *Index) Seqs() appt.SuppressionIndex { return append(appt.SuppressionIndex(nil), x.seqs...) }

// State is what the index carries across continue-as-new.
func (x *Index) State() *appt.SuppressionIndexState {
	return &appt.SuppressionIndexState{Org: x.org, Seqs: x.Seqs()}
}
