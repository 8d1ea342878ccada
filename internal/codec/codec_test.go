package codec_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/apptnotify/apptnotify/internal/codec"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func ring(t *testing.T, s string) *codec.KeyRing {
	t.Helper()
	r, err := codec.ParseKeyRing(s)
	require.NoError(t, err)
	return r
}

func TestParseKeyRing(t *testing.T) {
	r := ring(t, "new="+key(1)+", old="+key(2))
	assert.Equal(t, []string{"new", "old"}, r.IDs())
	// Split at the first '=': base64 padding stays in the key.
	assert.True(t, strings.HasSuffix(key(1), "="))

	for in, want := range map[string]string{
		"":                             "no key",
		"nokey":                        "entry 1 is not KEYID=BASE64",
		"=" + key(1):                   "entry 1: the key ID",
		"a b=" + key(1):                "entry 1: the key ID",
		"a=" + key(1) + ",a=" + key(2): `entry 2: key ID "a" is given twice`,
		"a=%%%":                        `entry 1 (key "a"): the key is not standard base64`,
		"a=" + base64.StdEncoding.EncodeToString(make([]byte, 16)):               `entry 1 (key "a"): the key is 16 bytes; AES-256 needs 32`,
		"a=" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)): "not standard base64",
	} {
		_, err := codec.ParseKeyRing(in)
		require.Error(t, err, "%q", in)
		assert.Contains(t, err.Error(), want, "%q", in)
		assert.NotContains(t, err.Error(), key(1), "an error never quotes key material")
	}
}

func payload(s string) *commonpb.Payload {
	p, err := converter.GetDefaultDataConverter().ToPayload(s)
	if err != nil {
		panic(err)
	}
	return p
}

func TestRoundTripAndMetadata(t *testing.T) {
	c := codec.New(ring(t, "k2="+key(2)+",k1="+key(1)), nil)
	in := []*commonpb.Payload{payload("Ann Lee <ann@example.com>"), payload("+15551234567")}
	enc, err := c.Encode(in)
	require.NoError(t, err)
	for _, p := range enc {
		assert.Equal(t, "binary/encrypted", string(p.Metadata["encoding"]))
		assert.Equal(t, "k2", string(p.Metadata["encryption-key-id"]), "the first key encrypts")
		assert.NotContains(t, string(p.Data), "ann@example.com")
		assert.NotContains(t, string(p.Data), "5551234567")
	}
	dec, err := c.Decode(enc)
	require.NoError(t, err)
	var s string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(dec[0], &s))
	assert.Equal(t, "Ann Lee <ann@example.com>", s)

	// Two encryptions of the same value differ (random nonce).
	enc2, err := c.Encode(in[:1])
	require.NoError(t, err)
	assert.NotEqual(t, enc[0].Data, enc2[0].Data)

	// After rotation (a new key first, the old one kept), the old payloads still decode.
	rotated := codec.New(ring(t, "k3="+key(3)+",k2="+key(2)), nil)
	dec, err = rotated.Decode(enc)
	require.NoError(t, err)
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(dec[1], &s))
	assert.Equal(t, "+15551234567", s)
}

func TestPlaintextPayloadsPassThrough(t *testing.T) {
	c := codec.New(ring(t, "k1="+key(1)), nil)
	p := payload("written before encryption was on")
	dec, err := c.Decode([]*commonpb.Payload{p})
	require.NoError(t, err)
	assert.Same(t, p, dec[0])
}

type recorder struct{ calls []string }

func (r *recorder) UnknownKey(wf, key string) { r.calls = append(r.calls, wf+"|"+key) }

func TestUnknownKeyAndTampering(t *testing.T) {
	enc, err := codec.New(ring(t, "gone="+key(9)), nil).Encode([]*commonpb.Payload{payload("x")})
	require.NoError(t, err)

	rec := &recorder{}
	c := codec.New(ring(t, "k1="+key(1)), rec)
	_, err = c.Decode(enc)
	var uk *codec.UnknownKeyError
	require.ErrorAs(t, err, &uk)
	assert.Equal(t, "gone", uk.KeyID)
	assert.Empty(t, rec.calls, "outside a workflow's serialization context nothing is reported")

	bound := c.WithSerializationContext(converter.WorkflowSerializationContext{Namespace: "default", WorkflowID: "appointment:A1"})
	_, err = bound.Decode(enc)
	require.ErrorAs(t, err, &uk)
	assert.Equal(t, []string{"appointment:A1|gone"}, rec.calls)

	// The same key ID with other key bytes, and a flipped bit, do not open.
	other := codec.New(ring(t, "gone="+key(8)), nil)
	_, err = other.Decode(enc)
	assert.ErrorContains(t, err, "does not decrypt")
	good := codec.New(ring(t, "gone="+key(9)), nil)
	flipped := proto.Clone(enc[0]).(*commonpb.Payload)
	flipped.Data[len(flipped.Data)-1] ^= 1
	_, err = good.Decode([]*commonpb.Payload{flipped})
	assert.ErrorContains(t, err, "does not decrypt")
	// The key ID is authenticated: relabelling a payload to another key fails.
	relabelled := proto.Clone(enc[0]).(*commonpb.Payload)
	relabelled.Metadata = map[string][]byte{"encoding": []byte("binary/encrypted"), "encryption-key-id": []byte("k1")}
	_, err = codec.New(ring(t, "k1="+key(9)), nil).Decode([]*commonpb.Payload{relabelled})
	assert.ErrorContains(t, err, "does not decrypt")
}

func TestDataConverterEncryptsAndFailureConverterEncodesMessages(t *testing.T) {
	dc := codec.DataConverter(ring(t, "k1="+key(1)), nil)
	p, err := dc.ToPayload(map[string]string{"email": "ann@example.com"})
	require.NoError(t, err)
	assert.NotContains(t, string(p.Data), "ann@example.com")
	var back map[string]string
	require.NoError(t, dc.FromPayload(p, &back))
	assert.Equal(t, "ann@example.com", back["email"])

	fc := codec.FailureConverter(dc)
	f := fc.ErrorToFailure(errors.New("smtp: 550 mailbox ann@example.com unavailable"))
	assert.Equal(t, "Encoded failure", f.GetMessage(), "the message moves into the encrypted attributes")
	assert.NotContains(t, f.String(), "ann@example.com")
	assert.Contains(t, fc.FailureToError(f).Error(), "ann@example.com", "and comes back through the converter")

	assert.Same(t, converter.GetDefaultDataConverter(), codec.DataConverter(nil, nil), "a nil ring is plaintext")
}

func TestKeyFile(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "data", codec.KeyFileName)
	r1, created, err := codec.LoadOrCreateKeyFile(path, now)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, []string{"k20261130"}, r1.IDs())
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	r2, created, err := codec.LoadOrCreateKeyFile(path, now.Add(time.Hour))
	require.NoError(t, err)
	assert.False(t, created, "an existing file is kept")
	enc, err := codec.New(r1, nil).Encode([]*commonpb.Payload{payload("x")})
	require.NoError(t, err)
	_, err = codec.New(r2, nil).Decode(enc)
	require.NoError(t, err, "the same key after a restart")

	// Sources: the variable wins; a starter without a file and without the variable has none.
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	_, _, err = codec.Source{Getenv: get, KeyFile: filepath.Join(t.TempDir(), codec.KeyFileName)}.Resolve(now)
	assert.ErrorIs(t, err, codec.ErrNoKeys)
	assert.Equal(t, "APPTNOTIFY_ENCRYPTION_KEYS is not set (or pass --plaintext-history)", codec.ErrNoKeys.Error())
	r, from, err := codec.Source{Getenv: get, KeyFile: path}.Resolve(now)
	require.NoError(t, err)
	assert.Equal(t, path, from)
	assert.Equal(t, []string{"k20261130"}, r.IDs())
	env[codec.KeysEnv] = "v=" + key(4)
	r, from, err = codec.Source{Getenv: get, KeyFile: path}.Resolve(now)
	require.NoError(t, err)
	assert.Equal(t, codec.KeysEnv, from)
	assert.Equal(t, []string{"v"}, r.IDs())
	r, _, err = codec.Source{Getenv: get, Plaintext: true}.Resolve(now)
	require.NoError(t, err)
	assert.Nil(t, r)
}
