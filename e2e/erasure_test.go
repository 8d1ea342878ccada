package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/testenv"
	"github.com/apptnotify/apptnotify/internal/tombstones"
)

// The customer the erasure test erases, and another one who must be left alone.
const (
	erasedEmail = "mira.okonkwo@example.org"
	erasedPhone = "+15557001234"
	erasedName  = "Mira Okonkwo-Lindqvist"
	erasedLink  = "https://video.example/j/erase-room-8842"
	keptEmail   = "kept.customer@example.net"
	// temporalDB is the embedded server's SQLite file in the data directory (devserver.DBFileName).
	temporalDB = "temporal.db"
)

// TestEraseCustomer is the erasure end to end (docs/security.md#erasure). One customer has three appointments, one
// running (E1), one completed after its call (E2) and one cancelled (E3); another customer has one (K1). A copy of
// the Temporal database is taken while the worker is stopped. `starter erase --email` then answers a receipt with
// no personal data, and afterwards:
//   - none of the customer's appointments has a history any more; the other customer's still has;
//   - the pre-erasure copy, served by a Temporal server of its own, still holds the three histories, but no
//     payload of them opens with the key ring and the data-key store the system still holds (each fails as erased),
//     none holds the customer's data in plaintext, and the codec endpoint answers the erased placeholder for them;
//   - Twilio was asked to redact every SMS the customer got (an update with an empty Body);
//   - the address has a tombstone with reason erased;
//   - a second erasure of the same address records the tombstone again and answers a receipt with 0 appointments.
func TestEraseCustomer(t *testing.T) {
	e := newEnvConfig(t, func(e *env) string { return smsConfig(e, "") })
	codecPort := testenv.FreePort(t)
	e.startWorker("--codec-port", strconv.Itoa(codecPort))
	w := e.worker
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(w.logs())
		}
	})
	dd := []string{"--data-dir", e.dataDir} // the starter finds the worker's address key there
	customer := fmt.Sprintf("id=c1,name=%s,email=%s,phone=%s,tz=Europe/Berlin", erasedName, erasedEmail, erasedPhone)
	start := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	for i, id := range []string{"E1", "E2", "E3"} {
		e.ok(append([]string{"schedule", "--id", id, "--org", "acme", "--start", rfc3339(start.Add(time.Duration(i) * time.Hour)),
			"--participant", customer, "--join-url", erasedLink}, dd...)...)
	}
	e.ok(append([]string{"schedule", "--id", "K1", "--org", "acme", "--start", rfc3339(start),
		"--participant", "id=c1,name=Kept,email=" + keptEmail}, dd...)...)
	e.ok("call-started", "--id", "E2")
	e.ok("joined", "--id", "E2", "--participant", "c1")
	e.ok("call-ended", "--id", "E2")
	e.ok("cancel", "--id", "E3", "--reason", "customer asked")

	raw := e.rawClient()
	closed := func(id string) bool {
		d, err := raw.DescribeWorkflowExecution(context.Background(), appt.WorkflowID(id), "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	}
	eventually(t, 2*time.Minute, "E2 completes after its FOLLOW_UP and E3 after its CANCELLED", func() bool { return closed("E2") && closed("E3") })
	eventually(t, time.Minute, "E1's CREATE SMS", func() bool { return len(entriesOf(e.status("E1"), appt.Create, appt.SMS)) == 1 })
	var sids []string
	for _, r := range e.twilio.RequestsTo(erasedPhone) {
		sids = append(sids, r.SID)
	}
	require.GreaterOrEqual(t, len(sids), 5, "CREATE ×3, FOLLOW_UP and CANCELLED by SMS")

	// The copy of the database, taken before the erasure with the worker stopped, so that it is consistent.
	e.stop()
	copyDir := t.TempDir()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		copyFile(t, filepath.Join(e.dataDir, temporalDB+suffix), filepath.Join(copyDir, temporalDB+suffix))
	}
	e.startWorker("--codec-port", strconv.Itoa(codecPort))
	w = e.worker

	out := e.ok(append([]string{"erase", "--org", "acme", "--email", strings.ToUpper(erasedEmail), "--json"}, dd...)...)
	var rc appt.ErasureReceipt
	require.NoError(t, json.Unmarshal([]byte(out), &rc), out)
	for _, v := range []string{erasedEmail, erasedPhone, erasedName, erasedLink} {
		assert.NotContains(t, strings.ToLower(out), strings.ToLower(v), "the receipt holds %q", v)
	}
	for _, id := range []string{"E1", "E2", "E3"} {
		assert.NotContains(t, out, `"`+id+`"`, "the receipt names appointment %s", id)
		assert.NotContains(t, out, appt.WorkflowID(id), "the receipt names appointment %s", id)
	}
	assert.Regexp(t, `^[0-9a-f]{24}$`, rc.ErasureID)
	assert.Equal(t, 3, rc.Appointments)
	assert.GreaterOrEqual(t, rc.Executions, 3)
	assert.Equal(t, 3, rc.DataKeysDestroyed)
	assert.Equal(t, 1, rc.Tombstones)
	assert.Equal(t, len(sids), rc.SMSMessages)
	require.NotNil(t, rc.ErasedAt)
	for name, at := range map[string]*time.Time{"found": rc.Steps.Found, "stopped": rc.Steps.Stopped, "keysDestroyed": rc.Steps.KeysDestroyed,
		"executionsDeleted": rc.Steps.ExecutionsDeleted, "tombstoned": rc.Steps.Tombstoned} {
		assert.NotNil(t, at, "step %s finished", name)
	}

	// No history, for any run; the other customer's appointment is untouched.
	for _, id := range []string{"E1", "E2", "E3"} {
		_, err := raw.DescribeWorkflowExecution(context.Background(), appt.WorkflowID(id), "")
		var nf *serviceerror.NotFound
		assert.True(t, errors.As(err, &nf), "%s still has an execution: %v", id, err)
	}
	assert.Equal(t, appt.Active, e.status("K1").State, "the other customer's appointment runs on")

	// Twilio redaction of every SMS the customer got.
	eventually(t, time.Minute, "every SMS body redacted at Twilio", func() bool {
		red := e.twilio.Redacted()
		for _, s := range sids {
			if !slices.Contains(red, s) {
				return false
			}
		}
		return true
	})
	eventually(t, time.Minute, "the receipt says the redaction finished", func() bool {
		r, err := e.api().Erasure(context.Background(), "acme", rc.ErasureID)
		return err == nil && r.FinishedAt != nil && r.SMSRedacted == len(sids) && r.Steps.SMSRedacted != nil
	})

	// The tombstone.
	key, err := addrhash.Load(func(string) string { return "" }, e.dataDir, false)
	require.NoError(t, err)
	h, err := addrhash.New(key)
	require.NoError(t, err)
	hash, err := h.HashAddress("acme", appt.Email, erasedEmail)
	require.NoError(t, err)
	ring, err := codec.ParseKeyRing(e2eKeys)
	require.NoError(t, err)
	dk, err := codec.OpenDataKeys(context.Background(), filepath.Join(e.dataDir, codec.DataKeysFileName), ring)
	require.NoError(t, err)
	defer dk.Close()
	db, _ := dk.SQL()
	ts, err := tombstones.OpenSQL(context.Background(), db)
	require.NoError(t, err)
	tomb, found, err := ts.Lookup(context.Background(), "acme", hash)
	require.NoError(t, err)
	require.True(t, found, "a tombstone for the erased address")
	assert.Equal(t, appt.TombstoneErased, tomb.Reason)

	// The pre-erasure copy: its own Temporal server, read with no codec, then with everything the system holds.
	port := testenv.FreePort(t)
	srv := startProcess(t, "copy server", binary(t, "bench/server"), []string{"--sqlite-dir", copyDir, "--port", strconv.Itoa(port),
		"--history-shards", "8"}, e.environ(), "frontend ")
	defer srv.kill()
	cc, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Namespace: "default", Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	defer cc.Close()
	full := codec.New(ring.WithDataKeys(dk), nil)
	erasedPayloads := 0
	for _, id := range []string{"E1", "E2", "E3"} {
		stored := storedText(t, cc, appt.WorkflowID(id))
		for _, v := range []string{erasedEmail, erasedPhone, erasedName, erasedLink} {
			assert.NotContains(t, stored, v, "the copy holds %q in plaintext (%s)", v, id)
		}
		for _, p := range historyPayloads(t, cc, appt.WorkflowID(id)) {
			if string(p.GetMetadata()[codec.MetadataEncoding]) != codec.EncodingEncrypted {
				continue
			}
			_, err := full.Decode([]*commonpb.Payload{p})
			var erased *codec.ErasedError
			if !assert.True(t, errors.As(err, &erased), "a payload of %s opens with the keys the system still holds (%v, metadata %v)", id, err, p.Metadata) {
				continue
			}
			erasedPayloads++
		}
	}
	assert.Greater(t, erasedPayloads, 20, "the copies hold sealed payloads, all of them erased")
	k1 := historyPayloads(t, cc, appt.WorkflowID("K1"))
	_, err = full.Decode(k1[:1])
	assert.NoError(t, err, "the other customer's payloads still open")

	// The codec endpoint answers the placeholder for an erased payload, not a 500.
	sealed := historyPayloads(t, cc, appt.WorkflowID("E1"))[0]
	body, err := json.Marshal(map[string]any{"payloads": []any{jsonPayload(sealed)}})
	require.NoError(t, err)
	var dec struct {
		Payloads []struct {
			Data []byte `json:"data"`
		} `json:"payloads"`
	}
	require.NoError(t, json.Unmarshal([]byte(codecCall(t, "http://127.0.0.1:"+strconv.Itoa(codecPort)+"/decode", "", string(body))), &dec))
	require.Len(t, dec.Payloads, 1)
	assert.Contains(t, string(dec.Payloads[0].Data), `"erased":true`)

	// A second erasure: nothing more to find, the tombstone recorded again, a receipt.
	out = e.ok(append([]string{"erase", "--org", "acme", "--phone", erasedPhone, "--email", erasedEmail, "--json"}, dd...)...)
	var again appt.ErasureReceipt
	require.NoError(t, json.Unmarshal([]byte(out), &again), out)
	assert.Equal(t, 0, again.Appointments)
	assert.Equal(t, 2, again.Tombstones)
	assert.NotNil(t, again.ErasedAt)
}

// smsConfig is a config whose organisation acme sends email through the env's Mailpit and SMS through its fake
// Twilio, plus the given lines of YAML for acme.
func smsConfig(e *env, orgYAML string) string {
	return fmt.Sprintf(`smtp: {host: 127.0.0.1, port: %d, tls: none}
twilio: {base_url: %q}
organizations:
  - id: acme
    platform: genesys
    email_from: "Acme Care <care@acme.example>"
    sms_from: "+15550000000"
%s`, e.mail.SMTPPort, e.twilio.URL, orgYAML)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	require.NoError(t, err)
	defer in.Close()
	out, err := os.Create(to)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// historyPayloads returns every payload of a workflow's history.
func historyPayloads(t *testing.T, c client.Client, workflowID string) []*commonpb.Payload {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []*commonpb.Payload
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		visitPayloads(ev, func(p *commonpb.Payload) { out = append(out, p) })
	}
	require.NotEmpty(t, out)
	return out
}

// jsonPayload is a payload as the codec endpoint's JSON carries it (base64 metadata values and data).
func jsonPayload(p *commonpb.Payload) map[string]any {
	md := map[string][]byte{}
	for k, v := range p.Metadata {
		md[k] = v
	}
	return map[string]any{"metadata": md, "data": p.Data}
}
