// Package addrhash turns a customer's email address or phone number into a keyed hash: the only form in which an
// address may be stored where it can be looked up (the suppression list, the erasure search attribute). The key is a
// deployment secret held by the worker and the HTTP API, never by Temporal; without it a hash cannot be matched to an
// address, not even by trying every phone number.
package addrhash

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// EnvVar holds the key: 32 bytes in standard base64 (`openssl rand -base64 32`).
const EnvVar = "APPTNOTIFY_ADDRESS_KEY"

// FileName is the key's file in a data directory: the embedded server's default when EnvVar is not set.
const FileName = "address-key"

// KeySize is the key's length in bytes.
const KeySize = 32

// Hasher computes keyed hashes of normalised addresses. The zero value is not usable: use New.
type Hasher struct {
	key []byte
}

// New returns a Hasher for a 32-byte key. Error: a key of another length.
func New(key []byte) (*Hasher, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%s: the key must be %d bytes, not %d", EnvVar, KeySize, len(key))
	}
	return &Hasher{key: append([]byte(nil), key...)}, nil
}

// ParseKey decodes the key as EnvVar holds it (standard base64 of 32 bytes). Errors name the variable, never the
// value.
func ParseKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%s is not standard base64", EnvVar)
	}
	if len(b) != KeySize {
		return nil, fmt.Errorf("%s must decode to %d bytes, not %d", EnvVar, KeySize, len(b))
	}
	return b, nil
}

// Load returns the key from the environment (getenv(EnvVar)) or, when that is empty and dataDir is not, from
// <dataDir>/address-key; create makes that file (mode 0600, one random key) when it does not exist, as the worker
// with the embedded server does on its first start. Errors: a bad key, an unreadable file, or no key at all
// (fs.ErrNotExist wrapped, with the variable named).
func Load(getenv func(string) string, dataDir string, create bool) ([]byte, error) {
	if v := getenv(EnvVar); v != "" {
		return ParseKey(v)
	}
	if dataDir == "" {
		return nil, fmt.Errorf("%s is not set: %w", EnvVar, os.ErrNotExist)
	}
	path := filepath.Join(dataDir, FileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		key := make([]byte, KeySize)
		_, _ = rand.Read(key) // never fails (crypto/rand)
		enc := base64.StdEncoding.EncodeToString(key) + "\n"
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
		f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if ferr == nil {
			_, ferr = f.WriteString(enc)
			if cerr := f.Close(); ferr == nil {
				ferr = cerr
			}
			if ferr != nil {
				return nil, ferr
			}
			return key, nil
		}
		if !errors.Is(ferr, os.ErrExist) {
			return nil, ferr
		}
		b, err = os.ReadFile(path) // another process created it first
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not set and %s does not exist: %w", EnvVar, path, err)
		}
		return nil, err
	}
	key, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// NormalizeEmail returns the form an email address is hashed in: the local part lower-cased, the domain in IDNA
// ASCII (punycode) lower-cased. Error: no @, an empty part, or a domain IDNA refuses.
func NormalizeEmail(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", errors.New("is not an email address (local@domain)")
	}
	domain, err := idna.Lookup.ToASCII(addr[at+1:])
	if err != nil {
		return "", errors.New("has a domain that is not a valid internationalised domain name")
	}
	return strings.ToLower(addr[:at]) + "@" + strings.ToLower(domain), nil
}

// NormalizePhone returns the E.164 form of a phone number written in E.164 or with its country calling code
// (+44 20 7946 0000). Error: a number that is not a possible number.
func NormalizePhone(phone string) (string, error) {
	num, err := phonenumbers.Parse(strings.TrimSpace(phone), "")
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", errors.New("is not a phone number in international format, such as +15551234567")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// Normalize normalises addr for its channel: email addresses for appt.Email, phone numbers for appt.SMS. Error: any
// other channel, or an address that does not normalise.
func Normalize(ch appt.Channel, addr string) (string, error) {
	switch ch {
	case appt.Email:
		return NormalizeEmail(addr)
	case appt.SMS:
		return NormalizePhone(addr)
	}
	return "", fmt.Errorf("channel %q has no addresses to hash", ch)
}

// Hash returns the keyed hash of an address already normalised for its channel, within one organisation: 64
// lower-case hex digits of HMAC-SHA256(key, org NUL channel NUL address). The organisation is part of the input so
// that the same customer cannot be linked across tenants by the hash.
func (h *Hasher) Hash(org string, ch appt.Channel, normalized string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(org))
	m.Write([]byte{0})
	m.Write([]byte(ch))
	m.Write([]byte{0})
	m.Write([]byte(normalized))
	return hex.EncodeToString(m.Sum(nil))
}

// HashAddress normalises addr (Normalize) and hashes it (Hash). Error: as Normalize.
func (h *Hasher) HashAddress(org string, ch appt.Channel, addr string) (string, error) {
	n, err := Normalize(ch, addr)
	if err != nil {
		return "", err
	}
	return h.Hash(org, ch, n), nil
}
