package codec_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/devserver/pgtest"
	"github.com/apptnotify/apptnotify/internal/tombstones"
)

// TestDataKeysOnPostgreSQL: the data-key store of a cluster (APPTNOTIFY_DATA_KEYS=postgres://…) on a real
// PostgreSQL: two processes that seal an appointment's first payloads at the same moment agree on one data key; the
// other process opens what one sealed; a destroyed key opens as erased in both; and the erasure tombstones live in
// the same database.
func TestDataKeysOnPostgreSQL(t *testing.T) {
	pg := pgtest.ForTest(t, pgtest.Options{})
	dsn := "postgres://" + pg.User() + "@" + pg.Addr() + "/postgres?sslmode=disable"
	open := func() (*codec.KeyRing, *codec.DataKeys) {
		r := ring(t, "k1="+key(1))
		dk, err := codec.OpenDataKeys(context.Background(), dsn, r)
		require.NoError(t, err)
		t.Cleanup(func() { dk.Close() })
		return r.WithDataKeys(dk), dk
	}
	r1, dk1 := open()
	r2, _ := open()
	var wg sync.WaitGroup
	sealed := make([][]*commonpb.Payload, 2)
	for i, r := range []*codec.KeyRing{r1, r2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := bound(codec.New(r, nil), appt.WorkflowID("PG1")).Encode([]*commonpb.Payload{payload("Ann Lee")})
			assert.NoError(t, err)
			sealed[i] = p
		}()
	}
	wg.Wait()
	require.NotNil(t, sealed[0])
	require.NotNil(t, sealed[1])
	assert.Equal(t, string(sealed[0][0].Metadata[codec.MetadataDataKeyID]), string(sealed[1][0].Metadata[codec.MetadataDataKeyID]),
		"one data key per appointment, even when two processes create it at once")
	_, err := codec.New(r2, nil).Decode(sealed[0])
	require.NoError(t, err)

	n, err := dk1.Destroy(context.Background(), appt.WorkflowID("PG1"))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	var erased *codec.ErasedError
	_, err = codec.New(r1, nil).Decode(sealed[1])
	require.ErrorAs(t, err, &erased)
	r3, _ := open()
	_, err = codec.New(r3, nil).Decode(sealed[0])
	require.ErrorAs(t, err, &erased)

	db, postgres := dk1.SQL()
	require.True(t, postgres)
	ts, err := tombstones.OpenSQL(context.Background(), db)
	require.NoError(t, err)
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	require.NoError(t, ts.Record(context.Background(), tombstones.Tombstone{Org: "acme", Hash: "h1", Reason: appt.TombstoneErased, At: at}))
	require.NoError(t, ts.Record(context.Background(), tombstones.Tombstone{Org: "acme", Hash: "h1", Reason: "manual", At: at.Add(time.Hour)}))
	got, found, err := ts.Lookup(context.Background(), "acme", "h1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, appt.TombstoneErased, got.Reason, "recording again keeps the first record")
	assert.True(t, at.Equal(got.At))
	_, found, err = ts.Lookup(context.Background(), "beta", "h1")
	require.NoError(t, err)
	assert.False(t, found, "tombstones are per organisation")
}
