package codec_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
)

// dataKeyRing is the ring "k1" with a SQLite data-key store in dir.
func dataKeyRing(t *testing.T, dir string) (*codec.KeyRing, *codec.DataKeys) {
	t.Helper()
	r := ring(t, "k1="+key(1))
	dk, err := codec.OpenDataKeys(context.Background(), filepath.Join(dir, codec.DataKeysFileName), r)
	require.NoError(t, err)
	t.Cleanup(func() { dk.Close() })
	return r.WithDataKeys(dk), dk
}

func bound(c *codec.Codec, workflowID string) converter.PayloadCodec {
	return c.WithSerializationContext(converter.WorkflowSerializationContext{Namespace: "default", WorkflowID: workflowID})
}

// TestDataKeyPerAppointment: the payloads of an appointment's workflow are sealed with that appointment's own data
// key (named in the metadata, not the ring key), different from another appointment's; another process on the same
// store opens them; the ring alone does not. Payloads of other workflows, and payloads sealed before data keys
// (ring key only), keep working.
func TestDataKeyPerAppointment(t *testing.T) {
	dir := t.TempDir()
	r, _ := dataKeyRing(t, dir)
	c := codec.New(r, nil)
	a, err := bound(c, appt.WorkflowID("A")).Encode([]*commonpb.Payload{payload("Ann Lee")})
	require.NoError(t, err)
	a2, err := bound(c, appt.WorkflowID("A")).Encode([]*commonpb.Payload{payload("again")})
	require.NoError(t, err)
	b, err := bound(c, appt.WorkflowID("B")).Encode([]*commonpb.Payload{payload("Bo")})
	require.NoError(t, err)
	dkA := string(a[0].Metadata[codec.MetadataDataKeyID])
	assert.Regexp(t, `^dk-[0-9a-f]{32}$`, dkA)
	assert.Equal(t, dkA, string(a2[0].Metadata[codec.MetadataDataKeyID]), "one key per appointment")
	assert.NotEqual(t, dkA, string(b[0].Metadata[codec.MetadataDataKeyID]))
	assert.NotContains(t, a[0].Metadata, codec.MetadataKeyID)

	// Another process: a fresh store on the same file.
	r2, _ := dataKeyRing(t, dir)
	dec, err := codec.New(r2, nil).Decode(a)
	require.NoError(t, err)
	assert.True(t, proto.Equal(payload("Ann Lee"), dec[0]))

	// The ring alone cannot open it.
	_, err = codec.New(ring(t, "k1="+key(1)), nil).Decode(a)
	var unknown *codec.UnknownDataKeyError
	require.ErrorAs(t, err, &unknown)
	assert.Equal(t, dkA, unknown.DataKeyID)

	// Not an appointment: the ring key, as before; and ring-sealed payloads still open with a store on the ring.
	o, err := bound(c, appt.OrgWorkflowID("acme")).Encode([]*commonpb.Payload{payload("settings")})
	require.NoError(t, err)
	assert.Equal(t, "k1", string(o[0].Metadata[codec.MetadataKeyID]))
	old, err := codec.New(ring(t, "k1="+key(1)), nil).Encode([]*commonpb.Payload{payload("before")})
	require.NoError(t, err)
	dec, err = c.Decode(append(old, o...))
	require.NoError(t, err)
	assert.True(t, proto.Equal(payload("before"), dec[0]))
}

// TestDestroyedDataKey: after Destroy, a payload sealed with the key fails with ErasedError (in this process and in
// another one on the same store), the codec endpoint's codec answers the erased placeholder instead, the other
// appointment is untouched, and the wrapped key's bytes are gone from the SQLite file and its write-ahead log.
func TestDestroyedDataKey(t *testing.T) {
	dir := t.TempDir()
	r, dk := dataKeyRing(t, dir)
	other, _ := dataKeyRing(t, dir) // a second process, which has opened the key already
	c := codec.New(r, nil)
	a, err := bound(c, appt.WorkflowID("A")).Encode([]*commonpb.Payload{payload("Ann Lee")})
	require.NoError(t, err)
	b, err := bound(c, appt.WorkflowID("B")).Encode([]*commonpb.Payload{payload("Bo")})
	require.NoError(t, err)
	_, err = codec.New(other, nil).Decode(a)
	require.NoError(t, err)

	file := filepath.Join(dir, codec.DataKeysFileName)
	db, err := sql.Open("sqlite", "file:"+file)
	require.NoError(t, err)
	var wrapped []byte
	require.NoError(t, db.QueryRow(`SELECT wrapped FROM apptnotify_data_keys WHERE workflow_id = $1`, appt.WorkflowID("A")).Scan(&wrapped))
	_, err = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`) // the key is in the main file now, not only in the log
	require.NoError(t, err)
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.True(t, bytes.Contains(raw, wrapped))
	db.Close()
	require.Len(t, wrapped, 12+32+16)

	n, err := dk.Destroy(context.Background(), appt.WorkflowID("A"))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = dk.Destroy(context.Background(), appt.WorkflowID("A"))
	require.NoError(t, err)
	assert.Equal(t, 0, n, "destroying again destroys nothing")

	_, err = c.Decode(a)
	var erased *codec.ErasedError
	require.ErrorAs(t, err, &erased)
	assert.False(t, erased.DestroyedAt.IsZero())
	fresh, _ := dataKeyRing(t, dir)
	_, err = codec.New(fresh, nil).Decode(a)
	require.ErrorAs(t, err, &erased)

	ph, err := c.WithErasedPlaceholders().Decode(a)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(ph[0].Data, &doc))
	assert.Equal(t, true, doc["erased"])
	assert.Equal(t, string(a[0].Metadata[codec.MetadataDataKeyID]), doc["dataKeyId"])

	dec, err := c.Decode(b)
	require.NoError(t, err, "another appointment keeps its key")
	assert.True(t, proto.Equal(payload("Bo"), dec[0]))

	for _, f := range []string{file, file + "-wal"} {
		raw, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		assert.False(t, bytes.Contains(raw, wrapped), "%s still holds the destroyed wrapped key", filepath.Base(f))
	}
}
