package startercli_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/startercli"
)

// The suppression verb checks everything before it dials and exits 2 with one line naming the field: the
// organisation's ID shape (whether it exists needs Temporal: the API may have written it), the channel, an address
// that does not normalise, an expiry in the past, an unknown reason, a page size, a listing cursor that names no
// shard, a missing address key. Good input dials.
func TestSuppressionVerbInput(t *testing.T) {
	env := map[string]string{codec.KeysEnv: testKeys, addrhash.EnvVar: base64.StdEncoding.EncodeToString(make([]byte, 32))}
	for _, c := range []struct {
		args  []string
		field string
	}{
		{[]string{"suppression"}, "usage"},
		{[]string{"suppression", "erase", "--org", "demo"}, "usage"},
		{[]string{"suppression", "add", "--org", "no pe", "--channel", "email", "--address", "ann@example.com"}, "org:"},
		{[]string{"suppression", "add", "--org", "demo", "--channel", "fax", "--address", "ann@example.com"}, "channel:"},
		{[]string{"suppression", "add", "--org", "demo", "--channel", "email", "--address", "ann"}, "address:"},
		{[]string{"suppression", "lookup", "--org", "demo", "--channel", "sms", "--address", "555"}, "address:"},
		{[]string{"suppression", "add", "--org", "demo", "--channel", "email", "--address", "ann@example.com", "--expires", "2020-01-01T00:00:00Z"}, "expires:"},
		{[]string{"suppression", "lift", "--org", "demo", "--channel", "email", "--address", "ann@example.com", "--reason", "spam"}, "reason:"},
		{[]string{"suppression", "list", "--org", "demo", "--limit", "0"}, "limit:"},
		{[]string{"suppression", "list", "--org", "demo", "--since", "9007199254740992"}, "since:"},
		{[]string{"suppression", "list", "--org", "demo", "--since", "-1"}, "since:"},
	} {
		code, stderr, dialed, _ := runEnv(env, c.args...)
		assert.Equal(t, startercli.ExitBadInput, code, "%v: %s", c.args, stderr)
		assert.False(t, dialed, "%v", c.args)
		assert.Contains(t, stderr, c.field, "%v", c.args)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
	}
	code, stderr, dialed, _ := runEnv(map[string]string{codec.KeysEnv: testKeys},
		"suppression", "lookup", "--org", "demo", "--channel", "email", "--address", "ann@example.com", "--data-dir", t.TempDir())
	assert.Equal(t, startercli.ExitBadInput, code)
	assert.False(t, dialed)
	assert.Contains(t, stderr, addrhash.EnvVar, "no address key")

	for _, args := range [][]string{
		{"suppression", "add", "--org", "demo", "--channel", "email", "--address", "Ann@Example.com", "--expires", "2026-06-01T00:00:00Z"},
		{"suppression", "lookup", "--org", "demo", "--channel", "sms", "--address", "+15551234567"},
		{"suppression", "lift", "--org", "demo", "--channel", "sms", "--address", "+15551234567", "--reason", "sms_stop"},
		{"suppression", "list", "--org", "demo"},
	} {
		code, stderr, dialed, _ := runEnv(env, args...)
		assert.True(t, dialed, "%v: %s", args, stderr)
		assert.Equal(t, startercli.ExitOther, code)
	}
}
