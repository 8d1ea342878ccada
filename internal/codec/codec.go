package codec

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Payload metadata written by the codec. MetadataEncoding is Temporal's "encoding" key; its value marks a payload
// as sealed by this codec, and MetadataKeyID names the key of the ring that sealed it.
const (
	MetadataEncoding  = converter.MetadataEncoding
	EncodingEncrypted = "binary/encrypted"
	MetadataKeyID     = "encryption-key-id"
	// MetadataDataKeyID names the per-appointment data key (DataKeys) that sealed the payload, instead of
	// MetadataKeyID; the data key is itself wrapped by a key of the ring.
	MetadataDataKeyID = "encryption-data-key-id"
	MetadataCipher    = "encryption-cipher"
	CipherAES256GCM   = "AES-256-GCM"
)

// UnknownKeyError is a payload sealed with a key the ring does not hold. Its message names the key ID, never any
// payload content.
type UnknownKeyError struct {
	KeyID      string
	WorkflowID string // empty outside a workflow's serialization context
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("payload encrypted with key %q, which is not in %s", e.KeyID, KeysEnv)
}

// Reporter hears about payloads the codec could not open because their key is missing. The worker logs them
// (rate-limited) and counts them.
type Reporter interface {
	UnknownKey(workflowID, keyID string)
}

// Codec is the converter.PayloadCodec that seals payloads with AES-256-GCM. Encode seals the whole original
// payload (metadata and data, marshalled as protobuf) under the ring's first key with a random 96-bit nonce; the
// sealed payload's data is nonce || ciphertext, its metadata the encoding, the cipher and the key ID, which is
// also the GCM additional data. Decode opens sealed payloads with the key they name and passes through payloads
// that are not sealed (written before encryption was on).
//
// With a data-key store on the ring (KeyRing.WithDataKeys), the payloads of an appointment's workflow (known from
// the serialization context) are sealed instead with that appointment's own data key, named by MetadataDataKeyID
// (and the GCM additional data); destroying the key (DataKeys.Destroy) makes them unreadable for good.
type Codec struct {
	ring         *KeyRing
	reporter     Reporter
	workflowID   string
	placeholders bool
}

// New returns the codec over ring; reporter may be nil.
func New(ring *KeyRing, reporter Reporter) *Codec {
	if ring == nil || len(ring.keys) == 0 {
		panic("codec.New: an empty key ring")
	}
	return &Codec{ring: ring, reporter: reporter}
}

var _ converter.PayloadCodecWithSerializationContext = (*Codec)(nil)

// WithSerializationContext returns the codec bound to the workflow whose payloads it handles, so that an unknown
// key can be reported with the workflow's ID.
func (c *Codec) WithSerializationContext(sc converter.SerializationContext) converter.PayloadCodec {
	id := ""
	switch v := sc.(type) {
	case converter.WorkflowSerializationContext:
		id = v.WorkflowID
	case converter.ActivitySerializationContext:
		id = v.WorkflowID
	}
	if id == c.workflowID {
		return c
	}
	cp := *c
	cp.workflowID = id
	return &cp
}

// WithErasedPlaceholders returns the codec as the codec endpoint uses it: a payload whose data key an erasure
// destroyed decodes to ErasedPlaceholder instead of failing the whole request.
func (c *Codec) WithErasedPlaceholders() *Codec {
	cp := *c
	cp.placeholders = true
	return &cp
}

// dataKeyTimeout bounds one call to the data-key store from the codec, which has no context of its own.
const dataKeyTimeout = 30 * time.Second

// Encode seals every payload: with the appointment's data key when the codec is bound to an appointment's workflow
// and the ring has a data-key store, else under the ring's first key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	k := c.ring.keys[0]
	aead, metaKey, keyID := k.aead, MetadataKeyID, k.ID
	if dk := c.ring.dataKeys; dk != nil && appt.IsAppointmentWorkflowID(c.workflowID) {
		ctx, cancel := context.WithTimeout(context.Background(), dataKeyTimeout)
		id, a, err := dk.forWorkflow(ctx, c.workflowID)
		cancel()
		var uk *UnknownKeyError
		if errors.As(err, &uk) {
			// The appointment's data key is wrapped by a ring key this ring lacks: reported like a payload that
			// cannot be opened; the workflow task fails and is retried, the workflow stays open.
			if c.reporter != nil {
				c.reporter.UnknownKey(c.workflowID, uk.KeyID)
			}
			return nil, fmt.Errorf("encrypting a payload: %w", &UnknownKeyError{KeyID: uk.KeyID, WorkflowID: c.workflowID})
		}
		if err != nil {
			return nil, fmt.Errorf("encrypting a payload: %w", err)
		}
		aead, metaKey, keyID = a, MetadataDataKeyID, id
	}
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encrypting a payload: %w", err)
		}
		ns := aead.NonceSize()
		buf := make([]byte, ns, ns+len(plain)+aead.Overhead())
		if _, err := rand.Read(buf); err != nil {
			return nil, fmt.Errorf("encrypting a payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				MetadataEncoding: []byte(EncodingEncrypted),
				MetadataCipher:   []byte(CipherAES256GCM),
				metaKey:          []byte(keyID),
			},
			Data: aead.Seal(buf, buf, plain, []byte(keyID)),
		}
	}
	return out, nil
}

// ErasedPlaceholder is what the codec endpoint answers for a payload whose data key an erasure destroyed: a JSON
// object {"erased": true, "dataKeyId": …, "destroyedAt": RFC 3339}, with no trace of the payload.
func ErasedPlaceholder(e *ErasedError) *commonpb.Payload {
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]any{
		"erased": true, "dataKeyId": e.DataKeyID, "destroyedAt": e.DestroyedAt.UTC().Format(time.RFC3339),
	})
	if err != nil { // a map of strings and a bool always converts
		panic(err)
	}
	return p
}

// dataKeyAEAD returns the data key a payload names, or the error of a missing store, a destroyed or unknown key.
func (c *Codec) dataKeyAEAD(id string) (cipher.AEAD, error) {
	if c.ring.dataKeys == nil {
		return nil, &UnknownDataKeyError{DataKeyID: id}
	}
	ctx, cancel := context.WithTimeout(context.Background(), dataKeyTimeout)
	defer cancel()
	return c.ring.dataKeys.open(ctx, id)
}

// Decode opens sealed payloads and passes others through. A payload sealed with a key the ring lacks gives an
// *UnknownKeyError; a payload that does not open (tampered, truncated) gives an error naming its key ID.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		if dkID, ok := p.Metadata[MetadataDataKeyID]; ok {
			id := string(dkID)
			aead, err := c.dataKeyAEAD(id)
			var erased *ErasedError
			if c.placeholders && errors.As(err, &erased) {
				out[i] = ErasedPlaceholder(erased)
				continue
			}
			var uk *UnknownKeyError
			if errors.As(err, &uk) {
				// The data key is wrapped by a ring key this ring lacks: the same failure as a payload sealed
				// with it directly, reported and retried the same way.
				if c.reporter != nil && c.workflowID != "" {
					c.reporter.UnknownKey(c.workflowID, uk.KeyID)
				}
				return nil, &UnknownKeyError{KeyID: uk.KeyID, WorkflowID: c.workflowID}
			}
			if err != nil {
				return nil, err
			}
			if out[i], err = open(aead, id, p.Data); err != nil {
				return nil, err
			}
			continue
		}
		id := string(p.Metadata[MetadataKeyID])
		aead, ok := c.ring.byID[id]
		if !ok {
			if c.reporter != nil && c.workflowID != "" {
				c.reporter.UnknownKey(c.workflowID, id)
			}
			return nil, &UnknownKeyError{KeyID: id, WorkflowID: c.workflowID}
		}
		var err error
		if out[i], err = open(aead, id, p.Data); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// open decrypts one sealed payload's data (nonce || ciphertext, with the key ID as additional data).
func open(aead cipher.AEAD, id string, data []byte) (*commonpb.Payload, error) {
	ns := aead.NonceSize()
	if len(data) < ns+aead.Overhead() {
		return nil, fmt.Errorf("payload encrypted with key %q is truncated", id)
	}
	plain, err := aead.Open(nil, data[:ns], data[ns:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("payload encrypted with key %q does not decrypt (tampered or a different key under the same ID)", id)
	}
	var orig commonpb.Payload
	if err := proto.Unmarshal(plain, &orig); err != nil {
		return nil, fmt.Errorf("payload encrypted with key %q: %w", id, err)
	}
	return &orig, nil
}

// DataConverter returns the SDK's default data converter behind the codec. Inside a workflow, a payload sealed
// with an unknown key panics instead of returning an error: a decoding error there would fail the workflow (its
// input) or look like an activity failure (a result), whereas a panic fails only the workflow task, which Temporal
// retries, so the workflow stays open until the key is back. With a nil ring it returns the default converter.
func DataConverter(ring *KeyRing, reporter Reporter) converter.DataConverter {
	if ring == nil {
		return converter.GetDefaultDataConverter()
	}
	return &dataConverter{DataConverter: converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), New(ring, reporter))}
}

// FailureConverter returns Temporal's default failure converter with EncodeCommonAttributes, so failure messages
// and stack traces are moved into an encoded payload and sealed by dc's codec. It takes the serialization context
// too (Temporal's default failure converter does not), so an appointment's failures are sealed with its data key.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return &failureConverter{FailureConverter: temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	}), dc: dc}
}

type failureConverter struct {
	converter.FailureConverter
	dc converter.DataConverter
}

var _ converter.FailureConverterWithSerializationContext = (*failureConverter)(nil)

func (f *failureConverter) WithSerializationContext(sc converter.SerializationContext) converter.FailureConverter {
	return FailureConverter(converter.WithDataConverterSerializationContext(f.dc, sc))
}

type dataConverter struct {
	converter.DataConverter
	inWorkflow bool
}

var (
	_ converter.ContextAware                          = (*dataConverter)(nil)
	_ converter.DataConverterWithSerializationContext = (*dataConverter)(nil)
)

func (d *dataConverter) WithSerializationContext(sc converter.SerializationContext) converter.DataConverter {
	return &dataConverter{DataConverter: converter.WithDataConverterSerializationContext(d.DataConverter, sc), inWorkflow: d.inWorkflow}
}

func (d *dataConverter) WithWorkflowContext(converter.WorkflowContext) converter.DataConverter {
	if d.inWorkflow {
		return d
	}
	return &dataConverter{DataConverter: d.DataConverter, inWorkflow: true}
}

func (d *dataConverter) WithContext(context.Context) converter.DataConverter { return d }

func (d *dataConverter) FromPayload(p *commonpb.Payload, v any) error {
	return d.check(d.DataConverter.FromPayload(p, v))
}

func (d *dataConverter) FromPayloads(ps *commonpb.Payloads, v ...any) error {
	return d.check(d.DataConverter.FromPayloads(ps, v...))
}

func (d *dataConverter) check(err error) error {
	var uk *UnknownKeyError
	var udk *UnknownDataKeyError
	var erased *ErasedError
	if d.inWorkflow && (errors.As(err, &uk) || errors.As(err, &udk) || errors.As(err, &erased)) {
		panic(err)
	}
	return err
}
