package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/httpapi"
)

// httpClients is how many clients schedule at once in the http scenario (the load).
const httpClients = 32

// httpToken is the bench server's only API token.
const httpToken = "bench-token"

// httpRounds is how many alternating Go/HTTP batches the http scenario runs, so that a shared machine's changing
// load falls on both ways alike.
const httpRounds = 4

// httpScenario: scheduling throughput over the HTTP API (`starter serve`'s handler, in process, on a loopback port,
// over real HTTP with keep-alive) against the Go API, on one server and one worker, httpClients at a time, N each.
// The two ways alternate in httpRounds batches, and each batch starts once every CREATE of the batches before it
// has been delivered, so neither pays for the other's work. The rate is requests answered (workflow started) per
// second of that way's batches; the latencies are per request. Any 5xx is counted and reported.
func (o Options) httpScenario(ctx context.Context, log io.Writer) ([]Result, error) {
	e, err := o.newEnv(ctx)
	if err != nil {
		return nil, err
	}
	defer e.close()
	n := o.N
	start := time.Now().Add(48 * time.Hour)

	tokens, err := httpapi.ParseTokens(httpToken + "=*")
	if err != nil {
		return nil, err
	}
	h, err := httpapi.New(httpapi.Options{Client: e.api, Tokens: tokens, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- httpapi.Serve(sctx, ln, h, slog.New(slog.DiscardHandler)) }()
	defer func() { stop(); <-served }()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: httpClients, MaxConnsPerHost: httpClients}}
	url := "http://" + ln.Addr().String() + "/v1/appointments"

	var fiveXX, other atomic.Int64
	var firstErr error
	var mu sync.Mutex
	viaHTTP := func(i int) error {
		body, _ := json.Marshal(httpBody(request("http", i, benchOrg, start)))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+httpToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				fiveXX.Add(1)
			} else if resp.StatusCode != http.StatusCreated {
				other.Add(1)
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		return nil
	}
	viaGo := func(i int) error { return e.api.Schedule(ctx, request("go", i, benchOrg, start)) }

	goLat, httpLat := make([]time.Duration, n), make([]time.Duration, n)
	var goTime, httpTime time.Duration
	delivered := 0
	batch := func(lo, hi int, lat []time.Duration, f func(int) error) (time.Duration, error) {
		t0 := time.Now()
		err := parallel(hi-lo, httpClients, func(k int) error {
			s := time.Now()
			err := f(lo + k)
			lat[lo+k] = time.Since(s)
			return err
		})
		took := time.Since(t0)
		delivered += hi - lo
		waitFor(ctx, time.Now().Add(5*time.Minute), func() bool { return e.sinks.email.len() >= delivered })
		return took, err
	}
	for r := 0; r < httpRounds; r++ {
		lo, hi := r*n/httpRounds, (r+1)*n/httpRounds
		took, err := batch(lo, hi, goLat, viaGo)
		if err != nil {
			return nil, fmt.Errorf("scheduling through the Go API: %w", err)
		}
		goTime += took
		took, _ = batch(lo, hi, httpLat, viaHTTP)
		httpTime += took
	}
	goRes := Result{Scenario: "schedule-go", N: n, Expected: n, Received: n}
	goRes.Rate = round(float64(n)/goTime.Seconds(), 1)
	goRes.P50, goRes.P99, goRes.Max = percentiles(goLat)
	httpRes := Result{Scenario: "schedule-http", N: n, Expected: n}
	httpRes.Rate = round(float64(n)/httpTime.Seconds(), 1)
	httpRes.P50, httpRes.P99, httpRes.Max = percentiles(httpLat)
	httpRes.Received = e.sinks.email.len() - n
	httpRes.Note = fmt.Sprintf("%d responses 5xx, %d other non-201, %d clients", fiveXX.Load(), other.Load(), httpClients)
	if firstErr != nil {
		httpRes.Note += "; first error: " + firstErr.Error()
	}
	fmt.Fprintf(log, "bench: http: Go API %.1f/s (p99 %.3fs), HTTP %.1f/s (p99 %.3fs), %d 5xx\n",
		goRes.Rate, goRes.P99, httpRes.Rate, httpRes.P99, fiveXX.Load())
	if fiveXX.Load() > 0 {
		return []Result{goRes, httpRes}, errors.New("the HTTP API answered 5xx under load")
	}
	return []Result{goRes, httpRes}, nil
}

// httpBody is a schedule request as the HTTP API takes it.
func httpBody(r *appt.ScheduleRequest) map[string]any {
	return map[string]any{
		"appointmentId": r.AppointmentID, "org": r.Org, "start": r.Start.UTC().Format(time.RFC3339),
		"end": r.End.UTC().Format(time.RFC3339), "joinUrl": r.JoinURL, "participants": r.Participants,
		"notifications": r.Notifications,
	}
}
