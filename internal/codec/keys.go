// Package codec encrypts everything apptnotify writes into Temporal: a converter.PayloadCodec that seals every
// payload with AES-256-GCM under the first key of a key ring, and opens it with whichever key of the ring its
// metadata names. Payloads written before encryption was turned on carry no encryption metadata and pass through
// unchanged, so running appointments survive the upgrade. docs/security.md says what is encrypted and why.
package codec

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// KeysEnv is the environment variable that holds the key ring: comma-separated KEYID=BASE64 entries, each key 32
// bytes in standard base64. The first key encrypts; every key decrypts.
const KeysEnv = "APPTNOTIFY_ENCRYPTION_KEYS"

// KeyFileName is the file, inside the embedded server's data directory, that holds the key ring the worker creates
// on its first start when KeysEnv is not set. It has the same format as KeysEnv and mode 0600.
const KeyFileName = "encryption-keys"

// PlaintextFlag is the flag that turns encryption off, for the worker and every starter verb.
const PlaintextFlag = "plaintext-history"

// ErrNoKeys is the one-line refusal of a program that needs a key ring and has none.
var ErrNoKeys = errors.New(KeysEnv + " is not set (or pass --" + PlaintextFlag + ")")

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Key is one entry of a key ring.
type Key struct {
	ID   string
	aead cipher.AEAD
}

// KeyRing is an ordered set of AES-256 keys. The first encrypts; all decrypt. A nil *KeyRing means plaintext.
type KeyRing struct {
	keys     []Key
	byID     map[string]cipher.AEAD
	dataKeys *DataKeys
}

// WithDataKeys returns the ring with a data-key store: the codec then seals each appointment's payloads with the
// appointment's own data key (Codec). The store's keys must be wrapped by keys of this ring.
func (r *KeyRing) WithDataKeys(d *DataKeys) *KeyRing {
	cp := *r
	cp.dataKeys = d
	return &cp
}

// DataKeys returns the ring's data-key store, or nil.
func (r *KeyRing) DataKeys() *DataKeys {
	if r == nil {
		return nil
	}
	return r.dataKeys
}

// ParseKeyRing parses KEYID=BASE64[,KEYID=BASE64…]. Each entry is split at its first '='; the ID is 1–64
// characters of [A-Za-z0-9._-]; the key is 32 bytes in standard base64 (with padding). Errors name the entry by
// position and never quote key material.
func ParseKeyRing(s string) (*KeyRing, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("no key")
	}
	r := &KeyRing{byID: map[string]cipher.AEAD{}}
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		id, b64, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("entry %d is not KEYID=BASE64", i+1)
		}
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("entry %d: the key ID must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'", i+1)
		}
		if _, dup := r.byID[id]; dup {
			return nil, fmt.Errorf("entry %d: key ID %q is given twice", i+1, id)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("entry %d (key %q): the key is not standard base64", i+1, id)
		}
		if len(raw) != KeySize {
			return nil, fmt.Errorf("entry %d (key %q): the key is %d bytes; AES-256 needs %d", i+1, id, len(raw), KeySize)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("entry %d (key %q): %w", i+1, id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("entry %d (key %q): %w", i+1, id, err)
		}
		r.keys = append(r.keys, Key{ID: id, aead: aead})
		r.byID[id] = aead
	}
	return r, nil
}

// IDs returns the key IDs in ring order; the first is the one that encrypts.
func (r *KeyRing) IDs() []string {
	out := make([]string, len(r.keys))
	for i, k := range r.keys {
		out[i] = k.ID
	}
	return out
}

// NewKeyRingText returns a fresh ring of one random key, in the KeysEnv format, with an ID of the form k<date>.
func NewKeyRingText(now time.Time) (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return "k" + now.UTC().Format("20060102") + "=" + base64.StdEncoding.EncodeToString(raw), nil
}

// LoadKeyFile reads a key file. It returns fs.ErrNotExist (wrapped) when there is none.
func LoadKeyFile(path string) (*KeyRing, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := ParseKeyRing(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// LoadOrCreateKeyFile reads the key file at path, creating it (mode 0600, one fresh key) when it does not exist.
// created reports whether it was made now.
func LoadOrCreateKeyFile(path string, now time.Time) (r *KeyRing, created bool, err error) {
	r, err = LoadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return r, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	text, err := NewKeyRingText(now)
	if err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first
		r, err = LoadKeyFile(path)
		return r, false, err
	}
	if err != nil {
		return nil, false, err
	}
	if _, err := f.WriteString(text + "\n"); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	r, err = LoadKeyFile(path)
	return r, err == nil, err
}

// Source says where a program takes its key ring from.
type Source struct {
	// Getenv reads KeysEnv. Required.
	Getenv func(string) string
	// KeyFile, when not empty, is read when KeysEnv is not set (the starter: <data-dir>/encryption-keys if it
	// exists).
	KeyFile string
	// CreateKeyFile creates KeyFile when it does not exist (the worker that hosts the embedded server).
	CreateKeyFile bool
	// Plaintext turns encryption off: Resolve returns a nil ring.
	Plaintext bool
	// DataKeysFile is the data-key store used when DataKeysEnv is not set (<data-dir>/data-keys.db): opened when
	// it exists, or always with CreateDataKeys (the worker that hosts the embedded server).
	DataKeysFile   string
	CreateDataKeys bool
}

// dataKeys opens the data-key store Source names for ring, or returns nil when it names none.
func (s Source) dataKeys(ring *KeyRing) (*DataKeys, error) {
	dsn := s.Getenv(DataKeysEnv)
	if dsn == "" && s.DataKeysFile != "" {
		if _, err := os.Stat(s.DataKeysFile); err == nil || s.CreateDataKeys {
			dsn = s.DataKeysFile
		}
	}
	if dsn == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return OpenDataKeys(ctx, dsn, ring)
}

// Resolve returns the key ring of a program: KeysEnv if set, else the key file (created if asked to), else
// ErrNoKeys; with the data-key store of DataKeysEnv or DataKeysFile attached, when there is one. With Plaintext it
// returns nil, nil. from says where the ring came from, for the start-up log.
func (s Source) Resolve(now time.Time) (r *KeyRing, from string, err error) {
	r, from, err = s.resolveRing(now)
	if err != nil || r == nil {
		return r, from, err
	}
	dk, err := s.dataKeys(r)
	if err != nil {
		return nil, "", err
	}
	if dk != nil {
		r = r.WithDataKeys(dk)
	}
	return r, from, nil
}

func (s Source) resolveRing(now time.Time) (r *KeyRing, from string, err error) {
	if s.Plaintext {
		return nil, "", nil
	}
	if v := s.Getenv(KeysEnv); v != "" {
		r, err := ParseKeyRing(v)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", KeysEnv, err)
		}
		return r, KeysEnv, nil
	}
	if s.KeyFile == "" {
		return nil, "", ErrNoKeys
	}
	if s.CreateKeyFile {
		r, created, err := LoadOrCreateKeyFile(s.KeyFile, now)
		if err != nil {
			return nil, "", fmt.Errorf("encryption key file: %w", err)
		}
		if created {
			return r, s.KeyFile + " (created now)", nil
		}
		return r, s.KeyFile, nil
	}
	r, err = LoadKeyFile(s.KeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", ErrNoKeys
	}
	if err != nil {
		return nil, "", fmt.Errorf("encryption key file: %w", err)
	}
	return r, s.KeyFile, nil
}
