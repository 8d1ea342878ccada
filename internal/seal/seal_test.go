package seal_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/seal"
)

// TestSealOpen: a value sealed with the worker's public key opens only with its private key and only in the
// context it was sealed for; the sealed text holds no plaintext.
func TestSealOpen(t *testing.T) {
	k, err := seal.NewPrivateKey()
	require.NoError(t, err)
	o, err := seal.ParsePrivateKeys(k)
	require.NoError(t, err)
	s, err := seal.ParsePublicKey(o.PublicKey())
	require.NoError(t, err)
	v, err := s.Seal("acme/webhooks", []byte("whsec_secret"))
	require.NoError(t, err)
	require.True(t, seal.IsSealed(v))
	require.NotContains(t, v, "secret")
	require.True(t, strings.HasPrefix(v, "seal1."+s.KeyID()+"."))
	pt, err := o.Open("acme/webhooks", v)
	require.NoError(t, err)
	require.Equal(t, "whsec_secret", string(pt))

	_, err = o.Open("other/webhooks", v)
	require.Error(t, err, "a value copied into another context must not open")

	k2, _ := seal.NewPrivateKey()
	other, _ := seal.ParsePrivateKeys(k2)
	_, err = other.Open("acme/webhooks", v)
	require.ErrorContains(t, err, s.KeyID())
}

// TestRotation: after rotation (a new key first, the old one kept), values sealed with either key open.
func TestRotation(t *testing.T) {
	oldK, _ := seal.NewPrivateKey()
	newK, _ := seal.NewPrivateKey()
	before, _ := seal.ParsePrivateKeys(oldK)
	v, err := before.Sealer().Seal("c", []byte("x"))
	require.NoError(t, err)
	after, err := seal.ParsePrivateKeys(newK + "," + oldK)
	require.NoError(t, err)
	require.NotEqual(t, before.PublicKey(), after.PublicKey(), "the published key is the new one")
	pt, err := after.Open("c", v)
	require.NoError(t, err)
	require.Equal(t, "x", string(pt))
	_, err = seal.ParsePrivateKeys(newK + "," + newK)
	require.ErrorContains(t, err, "repeats")
}

// TestWorkerKeysFile: with the embedded server the worker creates <data-dir>/seal-keys (0600) once and publishes
// <data-dir>/seal-public-key, which the starter of the same directory seals with.
func TestWorkerKeysFile(t *testing.T) {
	dir := t.TempDir()
	none := func(string) string { return "" }
	o, err := seal.WorkerKeys(none, dir)
	require.NoError(t, err)
	st, err := os.Stat(filepath.Join(dir, seal.PrivateKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	again, err := seal.WorkerKeys(none, dir)
	require.NoError(t, err)
	require.Equal(t, o.PublicKey(), again.PublicKey())
	s, err := seal.ClientKey(none, dir)
	require.NoError(t, err)
	v, _ := s.Seal("c", []byte("y"))
	_, err = o.Open("c", v)
	require.NoError(t, err)
	_, err = seal.ClientKey(none, t.TempDir())
	require.ErrorIs(t, err, seal.ErrNoPublicKey)
	_, err = seal.ParsePublicKey("not base64!")
	require.Error(t, err)
}
