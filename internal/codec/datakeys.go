package codec

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver: the data-key store on PostgreSQL
	_ "modernc.org/sqlite"             // the "sqlite" driver: the data-key store next to the embedded server
)

// DataKeysEnv names the data-key store: a PostgreSQL URL (postgres://… or postgresql://…) or the path of a SQLite
// file. Without it the worker with the embedded server uses <data-dir>/data-keys.db (DataKeysFileName), and the
// starter uses that file when it exists; a worker on a cluster without it seals with the key ring alone.
const DataKeysEnv = "APPTNOTIFY_DATA_KEYS"

// DataKeysFileName is the SQLite file of the data-key store in a data directory.
const DataKeysFileName = "data-keys.db"

// DataKeyCacheTTL is how long a process keeps an unwrapped data key in memory. The process that destroys a key
// forgets it at once; any other process forgets it at most this long after (docs/security.md).
const DataKeyCacheTTL = time.Minute

// dataKeyCacheMax bounds the unwrapped keys a process keeps: past it the cache is emptied and refilled on demand.
const dataKeyCacheMax = 50000

// ErasedError is a payload sealed with a data key that an erasure destroyed: it can never be opened again.
type ErasedError struct {
	DataKeyID   string
	DestroyedAt time.Time
}

func (e *ErasedError) Error() string {
	return fmt.Sprintf("payload sealed with data key %q, destroyed by an erasure at %s", e.DataKeyID, e.DestroyedAt.UTC().Format(time.RFC3339))
}

// UnknownDataKeyError is a payload sealed with a data key the store does not hold (another store, or none).
type UnknownDataKeyError struct{ DataKeyID string }

func (e *UnknownDataKeyError) Error() string {
	return fmt.Sprintf("payload sealed with data key %q, which is not in the data-key store (%s)", e.DataKeyID, DataKeysEnv)
}

// DataKeys is the store of per-appointment data keys: one random AES-256 key per workflow ID, kept wrapped
// (AES-256-GCM) by a key of the ring, in a SQL table outside Temporal (SQLite or PostgreSQL). Destroy overwrites a
// workflow's wrapped keys and records when; a payload sealed with a destroyed key then opens as ErasedError. Safe
// for concurrent use, and several processes may share one store.
type DataKeys struct {
	db       *sql.DB
	ring     *KeyRing
	postgres bool
	now      func() time.Time

	mu      sync.Mutex
	byID    map[string]cachedKey // data-key ID -> key
	byWF    map[string]string    // workflow ID -> live data-key ID
	cacheAt map[string]time.Time // data-key ID -> when cached
}

type cachedKey struct {
	workflowID string
	aead       cipher.AEAD
}

// OpenDataKeys opens (and creates, if needed) the data-key store named by dsn, a postgres:// URL or a SQLite file
// path, whose keys are wrapped by ring's first key and unwrapped by whichever key of ring wrapped them. Errors:
// an unreachable database, or a table that cannot be created.
func OpenDataKeys(ctx context.Context, dsn string, ring *KeyRing) (*DataKeys, error) {
	if ring == nil {
		return nil, errors.New("data keys need a key ring to wrap them")
	}
	d := &DataKeys{ring: ring, now: time.Now}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		d.postgres = true
		d.db, err = sql.Open("pgx", dsn)
	} else {
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return nil, fmt.Errorf("%s: %w", DataKeysEnv, err)
		}
		// secure_delete: a destroyed key's bytes are overwritten with zeros in the file, not merely unlinked.
		d.db, err = sql.Open("sqlite", "file:"+dsn+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=secure_delete(1)&_txlock=immediate")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DataKeysEnv, err)
	}
	blob := "BLOB"
	if d.postgres {
		blob = "BYTEA"
	}
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS apptnotify_data_keys (
			id TEXT PRIMARY KEY,
			workflow_id TEXT NOT NULL,
			wrap_key_id TEXT NOT NULL,
			wrapped ` + blob + `,
			created_at BIGINT NOT NULL,
			destroyed_at BIGINT)`,
		`CREATE UNIQUE INDEX IF NOT EXISTS apptnotify_data_keys_live ON apptnotify_data_keys (workflow_id) WHERE destroyed_at IS NULL`,
	} {
		if _, err := d.db.ExecContext(ctx, stmt); err != nil {
			d.db.Close()
			return nil, fmt.Errorf("%s: creating the data-key table: %w", DataKeysEnv, err)
		}
	}
	if !d.postgres {
		if err := os.Chmod(dsn, 0o600); err != nil {
			d.db.Close()
			return nil, fmt.Errorf("%s: %w", DataKeysEnv, err)
		}
	}
	d.resetCache()
	return d, nil
}

// Close closes the store's database.
func (d *DataKeys) Close() error { return d.db.Close() }

func (d *DataKeys) resetCache() {
	d.byID, d.byWF, d.cacheAt = map[string]cachedKey{}, map[string]string{}, map[string]time.Time{}
}

func (d *DataKeys) cached(id string) (cachedKey, bool) {
	k, ok := d.byID[id]
	if ok && d.now().Sub(d.cacheAt[id]) >= DataKeyCacheTTL {
		delete(d.byID, id)
		delete(d.byWF, k.workflowID)
		delete(d.cacheAt, id)
		return cachedKey{}, false
	}
	return k, ok
}

func (d *DataKeys) remember(id string, k cachedKey, live bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.byID) >= dataKeyCacheMax {
		d.resetCache()
	}
	d.byID[id], d.cacheAt[id] = k, d.now()
	if live {
		d.byWF[k.workflowID] = id
	}
}

// forWorkflow returns the live data key of workflowID, creating it when there is none.
func (d *DataKeys) forWorkflow(ctx context.Context, workflowID string) (string, cipher.AEAD, error) {
	d.mu.Lock()
	if id, ok := d.byWF[workflowID]; ok {
		if k, ok := d.cached(id); ok {
			d.mu.Unlock()
			return id, k.aead, nil
		}
	}
	d.mu.Unlock()
	for attempt := 0; attempt < 2; attempt++ {
		var id, wrapKey string
		var wrapped []byte
		err := d.db.QueryRowContext(ctx, `SELECT id, wrap_key_id, wrapped FROM apptnotify_data_keys WHERE workflow_id = $1 AND destroyed_at IS NULL`,
			workflowID).Scan(&id, &wrapKey, &wrapped)
		if err == nil {
			aead, err := d.unwrap(id, wrapKey, wrapped)
			if err != nil {
				return "", nil, err
			}
			d.remember(id, cachedKey{workflowID: workflowID, aead: aead}, true)
			return id, aead, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", nil, fmt.Errorf("data-key store: %w", err)
		}
		if err := d.create(ctx, workflowID); err != nil {
			return "", nil, err
		}
	}
	return "", nil, fmt.Errorf("data-key store: no live key for a workflow after creating one")
}

// create inserts a fresh data key for workflowID unless another process inserted one first.
func (d *DataKeys) create(ctx context.Context, workflowID string) error {
	raw := make([]byte, KeySize+16)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	key, idBytes := raw[:KeySize], raw[KeySize:]
	id := "dk-" + hex.EncodeToString(idBytes)
	wk := d.ring.keys[0]
	nonce := make([]byte, wk.aead.NonceSize(), wk.aead.NonceSize()+KeySize+wk.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	wrapped := wk.aead.Seal(nonce, nonce, key, []byte(id))
	_, err := d.db.ExecContext(ctx, `INSERT INTO apptnotify_data_keys (id, workflow_id, wrap_key_id, wrapped, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, id, workflowID, wk.ID, wrapped, d.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("data-key store: %w", err)
	}
	return nil
}

func (d *DataKeys) unwrap(id, wrapKey string, wrapped []byte) (cipher.AEAD, error) {
	w, ok := d.ring.byID[wrapKey]
	if !ok {
		return nil, &UnknownKeyError{KeyID: wrapKey}
	}
	ns := w.NonceSize()
	if len(wrapped) < ns+w.Overhead() {
		return nil, fmt.Errorf("data key %q is truncated", id)
	}
	key, err := w.Open(nil, wrapped[:ns], wrapped[ns:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("data key %q does not unwrap with key %q", id, wrapKey)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// open returns the data key with this ID: *ErasedError when it was destroyed, *UnknownDataKeyError when the store
// never held it.
func (d *DataKeys) open(ctx context.Context, id string) (cipher.AEAD, error) {
	d.mu.Lock()
	k, ok := d.cached(id)
	d.mu.Unlock()
	if ok {
		return k.aead, nil
	}
	var wf, wrapKey string
	var wrapped []byte
	var destroyed sql.NullInt64
	err := d.db.QueryRowContext(ctx, `SELECT workflow_id, wrap_key_id, wrapped, destroyed_at FROM apptnotify_data_keys WHERE id = $1`,
		id).Scan(&wf, &wrapKey, &wrapped, &destroyed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &UnknownDataKeyError{DataKeyID: id}
	}
	if err != nil {
		return nil, fmt.Errorf("data-key store: %w", err)
	}
	if destroyed.Valid {
		return nil, &ErasedError{DataKeyID: id, DestroyedAt: time.UnixMilli(destroyed.Int64)}
	}
	aead, err := d.unwrap(id, wrapKey, wrapped)
	if err != nil {
		return nil, err
	}
	d.remember(id, cachedKey{workflowID: wf, aead: aead}, false)
	return aead, nil
}

// Destroy destroys every data key of workflowID: the wrapped key is overwritten (NULL; on SQLite with
// secure_delete, and the write-ahead log checkpointed and truncated, so no copy stays in the file) and the time
// recorded. It returns how many keys this call destroyed (0 when they were destroyed already, or the workflow
// never had one), and forgets them in this process at once.
func (d *DataKeys) Destroy(ctx context.Context, workflowID string) (int, error) {
	res, err := d.db.ExecContext(ctx, `UPDATE apptnotify_data_keys SET wrapped = NULL, destroyed_at = $1 WHERE workflow_id = $2 AND destroyed_at IS NULL`,
		d.now().UnixMilli(), workflowID)
	if err != nil {
		return 0, fmt.Errorf("data-key store: %w", err)
	}
	n, _ := res.RowsAffected()
	d.mu.Lock()
	for id, k := range d.byID {
		if k.workflowID == workflowID {
			delete(d.byID, id)
			delete(d.cacheAt, id)
		}
	}
	delete(d.byWF, workflowID)
	d.mu.Unlock()
	if !d.postgres {
		if _, err := d.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return int(n), fmt.Errorf("data-key store: checkpoint after destroying: %w", err)
		}
	}
	return int(n), nil
}

// Destroyed returns when workflowID's data keys were destroyed, and whether it has any destroyed key.
func (d *DataKeys) Destroyed(ctx context.Context, workflowID string) (time.Time, bool, error) {
	var at sql.NullInt64
	err := d.db.QueryRowContext(ctx, `SELECT MAX(destroyed_at) FROM apptnotify_data_keys WHERE workflow_id = $1`, workflowID).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("data-key store: %w", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(at.Int64), true, nil
}

// SQL returns the store's database and whether it is PostgreSQL, for the tables that live beside the data keys
// (the erasure tombstones, internal/tombstones).
func (d *DataKeys) SQL() (*sql.DB, bool) { return d.db, d.postgres }
