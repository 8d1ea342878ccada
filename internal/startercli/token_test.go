package startercli_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/startercli"
	"github.com/apptnotify/apptnotify/internal/tokens"
)

// `starter token` refuses bad input before it dials, with exit 2 and one line naming the field (org, expires, id):
// docs/rules.md#api-tokens.
func TestTokenBadInputNeverDials(t *testing.T) {
	for _, c := range []struct {
		name  string
		args  []string
		field string
	}{
		{"no sub-verb", []string{"token"}, "issue, list or revoke is required"},
		{"unknown sub-verb", []string{"token", "rotate"}, "issue, list or revoke is required"},
		{"no scope", []string{"token", "issue"}, "org: is required"},
		{"both scopes", []string{"token", "issue", "--org", "demo", "--all"}, "org: give --org or --all"},
		{"star as org", []string{"token", "issue", "--org", "*"}, "org: use --all"},
		{"unknown org", []string{"token", "issue", "--org", "nope"}, "org:"},
		{"bad org", []string{"token", "issue", "--org", "a b"}, "org:"},
		{"bad expiry", []string{"token", "issue", "--all", "--expires", "soon"}, "expires:"},
		{"zero expiry", []string{"token", "issue", "--all", "--expires", "0s"}, "expires:"},
		{"expiry too long", []string{"token", "issue", "--org", "demo", "--expires", "9000h"}, "expires:"},
		{"revoke without id", []string{"token", "revoke"}, "id: is required"},
		{"revoke a token instead of its id", []string{"token", "revoke", "apn_0123456789abcdef_x"}, "id:"},
		{"revoke two", []string{"token", "revoke", "0123456789abcdef", "fedcba9876543210"}, "unexpected argument"},
		{"list with argument", []string{"token", "list", "all"}, "unexpected argument"},
		{"unknown flag", []string{"token", "list", "--org", "demo"}, "flag provided but not defined"},
	} {
		t.Run(c.name, func(t *testing.T) { requireBadInput(t, c.args, c.field) })
	}
	for _, args := range [][]string{
		{"token", "issue", "--org", "demo", "--expires", "720h"},
		{"token", "issue", "--all"},
		{"token", "list", "--json"},
		{"token", "revoke", "0123456789abcdef"},
	} {
		code, stderr, dialed := runNoDial(args...)
		assert.True(t, dialed, "%v: %s", args, stderr)
		assert.Equal(t, startercli.ExitOther, code, "a connection failure is exit 1")
	}
}

// `starter token issue|list|revoke` against a real server: issue prints the token alone on stdout (the rest on
// stderr); list shows it without the token, then revoked; revoking an unknown ID exits 3 naming id.
func TestTokenVerbsAgainstARealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an embedded server: skipped with -short")
	}
	s := startStack(t)

	code, tok, errs := s.run("token", "issue", "--org", "demo", "--expires", "720h")
	require.Equal(t, startercli.ExitOK, code, errs)
	tok = strings.TrimSpace(tok)
	id, ok := tokens.Parse(tok)
	require.True(t, ok, "stdout is the token alone: %q", tok)
	assert.Regexp(t, `^issued token `+id+` for organisation demo, expires \S+; it is shown only now\n$`, errs)

	out := s.ok("token", "list")
	assert.Regexp(t, regexp.MustCompile(`(?m)^ID\s+ORG\s+STATE\s+CREATED\s+EXPIRES\s+LAST USED\s+ISSUED BY\n`+id+`\s+demo\s+active\s+\S+Z\s+\S+Z\s+-\s+starter$`), out)
	assert.NotContains(t, out, tok[len(tokens.Prefix)+17:])

	assert.Contains(t, s.ok("token", "revoke", id), "revoked token "+id)
	var l httpapi.TokenList
	require.NoError(t, json.Unmarshal([]byte(s.ok("token", "list", "--json")), &l))
	require.Len(t, l.Tokens, 1)
	assert.Equal(t, "revoked", l.Tokens[0].State)
	assert.Equal(t, "starter", l.Tokens[0].RevokedBy)

	code, _, errs = s.run("token", "revoke", "0000000000000000")
	assert.Equal(t, startercli.ExitNotFound, code)
	assert.Equal(t, "error: id: no token 0000000000000000\n", errs)
}
