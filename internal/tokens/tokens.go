// Package tokens is the format of issued API tokens and the token table an API process authenticates them with
// (docs/api.md#tokens, docs/security.md#api-tokens).
//
// A token is `apn_<id>_<secret>`: id is appt.TokenIDLength lowercase hex digits of 64 random bits, public, the
// name of the token in lists, URLs, logs and the audit trail; secret is 32 random bytes (256 bits) in unpadded
// base64url. Only the SHA-256 of the whole token is kept, in the token-table workflow (appt.TokensWorkflowID).
package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Prefix starts every issued token, so that a scanner (or a person) recognises one.
const Prefix = "apn_"

// SecretBytes is the size of a token's secret: 256 bits.
const SecretBytes = 32

// secretLen is the length of the secret in unpadded base64url.
var secretLen = base64.RawURLEncoding.EncodedLen(SecretBytes)

// Lifetime bounds of an expiring token (docs/rules.md#api-tokens).
const (
	MinLifetime = time.Second
	MaxLifetime = 366 * 24 * time.Hour
)

// Issued is a newly generated token: Token is shown once and never stored; ID and Digest go to the table.
type Issued struct {
	Token, ID, Digest string
}

// Generate returns a new token from crypto/rand. It fails only when the system's random source does.
func Generate() (Issued, error) {
	b := make([]byte, appt.TokenIDLength/2+SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return Issued{}, err
	}
	id := hex.EncodeToString(b[:appt.TokenIDLength/2])
	tok := Prefix + id + "_" + base64.RawURLEncoding.EncodeToString(b[appt.TokenIDLength/2:])
	return Issued{Token: tok, ID: id, Digest: Digest(tok)}, nil
}

// Digest is the lowercase hex SHA-256 of a token, as the table keeps it. A plain hash is the right tool here: the
// secret has 256 bits of entropy, so no guessing attack on the digest is feasible, and a slow password hash would
// only make every request slower (docs/security.md#api-tokens).
func Digest(token string) string {
	d := sha256.Sum256([]byte(token))
	return hex.EncodeToString(d[:])
}

// Parse returns the ID of a string that has the shape of an issued token, and false for anything else (an
// APPTNOTIFY_API_TOKENS token, a typo). It says nothing about whether the token is valid.
func Parse(token string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(token, Prefix)
	if !ok || len(rest) != appt.TokenIDLength+1+secretLen || rest[appt.TokenIDLength] != '_' {
		return "", false
	}
	id = rest[:appt.TokenIDLength]
	if !appt.ValidTokenID(id) {
		return "", false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(rest[appt.TokenIDLength+1:]); err != nil {
		return "", false
	}
	return id, true
}

// ValidLifetime is the rule of an expiry given as a lifetime: from MinLifetime to MaxLifetime.
func ValidLifetime(d time.Duration) error {
	if d < MinLifetime || d > MaxLifetime {
		return &appt.FieldError{Field: "expiresIn", Msg: "must be from " + MinLifetime.String() + " to " + MaxLifetime.String() + " (8784h)"}
	}
	return nil
}

// ValidScope is the rule of a token's scope: an organisation ID or appt.TokenScopeAll. Whether the organisation
// exists is the caller's check.
func ValidScope(org string) error {
	if org == appt.TokenScopeAll {
		return nil
	}
	if org == "" {
		return &appt.FieldError{Field: "org", Msg: "is required: an organisation ID, or * for all"}
	}
	return appt.ValidateParticipantID("org", org)
}
