package suppress

import (
	"context"
	"sync"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/supplist"
)

// MemoryStore is a Store in memory: the suppression workflow's own list code (internal/supplist) per organisation,
// behind a mutex, on a clock of the caller's choosing. Tests and benchmarks use it where a Temporal server would
// only add noise; Reads counts the page reads, so a test can see what the cache costs.
type MemoryStore struct {
	Now func() time.Time

	mu    sync.Mutex
	lists map[string]*supplist.List
	Reads int
}

// NewMemoryStore returns an empty store on clock now.
func NewMemoryStore(now func() time.Time) *MemoryStore {
	return &MemoryStore{Now: now, lists: map[string]*supplist.List{}}
}

func (m *MemoryStore) list(org string) *supplist.List {
	l := m.lists[org]
	if l == nil {
		l = supplist.New(&appt.SuppressionState{Org: org})
		m.lists[org] = l
	}
	return l
}

// Add implements Store; it validates as the workflow's update validator does.
func (m *MemoryStore) Add(_ context.Context, org string, e appt.SuppressionEntry) (appt.SuppressionAddResult, error) {
	if err := e.Validate(); err != nil {
		return appt.SuppressionAddResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list(org).Add(e, m.Now()), nil
}

// Lift implements Store.
func (m *MemoryStore) Lift(_ context.Context, org string, l appt.SuppressionLift) (appt.SuppressionLiftResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list(org).Lift(l, m.Now()), nil
}

// Changes implements Store.
func (m *MemoryStore) Changes(_ context.Context, org string, q appt.SuppressionChangesQuery) (appt.SuppressionChanges, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Reads++
	return m.list(org).Changes(q), nil
}

// Lookup implements Store.
func (m *MemoryStore) Lookup(_ context.Context, org string, q appt.SuppressionLookupQuery) ([]appt.SuppressionEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list(org).Lookup(q), nil
}

// Sweep runs the workflow's hourly sweep now.
func (m *MemoryStore) Sweep(org string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list(org).Sweep(m.Now())
}
