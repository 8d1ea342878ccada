package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/tokens"
)

// ErrTokenNotFound: the token table holds no token with that ID; nothing was changed.
var ErrTokenNotFound = errors.New("no token with that ID")

// tokenErrTypes are the application error types of the token table's refusals (workflows.ErrTypeToken*), which
// the api package cannot import.
const (
	tokenErrNotFound = "TokenNotFound"
)

// TokenRequest asks for a new API token: Org is an organisation ID or appt.TokenScopeAll; Lifetime is zero for a
// token that never expires, else from tokens.MinLifetime to tokens.MaxLifetime. IssuedBy is the ID of the
// administrator token that asks (or "starter").
type TokenRequest struct {
	Org      string
	Lifetime time.Duration
	IssuedBy string
}

// TokenRequestErrors are the rule failures of a token request (docs/rules.md#api-tokens), every one, with the
// fields `org` and `expiresIn`; none touches Temporal.
func (c *Client) TokenRequestErrors(req TokenRequest) []*appt.FieldError {
	var errs []*appt.FieldError
	if err := tokens.ValidScope(req.Org); err != nil {
		errs = append(errs, err.(*appt.FieldError))
	} else if req.Org != appt.TokenScopeAll {
		if err := c.CheckOrg(req.Org); err != nil {
			var fe *appt.FieldError
			if !errors.As(err, &fe) { // Temporal could not tell whether the API wrote it
				fe = &appt.FieldError{Field: "org", Msg: "cannot be checked now (Temporal is unreachable); retry"}
			}
			errs = append(errs, fe)
		}
	}
	if req.Lifetime != 0 {
		if err := tokens.ValidLifetime(req.Lifetime); err != nil {
			errs = append(errs, err.(*appt.FieldError))
		}
	}
	return errs
}

// IssueToken generates a token, adds its record to the token table (starting the table's workflow if needed), and
// returns the token, which is shown once and kept nowhere, with its record (digest cleared). Bad input is a
// *appt.FieldError and touches nothing.
func (c *Client) IssueToken(ctx context.Context, req TokenRequest) (string, appt.TokenRecord, error) {
	if errs := c.TokenRequestErrors(req); len(errs) > 0 {
		return "", appt.TokenRecord{}, errs[0]
	}
	if req.IssuedBy == "" {
		return "", appt.TokenRecord{}, &appt.FieldError{Field: "issuedBy", Msg: "is required"}
	}
	tok, err := tokens.Generate()
	if err != nil {
		return "", appt.TokenRecord{}, fmt.Errorf("generating a token: %w", err)
	}
	in := appt.TokenIssue{ID: tok.ID, Digest: tok.Digest, Org: req.Org, IssuedBy: req.IssuedBy}
	if req.Lifetime != 0 {
		in.Expires = c.now().Add(req.Lifetime).UTC().Truncate(time.Second)
	}
	uctx, cancel := c.updateContext(ctx)
	defer cancel()
	start := c.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       appt.TokensWorkflowID,
		TaskQueue:                appt.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "API tokens (records and SHA-256 digests, never a token)",
	}, appt.TokensWorkflowType, &appt.TokenTable{})
	h, err := c.Temporal.UpdateWithStartWorkflow(uctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			WorkflowID: appt.TokensWorkflowID, UpdateName: appt.UpdateIssueToken, Args: []any{in},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var rec appt.TokenRecord
	if err == nil {
		err = h.Get(uctx, &rec)
	}
	if err != nil {
		return "", appt.TokenRecord{}, c.tokenError("issue-token", err)
	}
	rec.Digest = ""
	return tok.Token, rec, nil
}

// RevokeToken revokes the token with that ID and returns its record (digest cleared); revoking a revoked token
// changes nothing. Every API process refuses it from tokens.MaxAge after this returns. An ID the table does not
// hold is ErrTokenNotFound.
func (c *Client) RevokeToken(ctx context.Context, id, by string) (appt.TokenRecord, error) {
	if !appt.ValidTokenID(id) {
		return appt.TokenRecord{}, &appt.FieldError{Field: "id", Msg: fmt.Sprintf("is not a token ID (%d lowercase hex digits)", appt.TokenIDLength)}
	}
	uctx, cancel := c.updateContext(ctx)
	defer cancel()
	h, err := c.Temporal.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{
		WorkflowID: appt.TokensWorkflowID, UpdateName: appt.UpdateRevokeToken,
		Args:         []any{appt.TokenRevoke{ID: id, By: by}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var rec appt.TokenRecord
	if err == nil {
		err = h.Get(uctx, &rec)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return appt.TokenRecord{}, ErrTokenNotFound // no token was ever issued
	}
	if err != nil {
		return appt.TokenRecord{}, c.tokenError("revoke-token", err)
	}
	rec.Digest = ""
	return rec, nil
}

// ListTokens returns every issued token's record, in the order issued, digests cleared.
func (c *Client) ListTokens(ctx context.Context) ([]appt.TokenRecord, error) {
	tab, err := c.TokenTable(ctx, 0)
	if err != nil {
		return nil, err
	}
	out := make([]appt.TokenRecord, len(tab.Tokens))
	for i, r := range tab.Tokens {
		r.Digest = ""
		out[i] = r
	}
	return out, nil
}

// TokenTable reads the token table, digests included, for authentication (tokens.Source); a table that was never
// started is empty. With since > 0, a table still at that revision answers Unchanged, without records.
func (c *Client) TokenTable(ctx context.Context, since int64) (appt.TokenTable, error) {
	v, err := c.Temporal.QueryWorkflow(ctx, appt.TokensWorkflowID, "", appt.QueryTokens, since)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return appt.TokenTable{}, nil
	}
	if err != nil {
		return appt.TokenTable{}, fmt.Errorf("token table query: %w", err)
	}
	var t appt.TokenTable
	return t, v.Get(&t)
}

// MarkTokensUsed reports last uses to the token table (tokens.Source). With no table there is nothing to mark.
func (c *Client) MarkTokensUsed(ctx context.Context, uses []appt.TokenUse) error {
	err := c.Temporal.SignalWorkflow(ctx, appt.TokensWorkflowID, "", appt.SignalTokensUsed, appt.TokensUsedSignal{Uses: uses})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	return err
}

func (c *Client) updateContext(ctx context.Context) (context.Context, context.CancelFunc) {
	timeout := c.UpdateTimeout
	if timeout <= 0 {
		timeout = DefaultUpdateTimeout
	}
	return context.WithTimeout(ctx, timeout)
}

// tokenError maps an update's failure: the table's refusal of an unknown ID is ErrTokenNotFound, another refusal a
// RefusedError, a timeout ErrNoWorker.
func (c *Client) tokenError(op string, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if appErr.Type() == tokenErrNotFound {
			return ErrTokenNotFound
		}
		return &RefusedError{Op: op, Reason: appErr.Message()}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w; is the worker running?", op, ErrNoWorker)
	}
	return err
}
