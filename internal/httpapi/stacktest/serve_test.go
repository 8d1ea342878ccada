package stacktest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/startercli"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// TestServeRefusesBadSetups: serve exits 2 before dialling or binding when it would be open without tokens, or its
// tokens or flags are bad.
func TestServeRefusesBadSetups(t *testing.T) {
	cases := []struct {
		args   []string
		tokens string
		want   string
	}{
		{[]string{"--listen", "0.0.0.0:0"}, "", "must hold at least one token"},
		{[]string{"--listen", ":0"}, "", "must hold at least one token"},
		{[]string{"--listen", "nope"}, "", "listen"},
		{[]string{"--listen", "127.0.0.1:0"}, "a=", "entry 1"},
		{[]string{"--listen", "127.0.0.1:0"}, "a=unknown-org", "not in the config"},
		{[]string{"--listen", "127.0.0.1:0", "extra"}, "", "unexpected argument"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		dialed := false
		code := startercli.Run(context.Background(), append([]string{"serve"}, c.args...), startercli.Env{
			Stdout: &out, Stderr: &errb, Now: time.Now,
			Getenv: func(k string) string { return map[string]string{httpapi.TokensEnvVar: c.tokens}[k] },
			Dial:   func(*codec.KeyRing) (client.Client, error) { dialed = true; return nil, fmt.Errorf("dialled") },
		})
		assert.Equal(t, startercli.ExitBadInput, code, "%v: %s", c.args, errb.String())
		assert.Contains(t, errb.String(), c.want)
		assert.False(t, dialed)
	}
}

// TestUnreachableTemporal: with Temporal down, the operations and /healthz are 503 problem documents, and a
// loopback server without tokens allows every request (and warned at start).
func TestUnreachableTemporal(t *testing.T) {
	dead := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	logs := &testenv.SyncBuffer{}
	base, _ := startServe(t, []string{"--plaintext-history"}, func(string) string { return "" }, func(*codec.KeyRing) (client.Client, error) {
		return client.NewLazyClient(client.Options{HostPort: dead, Logger: nil})
	}, logs)
	v := newResponseValidator(t)
	assert.Contains(t, logs.String(), "no API tokens configured")

	r := do(t, v, base, http.MethodGet, "/healthz", "", nil)
	assert.Equal(t, http.StatusServiceUnavailable, r.Status)
	r.problem(t)
	start := time.Now().Add(time.Hour)
	r = do(t, v, base, http.MethodPost, "/v1/appointments", "", scheduleBody("U1", "demo", start))
	assert.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	r.problem(t)
	r = do(t, v, base, http.MethodGet, "/v1/appointments/U1", "", nil)
	assert.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	assert.Regexp(t, `status=503 .*error=`, logs.String(), "a 5xx logs its cause")
	// Bad input is still a 400: validation needs no Temporal.
	r = do(t, v, base, http.MethodPost, "/v1/appointments", "", withField(start, "U2", "start", "soon"))
	assert.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
}
