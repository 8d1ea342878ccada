package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/tombstones"
)

// ErrNoErasureStore is the non-retryable error type of an erasure step that needs the data-key store on a worker
// that has none (a worker on a cluster without APPTNOTIFY_DATA_KEYS).
const ErrNoErasureStore = "NoErasureStore"

// SMSRedactor redacts the body of a message the SMS provider keeps (TwilioSMS.RedactSMS).
type SMSRedactor interface {
	RedactSMS(ctx context.Context, sid string) error
}

// Erasure holds the erasure workflow's activities (docs/security.md#erasure): they find a customer's appointments,
// stop them, destroy their data keys, delete their executions, record the tombstones, and redact SMS bodies at
// Twilio. Each is idempotent, so the workflow can retry any of them after a crash.
type Erasure struct {
	Temporal  client.Client
	Namespace string
	// DataKeys is the worker's data-key store; nil when it has none (then no key can be destroyed).
	DataKeys *codec.DataKeys
	// Tombstones records the erased addresses; nil refuses the step (ErrNoErasureStore).
	Tombstones tombstones.Recorder
	// SMS redacts message bodies at Twilio; nil when the config has no Twilio credentials.
	SMS SMSRedactor
}

// RegisterErasure registers e's activities under their contract names.
func RegisterErasure(r Registry, e *Erasure) {
	r.RegisterActivityWithOptions(e.Find, activity.RegisterOptions{Name: appt.ActivityErasureFind})
	r.RegisterActivityWithOptions(e.Stop, activity.RegisterOptions{Name: appt.ActivityErasureStop})
	r.RegisterActivityWithOptions(e.DestroyKeys, activity.RegisterOptions{Name: appt.ActivityErasureDestroyKeys})
	r.RegisterActivityWithOptions(e.Delete, activity.RegisterOptions{Name: appt.ActivityErasureDelete})
	r.RegisterActivityWithOptions(e.Tombstone, activity.RegisterOptions{Name: appt.ActivityErasureTombstone})
	r.RegisterActivityWithOptions(e.RedactSMS, activity.RegisterOptions{Name: appt.ActivityRedactSMS})
}

// ErasureRun is one run of an appointment's workflow.
type ErasureRun struct {
	RunID   string `json:"runId"`
	Running bool   `json:"running"`
}

// ErasureTarget is one appointment an erasure found, with every run of its workflow.
type ErasureTarget struct {
	WorkflowID string       `json:"workflowId"`
	Runs       []ErasureRun `json:"runs"`
}

// ErasureFound is what ErasureFind returns: the appointments, and the Twilio SIDs of the SMS they sent (read from
// their delivery logs before anything is stopped or destroyed). Unreadable counts appointments whose log could not
// be read (their SMS, if any, cannot be redacted).
type ErasureFound struct {
	Targets    []ErasureTarget `json:"targets"`
	SMSIDs     []string        `json:"smsIds,omitempty"`
	Unreadable int             `json:"unreadable,omitempty"`
}

// erasureQuery is the visibility query of an erasure: the organisation's appointments whose address hashes include
// one of the request's, or whose workflow ID is one of the request's appointments. Hashes are hex and appointment
// IDs are restricted to [A-Za-z0-9._:-] (appt.ValidateAppointmentID), so neither needs escaping.
func erasureQuery(req *appt.ErasureRequest) string {
	var or []string
	if len(req.AddressHashes) > 0 {
		or = append(or, fmt.Sprintf("%s IN (%s)", appt.SearchAttrAddressHashes, quoteAll(req.AddressHashes)))
	}
	if len(req.AppointmentIDs) > 0 {
		ids := make([]string, len(req.AppointmentIDs))
		for i, id := range req.AppointmentIDs {
			ids[i] = appt.WorkflowID(id)
		}
		or = append(or, fmt.Sprintf("WorkflowId IN (%s)", quoteAll(ids)))
	}
	return fmt.Sprintf("%s = '%s' AND WorkflowType = '%s' AND (%s)", appt.SearchAttrOrg, req.Org, appt.AppointmentWorkflowType,
		strings.Join(or, " OR "))
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = "'" + v + "'"
	}
	return strings.Join(q, ", ")
}

// Find lists the appointments an erasure covers, every run of each, and the SMS SIDs of their delivery logs. An
// appointment of another organisation never matches.
func (e *Erasure) Find(ctx context.Context, req *appt.ErasureRequest) (*ErasureFound, error) {
	byWF := map[string]*ErasureTarget{}
	var token []byte
	for {
		resp, err := e.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: e.Namespace, Query: erasureQuery(req), NextPageToken: token, PageSize: 1000,
		})
		if err != nil {
			return nil, fmt.Errorf("listing the appointments: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			id := ex.GetExecution().GetWorkflowId()
			t := byWF[id]
			if t == nil {
				t = &ErasureTarget{WorkflowID: id}
				byWF[id] = t
			}
			t.Runs = append(t.Runs, ErasureRun{RunID: ex.GetExecution().GetRunId(),
				Running: ex.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING})
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	out := &ErasureFound{}
	for _, id := range appt.SortedKeys(byWF) {
		t := byWF[id]
		sort.Slice(t.Runs, func(i, j int) bool { return t.Runs[i].RunID < t.Runs[j].RunID })
		out.Targets = append(out.Targets, *t)
		sids, err := e.smsIDs(ctx, t)
		if err != nil {
			activity.GetLogger(ctx).Warn("erasure: an appointment's delivery log cannot be read; its SMS cannot be redacted",
				"workflowId", id, "error", err)
			out.Unreadable++
			continue
		}
		out.SMSIDs = append(out.SMSIDs, sids...)
		activity.RecordHeartbeat(ctx, len(out.Targets))
	}
	return out, nil
}

// smsIDs reads the Twilio SIDs from the delivery log of an appointment's latest run: the status query of a running
// one, the result of a completed one (the log is carried across continue-as-new, so the latest run has it all).
func (e *Erasure) smsIDs(ctx context.Context, t *ErasureTarget) ([]string, error) {
	var st appt.Status
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d, err := e.Temporal.DescribeWorkflowExecution(qctx, t.WorkflowID, "")
	if err != nil {
		return nil, err
	}
	if d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		err = e.Temporal.GetWorkflow(qctx, t.WorkflowID, "").Get(qctx, &st)
	} else {
		var v interface{ Get(any) error }
		if v, err = e.Temporal.QueryWorkflow(qctx, t.WorkflowID, "", appt.QueryStatus); err == nil {
			err = v.Get(&st)
		}
	}
	if err != nil {
		return nil, err
	}
	var sids []string
	seen := map[string]bool{}
	for _, d := range st.Deliveries {
		if d.Channel == appt.SMS && d.ProviderID != "" && !seen[d.ProviderID] {
			seen[d.ProviderID] = true
			sids = append(sids, d.ProviderID)
		}
	}
	return sids, nil
}

// erasureReason is the termination reason of a stopped appointment: no personal data, and nothing is sent.
const erasureReason = "erased at the customer's request (docs/security.md#erasure)"

// Stop terminates every running run: the workflow sends nothing more, and nothing about the erasure (termination
// runs no workflow code). It returns how many it terminated; a run that has closed meanwhile is skipped.
func (e *Erasure) Stop(ctx context.Context, found *ErasureFound) (int, error) {
	n := 0
	for _, t := range found.Targets {
		for _, r := range t.Runs {
			if !r.Running {
				continue
			}
			err := e.Temporal.TerminateWorkflow(ctx, t.WorkflowID, r.RunID, erasureReason)
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				continue // closed or deleted already
			}
			if err != nil {
				return n, fmt.Errorf("terminating %s: %w", t.WorkflowID, err)
			}
			n++
		}
	}
	return n, nil
}

// DestroyKeys destroys the data keys of every appointment found and returns how many this call destroyed.
func (e *Erasure) DestroyKeys(ctx context.Context, found *ErasureFound) (int, error) {
	if e.DataKeys == nil {
		if len(found.Targets) == 0 {
			return 0, nil
		}
		return 0, temporal.NewNonRetryableApplicationError("this worker has no data-key store ("+codec.DataKeysEnv+")", ErrNoErasureStore, nil)
	}
	n := 0
	for _, t := range found.Targets {
		k, err := e.DataKeys.Destroy(ctx, t.WorkflowID)
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// Delete deletes every run of every appointment found (DeleteWorkflowExecution) and waits until Temporal no longer
// has them. It returns how many runs it deleted or found gone.
func (e *Erasure) Delete(ctx context.Context, found *ErasureFound) (int, error) {
	n := 0
	for _, t := range found.Targets {
		for _, r := range t.Runs {
			_, err := e.Temporal.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
				Namespace: e.Namespace, WorkflowExecution: execution(t.WorkflowID, r.RunID),
			})
			var nf *serviceerror.NotFound
			if err != nil && !errors.As(err, &nf) {
				return n, fmt.Errorf("deleting %s: %w", t.WorkflowID, err)
			}
			n++
		}
	}
	// Deletion is asynchronous: wait until every run is gone.
	for _, t := range found.Targets {
		for _, r := range t.Runs {
			for {
				_, err := e.Temporal.DescribeWorkflowExecution(ctx, t.WorkflowID, r.RunID)
				var nf *serviceerror.NotFound
				if errors.As(err, &nf) {
					break
				}
				activity.RecordHeartbeat(ctx, t.WorkflowID)
				select {
				case <-ctx.Done():
					return n, ctx.Err()
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
	}
	return n, nil
}

// Tombstone records a tombstone (reason appt.TombstoneErased) for each address hash and returns how many hashes it
// recorded (already recorded ones count: recording is idempotent).
func (e *Erasure) Tombstone(ctx context.Context, req *appt.ErasureRequest) (int, error) {
	if len(req.AddressHashes) == 0 {
		return 0, nil
	}
	if e.Tombstones == nil {
		return 0, temporal.NewNonRetryableApplicationError("this worker has no tombstone store ("+codec.DataKeysEnv+")", ErrNoErasureStore, nil)
	}
	at := activity.GetInfo(ctx).StartedTime
	for _, h := range req.AddressHashes {
		if err := e.Tombstones.Record(ctx, tombstones.Tombstone{Org: req.Org, Hash: h, Reason: appt.TombstoneErased, At: at}); err != nil {
			return 0, err
		}
	}
	return len(req.AddressHashes), nil
}

// RedactSMS redacts one message body at Twilio. Twilio's 20009 (not ready: the message is still being sent) is a
// retryable error, retried by the workflow's policy for up to appt.ErasureRedactionWindow; a message Twilio no
// longer has (20404) counts as redacted.
func (e *Erasure) RedactSMS(ctx context.Context, sid string) error {
	if e.SMS == nil {
		return temporal.NewNonRetryableApplicationError("this worker has no Twilio credentials", ErrUnprovisioned, nil)
	}
	return e.SMS.RedactSMS(ctx, sid)
}

func execution(workflowID, runID string) *commonpb.WorkflowExecution {
	return &commonpb.WorkflowExecution{WorkflowId: workflowID, RunId: runID}
}
