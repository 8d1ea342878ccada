// Package seal makes tenant secrets (webhook signing secrets) readable by the worker only. Programs that accept a
// secret (the HTTP API, the starter) hold the worker's public key and seal the secret with HPKE (RFC 9180,
// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, base mode, Go's crypto/hpke); only the worker, which
// holds the private key, opens it. A sealed secret names its key by ID, so the keypair can rotate: the worker keeps
// its old private keys until nothing sealed with them is left (docs/security.md, "Seal keys").
//
// A sealed value is the text "seal1.<key ID>.<base64url of HPKE enc || ciphertext>". The HPKE info binds it to a
// context (the organisation ID and the field), so a sealed value copied into another organisation does not open.
package seal

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables and files (docs/security.md, "Seal keys").
const (
	// PrivateKeysEnv holds the worker's private keys: comma-separated standard base64 X25519 private keys (32
	// bytes each). Every key opens; the first one's public key is the one to publish.
	PrivateKeysEnv = "APPTNOTIFY_SEAL_KEYS"
	// PublicKeyEnv holds the public key the API and the starter seal with: standard base64, 32 bytes.
	PublicKeyEnv = "APPTNOTIFY_SEAL_PUBLIC_KEY"
	// PrivateKeyFile, in the embedded server's data directory, holds PrivateKeysEnv's format (mode 0600); the worker
	// creates it with one key on its first start when PrivateKeysEnv is not set.
	PrivateKeyFile = "seal-keys"
	// PublicKeyFile, beside it, holds the first key's public key (mode 0644), for the starter and API of the same
	// machine.
	PublicKeyFile = "seal-public-key"
)

const prefix = "seal1."

// ErrNoPublicKey is the refusal of a program asked to seal without a public key.
var ErrNoPublicKey = errors.New(PublicKeyEnv + " is not set and no " + PublicKeyFile + " is in the data directory; start the worker once, or set it")

func suite() (hpke.KEM, hpke.KDF, hpke.AEAD) {
	return hpke.DHKEM(ecdh.X25519()), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305()
}

func info(context string) []byte { return []byte("apptnotify seal v1\x00" + context) }

// KeyID is the ID under which a public key appears in sealed values: the first 8 hex digits of the SHA-256 of its
// 32 raw bytes.
func KeyID(pub *ecdh.PublicKey) string {
	d := sha256.Sum256(pub.Bytes())
	return hex.EncodeToString(d[:4])
}

// Sealer seals with one public key.
type Sealer struct {
	pub *ecdh.PublicKey
	id  string
}

// ParsePublicKey parses a standard base64 X25519 public key (32 bytes).
func ParsePublicKey(s string) (*Sealer, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("the seal public key is not standard base64")
	}
	pub, err := ecdh.X25519().NewPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("the seal public key is not an X25519 key: %d bytes, 32 expected", len(raw))
	}
	return &Sealer{pub: pub, id: KeyID(pub)}, nil
}

// KeyID is the ID of the key the Sealer seals with.
func (s *Sealer) KeyID() string { return s.id }

// Seal seals plaintext for the worker, bound to context. Each call gives a different value.
func (s *Sealer) Seal(context string, plaintext []byte) (string, error) {
	_, kdf, aead := suite()
	pk, err := hpke.NewDHKEMPublicKey(s.pub)
	if err != nil {
		return "", err
	}
	ct, err := hpke.Seal(pk, kdf, aead, info(context), plaintext)
	if err != nil {
		return "", fmt.Errorf("sealing: %w", err)
	}
	return prefix + s.id + "." + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Opener opens sealed values with the worker's private keys.
type Opener struct {
	keys  map[string]hpke.PrivateKey
	first *ecdh.PrivateKey
}

// ParsePrivateKeys parses PrivateKeysEnv's format. Errors name the entry by position, never key material.
func ParsePrivateKeys(s string) (*Opener, error) {
	o := &Opener{keys: map[string]hpke.PrivateKey{}}
	for i, entry := range strings.Split(strings.TrimSpace(s), ",") {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(entry))
		if err != nil {
			return nil, fmt.Errorf("%s: entry %d is not standard base64", PrivateKeysEnv, i+1)
		}
		priv, err := ecdh.X25519().NewPrivateKey(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: entry %d is %d bytes; an X25519 private key is 32", PrivateKeysEnv, i+1, len(raw))
		}
		k, err := hpke.NewDHKEMPrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("%s: entry %d: %w", PrivateKeysEnv, i+1, err)
		}
		id := KeyID(priv.PublicKey())
		if _, dup := o.keys[id]; dup {
			return nil, fmt.Errorf("%s: entry %d repeats an earlier key", PrivateKeysEnv, i+1)
		}
		o.keys[id] = k
		if o.first == nil {
			o.first = priv
		}
	}
	return o, nil
}

// PublicKey is the standard base64 public key of the first private key: the one to give the API and the starter.
func (o *Opener) PublicKey() string {
	return base64.StdEncoding.EncodeToString(o.first.PublicKey().Bytes())
}

// Sealer seals with the first private key's public key (tests and the worker's own checks).
func (o *Opener) Sealer() *Sealer {
	s, _ := ParsePublicKey(o.PublicKey())
	return s
}

// Open opens a sealed value bound to context. The error never quotes the value.
func (o *Opener) Open(context, sealed string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	id, b64, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return nil, errors.New("not a sealed value (seal1.<key ID>.<data>)")
	}
	k, ok := o.keys[id]
	if !ok {
		return nil, fmt.Errorf("sealed with key %s, which %s lacks", id, PrivateKeysEnv)
	}
	ct, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("the sealed value is damaged")
	}
	_, kdf, aead := suite()
	pt, err := hpke.Open(k, kdf, aead, info(context), ct)
	if err != nil {
		return nil, fmt.Errorf("the sealed value does not open with key %s for this context", id)
	}
	return pt, nil
}

// IsSealed reports whether s has the shape of a sealed value.
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) && strings.Count(s, ".") >= 2 }

// NewPrivateKey returns a fresh private key in PrivateKeysEnv's format.
func NewPrivateKey() (string, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(priv.Bytes()), nil
}

// WorkerKeys resolves the worker's private keys: PrivateKeysEnv if set; otherwise, when dataDir is not empty (the
// embedded server), <dataDir>/seal-keys, created with one fresh key if missing. Either way it writes
// <dataDir>/seal-public-key (when dataDir is set) so that a starter in the same directory seals for this worker.
// With neither, it returns nil and no error: the worker then refuses sealed secrets at send time.
func WorkerKeys(getenv func(string) string, dataDir string) (*Opener, error) {
	var o *Opener
	var err error
	switch {
	case getenv(PrivateKeysEnv) != "":
		o, err = ParsePrivateKeys(getenv(PrivateKeysEnv))
	case dataDir != "":
		o, err = keyFile(filepath.Join(dataDir, PrivateKeyFile))
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if dataDir != "" {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dataDir, PublicKeyFile), []byte(o.PublicKey()+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", PublicKeyFile, err)
		}
	}
	return o, nil
}

func keyFile(path string) (*Opener, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, kerr := NewPrivateKey()
		if kerr != nil {
			return nil, kerr
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", path, err)
		}
		if _, err := f.WriteString(k + "\n"); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		b = []byte(k)
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	o, err := ParsePrivateKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

// ClientKey resolves the public key the API and the starter seal with: PublicKeyEnv if set, else
// <dataDir>/seal-public-key when it exists. With neither it returns ErrNoPublicKey.
func ClientKey(getenv func(string) string, dataDir string) (*Sealer, error) {
	if v := getenv(PublicKeyEnv); v != "" {
		s, err := ParsePublicKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", PublicKeyEnv, err)
		}
		return s, nil
	}
	if dataDir != "" {
		b, err := os.ReadFile(filepath.Join(dataDir, PublicKeyFile))
		if err == nil {
			s, err := ParsePublicKey(string(b))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(dataDir, PublicKeyFile), err)
			}
			return s, nil
		}
	}
	return nil, ErrNoPublicKey
}
