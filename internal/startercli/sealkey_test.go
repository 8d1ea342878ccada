package startercli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/seal"
	"github.com/apptnotify/apptnotify/internal/startercli"
)

// TestSealPublicKey (docs/security.md#seal-keys): `starter seal-public-key` prints the public key of the first key in
// APPTNOTIFY_SEAL_KEYS, the one the worker logs and the API must seal with, without dialling; unset or malformed, it
// exits 2 naming the variable and never echoing its value.
func TestSealPublicKey(t *testing.T) {
	priv, err := seal.NewPrivateKey()
	require.NoError(t, err)
	opener, err := seal.ParsePrivateKeys(priv)
	require.NoError(t, err)
	other, err := seal.NewPrivateKey()
	require.NoError(t, err)

	var out, errb bytes.Buffer
	code := startercli.Run(context.Background(), []string{"seal-public-key"}, startercli.Env{Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return map[string]string{seal.PrivateKeysEnv: priv + "," + other}[k] }})
	require.Equal(t, startercli.ExitOK, code, errb.String())
	stdout := out.String()
	assert.Equal(t, opener.PublicKey(), strings.TrimSpace(stdout), "the first key's public key")
	s, err := seal.ParsePublicKey(strings.TrimSpace(stdout))
	require.NoError(t, err)
	assert.Equal(t, opener.Sealer().KeyID(), s.KeyID())

	for _, v := range []string{"", "bm90IGEga2V5", "%%%"} {
		code, stderr, dialed, _ := runEnv(map[string]string{seal.PrivateKeysEnv: v}, "seal-public-key")
		assert.Equal(t, startercli.ExitBadInput, code, v)
		assert.False(t, dialed)
		assert.Contains(t, stderr, seal.PrivateKeysEnv, v)
		if v != "" {
			assert.NotContains(t, stderr, v, "the value is never echoed")
		}
	}
}

// TestMalformedAddressKeyNeverDials (docs/security.md#erasure): a malformed APPTNOTIFY_ADDRESS_KEY stops a verb
// before it dials, exit 2 naming the variable and not echoing it, instead of scheduling without the customers'
// address hashes (which an erasure by address would then miss).
func TestMalformedAddressKeyNeverDials(t *testing.T) {
	env := map[string]string{codec.KeysEnv: testKeys, addrhash.EnvVar: "c2hvcnQ="}
	code, stderr, dialed, _ := runEnv(env, "schedule", "--id", "K1", "--org", "demo", "--start", "2026-05-02T10:00:00Z", "--participant", good)
	assert.Equal(t, startercli.ExitBadInput, code, stderr)
	assert.False(t, dialed)
	assert.Contains(t, stderr, addrhash.EnvVar)
	assert.NotContains(t, stderr, "c2hvcnQ=")
}
