package activities_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// herdRound holds every request of a round until all `size` have arrived, so the round needs `size` connections at
// once, as a herd does.
func herdRound(size int32) func() {
	var n atomic.Int32
	all := make(chan struct{})
	return func() {
		if n.Add(1) == size {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(10 * time.Second): // a round that never fills fails on the counts, not by hanging
		}
	}
}

// concurrently runs send n times at once and fails on any error.
func concurrently(t *testing.T, n int, send func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- send(i) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestSMSKeepsConnectionsForTheNextHerd: 32 SMS at once open 32 connections to Twilio, and the next 32 reuse them
// all (Go's default would keep 2 and open 30 more).
func TestSMSKeepsConnectionsForTheNextHerd(t *testing.T) {
	const size = 32
	f := newTwilioFake(t)
	p := startProxy(t, f.Listener.Addr().String())
	s := newSMS(t, "http://"+p.addr())
	for round := range 2 {
		wait := herdRound(size)
		f.Respond(func(w http.ResponseWriter, r testenv.TwilioRequest) { wait(); testenv.TwilioCreated(w, r) })
		concurrently(t, size, func(i int) error {
			_, err := s.SendSMS(context.Background(), smsOrg(), notification(appt.Reminder, ann), ann,
				"n"+strconv.Itoa(round*size+i))
			return err
		})
		accepted, _ := p.counts()
		require.Equal(t, size, accepted, "round %d", round)
	}
	require.Len(t, f.Requests(), 2*size)
}

// TestWebhooksKeepConnectionsForTheNextHerd: the same for one webhook subscriber.
func TestWebhooksKeepConnectionsForTheNextHerd(t *testing.T) {
	const size = 32
	rc := newReceiver(t)
	p := startProxy(t, rc.Listener.Addr().String())
	w := activities.NewWebhookClient()
	org := webhookOrg(true, "http://"+p.addr()+"/hooks")
	for round := range 2 {
		wait := herdRound(size)
		rc.setRespond(func(w http.ResponseWriter, _ *http.Request) { wait(); w.WriteHeader(http.StatusNoContent) })
		concurrently(t, size, func(int) error {
			return w.SendWebhook(context.Background(), org, 0, notification(appt.Reminder, ann))
		})
		accepted, _ := p.counts()
		require.Equal(t, size, accepted, "round %d", round)
	}
	require.Len(t, rc.received(), 2*size)
}
