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
	// DefaultRefreshEvery is how often the cache reads the index of each organisation in use (and the changes of the
	// shards it names as changed).
	DefaultRefreshEvery = time.Second
	// MaxStaleness is the oldest a copy may be when a send is checked against it: older (the refresh keeps
	// failing), the check reads the changes itself, and fails when it cannot, so the send is retried, not made.
	MaxStaleness = 4 * time.Second
	// ShardSweepEvery is how often a refresh also reads the changes of every shard, whatever the index says: a
	// writer that changed a shard but could not bump the index (it crashed between the two) is then seen within
	// this long, even by a worker that never saw that shard named.
	ShardSweepEvery = 30 * time.Second
	// DefaultIdleAfter: an organisation no send was checked for in this long is no longer refreshed, and dropped.
	DefaultIdleAfter = 10 * time.Minute
	// queryTimeout bounds one read of a page of changes.
	queryTimeout = 10 * time.Second
	// refreshParallel bounds the organisations a refresh round reads at once.
	refreshParallel = 8
	// loadPage is the page size of the cache's reads: a first load of a full shard takes a few pages, each well under
	// Temporal's 2 MB for a query result.
	loadPage = 2000
)

// Cache is every worker's in-memory copy of the suppression lists of the organisations it sends for: per
// organisation and shard a hash set of the entries in force, kept current every RefreshEvery, only for
// organisations checked in the last IdleAfter, by one query of the organisation's index (usually nothing moved)
// and a read of the changes of each shard whose counter moved past the copy's; every ShardSweepEvery it reads every
// shard. A check is a keyed hash and two map lookups (the address's shard and shard 0, which may hold entries of
// any hash from before shards); it reads Temporal only for an organisation's first send, or when the copy is older
// than MaxStaleness.
type Cache struct {
	store        Store
	RefreshEvery time.Duration
	IdleAfter    time.Duration
	Now          func() time.Time
	Logger       *slog.Logger

	mu   sync.Mutex
	orgs map[string]*orgCopy
}

// orgCopy is one organisation's copy, shard by shard.
type orgCopy struct {
	refresh sync.Mutex // one read of changes at a time

	mu       sync.RWMutex
	shards   [appt.SuppressionShards]shardCopy
	loadedAt time.Time // when the last successful read was sent
	sweptAt  time.Time // when the last read of every shard was sent
	loaded   bool

	usedAt atomic.Int64 // unix nanoseconds of the last check
}

// shardCopy is one shard's copy: set maps channel|hash to the entries in force of that address, by reason; seq is
// the shard's change counter the copy holds every change up to.
type shardCopy struct {
	set map[string][]appt.SuppressionEntry
	seq int64
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
		o = &orgCopy{}
		for k := range o.shards {
			o.shards[k].set = map[string][]appt.SuppressionEntry{}
		}
		c.orgs[org] = o
	}
	return o
}

// Check returns the reason an address (by its keyed hash) is suppressed in an organisation, the first of
// appt.SuppressionReasons in force in its shard or in shard 0, or "" when it is not. Error: the organisation's list
// could not be read and the copy is older than MaxStaleness (or was never read).
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
	key := addrKey(ch, hash)
	o.mu.RLock()
	defer o.mu.RUnlock()
	es := o.shards[appt.SuppressionShard(hash)].set[key]
	if legacy := o.shards[0].set[key]; len(legacy) > 0 && appt.SuppressionShard(hash) != 0 {
		es = append(append([]appt.SuppressionEntry(nil), es...), legacy...)
	}
	return strongest(es, now), nil
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

// refresh reads the organisation's index, then the changes since the copy's of each shard the index shows moved
// (of every shard on a sweep; of shard 0 and the shards the index names on a first load), page by page, and
// applies them. A caller that waited for another's refresh returns at once if that one left the copy fresh.
func (c *Cache) refresh(ctx context.Context, org string, o *orgCopy) error {
	o.refresh.Lock()
	defer o.refresh.Unlock()
	sent := c.Now()
	o.mu.RLock()
	loaded, loadedAt, sweptAt := o.loaded, o.loadedAt, o.sweptAt
	var seqs [appt.SuppressionShards]int64
	for k := range o.shards {
		seqs[k] = o.shards[k].seq
	}
	o.mu.RUnlock()
	if loaded && sent.Sub(loadedAt) < c.RefreshEvery/2 {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	idx, err := c.store.Index(qctx, org)
	cancel()
	if err != nil {
		return fmt.Errorf("reading the suppression list: %w", err)
	}
	sweep := loaded && sent.Sub(sweptAt) >= ShardSweepEvery
	for k := range appt.SuppressionShards {
		moved := k < len(idx) && idx[k] > seqs[k]
		if !moved && !sweep && (loaded || k != 0) {
			continue
		}
		if err := c.readShard(ctx, org, o, k, !loaded); err != nil {
			return err
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.loaded, o.loadedAt = true, sent
	if sweep || !loaded {
		o.sweptAt = sent
	}
	return nil
}

// readShard reads a shard's changes since the copy's, page by page, and applies them.
func (c *Cache) readShard(ctx context.Context, org string, o *orgCopy, k int, first bool) error {
	o.mu.RLock()
	since := o.shards[k].seq
	o.mu.RUnlock()
	var pages []appt.SuppressionChanges
	full := first
	for {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		p, err := c.store.Changes(qctx, org, k, appt.SuppressionChangesQuery{Since: since, Limit: loadPage, Full: full})
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
	sh := &o.shards[k]
	if first && len(pages) > 0 {
		pages[0].Reset = true // a first load starts from an empty copy
	}
	for _, p := range pages {
		if p.Reset {
			sh.set = map[string][]appt.SuppressionEntry{}
		}
		for _, e := range p.Entries {
			sh.apply(e)
		}
	}
	sh.seq = since
	return nil
}

// apply puts one change into the copy: an entry replaces the address's entry of its reason, a tombstone removes it.
func (sh *shardCopy) apply(e appt.SuppressionEntry) {
	k := addrKey(e.Channel, e.Hash)
	es := sh.set[k]
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
		delete(sh.set, k)
		return
	}
	sh.set[k] = kept
}

// Note puts a change this process made into the copy at once (it is read again with the next refresh anyway): an
// entry into its address's shard; a tombstone into that shard and shard 0, since a lift lifts both.
func (c *Cache) Note(org string, e appt.SuppressionEntry) {
	o := c.org(org)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.shards[appt.SuppressionShard(e.Hash)].apply(e)
	if e.LiftedAt != nil {
		o.shards[0].apply(e)
	}
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
