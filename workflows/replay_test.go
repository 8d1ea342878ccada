package workflows_test

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/workflows"
)

// recordedScenarios are the histories TestRecordHistories writes to testdata/. The replay test requires every one.
var recordedScenarios = []string{"lifecycle", "reschedule", "reschedule-beyond-400-days", "reschedule-beyond-400-days-v0", "cancel", "call-started", "room", "manual-retry",
	"remote-delivery", "orgsettings", "encrypted-lifecycle", "encrypted-manual-retry", "receipts", "encrypted-api-tokens",
	"participants", "participants-v0", "datakeys-lifecycle", "suppression", "suppression-unsharded", "suppression-index"}

// histories returns the recorded history files by workflow type (read from each file's first event).
func histories(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	have := map[string]bool{}
	byType := map[string][]string{}
	for _, f := range files {
		have[strings.TrimSuffix(filepath.Base(f), ".json")] = true
		r, err := os.Open(f)
		require.NoError(t, err)
		h, err := sdkclient.HistoryFromJSON(r, sdkclient.HistoryJSONOptions{})
		r.Close()
		require.NoError(t, err, f)
		require.NotEmpty(t, h.Events, f)
		typ := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
		byType[typ] = append(byType[typ], f)
	}
	for _, s := range recordedScenarios {
		require.True(t, have[s], "testdata/%s.json is missing: go test ./workflows -run TestRecordHistories -record", s)
	}
	for _, fs := range byType {
		sort.Strings(fs)
	}
	return byType
}

// recordedConverter is the data converter that opens every recording: the recordings' ring with a copy of their
// data-key store (testdata/data-keys.db), copied so that replaying writes nothing into testdata.
func recordedConverter(t *testing.T) converter.DataConverter {
	t.Helper()
	store := filepath.Join(t.TempDir(), codec.DataKeysFileName)
	b, err := os.ReadFile(filepath.Join("testdata", codec.DataKeysFileName))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(store, b, 0o600))
	return codec.DataConverter(recordDataKeysRing(t, store), nil)
}

func quietLogger() sdklog.Logger { return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)) }

// TestReplayRecordedHistories replays every recorded history (testdata/*.json) against the workflow code as it is
// now. A change that alters the commands an existing workflow produces (a new timer, activity or marker, a removed
// one, another order) fails here: running workflows would fail with a nondeterminism error after a deploy. Guard
// such a change with workflow.GetVersion (docs/changing-workflows.md).
func TestReplayRecordedHistories(t *testing.T) {
	byType := histories(t)
	require.NotEmpty(t, byType[appt.AppointmentWorkflowType])
	require.NotEmpty(t, byType[appt.OrgSettingsWorkflowType])
	require.NotEmpty(t, byType[appt.TokensWorkflowType])
	require.NotEmpty(t, byType[appt.OrgTestsWorkflowType])
	require.NotEmpty(t, byType[appt.SuppressionIndexWorkflowType])
	dc := recordedConverter(t)
	for _, fs := range byType {
		for _, f := range fs {
			t.Run(filepath.Base(f), func(t *testing.T) {
				// The encrypted recordings (sealed with the ring's key, encrypted-*, or with a data key per
				// appointment, datakeys-*) replay with the codec, which holds the ring and the data-key store; the
				// plaintext ones replay both without it (the worker as it was) and with it (a worker upgraded to
				// encryption, running appointments started before).
				if base := filepath.Base(f); !strings.HasPrefix(base, "encrypted-") && !strings.HasPrefix(base, "datakeys-") {
					r := worker.NewWorkflowReplayer()
					workflows.Register(r)
					require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), f))
				}
				r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
					DataConverter: dc, FailureConverter: codec.FailureConverter(dc)})
				require.NoError(t, err)
				workflows.Register(r)
				require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), f))
			})
		}
	}
}

// The encrypted recordings hold no customer data in plaintext: the participant's name, email address, phone
// number and join link, and the API token table's digests, appear only sealed.
func TestEncryptedRecordingsHoldNoPlaintext(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "encrypted-*.json"))
	require.NoError(t, err)
	require.Len(t, files, 3)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var doc any
		require.NoError(t, json.Unmarshal(b, &doc))
		// Every string of the history, and every string that is base64 (payload data and metadata) decoded.
		var texts []string
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, e := range x {
					texts = append(texts, k)
					walk(e)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			case string:
				texts = append(texts, x)
				if d, err := base64.StdEncoding.DecodeString(x); err == nil {
					texts = append(texts, string(d))
				}
			}
		}
		walk(doc)
		all := strings.Join(texts, "\n")
		assert.Contains(t, all, "binary/encrypted", f)
		assert.Contains(t, all, "rec", "the key ID is recorded")
		for _, pii := range []string{"Ann Lee", "ann@example.com", "+15551234567", "video.example", "T-1", "Agent Smith"} {
			assert.NotContains(t, all, pii, f)
		}
		assert.NotRegexp(t, `[0-9a-f]{64}`, all, "%s: no API token digest (SHA-256 in hex) in plaintext", f)
	}
}

// demoChange is the change that TestGetVersionGuardsAChange makes to the appointment workflow: one extra timer
// before anything else.
const demoChange = "demo-extra-timer"

// guardedAppointment is the appointment workflow with a change guarded the way docs/changing-workflows.md says: new executions
// take the new branch (and record the version in their history); a history recorded before the change has no
// version marker, so GetVersion returns DefaultVersion there and the old code path replays unchanged.
func guardedAppointment(ctx workflow.Context, req *appt.ScheduleRequest) (*appt.Status, error) {
	if workflow.GetVersion(ctx, demoChange, workflow.DefaultVersion, 1) == 1 {
		if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
			return nil, err
		}
	}
	return workflows.AppointmentWorkflow(ctx, req)
}

// unguardedAppointment makes the same change without the guard.
func unguardedAppointment(ctx workflow.Context, req *appt.ScheduleRequest) (*appt.Status, error) {
	if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
		return nil, err
	}
	return workflows.AppointmentWorkflow(ctx, req)
}

func replayWith(dc converter.DataConverter, f string, appointment any) error {
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc, FailureConverter: codec.FailureConverter(dc)})
	if err != nil {
		return err
	}
	r.RegisterWorkflowWithOptions(appointment, workflow.RegisterOptions{Name: appt.AppointmentWorkflowType})
	r.RegisterWorkflowWithOptions(workflows.OrgSettingsWorkflow, workflow.RegisterOptions{Name: appt.OrgSettingsWorkflowType})
	return r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), f)
}

// TestGetVersionGuardsAChange shows why a change to the workflow code needs workflow.GetVersion: every recorded
// appointment history replays against the change made behind GetVersion, and none replays against the same change
// made without it (the SDK reports a nondeterminism error, TMPRL1100).
func TestGetVersionGuardsAChange(t *testing.T) {
	dc := recordedConverter(t)
	for _, f := range histories(t)[appt.AppointmentWorkflowType] {
		t.Run(filepath.Base(f), func(t *testing.T) {
			assert.NoError(t, replayWith(dc, f, guardedAppointment), "the guarded change replays the old history")
			err := replayWith(dc, f, unguardedAppointment)
			require.Error(t, err, "the unguarded change must not replay the old history")
			assert.Contains(t, err.Error(), "TMPRL1100", "a nondeterminism error")
		})
	}
}

// TestDataKeyRecordingNeedsItsKey: the recording sealed with a data key per appointment (datakeys-lifecycle) names
// a data key in every sealed payload, and does not replay with the ring alone: its payloads open only through the
// data-key store, which TestReplayRecordedHistories gives it.
func TestDataKeyRecordingNeedsItsKey(t *testing.T) {
	f := filepath.Join("testdata", "datakeys-lifecycle.json")
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	sealed := strings.Count(string(b), base64.StdEncoding.EncodeToString([]byte("binary/encrypted")))
	require.Greater(t, sealed, 10)
	assert.Equal(t, sealed, strings.Count(string(b), `"`+codec.MetadataDataKeyID+`"`), "every sealed payload names its data key")
	dc := codec.DataConverter(recordRing(t), nil)
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc, FailureConverter: codec.FailureConverter(dc)})
	require.NoError(t, err)
	workflows.Register(r)
	assert.Error(t, r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), f), "the ring alone cannot open it")
}
