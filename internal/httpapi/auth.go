package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// TokensEnvVar names the variable that holds the API tokens.
const TokensEnvVar = "APPTNOTIFY_API_TOKENS"

// Tokens are the bearer tokens the server accepts, each with the organisations it may act for. The zero value (no
// tokens) allows every request; the serve command permits that only on a loopback address.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	digest [sha256.Size]byte
	grant  grant
}

// grant is what one token may do: act for every organisation, or for those listed. id names the token in the audit
// trail and in logs, never the token itself: for a token from APPTNOTIFY_API_TOKENS it is "env-" and the first 12
// hex digits of the token's SHA-256 (TokenID); for an issued token it is the token's public ID (tokens.go); with no
// tokens configured (loopback only) it is "anonymous". issued marks an issued token, which is never an administrator.
type grant struct {
	id     string
	all    bool
	orgs   map[string]bool
	issued bool
}

// TokenID returns the ID under which a token from APPTNOTIFY_API_TOKENS appears in the audit trail: "env-" and the
// first 12 hex digits of its SHA-256. It cannot be turned back into the token.
func TokenID(token string) string {
	d := sha256.Sum256([]byte(token))
	return "env-" + hex.EncodeToString(d[:6])
}

func (g grant) allows(org string) bool { return g.all || g.orgs[org] }

// ParseTokens parses APPTNOTIFY_API_TOKENS: comma-separated TOKEN=ORGS entries, each split at its last `=` (so a
// token may end in base64 padding), where ORGS is `*` or organisation IDs joined by `|`. Neither part may contain
// a comma, and neither may be empty. Errors name the entry by position, never by its token.
func ParseTokens(s string) (*Tokens, error) {
	t := &Tokens{}
	if strings.TrimSpace(s) == "" {
		return t, nil
	}
	seen := map[[sha256.Size]byte]bool{}
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		at := strings.LastIndexByte(entry, '=')
		if at < 0 {
			return nil, fmt.Errorf("%s: entry %d is not TOKEN=ORGS", TokensEnvVar, i+1)
		}
		token, orgs := entry[:at], entry[at+1:]
		if token == "" {
			return nil, fmt.Errorf("%s: entry %d has an empty token", TokensEnvVar, i+1)
		}
		e := tokenEntry{digest: sha256.Sum256([]byte(token)), grant: grant{id: TokenID(token)}}
		if seen[e.digest] {
			return nil, fmt.Errorf("%s: entry %d repeats the token of an earlier entry", TokensEnvVar, i+1)
		}
		seen[e.digest] = true
		switch {
		case orgs == "*":
			e.grant.all = true
		case orgs == "":
			return nil, fmt.Errorf("%s: entry %d names no organisation (use * for all)", TokensEnvVar, i+1)
		default:
			e.grant.orgs = map[string]bool{}
			for _, o := range strings.Split(orgs, "|") {
				if o == "" || o == "*" {
					return nil, fmt.Errorf("%s: entry %d: organisations are IDs joined by |, or * alone", TokensEnvVar, i+1)
				}
				e.grant.orgs[o] = true
			}
		}
		t.entries = append(t.entries, e)
	}
	return t, nil
}

// Len is the number of tokens configured.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}

// Orgs lists the organisations a token names, for checking them against the config at start; "*" is left out.
func (t *Tokens) Orgs() []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range t.entries {
		for o := range e.grant.orgs {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	return out
}

// authenticate finds the grant of an Authorization header's bearer token. It compares the token's SHA-256 with
// every configured token's in constant time and without stopping early, so neither a match's position nor a
// token's length shows in the timing.
func (t *Tokens) authenticate(header string) (grant, bool) {
	if t.Len() == 0 {
		return grant{id: "anonymous", all: true}, true
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return grant{}, false
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return grant{}, false
	}
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.entries {
		if subtle.ConstantTimeCompare(d[:], t.entries[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return grant{}, false
	}
	return t.entries[found].grant, true
}
