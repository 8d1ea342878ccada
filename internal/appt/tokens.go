package appt

import "time"

// The API-token entity workflow (docs/api.md#tokens): one workflow per namespace holds every issued token's record.
// It never holds a token: only its SHA-256 digest, which goes through the data converter like every payload.
const (
	// TokensWorkflowType is the workflow type of the token table.
	TokensWorkflowType = "APITokensWorkflow"
	// TokensWorkflowID is the ID of the one token-table workflow.
	TokensWorkflowID = "apptnotify-api-tokens"
	// UpdateIssueToken adds a record (TokenIssue) and returns it (TokenRecord).
	UpdateIssueToken = "issue-token"
	// UpdateRevokeToken revokes a record (TokenRevoke) and returns it (TokenRecord); revoking a revoked token
	// returns it unchanged.
	UpdateRevokeToken = "revoke-token"
	// SignalTokensUsed carries the last-use times an API process saw (TokensUsedSignal).
	SignalTokensUsed = "tokens-used"
	// QueryTokens returns the table (TokenTable), digests included: the API processes authenticate with it. Its
	// optional argument is the Revision the caller holds: when the table is still at it, the answer is
	// TokenTable{Revision, Unchanged: true} without records, so that reading it every second costs little.
	QueryTokens = "tokens"
)

// TokenScopeAll is the scope of a token that may act for every organisation, as in APPTNOTIFY_API_TOKENS.
const TokenScopeAll = "*"

// TokenRecord is what the token table keeps of one issued token. Digest is the lowercase hex SHA-256 of the whole
// token; the token itself is never kept. Org is an organisation ID or TokenScopeAll. Zero times are unset.
type TokenRecord struct {
	ID        string    `json:"id"`
	Digest    string    `json:"digest"`
	Org       string    `json:"org"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
	LastUsed  time.Time `json:"lastUsed,omitzero"`
	Revoked   time.Time `json:"revoked,omitzero"`
	IssuedBy  string    `json:"issuedBy"`
	RevokedBy string    `json:"revokedBy,omitempty"`
}

// Token states, as listed (docs/api.md#tokens).
const (
	TokenActive  = "active"
	TokenExpired = "expired"
	TokenRevoked = "revoked"
)

// State is the record's state at now: revoked wins over expired; a token is expired from its Expires instant on.
func (r TokenRecord) State(now time.Time) string {
	switch {
	case !r.Revoked.IsZero():
		return TokenRevoked
	case !r.Expires.IsZero() && !now.Before(r.Expires):
		return TokenExpired
	}
	return TokenActive
}

// TokenIssue asks the token table to add a record. The API process generates the token and sends only its ID and
// digest; the workflow sets Created. Expires is zero for a token that never expires.
type TokenIssue struct {
	ID       string    `json:"id"`
	Digest   string    `json:"digest"`
	Org      string    `json:"org"`
	Expires  time.Time `json:"expires,omitzero"`
	IssuedBy string    `json:"issuedBy"`
}

// TokenRevoke asks the token table to revoke a record. By is the ID of the revoking token.
type TokenRevoke struct {
	ID string `json:"id"`
	By string `json:"by"`
}

// TokenUse is one token's last use as an API process saw it.
type TokenUse struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// TokensUsedSignal carries the last uses an API process saw since its previous signal, at most one per token.
type TokensUsedSignal struct {
	Uses []TokenUse `json:"uses"`
}

// TokenTable is the token table: every record, in the order issued. It starts the workflow empty and carries the
// table over a continue-as-new. Revision counts the issues and revokes (not the last uses, which authentication
// does not need); Unchanged is set only in a query's answer (QueryTokens).
type TokenTable struct {
	Tokens    []TokenRecord `json:"tokens"`
	Revision  int64         `json:"revision,omitempty"`
	Unchanged bool          `json:"unchanged,omitempty"`
}

// TokenIDLength is the length of a token ID: lowercase hex digits of 64 random bits.
const TokenIDLength = 16

// ValidTokenID reports whether id is a token ID: TokenIDLength lowercase hex digits.
func ValidTokenID(id string) bool { return len(id) == TokenIDLength && lowerHex(id) }

// ValidTokenDigest reports whether d is a digest as the table keeps it: 64 lowercase hex digits (SHA-256).
func ValidTokenDigest(d string) bool { return len(d) == 64 && lowerHex(d) }

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
