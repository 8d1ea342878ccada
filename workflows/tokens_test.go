package workflows_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/workflows"
)

// tokenEnv is the token-table workflow in the time-skipping environment.
type tokenEnv struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
}

func newTokenEnv(t *testing.T) *tokenEnv {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	workflows.Register(env)
	return &tokenEnv{t: t, env: env}
}

// tokenOutcome is what one update got: rejected by the validator (nothing in the history), or completed.
type tokenOutcome struct {
	rejected error
	rec      appt.TokenRecord
	err      error
}

// at sends an update at workflow time t0+d and stores its outcome in out.
func (e *tokenEnv) at(d time.Duration, name string, arg any, out *tokenOutcome) {
	e.env.RegisterDelayedCallback(func() {
		e.env.UpdateWorkflow(name, name+d.String(), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { out.rejected = err },
			OnComplete: func(v any, err error) {
				out.err = err
				if err == nil {
					out.rec = v.(appt.TokenRecord)
				}
			},
		}, arg)
	}, d)
}

func (e *tokenEnv) table() appt.TokenTable {
	v, err := e.env.QueryWorkflow(appt.QueryTokens)
	require.NoError(e.t, err)
	var tab appt.TokenTable
	require.NoError(e.t, v.Get(&tab))
	return tab
}

func errType(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

const (
	digestA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// The token table (docs/rules.md#api-tokens): an issued record gets its creation time from the workflow clock and
// keeps only the digest; a malformed record, or one repeating an ID or a digest, is rejected by the validator and
// changes nothing; a revoke sets the revocation time once (a second revoke returns the record unchanged); an
// unknown ID is rejected as TokenNotFound; last uses only move forward, and an unknown token's is ignored; the
// query answers a caller that holds the current revision without the records.
func TestTokenTable(t *testing.T) {
	e := newTokenEnv(t)
	var issueA, issueB, dupID, dupDigest, badDigest, revoke, revokeAgain, revokeUnknown tokenOutcome
	e.at(time.Minute, appt.UpdateIssueToken, appt.TokenIssue{ID: "0123456789abcdef", Digest: digestA, Org: "acme", IssuedBy: "env-0a1b2c3d4e5f",
		Expires: t0.Add(720 * time.Hour)}, &issueA)
	e.at(2*time.Minute, appt.UpdateIssueToken, appt.TokenIssue{ID: "fedcba9876543210", Digest: digestB, Org: appt.TokenScopeAll, IssuedBy: "starter"}, &issueB)
	e.at(3*time.Minute, appt.UpdateIssueToken, appt.TokenIssue{ID: "0123456789abcdef", Digest: strings.Repeat("c", 64), Org: "acme", IssuedBy: "starter"}, &dupID)
	e.at(4*time.Minute, appt.UpdateIssueToken, appt.TokenIssue{ID: "1111111111111111", Digest: digestA, Org: "acme", IssuedBy: "starter"}, &dupDigest)
	e.at(5*time.Minute, appt.UpdateIssueToken, appt.TokenIssue{ID: "2222222222222222", Digest: "apn_0123", Org: "acme", IssuedBy: "starter"}, &badDigest)
	e.env.RegisterDelayedCallback(func() {
		e.env.SignalWorkflow(appt.SignalTokensUsed, appt.TokensUsedSignal{Uses: []appt.TokenUse{
			{ID: "0123456789abcdef", At: t0.Add(6 * time.Minute)}, {ID: "9999999999999999", At: t0.Add(6 * time.Minute)}}})
	}, 6*time.Minute)
	e.env.RegisterDelayedCallback(func() { // an older report (another API process, late) does not move it back
		e.env.SignalWorkflow(appt.SignalTokensUsed, appt.TokensUsedSignal{Uses: []appt.TokenUse{{ID: "0123456789abcdef", At: t0.Add(5 * time.Minute)}}})
	}, 7*time.Minute)
	e.at(8*time.Minute, appt.UpdateRevokeToken, appt.TokenRevoke{ID: "0123456789abcdef", By: "env-0a1b2c3d4e5f"}, &revoke)
	e.at(9*time.Minute, appt.UpdateRevokeToken, appt.TokenRevoke{ID: "0123456789abcdef", By: "starter"}, &revokeAgain)
	e.at(10*time.Minute, appt.UpdateRevokeToken, appt.TokenRevoke{ID: "3333333333333333", By: "starter"}, &revokeUnknown)
	var final, unchanged, stale appt.TokenTable
	e.env.RegisterDelayedCallback(func() {
		final = e.table()
		for since, out := range map[int64]*appt.TokenTable{3: &unchanged, 2: &stale} {
			v, err := e.env.QueryWorkflow(appt.QueryTokens, since)
			require.NoError(t, err)
			require.NoError(t, v.Get(out))
		}
	}, 11*time.Minute)
	e.env.RegisterDelayedCallback(func() { e.env.CancelWorkflow() }, 12*time.Minute)
	e.env.ExecuteWorkflow(appt.TokensWorkflowType, &appt.TokenTable{})

	require.NoError(t, issueA.rejected)
	require.NoError(t, issueA.err)
	assert.Equal(t, t0.Add(time.Minute), issueA.rec.Created)
	assert.Equal(t, t0.Add(720*time.Hour), issueA.rec.Expires)
	require.NoError(t, issueB.rejected)
	assert.Equal(t, workflows.ErrTypeTokenInvalid, errType(dupID.rejected))
	assert.Equal(t, workflows.ErrTypeTokenInvalid, errType(dupDigest.rejected))
	assert.Equal(t, workflows.ErrTypeTokenInvalid, errType(badDigest.rejected))
	require.NoError(t, revoke.err)
	assert.Equal(t, t0.Add(8*time.Minute), revoke.rec.Revoked)
	assert.Equal(t, revoke.rec, revokeAgain.rec, "a second revoke changes nothing")
	assert.Equal(t, "env-0a1b2c3d4e5f", revokeAgain.rec.RevokedBy)
	assert.Equal(t, workflows.ErrTypeTokenNotFound, errType(revokeUnknown.rejected))

	require.Len(t, final.Tokens, 2, "the rejected issues added nothing")
	assert.Equal(t, int64(3), final.Revision, "two issues and one revoke; last uses and the second revoke are no revision")
	assert.Equal(t, appt.TokenTable{Revision: 3, Unchanged: true}, unchanged, "a caller at the revision gets no records")
	assert.Equal(t, final, stale, "a caller at an older revision gets the table")
	a, b := final.Tokens[0], final.Tokens[1]
	assert.Equal(t, "0123456789abcdef", a.ID)
	assert.Equal(t, digestA, a.Digest)
	assert.Equal(t, t0.Add(6*time.Minute), a.LastUsed)
	assert.Equal(t, appt.TokenRevoked, a.State(t0.Add(11*time.Minute)))
	assert.Equal(t, appt.TokenScopeAll, b.Org)
	assert.True(t, b.LastUsed.IsZero())
	assert.Equal(t, appt.TokenActive, b.State(t0.Add(11*time.Minute)))
}

// The token table continues as new when Temporal suggests it, once its handlers are done, carrying every record
// (last uses included).
func TestTokenTableContinuesAsNew(t *testing.T) {
	e := newTokenEnv(t)
	var issue tokenOutcome
	e.at(time.Minute, appt.UpdateIssueToken, appt.TokenIssue{ID: "0123456789abcdef", Digest: digestA, Org: "acme", IssuedBy: "starter"}, &issue)
	e.env.RegisterDelayedCallback(func() {
		e.env.SignalWorkflow(appt.SignalTokensUsed, appt.TokensUsedSignal{Uses: []appt.TokenUse{{ID: "0123456789abcdef", At: t0.Add(2 * time.Minute)}}})
	}, 2*time.Minute)
	e.env.RegisterDelayedCallback(func() { e.env.SetContinueAsNewSuggested(true) }, 3*time.Minute)
	e.env.ExecuteWorkflow(appt.TokensWorkflowType, &appt.TokenTable{})
	require.NoError(t, issue.err)
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, e.env.GetWorkflowError(), &can)
	var carried appt.TokenTable
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &carried))
	require.Len(t, carried.Tokens, 1)
	assert.Equal(t, digestA, carried.Tokens[0].Digest)
	assert.Equal(t, t0.Add(2*time.Minute), carried.Tokens[0].LastUsed)
}
