// Package tombstones records the addresses an erasure erased, as keyed hashes (internal/addrhash) with the reason
// appt.TombstoneErased, so that a later booking of the same address is not taken for consent.
//
// Recorder is the one interface the erasure writes through. Until the organisation's suppression list (an entity
// workflow, with its reasons sms_stop, hard_bounce, complaint and manual) exists, SQL is its implementation: a table
// in the database of the data-key store (codec.DataKeys), which every worker already shares. When the suppression
// list lands, a Recorder that adds an `erased` entry to it replaces SQL, and nothing else changes.
package tombstones

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Tombstone is one erased address of an organisation.
type Tombstone struct {
	Org    string
	Hash   string // addrhash.Hasher.Hash of the normalised address
	Reason string // appt.TombstoneErased
	At     time.Time
}

// Recorder records tombstones and reads them back. Record is idempotent: recording the same organisation and hash
// again keeps the first record.
type Recorder interface {
	Record(ctx context.Context, t Tombstone) error
	Lookup(ctx context.Context, org, hash string) (Tombstone, bool, error)
}

// SQL is the Recorder over a SQL table, apptnotify_tombstones, on SQLite or PostgreSQL.
type SQL struct {
	db *sql.DB
}

// OpenSQL creates the table if needed (the same DDL on SQLite and PostgreSQL) and returns the Recorder over db.
func OpenSQL(ctx context.Context, db *sql.DB) (*SQL, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS apptnotify_tombstones (
		org TEXT NOT NULL,
		hash TEXT NOT NULL,
		reason TEXT NOT NULL,
		at BIGINT NOT NULL,
		PRIMARY KEY (org, hash))`); err != nil {
		return nil, fmt.Errorf("tombstones: creating the table: %w", err)
	}
	return &SQL{db: db}, nil
}

// Record implements Recorder.
func (s *SQL) Record(ctx context.Context, t Tombstone) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO apptnotify_tombstones (org, hash, reason, at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, t.Org, t.Hash, t.Reason, t.At.UnixMilli())
	if err != nil {
		return fmt.Errorf("tombstones: %w", err)
	}
	return nil
}

// Lookup implements Recorder.
func (s *SQL) Lookup(ctx context.Context, org, hash string) (Tombstone, bool, error) {
	t := Tombstone{Org: org, Hash: hash}
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT reason, at FROM apptnotify_tombstones WHERE org = $1 AND hash = $2`, org, hash).Scan(&t.Reason, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Tombstone{}, false, nil
	}
	if err != nil {
		return Tombstone{}, false, fmt.Errorf("tombstones: %w", err)
	}
	t.At = time.UnixMilli(at)
	return t, true, nil
}
