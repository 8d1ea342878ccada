package addrhash

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// TestNormalize states the rule: an email's local part is lower-cased and its domain becomes IDNA ASCII; a phone
// becomes E.164; anything else is refused.
func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Jane.Doe@Example.COM":  "jane.doe@example.com",
		" jane@bücher.example ": "jane@xn--bcher-kva.example",
		"JANE@BÜCHER.example":   "jane@xn--bcher-kva.example",
	} {
		got, err := NormalizeEmail(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "jane", "@example.com", "jane@", "jane@exa mple.com"} {
		_, err := NormalizeEmail(bad)
		assert.Error(t, err, bad)
	}
	got, err := NormalizePhone("+44 20 7946 0000")
	require.NoError(t, err)
	assert.Equal(t, "+442079460000", got)
	for _, bad := range []string{"", "12", "020 7946 0000", "+1"} {
		_, err := NormalizePhone(bad)
		assert.Error(t, err, bad)
	}
	_, err = Normalize(appt.Webhook, "x")
	assert.Error(t, err)
}

// TestHash states the rule: the same customer hashes the same whatever the spelling, differently in another
// organisation, on another channel or under another key, and the hash holds nothing of the address.
func TestHash(t *testing.T) {
	k1, k2 := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(k1)
	_, _ = rand.Read(k2)
	h1, err := New(k1)
	require.NoError(t, err)
	h2, _ := New(k2)
	a, err := h1.HashAddress("acme", appt.Email, "Jane@Example.com")
	require.NoError(t, err)
	b, _ := h1.HashAddress("acme", appt.Email, "jane@EXAMPLE.com")
	assert.Equal(t, a, b)
	assert.Len(t, a, 64)
	assert.NotContains(t, a, "jane")
	other, _ := h1.HashAddress("globex", appt.Email, "jane@example.com")
	assert.NotEqual(t, a, other, "organisations must not share hashes")
	k, _ := h2.HashAddress("acme", appt.Email, "jane@example.com")
	assert.NotEqual(t, a, k, "another key, another hash")
	assert.NotEqual(t, h1.Hash("acme", appt.Email, "x"), h1.Hash("acme", appt.SMS, "x"))
	_, err = New(k1[:16])
	assert.Error(t, err)
}

// TestLoad states where the key comes from: the variable first, then <data-dir>/address-key, created once (0600)
// when asked to; a bad key is refused without echoing it.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	_, err := Load(getenv, dir, false)
	require.ErrorIs(t, err, os.ErrNotExist)
	k1, err := Load(getenv, dir, true)
	require.NoError(t, err)
	st, err := os.Stat(filepath.Join(dir, FileName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	k2, err := Load(getenv, dir, true)
	require.NoError(t, err)
	assert.Equal(t, k1, k2, "the file is created once")
	env[EnvVar] = "bm90LTMyLWJ5dGVz"
	_, err = Load(getenv, dir, true)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "bm90LTMyLWJ5dGVz")
}
