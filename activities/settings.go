package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/orgs"
)

// MaxSettingsAge is the oldest a cached settings read may be: a global disable takes effect within 1 s (docs/rules.md#flags).
const MaxSettingsAge = appt.SettingsMaxAge

// DefaultSettingsQueryTimeout bounds one query of an organisation-settings workflow.
const DefaultSettingsQueryTimeout = 10 * time.Second

// SettingsQuery reads an organisation's live settings once, uncached. found is false when the organisation has no
// settings workflow.
type SettingsQuery func(ctx context.Context, org string) (s appt.OrgSettings, found bool, err error)

// TemporalSettingsQuery queries the organisation-settings workflow through a Temporal client.
func TemporalSettingsQuery(c client.Client) SettingsQuery {
	return SettingsQuery(orgs.TemporalQuery(c))
}

// SettingsCache is the worker's SettingsReader: it caches each organisation's settings for at most TTL (never more
// than MaxSettingsAge) and lets concurrent callers share one query per organisation.
//
// An entry's age counts from the moment its query was sent, not answered, so a cached value always reflects the
// workflow's state at some point within the last TTL. For the same reason a caller joins a query in flight only if
// that query was sent less than TTL ago; otherwise (a query slower than the TTL) it starts a fresh one. Errors are
// not cached. The shared query runs on a context detached from its callers, so one caller giving up does not fail
// the others; each caller still returns as soon as its own context ends.
type SettingsCache struct {
	query        SettingsQuery
	ttl          time.Duration
	queryTimeout time.Duration
	now          func() time.Time

	mu       sync.Mutex
	entries  map[string]settingsEntry
	inflight map[string]*settingsCall

	joined func(org string) // test hook: a caller joined a query in flight
}

type settingsEntry struct {
	s     appt.OrgSettings
	found bool
	at    time.Time // when its query was sent
}

type settingsCall struct {
	at   time.Time
	done chan struct{}
	res  settingsEntry
	err  error
}

// SettingsOption adjusts a SettingsCache.
type SettingsOption func(*SettingsCache)

// WithSettingsTTL sets how long an entry is reused. Values above MaxSettingsAge are clamped to it; zero or less
// means the default, MaxSettingsAge.
func WithSettingsTTL(d time.Duration) SettingsOption { return func(c *SettingsCache) { c.ttl = d } }

// WithSettingsClock sets the clock the cache ages entries by (tests).
func WithSettingsClock(now func() time.Time) SettingsOption {
	return func(c *SettingsCache) { c.now = now }
}

// WithSettingsQueryTimeout bounds one shared query; the default is DefaultSettingsQueryTimeout.
func WithSettingsQueryTimeout(d time.Duration) SettingsOption {
	return func(c *SettingsCache) { c.queryTimeout = d }
}

// NewSettingsCache wraps a query in a cache.
func NewSettingsCache(q SettingsQuery, opts ...SettingsOption) *SettingsCache {
	c := &SettingsCache{
		query:        q,
		ttl:          MaxSettingsAge,
		queryTimeout: DefaultSettingsQueryTimeout,
		now:          time.Now,
		entries:      map[string]settingsEntry{},
		inflight:     map[string]*settingsCall{},
	}
	for _, o := range opts {
		o(c)
	}
	if c.ttl <= 0 || c.ttl > MaxSettingsAge {
		c.ttl = MaxSettingsAge
	}
	return c
}

// NewTemporalSettingsReader is the SettingsReader a worker uses: the organisation-settings workflow, queried through
// c, behind a SettingsCache.
func NewTemporalSettingsReader(c client.Client, opts ...SettingsOption) *SettingsCache {
	return NewSettingsCache(TemporalSettingsQuery(c), opts...)
}

// TTL is the cache's effective entry lifetime.
func (c *SettingsCache) TTL() time.Duration { return c.ttl }

// Settings returns an organisation's live settings, at most TTL old.
func (c *SettingsCache) Settings(ctx context.Context, org string) (appt.OrgSettings, bool, error) {
	c.mu.Lock()
	now := c.now()
	if e, ok := c.entries[org]; ok && now.Sub(e.at) < c.ttl {
		c.mu.Unlock()
		return e.s, e.found, nil
	}
	call, ok := c.inflight[org]
	if ok && now.Sub(call.at) < c.ttl {
		if c.joined != nil {
			c.joined(org)
		}
	} else {
		call = &settingsCall{at: now, done: make(chan struct{})}
		c.inflight[org] = call
		go c.run(context.WithoutCancel(ctx), org, call)
	}
	c.mu.Unlock()

	select {
	case <-call.done:
		return call.res.s, call.res.found, call.err
	case <-ctx.Done():
		return appt.OrgSettings{}, false, ctx.Err()
	}
}

func (c *SettingsCache) run(ctx context.Context, org string, call *settingsCall) {
	ctx, cancel := context.WithTimeout(ctx, c.queryTimeout)
	defer cancel()
	s, found, err := c.query(ctx, org)

	c.mu.Lock()
	call.res, call.err = settingsEntry{s: s, found: found, at: call.at}, err
	if err == nil {
		if e, ok := c.entries[org]; !ok || !e.at.After(call.at) {
			c.entries[org] = call.res
		}
		c.pruneLocked()
	}
	if c.inflight[org] == call {
		delete(c.inflight, org)
	}
	c.mu.Unlock()
	close(call.done)
}

// settingsPruneAbove: once the cache holds more organisations than this, an insert drops every expired entry, so
// that reads of made-up organisation IDs (a public relay's path names one) cannot grow it without bound.
const settingsPruneAbove = 1024

// pruneLocked drops expired entries when the cache is large; c.mu is held.
func (c *SettingsCache) pruneLocked() {
	if len(c.entries) <= settingsPruneAbove {
		return
	}
	now := c.now()
	for org, e := range c.entries {
		if now.Sub(e.at) >= c.ttl {
			delete(c.entries, org)
		}
	}
}
