package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// The customer data of the lifecycles below: none of it may appear in Temporal's stored history.
var pii = []string{
	"Zoë Brandt-Quux", "zoe.brandt@example.org", "+15557654321", "https://video.example/j/secret-room-4711",
	"secret-room-4711", "MRN-99812-XYZ", "Björn Okafor", "bjorn.okafor@example.net", "+15559876543", "Leaky Subscriber",
}

// rawClient is a Temporal client with no codec: it sees what the server stores.
func (e *env) rawClient() client.Client {
	e.t.Helper()
	c, err := client.Dial(client.Options{HostPort: e.frontend(), Namespace: "default"})
	require.NoError(e.t, err)
	e.t.Cleanup(c.Close)
	return c
}

// storedText returns everything the server holds for a workflow as text: every history event as protobuf JSON
// and as raw protobuf bytes, every payload's data (the bytes base64 hides in JSON), every failure message and stack
// trace, and the execution's search attributes and memo.
func storedText(t *testing.T, c client.Client, workflowID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b strings.Builder
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		n++
		j, err := temporalproto.CustomJSONMarshalOptions{}.Marshal(ev)
		require.NoError(t, err)
		b.Write(j)
		raw, err := proto.Marshal(ev)
		require.NoError(t, err)
		b.Write(raw)
		visitPayloads(ev, func(p *commonpb.Payload) {
			b.Write(p.Data)
			for k, v := range p.Metadata {
				b.WriteString(k)
				b.Write(v)
			}
		})
	}
	require.Greater(t, n, 5, "history of %s", workflowID)
	d, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	require.NoError(t, err)
	j, err := protojson.Marshal(d)
	require.NoError(t, err)
	b.Write(j)
	return b.String()
}

// visitPayloads calls fn for every Payload message anywhere inside m.
func visitPayloads(m proto.Message, fn func(*commonpb.Payload)) {
	var walk func(protoreflect.Message)
	walk = func(pm protoreflect.Message) {
		if p, ok := pm.Interface().(*commonpb.Payload); ok {
			fn(p)
			return
		}
		pm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					walk(l.Get(i).Message())
				}
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(mv.Message())
					return true
				})
			case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
				walk(v.Message())
			}
			return true
		})
	}
	walk(m.ProtoReflect())
}

func assertNoPII(t *testing.T, what, stored string) {
	t.Helper()
	for _, v := range pii {
		assert.NotContains(t, stored, v, "%s holds %q in plaintext", what, v)
		assert.NotContains(t, stored, base64.StdEncoding.EncodeToString([]byte(v)), "%s holds %q in base64", what, v)
	}
	assert.Contains(t, stored, "binary/encrypted", what)
}

// TestNoCustomerDataInTemporal runs full lifecycles through the real worker and starter binaries with payload
// encryption on (keys in APPTNOTIFY_ENCRYPTION_KEYS, as on a cluster), then reads what the server stores, without
// the codec, and finds none of the customer data anywhere: not in an event, a payload, a failure message, a search
// attribute or the memo. It also checks the codec endpoint of a worker on a cluster: 401 without its token, a round
// trip with it.
func TestNoCustomerDataInTemporal(t *testing.T) {
	e := newEnvConfig(t, func(e *env) string {
		return smsConfig(e, fmt.Sprintf(`    reminder_offsets: [40s]
    max_attempts: 2
    webhooks:
      - {url: "%s/hooks", secret_env: E2E_WEBHOOK_SECRET}
    allow_private_webhook_addresses: true
`, e.hooks.URL))
	})
	e.startWorker()
	w := e.worker
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(w.logs())
		}
	})
	start := time.Now().Add(90 * time.Second).Truncate(time.Second)
	create := appt.EventID("P1", appt.Create, 0, 0)
	var createCalls atomic.Int32
	e.hooks.Respond(func(w testenv.Webhook) int {
		if w.ID == create && createCalls.Add(1) <= 2 {
			return http.StatusInternalServerError // fails both attempts, then recovers for the manual retry
		}
		return http.StatusNoContent
	})
	e.ok("schedule", "--id", "P1", "--org", "acme", "--start", rfc3339(start),
		"--participant", `id=c1,name=Zoë Brandt-Quux,email=zoe.brandt@example.org,phone=+15557654321,tz=Europe/Berlin,locale=de`,
		"--participant", `id=c2,name=Leaky Subscriber,email=leaky@example.com,role=agent`,
		"--join-url", "https://video.example/j/secret-room-4711", "--metadata", "mrn=MRN-99812-XYZ")
	e.ok("schedule", "--id", "P2", "--org", "acme", "--start", rfc3339(start.Add(time.Hour)),
		"--participant", `id=c1,name=Björn Okafor,email=bjorn.okafor@example.net,phone=+15559876543`,
		"--join-url", "https://video.example/j/secret-room-4711", "--metadata", "mrn=MRN-99812-XYZ")

	var failed string
	eventually(t, 90*time.Second, "the CREATE webhook fails twice", func() bool {
		for _, d := range e.status("P1").Deliveries {
			if d.EventID == create && d.Channel == appt.Webhook && d.Status == appt.Failed && d.Attempts == 2 {
				failed = d.ID
				return true
			}
		}
		return false
	})
	out := e.ok("retry", "--id", "P1", "--entry", failed)
	assert.Contains(t, out, "sent")
	e.ok("reschedule", "--id", "P1", "--start", rfc3339(start.Add(10*time.Second)))
	e.ok("update", "--id", "P1", "--metadata", "mrn=MRN-99812-XYZ", "--metadata", "note=Zoë Brandt-Quux")
	eventually(t, 2*time.Minute, "the REMINDER after the reschedule", func() bool {
		for _, d := range entriesOf(e.status("P1"), appt.Reminder, appt.Email) {
			if d.Status == appt.Sent && strings.Contains(d.EventID, "/g1/") {
				return true
			}
		}
		return false
	})
	e.ok("call-started", "--id", "P1")
	e.ok("joined", "--id", "P1", "--participant", "c1")
	e.ok("call-ended", "--id", "P1")
	e.ok("cancel", "--id", "P2", "--reason", "Zoë Brandt-Quux asked")
	eventually(t, time.Minute, "FOLLOW_UP by email", func() bool {
		return len(entriesOf(e.status("P1"), appt.FollowUp, appt.Email)) == 1
	})
	// The customer got real messages: the values were in Temporal, only sealed.
	require.GreaterOrEqual(t, len(e.mailsTo("zoe.brandt@example.org")), 4) // CREATE, RESCHEDULE, REMINDER, FOLLOW_UP
	require.NotEmpty(t, e.twilio.RequestsTo("+15557654321"))

	raw := e.rawClient()
	for _, id := range []string{"P1", "P2"} {
		assertNoPII(t, "the stored history of "+id, storedText(t, raw, appt.WorkflowID(id)))
	}

	t.Run("the codec endpoint of a worker on a cluster needs its token", func(t *testing.T) {
		port := testenv.FreePort(t)
		w := e.launch("cluster-worker", []string{"TEMPORAL_ADDRESS=" + e.frontend(), codec.TokenEnv + "=codec-t0ken"},
			"--codec-port", strconv.Itoa(port))
		defer w.kill()
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		body := `{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"IkFubiI="}]}`
		resp, err := http.Post(url+"/encode", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		enc := codecCall(t, url+"/encode", "codec-t0ken", body)
		assert.Contains(t, enc, base64.StdEncoding.EncodeToString([]byte("binary/encrypted")))
		dec := codecCall(t, url+"/decode", "codec-t0ken", enc)
		assert.Contains(t, dec, "IkFubiI=", "the round trip gives back the payload")
	})
}

func codecCall(t *testing.T, url, token, body string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}

// TestUpgradeToEncryptionAndUnknownKey: an appointment started by a worker that wrote plaintext keeps going after
// the worker restarts with encryption (its reminder goes out). Then the worker restarts with a ring that lacks the
// key the appointment's payloads were sealed with: its workflow task fails, the workflow stays open, the worker logs
// the workflow and key at ERROR and counts it in a metric. With the key back, the appointment carries on.
func TestUpgradeToEncryptionAndUnknownKey(t *testing.T) {
	e := newEnv(t, "    reminder_offsets: [50s, 25s]\n")
	plainEnv := []string{codec.KeysEnv + "="}
	e.worker = e.launch("worker", plainEnv, "--plaintext-history")
	start := time.Now().Add(80 * time.Second).Truncate(time.Second)
	code, _, errs := e.runEnv(plainEnv, "schedule", "--id", "U1", "--org", "acme", "--start", rfc3339(start),
		"--participant", participant("c1", "u1@example.com"), "--plaintext-history")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, errs, "warning: --plaintext-history")
	eventually(t, 30*time.Second, "CREATE", func() bool { return len(e.mailsTo("u1@example.com")) == 1 })
	e.stop()

	// The same data directory, now with the e2e key ring: the plaintext history still decodes.
	e.startWorker()
	eventually(t, 90*time.Second, "the first REMINDER after the upgrade", func() bool { return len(e.mailsTo("u1@example.com")) == 2 })
	st := e.status("U1")
	assert.Len(t, entriesOf(st, appt.Reminder, appt.Email), 1)
	e.stop()

	// A ring without the e2e key: the second reminder's task cannot open the history.
	metrics := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	otherKey := "other=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	e.worker = e.launch("worker", []string{codec.KeysEnv + "=" + otherKey}, "--metrics", metrics, "--log-level", "info")
	defer func() {
		if t.Failed() {
			t.Logf("worker logs:\n%s", e.worker.logs())
		}
	}()
	eventually(t, 90*time.Second, "the unknown key is logged", func() bool {
		return strings.Contains(e.worker.logs(), `keyId=e2e`)
	})
	logs := e.worker.logs()
	assert.Contains(t, logs, "level=ERROR")
	assert.Contains(t, logs, "workflowId=appointment:U1")
	eventually(t, 30*time.Second, "the metric counts it", func() bool {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), codec.MetricUnknownKey)
	})
	raw := e.rawClient()
	d, err := raw.DescribeWorkflowExecution(context.Background(), appt.WorkflowID("U1"), "")
	require.NoError(t, err)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, d.GetWorkflowExecutionInfo().GetStatus(), "the workflow stays open")
	assert.Equal(t, 1, strings.Count(logs, "workflowId=appointment:U1 keyId=e2e"), "logged once a minute, not per attempt")
	e.stop()

	// The key is back (the ring now holds both; "other" only decrypts whatever was sealed with it meanwhile): the
	// appointment carries on.
	e.worker = e.launch("worker", []string{codec.KeysEnv + "=" + e2eKeys + "," + otherKey})
	eventually(t, 3*time.Minute, "the second reminder decided (sent or skipped_missed)", func() bool {
		return len(entriesOf(e.status("U1"), appt.Reminder, appt.Email)) == 2
	})
}

// TestEmbeddedDefaultsNeedNoSetup: with no key variable the embedded worker creates <data-dir>/encryption-keys
// (mode 0600) and the starter uses it from its --data-dir, so the README's two commands need no setup and still
// encrypt; the Web UI is configured with the codec endpoint, which round-trips without a token locally; a busy codec
// port stops the worker with the flag named.
func TestEmbeddedDefaultsNeedNoSetup(t *testing.T) {
	e := newEnv(t, "")
	noKeys := []string{codec.KeysEnv + "="}
	codecPort := testenv.FreePort(t)
	e.worker = e.launch("worker", noKeys, "--codec-port", strconv.Itoa(codecPort))
	keyFile := filepath.Join(e.dataDir, codec.KeyFileName)
	fi, err := os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	code, _, errs := e.runEnv(noKeys, "schedule", "--id", "E1", "--org", "acme", "--start", rfc3339(time.Now().Add(time.Hour)),
		"--participant", participant("c1", "e1@example.com"), "--data-dir", filepath.Join(t.TempDir(), "none"))
	assert.Equal(t, 2, code)
	assert.Equal(t, "error: APPTNOTIFY_ENCRYPTION_KEYS is not set (or pass --plaintext-history)\n", errs)

	code, _, errs = e.runEnv(noKeys, "schedule", "--id", "E1", "--org", "acme", "--start", rfc3339(time.Now().Add(time.Hour)),
		"--participant", participant("c1", "e1@example.com"), "--data-dir", e.dataDir)
	require.Equal(t, 0, code, errs)
	code, out, errs := e.runEnv(noKeys, "status", "--id", "E1", "--json", "--data-dir", e.dataDir)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, `"appointmentId": "E1"`)
	stored := storedText(t, e.rawClient(), appt.WorkflowID("E1"))
	assert.Contains(t, stored, "binary/encrypted")
	assert.NotContains(t, stored, "e1@example.com")
	assert.NotContains(t, stored, "Ann Lee")

	// The Web UI knows the codec endpoint.
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(e.uiPort) + "/api/v1/settings")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(b), "http://127.0.0.1:"+strconv.Itoa(codecPort), "the UI's settings name the codec endpoint")
	enc := codecCall(t, "http://127.0.0.1:"+strconv.Itoa(codecPort)+"/encode", "",
		`{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"IkFubiI="}]}`)
	assert.Contains(t, enc, base64.StdEncoding.EncodeToString([]byte("binary/encrypted")))

	// A second worker on the same host with the same codec port: stopped, with the flag named.
	w2 := exec.Command(e.workerBin, "--config", e.config, "--data-dir", t.TempDir(), "--port", strconv.Itoa(testenv.FreePort(t)),
		"--ui-port", "0", "--codec-port", strconv.Itoa(codecPort))
	w2.Env = append(e.environ(), noKeys...)
	out2, err := w2.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out2), "--codec-port")
}
