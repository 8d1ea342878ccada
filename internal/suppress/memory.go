package suppress

import (
	"context"
	"sync"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/supplist"
)

// MemoryStore is a Store in memory: the suppression workflows' own list and index code (internal/supplist), per
// organisation SuppressionShards lists and an index, behind a mutex, on a clock of the caller's choosing. Tests and
// benchmarks use it where a Temporal server would only add noise; Reads counts the page reads and IndexReads the
// index reads, so a test can see what the cache costs.
type MemoryStore struct {
	Now func() time.Time

	mu         sync.Mutex
	orgs       map[string]*memOrg
	Reads      int
	IndexReads int
}

type memOrg struct {
	shards [appt.SuppressionShards]*supplist.List
	index  *supplist.Index
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store on clock now.
func NewMemoryStore(now func() time.Time) *MemoryStore {
	return &MemoryStore{Now: now, orgs: map[string]*memOrg{}}
}

// shard returns a shard's list; the caller holds mu.
func (m *MemoryStore) shard(org string, k int) *supplist.List {
	o := m.orgs[org]
	if o == nil {
		o = &memOrg{index: supplist.NewIndex(&appt.SuppressionIndexState{Org: org})}
		m.orgs[org] = o
	}
	if o.shards[k] == nil {
		o.shards[k] = supplist.New(&appt.SuppressionState{Org: org, Shard: k})
	}
	return o.shards[k]
}

func (m *MemoryStore) r() routed { return routed{s: memShards{m}} }

// Add implements Store; it validates as the workflow's update validator does.
func (m *MemoryStore) Add(ctx context.Context, org string, e appt.SuppressionEntry) (appt.SuppressionAddResult, error) {
	return m.r().add(ctx, org, e)
}

// AddBatch implements Store.
func (m *MemoryStore) AddBatch(ctx context.Context, org string, es []appt.SuppressionEntry) (int, error) {
	return m.r().addBatch(ctx, org, es)
}

// AddLegacy adds an entry to shard 0 whatever its hash, without telling the index, as the build before shards did:
// tests use it for a list written by that build.
func (m *MemoryStore) AddLegacy(org string, e appt.SuppressionEntry) appt.SuppressionAddResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.shard(org, 0).Add(e, m.Now())
}

// Lift implements Store.
func (m *MemoryStore) Lift(ctx context.Context, org string, l appt.SuppressionLift) (appt.SuppressionLiftResult, error) {
	return m.r().lift(ctx, org, l)
}

// Lookup implements Store.
func (m *MemoryStore) Lookup(ctx context.Context, org string, q appt.SuppressionLookupQuery) ([]appt.SuppressionEntry, error) {
	return m.r().lookup(ctx, org, q)
}

// Index implements Store.
func (m *MemoryStore) Index(_ context.Context, org string) (appt.SuppressionIndex, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.IndexReads++
	m.shard(org, 0)
	return m.orgs[org].index.Seqs(), nil
}

// Changes implements Store.
func (m *MemoryStore) Changes(_ context.Context, org string, shard int, q appt.SuppressionChangesQuery) (appt.SuppressionChanges, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Reads++
	return m.shard(org, shard).Changes(q), nil
}

// Sweep runs the workflows' hourly sweep now, on every shard.
func (m *MemoryStore) Sweep(org string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range appt.SuppressionShards {
		m.shard(org, k).Sweep(m.Now())
	}
}

// memShards is MemoryStore's work on one shard: validation as the update validators do, then the list code.
type memShards struct{ m *MemoryStore }

func (s memShards) add(_ context.Context, org string, shard int, e appt.SuppressionEntry) (appt.SuppressionAddResult, error) {
	if err := e.Validate(); err != nil {
		return appt.SuppressionAddResult{}, err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	l := s.m.shard(org, shard)
	if err := l.Fits([]appt.SuppressionEntry{e}); err != nil {
		return appt.SuppressionAddResult{}, err
	}
	return l.Add(e, s.m.Now()), nil
}

func (s memShards) addBatch(_ context.Context, org string, shard int, es []appt.SuppressionEntry) (appt.SuppressionBatchResult, error) {
	b := appt.SuppressionBatch{Entries: es}
	if err := b.Validate(); err != nil {
		return appt.SuppressionBatchResult{}, err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	l := s.m.shard(org, shard)
	if err := l.Fits(es); err != nil {
		return appt.SuppressionBatchResult{}, err
	}
	n := l.AddBatch(es, s.m.Now())
	return appt.SuppressionBatchResult{Added: n, Seq: l.Seq()}, nil
}

func (s memShards) lift(_ context.Context, org string, shard int, l appt.SuppressionLift) (appt.SuppressionLiftResult, error) {
	if err := l.Validate(); err != nil {
		return appt.SuppressionLiftResult{}, err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.m.shard(org, shard).Lift(l, s.m.Now()), nil
}

func (s memShards) lookup(_ context.Context, org string, shard int, q appt.SuppressionLookupQuery) ([]appt.SuppressionEntry, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.m.shard(org, shard).Lookup(q), nil
}

func (s memShards) bump(_ context.Context, org string, b appt.SuppressionBump) error {
	if err := supplist.ValidateBump(b); err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.shard(org, 0)
	s.m.orgs[org].index.Bump(b)
	return nil
}
