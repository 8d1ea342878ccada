package stacktest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/devserver"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/httpapi/httpapitest"
	"github.com/apptnotify/apptnotify/internal/orgs"
	"github.com/apptnotify/apptnotify/internal/seal"
	"github.com/apptnotify/apptnotify/internal/startercli"
	"github.com/apptnotify/apptnotify/internal/templates"
	"github.com/apptnotify/apptnotify/internal/testenv"
	"github.com/apptnotify/apptnotify/internal/tombstones"
	"github.com/apptnotify/apptnotify/internal/workerapp"
	"github.com/apptnotify/apptnotify/workflows"
)

// The tokens of the tests: one per organisation, one for all, and one that ends in base64 padding.
const (
	tokAcme   = "tok-acme"
	tokBeta   = "tok-beta"
	tokAll    = "tok-all"
	tokPadded = "cGFkZGVk=="
	tokensEnv = tokAcme + "=acme," + tokBeta + "=beta," + tokAll + "=*," + tokPadded + "=acme|beta"
)

const testConfig = `smtp: {host: 127.0.0.1, port: %d, tls: none}
organizations:
  - id: acme
    platform: genesys
    email_from: "Acme Care <care@acme.example>"
    auto_activate: false
    max_attempts: 1
    webhooks:
      - {url: "%s/hook", secret_env: HOOK_SECRET}
    allow_private_webhook_addresses: true
  - id: beta
    platform: genesys
    email_from: "Beta Care <care@beta.example>"
`

// apiEnv is a real stack: an embedded Temporal server, a worker with the real activities, Mailpit, a webhook
// receiver, and `starter serve` itself, run through startercli.Run on a free port.
type apiEnv struct {
	t        *testing.T
	base     string
	tc       client.Client
	ring     *codec.KeyRing
	mail     *testenv.Mailpit
	hooks    *testenv.WebhookReceiver
	logs     *testenv.SyncBuffer
	validate *responseValidator
	stop     func() int // cancels serve's context and returns its exit code
	// serveAgain starts another `starter serve` on the same cluster, config, tokens and keys (a second API process).
	serveAgain func(logs io.Writer) (base string, stop func() int)
	// tombstones and addressKey are the erasure's store and the address key serve hashes with.
	tombstones *tombstones.SQL
	addressKey string
}

func startAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	mail := testenv.StartMailpit(t)
	hooks := testenv.StartWebhookReceiver(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, testConfig, mail.SMTPPort, hooks.URL), 0o600))
	workerEnv := func(k string) string {
		return map[string]string{"HOOK_SECRET": testenv.WebhookSecret}[k]
	}
	cfgBytes, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	cfg, err := config.ParseWorker(cfgBytes, workerEnv)
	require.NoError(t, err)
	keys, err := codec.NewKeyRingText(time.Now())
	require.NoError(t, err)
	ring, err := codec.ParseKeyRing(keys)
	require.NoError(t, err)
	// The data-key store and the address key, shared by the worker and serve, as on one host.
	dataKeys := filepath.Join(dir, codec.DataKeysFileName)
	dk, err := codec.OpenDataKeys(context.Background(), dataKeys, ring)
	require.NoError(t, err)
	t.Cleanup(func() { dk.Close() })
	ring = ring.WithDataKeys(dk)
	addressKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))

	quiet := slog.New(slog.DiscardHandler)
	port, err := devserver.FreePort()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: t.TempDir(), Port: port, UIPort: 0,
		SearchAttributes: workerapp.SearchAttributes, Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	dial := func(ring *codec.KeyRing) (client.Client, error) {
		opts := client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(),
			Logger: sdklog.NewStructuredLogger(quiet)}
		api.Encrypt(&opts, ring, nil)
		return client.Dial(opts)
	}
	tc, err := dial(ring) // the worker's client, with the same key ring
	require.NoError(t, err)
	t.Cleanup(tc.Close)

	tpl, err := templates.Load(cfg)
	require.NoError(t, err)
	acts, err := activities.NewActivities(cfg, tpl, tc)
	require.NoError(t, err)
	sealKey, err := seal.NewPrivateKey()
	require.NoError(t, err)
	opener, err := seal.ParsePrivateKeys(sealKey)
	require.NoError(t, err)
	acts.Orgs = orgs.NewDirectory(cfg, acts.Settings.Settings, orgs.DirectoryOptions{Opener: opener, Templates: tpl})
	w := worker.New(tc, appt.TaskQueue, worker.Options{})
	workflows.Register(w)
	activities.Register(w, acts)
	db, _ := dk.SQL()
	tombs, err := tombstones.OpenSQL(context.Background(), db)
	require.NoError(t, err)
	activities.RegisterErasure(w, &activities.Erasure{Temporal: tc, Namespace: srv.Namespace(), DataKeys: dk, Tombstones: tombs})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	e := &apiEnv{t: t, tc: tc, ring: ring, tombstones: tombs, addressKey: addressKey, mail: mail, hooks: hooks, logs: &testenv.SyncBuffer{}, validate: newResponseValidator(t)}
	serveEnv := func(k string) string {
		// serve gets the tokens and the key ring, and no worker secret: HOOK_SECRET is deliberately absent.
		// It seals subscriber secrets with the worker's public key, and holds no private key.
		return map[string]string{httpapi.TokensEnvVar: tokensEnv, codec.KeysEnv: keys, codec.DataKeysEnv: dataKeys,
			addrhash.EnvVar: addressKey, seal.PublicKeyEnv: opener.PublicKey()}[k]
	}
	e.serveAgain = func(logs io.Writer) (string, func() int) {
		return startServe(t, []string{"--config", cfgPath}, serveEnv, dial, logs)
	}
	e.base, e.stop = e.serveAgain(e.logs)
	return e
}

// startServe runs `starter serve` on a free loopback port until the test ends, and waits until it answers.
func startServe(t *testing.T, args []string, getenv func(string) string, dial func(*codec.KeyRing) (client.Client, error), logs io.Writer) (string, func() int) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stdout testenv.SyncBuffer
	go func() {
		done <- startercli.Run(ctx, append([]string{"serve", "--listen", addr}, args...), startercli.Env{
			Stdout: &stdout, Stderr: logs, Getenv: getenv, Now: time.Now, Dial: dial,
		})
	}()
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/openapi.yaml")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before answering: %s", code, stdout.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "serve does not answer on %s", addr)
		time.Sleep(50 * time.Millisecond)
	}
	var once sync.Once
	code := 0
	stop := func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	t.Cleanup(func() { stop() })
	return base, stop
}

// reply is an HTTP response, read in full and validated against the document.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "%s", r.Body)
}

func (r reply) problem(t *testing.T) httpapi.Problem {
	t.Helper()
	require.Equal(t, httpapi.ProblemContentType, r.Header.Get("Content-Type"), "%d %s", r.Status, r.Body)
	var p httpapi.Problem
	r.json(t, &p)
	require.Equal(t, r.Status, p.Status)
	return p
}

// do sends a request with a token ("" for none) and a body (nil, []byte, or a value to encode as JSON), and
// validates the response against api/openapi.yaml.
func do(t *testing.T, v *responseValidator, base, method, path, token string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, base+path, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, v, req)
}

func send(t *testing.T, v *responseValidator, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
	v.check(t, req, r)
	return r
}

type responseValidator struct{ *httpapitest.Validator }

func newResponseValidator(t testing.TB) *responseValidator {
	v, err := httpapitest.New()
	require.NoError(t, err)
	return &responseValidator{v}
}

func (v *responseValidator) check(t testing.TB, req *http.Request, r reply) {
	t.Helper()
	require.NoError(t, v.Validate(req, r.Status, r.Header, r.Body), "%s %s → %d %s", req.Method, req.URL.Path, r.Status, r.Body)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
