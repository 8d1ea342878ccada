package suppress

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Cache timings (docs/rules.md#suppression): an entry is in force on every worker within MaxStaleness.
const (
	// DefaultRefreshEvery is how often the cache reads the changes of each organisation in use.
	DefaultRefreshEvery = time.Second
	// MaxStaleness is the oldest a copy may be when a send is checked against it: older (the refresh keeps
	// failing), the check reads the changes itself, and fails when it cannot, so the send is retried, not made.
	MaxStaleness = 4 * time.Second
	// DefaultIdleAfter: an organisation no send was checked for in this long is no longer refreshed, and dropped.
	DefaultIdleAfter = 10 * time.Minute
	// queryTimeout bounds one read of a page of changes.
	queryTimeout = 10 * time.Second
	// refreshParallel bounds the organisations a refresh round reads at once.
	refreshParallel = 8
)

// Cache is every worker's in-memory copy of the suppression lists of the organisations it sends for: per
// organisation a hash set of the entries in force, kept current by reading the workflow's changes (usually none)
// every RefreshEvery, only for organisations checked in the last IdleAfter. A check is a keyed hash and a map
// lookup; it reads Temporal only for an organisation's first send, or when the copy is older than MaxStaleness.
type Cache struct {
	store        Store
	RefreshEvery time.Duration
	IdleAfter    time.Duration
	Now          func() time.Time
	Logger       *slog.Logger

	mu   sync.Mutex
	orgs map[string]*orgCopy
}

// orgCopy is one organisation's copy. set maps channel|hash to the entries in force of that address, by reason.
type orgCopy struct {
	refresh sync.Mutex // one read of changes at a time

	mu       sync.RWMutex
	set      map[string][]appt.SuppressionEntry
	seq      int64
	loadedAt time.Time // when the last successful read was sent
	loaded   bool

	usedAt atomic.Int64 // unix nanoseconds of the last check
}

// NewCache returns a cache over store with the default timings; call Run to keep it current.
func NewCache(store Store) *Cache {
	return &Cache{store: store, RefreshEvery: DefaultRefreshEvery, IdleAfter: DefaultIdleAfter, Now: time.Now,
		Logger: slog.New(slog.DiscardHandler), orgs: map[string]*orgCopy{}}
}

func addrKey(ch appt.Channel, hash string) string { return string(ch) + "|" + hash }

func (c *Cache) org(org string) *orgCopy {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.orgs[org]
	if o == nil {
		o = &orgCopy{set: map[string][]appt.SuppressionEntry{}}
		c.orgs[org] = o
	}
	return o
}

// Check returns the reason an address (by its keyed hash) is suppressed in an organisation, the first of
// appt.SuppressionReasons in force, or "" when it is not. Error: the organisation's list could not be read and the
// copy is older than MaxStaleness (or was never read).
func (c *Cache) Check(ctx context.Context, org string, ch appt.Channel, hash string) (appt.SuppressionReason, error) {
	o := c.org(org)
	now := c.Now()
	o.usedAt.Store(now.UnixNano())
	o.mu.RLock()
	fresh := o.loaded && now.Sub(o.loadedAt) <= MaxStaleness
	o.mu.RUnlock()
	if !fresh {
		if err := c.refresh(ctx, org, o); err != nil {
			return "", err
		}
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	return strongest(o.set[addrKey(ch, hash)], now), nil
}

// strongest returns the first reason of appt.SuppressionReasons with an entry in force at now.
func strongest(es []appt.SuppressionEntry, now time.Time) appt.SuppressionReason {
	if len(es) == 0 {
		return ""
	}
	for _, r := range appt.SuppressionReasons {
		for i := range es {
			if es[i].Reason == r && es[i].InForce(now) {
				return r
			}
		}
	}
	return ""
}

// refresh reads the organisation's changes since the copy's, page by page, and applies them. A caller that waited
// for another's refresh returns at once if that one left the copy fresh.
func (c *Cache) refresh(ctx context.Context, org string, o *orgCopy) error {
	o.refresh.Lock()
	defer o.refresh.Unlock()
	sent := c.Now()
	o.mu.RLock()
	since, loaded, loadedAt := o.seq, o.loaded, o.loadedAt
	o.mu.RUnlock()
	if loaded && sent.Sub(loadedAt) < c.RefreshEvery/2 {
		return nil
	}
	var pages []appt.SuppressionChanges
	full := !loaded
	for {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		p, err := c.store.Changes(qctx, org, appt.SuppressionChangesQuery{Since: since, Full: full})
		cancel()
		if err != nil {
			return fmt.Errorf("reading the suppression list: %w", err)
		}
		if p.Reset {
			pages, full = pages[:0], true
		}
		pages = append(pages, p)
		since = p.Next
		if !p.More {
			break
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !loaded && len(pages) > 0 {
		pages[0].Reset = true // a first load starts from an empty copy
	}
	for _, p := range pages {
		if p.Reset {
			o.set = map[string][]appt.SuppressionEntry{}
		}
		for _, e := range p.Entries {
			o.apply(e)
		}
	}
	o.seq, o.loaded, o.loadedAt = since, true, sent
	return nil
}

// apply puts one change into the copy: an entry replaces the address's entry of its reason, a tombstone removes it.
func (o *orgCopy) apply(e appt.SuppressionEntry) {
	k := addrKey(e.Channel, e.Hash)
	es := o.set[k]
	kept := es[:0]
	for _, x := range es {
		if x.Reason != e.Reason {
			kept = append(kept, x)
		}
	}
	if e.LiftedAt == nil {
		kept = append(kept, e)
	}
	if len(kept) == 0 {
		delete(o.set, k)
		return
	}
	o.set[k] = kept
}

// Note puts a change this process made into the copy at once (it is read again with the next refresh anyway).
func (c *Cache) Note(org string, e appt.SuppressionEntry) {
	o := c.org(org)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.apply(e)
}

// Run refreshes the copies of the organisations in use every RefreshEvery, and drops those idle for IdleAfter,
// until ctx ends. Refresh errors are logged when they change; a check that finds its copy too old reports them.
func (c *Cache) Run(ctx context.Context) {
	t := time.NewTicker(c.RefreshEvery)
	defer t.Stop()
	lastErr := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := c.Now()
		c.mu.Lock()
		var use []string
		for org, o := range c.orgs {
			if now.Sub(time.Unix(0, o.usedAt.Load())) > c.IdleAfter {
				delete(c.orgs, org)
				continue
			}
			use = append(use, org)
		}
		c.mu.Unlock()
		var wg sync.WaitGroup
		errs := make([]error, len(use))
		slots := make(chan struct{}, refreshParallel)
		for i, org := range use {
			wg.Add(1)
			slots <- struct{}{}
			go func() {
				defer func() { <-slots; wg.Done() }()
				errs[i] = c.refresh(ctx, org, c.org(org))
			}()
		}
		wg.Wait()
		for i, org := range use {
			msg := ""
			if errs[i] != nil {
				msg = errs[i].Error()
			}
			if msg != lastErr[org] {
				if msg != "" {
					c.Logger.Warn("suppression list refresh failed", "org", org, "error", msg)
				} else {
					c.Logger.Info("suppression list refresh recovered", "org", org)
				}
				lastErr[org] = msg
			}
		}
	}
}
