package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeQuery answers from a settable state and counts the queries.
type fakeQuery struct {
	mu      sync.Mutex
	calls   int
	enabled bool
	found   bool
	err     error
}

func (q *fakeQuery) query(_ context.Context, _ string) (appt.OrgSettings, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	return appt.OrgSettings{NotificationsEnabled: q.enabled}, q.found, q.err
}

func (q *fakeQuery) set(enabled, found bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.enabled, q.found, q.err = enabled, found, err
}

func (q *fakeQuery) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.calls
}

func TestSettingsCacheAge(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	q := &fakeQuery{enabled: true, found: true}
	c := activities.NewSettingsCache(q.query, activities.WithSettingsClock(clock.Now))
	require.Equal(t, time.Second, c.TTL())
	ctx := context.Background()

	s, found, err := c.Settings(ctx, "acme")
	require.NoError(t, err)
	require.True(t, found)
	require.True(t, s.NotificationsEnabled)
	require.Equal(t, 1, q.count())

	// A disable within the TTL is not seen yet: the entry is reused...
	q.set(false, true, nil)
	clock.Advance(999 * time.Millisecond)
	s, _, err = c.Settings(ctx, "acme")
	require.NoError(t, err)
	require.True(t, s.NotificationsEnabled)
	require.Equal(t, 1, q.count())

	// ...and once the entry is 1 s old, it is read again.
	clock.Advance(time.Millisecond)
	s, _, err = c.Settings(ctx, "acme")
	require.NoError(t, err)
	require.False(t, s.NotificationsEnabled)
	require.Equal(t, 2, q.count())

	// Organisations are cached apart.
	_, _, err = c.Settings(ctx, "other")
	require.NoError(t, err)
	require.Equal(t, 3, q.count())
}

func TestSettingsCacheNotFoundAndErrors(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	q := &fakeQuery{err: errors.New("frontend unavailable")}
	c := activities.NewSettingsCache(q.query, activities.WithSettingsClock(clock.Now))
	ctx := context.Background()

	_, _, err := c.Settings(ctx, "acme")
	require.Error(t, err)
	_, _, err = c.Settings(ctx, "acme")
	require.Error(t, err)
	require.Equal(t, 2, q.count(), "errors are not cached")

	q.set(false, false, nil)
	_, found, err := c.Settings(ctx, "acme")
	require.NoError(t, err)
	require.False(t, found)
	_, found, err = c.Settings(ctx, "acme")
	require.NoError(t, err)
	require.False(t, found)
	require.Equal(t, 3, q.count(), "not-found is an answer, cached like any other")
}

func TestSettingsTTLNeverAboveOneSecond(t *testing.T) {
	q := &fakeQuery{}
	require.Equal(t, time.Second, activities.NewSettingsCache(q.query, activities.WithSettingsTTL(5*time.Second)).TTL())
	require.Equal(t, time.Second, activities.NewSettingsCache(q.query, activities.WithSettingsTTL(0)).TTL())
	require.Equal(t, 250*time.Millisecond,
		activities.NewSettingsCache(q.query, activities.WithSettingsTTL(250*time.Millisecond)).TTL())
}

// fakeTemporal is a Temporal client whose QueryWorkflow the test controls; every other method is unused.
type fakeTemporal struct {
	client.Client
	gotID, gotQuery string
	answer          any
	err             error
}

func (f *fakeTemporal) QueryWorkflow(_ context.Context, id, runID, query string, _ ...any) (converter.EncodedValue, error) {
	f.gotID, f.gotQuery = id, query
	if f.err != nil {
		return nil, f.err
	}
	return jsonValue{f.answer}, nil
}

type jsonValue struct{ v any }

func (j jsonValue) HasValue() bool { return j.v != nil }
func (j jsonValue) Get(ptr any) error {
	b, err := json.Marshal(j.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, ptr)
}

func TestTemporalSettingsQuery(t *testing.T) {
	f := &fakeTemporal{answer: appt.OrgSettings{NotificationsEnabled: false, AutoActivate: true}}
	q := activities.TemporalSettingsQuery(f)
	s, found, err := q(context.Background(), "acme")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, appt.OrgSettings{NotificationsEnabled: false, AutoActivate: true}, s)
	require.Equal(t, appt.OrgWorkflowID("acme"), f.gotID)
	require.Equal(t, appt.QueryOrgSettings, f.gotQuery)

	f.err = serviceerror.NewNotFound("workflow not found for ID: org-settings:acme")
	_, found, err = q(context.Background(), "acme")
	require.NoError(t, err)
	require.False(t, found)

	f.err = serviceerror.NewUnavailable("try later")
	_, _, err = q(context.Background(), "acme")
	require.Error(t, err)
}
