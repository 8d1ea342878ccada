// Package supplist is the suppression list itself, as pure data: entries keyed by channel, keyed hash and reason,
// tombstones, a change counter and the recent feed event IDs. It does no I/O and reads no clock (every method takes
// now), and never ranges over a map, so the suppression workflow runs it deterministically; tests and benchmarks
// run the same code behind a mutex (internal/suppress.MemoryStore).
package supplist

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Housekeeping of the suppression list (docs/rules.md#suppression).
const (
	// SweepEvery is how often the list turns expired entries into tombstones and drops old tombstones.
	// Expiry itself is exact without it: readers compare ExpiresAt with their clock.
	SweepEvery = time.Hour
	// TombstoneTTL is how long a lifted or expired entry is kept as a tombstone, so that a reader who
	// refreshes at least this often sees the lift as a change; an older reader reloads the whole list.
	TombstoneTTL = time.Hour
	// RecentEvents is how many feed event IDs a shard of the list remembers to make a repeated event change nothing
	// (an event changes one address, so one shard: SuppressionShards × RecentEvents per organisation).
	RecentEvents = 1024
	// MaxShardBytes is the capacity of one shard: the most bytes of JSON its state (appt.SuppressionState) may take
	// when carried across continue-as-new, with every entry counted as if it were a tombstone and the recent event
	// IDs at their longest, well below the 2 MB Temporal refuses a payload over. An add of a new entry that would
	// pass it is refused (Fits) with an *appt.SuppressionFullError. A typical entry takes about 300 bytes so
	// counted: some 4,500 per shard, some 145,000 per organisation (docs/performance.md).
	MaxShardBytes = 1_500_000
	// PageDefault and PageMax bound one page of QuerySuppressionChanges.
	PageDefault = 1000
	PageMax     = 5000
	// UpdatesPerRun continues the list as new after this many updates, before its history grows long.
	UpdatesPerRun = 2000
)

type orderItem struct {
	seq int64
	key string
}

// List is an organisation's suppression list. byKey holds every entry and tombstone;
// order lists keys in change order (a key appears again each time it changes, so a position is current only when
// its seq is the entry's Seq), which makes a page of changes a binary search and a walk, with no map iteration.
type List struct {
	org    string
	shard  int
	seq    int64
	floor  int64
	byKey  map[string]*appt.SuppressionEntry
	order  []orderItem
	events []string
	seen   map[string]bool
	bytes  int // the reserve (entryBytes) of every entry and tombstone in byKey
}

// New returns the list a run of the suppression workflow starts with: empty, or what the run before carried.
func New(in *appt.SuppressionState) *List {
	l := &List{org: in.Org, shard: in.Shard, seq: in.Seq, floor: in.Floor, byKey: map[string]*appt.SuppressionEntry{},
		seen: map[string]bool{}}
	for i := range in.Entries {
		e := in.Entries[i]
		l.byKey[e.Key()] = &e
		l.order = append(l.order, orderItem{seq: e.Seq, key: e.Key()})
		l.bytes += entryBytes(&e)
	}
	for _, id := range in.Events {
		l.remember(id)
	}
	return l
}

// State is what the list carries across continue-as-new.
func (l *List) State() *appt.SuppressionState {
	s := &appt.SuppressionState{Org: l.org, Shard: l.shard, Seq: l.seq, Floor: l.floor, Events: append([]string(nil), l.events...)}
	for _, it := range l.order {
		if e := l.current(it); e != nil {
			s.Entries = append(s.Entries, *e)
		}
	}
	return s
}

// current returns the entry an order position names, or nil when the entry changed again later.
func (l *List) current(it orderItem) *appt.SuppressionEntry {
	if e := l.byKey[it.key]; e != nil && e.Seq == it.seq {
		return e
	}
	return nil
}

func (l *List) remember(id string) {
	if id == "" || l.seen[id] {
		return
	}
	l.events = append(l.events, id)
	l.seen[id] = true
	if len(l.events) > RecentEvents {
		delete(l.seen, l.events[0])
		l.events = l.events[1:]
	}
}

// touch gives an entry the next change number and moves it to the end of the change order.
func (l *List) touch(e *appt.SuppressionEntry) {
	l.seq++
	e.Seq = l.seq
	if old := l.byKey[e.Key()]; old != nil {
		l.bytes -= entryBytes(old)
	}
	l.bytes += entryBytes(e)
	l.byKey[e.Key()] = e
	l.order = append(l.order, orderItem{seq: e.Seq, key: e.Key()})
	if len(l.order) > 2*len(l.byKey)+64 {
		kept := l.order[:0]
		for _, it := range l.order {
			if l.current(it) != nil {
				kept = append(kept, it)
			}
		}
		l.order = kept
	}
}

// Add applies one add: a repeated event ID changes nothing; a new entry is created; an entry in force is extended
// when the new one lasts longer (nil ExpiresAt: until lifted), else left as it is.
func (l *List) Add(in appt.SuppressionEntry, now time.Time) appt.SuppressionAddResult {
	key := in.Key()
	old := l.byKey[key]
	if in.EventID != "" && l.seen[in.EventID] {
		if old != nil {
			return appt.SuppressionAddResult{Entry: *old}
		}
		return appt.SuppressionAddResult{Entry: in}
	}
	l.remember(in.EventID)
	if old != nil && old.InForce(now) && !outlasts(in.ExpiresAt, old.ExpiresAt) {
		return appt.SuppressionAddResult{Entry: *old}
	}
	e := in
	e.LiftedAt, e.LiftedBy = nil, ""
	if old != nil && old.InForce(now) {
		e.CreatedAt = old.CreatedAt
	}
	l.touch(&e)
	return appt.SuppressionAddResult{Entry: e, Changed: true}
}

// outlasts reports whether expiry a is later than b (nil: never expires).
func outlasts(a, b *time.Time) bool {
	switch {
	case b == nil:
		return false
	case a == nil:
		return true
	}
	return a.After(*b)
}

// Lift tombstones an address's entries of the asked reasons (all when none; only sms_stop for an opt-in).
func (l *List) Lift(in appt.SuppressionLift, now time.Time) appt.SuppressionLiftResult {
	res := appt.SuppressionLiftResult{Lifted: []appt.SuppressionEntry{}, Seq: l.seq}
	if in.EventID != "" && l.seen[in.EventID] {
		return res
	}
	l.remember(in.EventID)
	reasons := in.Reasons
	if len(reasons) == 0 {
		reasons = appt.SuppressionReasons
	}
	if in.OptIn {
		reasons = []appt.SuppressionReason{appt.ReasonSMSStop}
	}
	for _, r := range reasons {
		probe := appt.SuppressionEntry{Channel: in.Channel, Hash: in.Hash, Reason: r}
		old := l.byKey[probe.Key()]
		if old == nil || old.LiftedAt != nil {
			continue
		}
		e := *old
		e.LiftedAt, e.LiftedBy = &now, in.Source
		l.touch(&e)
		res.Lifted = append(res.Lifted, e)
	}
	res.Seq = l.seq
	return res
}

// Sweep tombstones expired entries and drops tombstones older than TombstoneTTL, raising the floor to
// the newest change it dropped.
func (l *List) Sweep(now time.Time) {
	var expired []appt.SuppressionEntry
	kept := l.order[:0]
	for _, it := range l.order {
		e := l.current(it)
		if e == nil {
			continue
		}
		if e.LiftedAt != nil && !now.Before(e.LiftedAt.Add(TombstoneTTL)) {
			l.bytes -= entryBytes(e)
			delete(l.byKey, it.key)
			if it.seq > l.floor {
				l.floor = it.seq
			}
			continue
		}
		kept = append(kept, it)
		if e.LiftedAt == nil && !e.InForce(now) {
			expired = append(expired, *e)
		}
	}
	l.order = kept
	for _, e := range expired {
		e.LiftedAt, e.LiftedBy = &now, appt.SourceExpired
		l.touch(&e)
	}
}

// Changes returns one page of the changes after q.Since.
func (l *List) Changes(q appt.SuppressionChangesQuery) appt.SuppressionChanges {
	limit := q.Limit
	if limit <= 0 {
		limit = PageDefault
	}
	limit = min(limit, PageMax)
	out := appt.SuppressionChanges{Entries: []appt.SuppressionEntry{}, Next: q.Since}
	since := q.Since
	if since < l.floor && !q.Full {
		since, out.Reset = 0, true
	}
	i := sort.Search(len(l.order), func(i int) bool { return l.order[i].seq > since })
	for ; i < len(l.order); i++ {
		e := l.current(l.order[i])
		if e == nil {
			continue
		}
		if len(out.Entries) == limit {
			out.More = true
			break
		}
		out.Entries = append(out.Entries, *e)
		out.Next = e.Seq
	}
	if !out.More && out.Next < l.seq {
		out.Next = l.seq // nothing current after the last entry: the reader is up to date
	}
	return out
}

// Lookup returns an address's entries, tombstones included, in SuppressionReasons order.
func (l *List) Lookup(q appt.SuppressionLookupQuery) []appt.SuppressionEntry {
	out := []appt.SuppressionEntry{}
	for _, r := range appt.SuppressionReasons {
		probe := appt.SuppressionEntry{Channel: q.Channel, Hash: q.Hash, Reason: r}
		if e := l.byKey[probe.Key()]; e != nil {
			out = append(out, *e)
		}
	}
	return out
}

// tombstoneBytes is what a lift adds to an entry's JSON at most: a liftedAt with nanoseconds and a zone offset, and
// a liftedBy of the longest source; seqBytes allows the seq to grow to 12 digits.
const (
	tombstoneBytes = len(`,"liftedAt":"2006-01-02T15:04:05.999999999-07:00","liftedBy":""`) + appt.MaxSuppressionSourceLen
	seqBytes       = 12
	// eventsBytes is the recent event IDs at their longest; stateBytes the rest of the state and its separators.
	eventsBytes = RecentEvents * (appt.MaxSuppressionEventIDLen + 3)
	stateBytes  = 512 + appt.MaxParticipantIDLen
)

// entryBytes is the reserve of one entry in a shard's state: its JSON without tombstone fields, plus the most a
// lift and a growing seq can add, plus a separator.
func entryBytes(e *appt.SuppressionEntry) int {
	x := *e
	x.LiftedAt, x.LiftedBy, x.Seq = nil, "", 0
	b, err := json.Marshal(&x)
	if err != nil { // a SuppressionEntry always marshals; count the worst case if not
		return 1024
	}
	return len(b) + tombstoneBytes + seqBytes + 1
}

// Bytes is the shard's reserve: an upper bound of the JSON size of State, whatever lifts and sweeps follow.
func (l *List) Bytes() int { return l.bytes + eventsBytes + stateBytes }

// Len is the number of entries and tombstones the list holds.
func (l *List) Len() int { return len(l.byKey) }

// Fits checks that the list can take the entries (an add or a batch) within MaxShardBytes: entries it already
// holds (by Key) take no more room. Error: an *appt.SuppressionFullError naming the shard (the workflow's update validator
// refuses the add with it, and nothing changes).
func (l *List) Fits(es []appt.SuppressionEntry) error {
	need := 0
	var fresh map[string]bool
	for i := range es {
		k := es[i].Key()
		if l.byKey[k] != nil || fresh[k] {
			continue
		}
		if fresh == nil {
			fresh = map[string]bool{}
		}
		fresh[k] = true
		need += entryBytes(&es[i])
	}
	if need == 0 || l.Bytes()+need <= MaxShardBytes {
		return nil
	}
	return &appt.SuppressionFullError{Shard: l.shard, Msg: fmt.Sprintf("the suppression list is full: shard %d of %d holds %d "+
		"entries and tombstones (%d of its %d bytes); %d more do not fit, nothing was added (lift or let expire "+
		"entries first)", l.shard, appt.SuppressionShards, len(l.byKey), l.Bytes(), MaxShardBytes, len(fresh))}
}

// AddBatch applies the adds of a batch in order (each as Add) and returns how many changed the list.
func (l *List) AddBatch(es []appt.SuppressionEntry, now time.Time) int {
	n := 0
	for _, e := range es {
		if l.Add(e, now).Changed {
			n++
		}
	}
	return n
}

// Seq is the list's change counter.
func (l *List) Seq() int64 { return l.seq }
