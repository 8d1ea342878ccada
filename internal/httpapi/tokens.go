package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/tokens"
)

// adminOnlyExtension marks an operation of api/openapi.yaml that only an administrator token may call.
const adminOnlyExtension = "x-admin-only"

var (
	probAdminOnly  = Problem{Type: problemTypeBase + "admin-only", Title: "An administrator token is required", Status: http.StatusForbidden}
	probNoToken    = Problem{Type: problemTypeBase + "not-found", Title: "No such token", Status: http.StatusNotFound}
	probStaleTable = probUnavailable.with("the token table cannot be read, so issued tokens cannot be checked; retry later (tokens of " + TokensEnvVar + " still work)")
)

// tokenBody is the body of POST /v1/tokens, decoded leniently.
type tokenBody struct {
	Org       string `json:"org"`
	ExpiresIn string `json:"expiresIn"`
}

// IssuedToken answers POST /v1/tokens: the token, shown this once.
type IssuedToken struct {
	ID      string     `json:"id"`
	Token   string     `json:"token"`
	Org     string     `json:"org"`
	Created time.Time  `json:"created"`
	Expires *time.Time `json:"expires,omitempty"`
}

// TokenInfo is one token in GET /v1/tokens and the answer of DELETE /v1/tokens/{tokenId}: never the token, never
// its hash.
type TokenInfo struct {
	ID        string     `json:"id"`
	Org       string     `json:"org"`
	State     string     `json:"state"`
	Created   time.Time  `json:"created"`
	Expires   *time.Time `json:"expires,omitempty"`
	LastUsed  *time.Time `json:"lastUsed,omitempty"`
	Revoked   *time.Time `json:"revoked,omitempty"`
	IssuedBy  string     `json:"issuedBy"`
	RevokedBy string     `json:"revokedBy,omitempty"`
}

// TokenList answers GET /v1/tokens.
type TokenList struct {
	Tokens []TokenInfo `json:"tokens"`
}

var tokenPointers = fieldPointers{"org": "/org", "expiresIn": "/expiresIn"}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// NewTokenInfo is a record as listed, with its state at now.
func NewTokenInfo(r appt.TokenRecord, now time.Time) TokenInfo {
	return TokenInfo{ID: r.ID, Org: r.Org, State: r.State(now), Created: r.Created, Expires: timePtr(r.Expires),
		LastUsed: timePtr(r.LastUsed), Revoked: timePtr(r.Revoked), IssuedBy: r.IssuedBy, RevokedBy: r.RevokedBy}
}

func (h *Handler) tokenOperations() map[string]operation {
	return map[string]operation{
		"issueToken":  h.issueToken,
		"listTokens":  h.listTokens,
		"revokeToken": h.revokeToken,
	}
}

func (h *Handler) tokenBodyChecks() map[string]bodyCheck {
	return map[string]bodyCheck{"issueToken": h.checkIssueToken}
}

// authenticate finds the grant of a request, or the problem that refuses it: 401 for no token or a bad one, 503
// for an issued token when the copy of the token table is too old to check it (tokens.MaxAge), 403 for an
// operation marked x-admin-only and a token that is not an administrator's. A bearer token of the issued shape
// (apn_…) is always checked against the table, even on a loopback server with no tokens configured.
func (h *Handler) authenticate(r *http.Request, op *openapi3.Operation) (grant, *Problem) {
	header := r.Header.Get("Authorization")
	var g grant
	if scheme, tok, ok := strings.Cut(header, " "); ok && strings.EqualFold(scheme, "Bearer") {
		if _, issued := tokens.Parse(strings.TrimSpace(tok)); issued {
			p := h.checkIssued(strings.TrimSpace(tok), &g)
			if p != nil {
				return grant{}, p
			}
			return g, h.checkAdmin(g, op)
		}
	}
	g, ok := h.tokens.authenticate(header)
	if !ok {
		p := probUnauthorized.with("send Authorization: Bearer TOKEN with a token of " + TokensEnvVar + " or an issued token")
		return grant{}, &p
	}
	return g, h.checkAdmin(g, op)
}

// checkIssued checks an issued token against the table.
func (h *Handler) checkIssued(tok string, g *grant) *Problem {
	if h.issued == nil {
		p := probUnauthorized.with("this server accepts no issued tokens")
		return &p
	}
	rec, v := h.issued.Check(tok)
	var p Problem
	switch v {
	case tokens.Accepted:
		*g = grant{id: rec.ID, all: rec.Org == appt.TokenScopeAll, orgs: map[string]bool{rec.Org: true}, issued: true}
		return nil
	case tokens.Stale:
		p = probStaleTable
	case tokens.Revoked:
		p = probUnauthorized.with("the token was revoked")
	case tokens.Expired:
		p = probUnauthorized.with("the token has expired")
	default:
		p = probUnauthorized.with("the token is not known")
	}
	return &p
}

// checkAdmin refuses an administrator operation to a token that is not an administrator's: only a token of
// APPTNOTIFY_API_TOKENS for every organisation (or the anonymous grant of a loopback server with no tokens) is one.
// An issued token never is, even one for every organisation, so that a leaked issued token cannot mint others.
func (h *Handler) checkAdmin(g grant, op *openapi3.Operation) *Problem {
	if op == nil || op.Extensions[adminOnlyExtension] != true || (g.all && !g.issued) {
		return nil
	}
	p := probAdminOnly.with("only a token of " + TokensEnvVar + " with * may manage tokens")
	return &p
}

// checkIssueToken applies the rules of a token request (api.Client.TokenRequestErrors); r.input is the request.
func (h *Handler) checkIssueToken(r *request) checked {
	var b tokenBody
	if !decodeLenient(r.body, &b) {
		return undecodable
	}
	req := api.TokenRequest{Org: b.Org, IssuedBy: r.grant.id}
	var errs []FieldProblem
	if b.ExpiresIn != "" {
		d, err := time.ParseDuration(b.ExpiresIn)
		if err != nil {
			errs = append(errs, bodyField("/expiresIn", "is not a duration such as 720h"))
		} else {
			req.Lifetime = d
			if d == 0 {
				req.Lifetime = -1 // "0s" is not "never": it fails the lifetime rule
			}
		}
	}
	errs = merge(errs, tokenPointers.problems(h.client.TokenRequestErrors(req)))
	r.input = req
	return checked{errs: errs}
}

func (h *Handler) issueToken(ctx context.Context, r *request) response {
	tok, rec, err := h.client.IssueToken(ctx, r.input.(api.TokenRequest))
	if err != nil {
		return fail(fromError(err, tokenPointers, r.log))
	}
	h.refreshIssued(ctx)
	return ok(http.StatusCreated, IssuedToken{ID: rec.ID, Token: tok, Org: rec.Org, Created: rec.Created, Expires: timePtr(rec.Expires)})
}

func (h *Handler) listTokens(ctx context.Context, r *request) response {
	recs, err := h.client.ListTokens(ctx)
	if err != nil {
		return fail(fromError(err, tokenPointers, r.log))
	}
	now := h.now()
	out := TokenList{Tokens: make([]TokenInfo, 0, len(recs))}
	for _, rec := range recs {
		out.Tokens = append(out.Tokens, NewTokenInfo(rec, now))
	}
	return ok(http.StatusOK, out)
}

func (h *Handler) revokeToken(ctx context.Context, r *request) response {
	rec, err := h.client.RevokeToken(ctx, r.params["tokenId"], r.grant.id)
	if errors.Is(err, api.ErrTokenNotFound) {
		return fail(probNoToken.with("no token with that ID", paramField("tokenId", "no token with that ID")))
	}
	if err != nil {
		return fail(fromError(err, tokenPointers, r.log))
	}
	h.refreshIssued(ctx)
	return ok(http.StatusOK, NewTokenInfo(rec, h.now()))
}

// refreshIssued reads the table again after a change, so that this process applies it at once; the others do
// within tokens.MaxAge. A failure leaves the periodic refresh to catch up.
func (h *Handler) refreshIssued(ctx context.Context) {
	if h.issued != nil {
		_ = h.issued.Refresh(ctx)
	}
}
