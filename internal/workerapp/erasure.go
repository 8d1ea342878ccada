package workerapp

import (
	"context"

	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/suppress"
	"github.com/apptnotify/apptnotify/internal/tombstones"
)

// newErasure builds the erasure activities of the worker (docs/security.md#erasure): its client, the data-key
// store of its key ring, the tombstones in that store's database, and the Twilio sender, which redacts. With the
// embedded server it also creates <data-dir>/address-key, the address key the starter and the API hash with, when
// APPTNOTIFY_ADDRESS_KEY is not set.
func newErasure(ctx context.Context, c client.Client, namespace string, ring *codec.KeyRing, acts *activities.Activities,
	embedded bool, dataDir string, getenv func(string) string) (*activities.Erasure, error) {
	if embedded {
		if _, err := addrhash.Load(getenv, dataDir, true); err != nil {
			return nil, err
		}
	}
	if namespace == "" {
		namespace = client.DefaultNamespace
	}
	e := &activities.Erasure{Temporal: c, Namespace: namespace, DataKeys: ring.DataKeys()}
	if e.DataKeys != nil {
		db, _ := e.DataKeys.SQL()
		t, err := tombstones.OpenSQL(ctx, db)
		if err != nil {
			return nil, err
		}
		e.Tombstones = t
		if acts.Suppressions != nil {
			if l, ok := acts.Suppressions.(*suppress.List); ok && l.Store != nil {
				e.Tombstones = tombstones.Suppressing{Recorder: t, List: l.Store}
			}
		}
	}
	if r, ok := acts.SMS.(activities.SMSRedactor); ok {
		e.SMS = r
	}
	return e, nil
}
