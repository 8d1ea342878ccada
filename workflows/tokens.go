package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Application error types of the token table's updates (docs/api.md#tokens). A validator's refusal is not written
// to the history.
const (
	// ErrTypeTokenNotFound: the update names a token ID the table does not hold.
	ErrTypeTokenNotFound = "TokenNotFound"
	// ErrTypeTokenInvalid: the record is malformed or repeats an ID or digest of the table.
	ErrTypeTokenInvalid = "TokenInvalid"
)

// tokenTable is the state of the token-table workflow.
type tokenTable struct {
	t appt.TokenTable
}

func (s *tokenTable) find(id string) int {
	for i := range s.t.Tokens {
		if s.t.Tokens[i].ID == id {
			return i
		}
	}
	return -1
}

// validateIssue refuses a malformed record, and one whose ID or digest the table already holds.
func (s *tokenTable) validateIssue(in appt.TokenIssue) error {
	bad := func(format string, args ...any) error {
		return temporal.NewApplicationError(fmt.Sprintf(format, args...), ErrTypeTokenInvalid)
	}
	switch {
	case !appt.ValidTokenID(in.ID):
		return bad("id is not a token ID")
	case !appt.ValidTokenDigest(in.Digest):
		return bad("digest is not a lowercase hex SHA-256")
	case in.Org == "":
		return bad("org is required")
	case in.IssuedBy == "":
		return bad("issuedBy is required")
	}
	for _, r := range s.t.Tokens {
		if r.ID == in.ID {
			return bad("id %s is already issued", in.ID)
		}
		if r.Digest == in.Digest {
			return bad("the digest is already issued")
		}
	}
	return nil
}

// use records a last use; an older one than the table holds, or one of an unknown token, changes nothing.
func (s *tokenTable) use(u appt.TokenUse) {
	if i := s.find(u.ID); i >= 0 && u.At.After(s.t.Tokens[i].LastUsed) {
		s.t.Tokens[i].LastUsed = u.At
	}
}

// APITokensWorkflow is the entity workflow (ID appt.TokensWorkflowID) that holds the record of every issued API
// token (docs/api.md#tokens): updates issue and revoke one, synchronously; a signal records last uses; a query
// returns the table, which every API process reads at least every second (internal/tokens.RefreshInterval) to authenticate. It sets
// no timer and runs no activity: expiry is a comparison the API process makes with the record's Expires. It keeps
// every record (revoked and expired ones are listed) and continues as new when Temporal suggests it.
func APITokensWorkflow(ctx workflow.Context, in *appt.TokenTable) error {
	s := &tokenTable{t: *in}
	if err := workflow.SetQueryHandler(ctx, appt.QueryTokens, func(since int64) (appt.TokenTable, error) {
		if since > 0 && since == s.t.Revision {
			return appt.TokenTable{Revision: since, Unchanged: true}, nil
		}
		return s.t, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, appt.UpdateIssueToken,
		func(ctx workflow.Context, in appt.TokenIssue) (appt.TokenRecord, error) {
			r := appt.TokenRecord{ID: in.ID, Digest: in.Digest, Org: in.Org, Created: workflow.Now(ctx).UTC(),
				Expires: in.Expires, IssuedBy: in.IssuedBy}
			s.t.Tokens = append(s.t.Tokens, r)
			s.t.Revision++
			workflow.GetLogger(ctx).Info("API token issued", "tokenId", r.ID, "org", r.Org, "by", r.IssuedBy)
			return r, nil
		}, workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in appt.TokenIssue) error {
			return s.validateIssue(in)
		}}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, appt.UpdateRevokeToken,
		func(ctx workflow.Context, in appt.TokenRevoke) (appt.TokenRecord, error) {
			r := &s.t.Tokens[s.find(in.ID)]
			if r.Revoked.IsZero() {
				r.Revoked, r.RevokedBy = workflow.Now(ctx).UTC(), in.By
				s.t.Revision++
				workflow.GetLogger(ctx).Info("API token revoked", "tokenId", r.ID, "by", in.By)
			}
			return *r, nil
		}, workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in appt.TokenRevoke) error {
			if s.find(in.ID) < 0 {
				return temporal.NewApplicationError("no token with that ID", ErrTypeTokenNotFound)
			}
			return nil
		}}); err != nil {
		return err
	}
	used := workflow.GetSignalChannel(ctx, appt.SignalTokensUsed)
	drain := func() {
		for {
			var sig appt.TokensUsedSignal
			if !used.ReceiveAsync(&sig) {
				return
			}
			for _, u := range sig.Uses {
				s.use(u)
			}
		}
	}
	for {
		if err := workflow.Await(ctx, func() bool {
			return used.Len() > 0 || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		}); err != nil {
			return err
		}
		drain()
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			drain()
			return workflow.NewContinueAsNewError(ctx, APITokensWorkflow, &s.t)
		}
	}
}
