package activities

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// blockingQuery holds every query until released, and reports when one starts.
type blockingQuery struct {
	mu      sync.Mutex
	calls   int
	started chan struct{}
	release chan struct{}
}

func (q *blockingQuery) query(ctx context.Context, _ string) (appt.OrgSettings, bool, error) {
	q.mu.Lock()
	q.calls++
	q.mu.Unlock()
	q.started <- struct{}{}
	<-q.release
	return appt.OrgSettings{NotificationsEnabled: true}, true, nil
}

func newBlocking() *blockingQuery {
	return &blockingQuery{started: make(chan struct{}, 16), release: make(chan struct{})}
}

// TestSettingsSingleFlight: many concurrent callers share one query per organisation. The test waits for each
// caller to join through the cache's hook, so nothing depends on timing.
func TestSettingsSingleFlight(t *testing.T) {
	q := newBlocking()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewSettingsCache(q.query, WithSettingsClock(func() time.Time { return now }))
	joined := make(chan string, 64)
	c.joined = func(org string) { joined <- org }

	const callers = 20
	type result struct {
		s     appt.OrgSettings
		found bool
		err   error
	}
	results := make(chan result, callers)
	call := func(ctx context.Context) {
		s, found, err := c.Settings(ctx, "acme")
		results <- result{s, found, err}
	}
	go call(context.Background())
	<-q.started
	for range callers - 1 {
		go call(context.Background())
	}
	for range callers - 1 {
		require.Equal(t, "acme", <-joined)
	}
	// A caller that gives up returns at once and does not spoil the shared query for the others.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, _, err := c.Settings(ctx, "acme"); done <- err }()
	<-joined
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	close(q.release)
	for range callers {
		r := <-results
		require.NoError(t, r.err)
		require.True(t, r.found)
		require.True(t, r.s.NotificationsEnabled)
	}
	require.Equal(t, 1, q.calls)
}

// TestSettingsStaleInflightIsNotJoined: a query sent a full TTL ago is too old to answer a new caller, who starts
// a fresh one.
func TestSettingsStaleInflightIsNotJoined(t *testing.T) {
	q := newBlocking()
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := NewSettingsCache(q.query, WithSettingsClock(clock))
	c.joined = func(string) { t.Error("a stale query in flight was joined") }

	errs := make(chan error, 2)
	go func() { _, _, err := c.Settings(context.Background(), "acme"); errs <- err }()
	<-q.started
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	go func() { _, _, err := c.Settings(context.Background(), "acme"); errs <- err }()
	<-q.started
	close(q.release)
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	require.Equal(t, 2, q.calls)
}

// TestSettingsCacheStaysBounded: reads of made-up organisation IDs (a public relay's path names one) cannot grow the
// cache without bound: once it holds more than settingsPruneAbove organisations, an insert drops the expired ones.
func TestSettingsCacheStaysBounded(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := NewSettingsCache(func(context.Context, string) (appt.OrgSettings, bool, error) {
		return appt.OrgSettings{}, false, nil
	}, WithSettingsClock(clock))
	ctx := context.Background()
	for i := range settingsPruneAbove + 10 {
		_, _, err := c.Settings(ctx, "made-up-"+strconv.Itoa(i))
		require.NoError(t, err)
		mu.Lock()
		now = now.Add(c.ttl) // each entry expires before the next read
		mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	require.LessOrEqual(t, len(c.entries), settingsPruneAbove, "expired entries are dropped")
}
