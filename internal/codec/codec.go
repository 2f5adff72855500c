// Package codec encrypts every payload certflow hands Temporal — workflow
// inputs and results, activity arguments and results, signals, queries,
// failure messages — with AES-256-GCM, so applicants' personal data is
// ciphertext in Temporal's database and Web UI for anyone without the key.
// Keys carry ids, so they can be rotated: new payloads use the current key,
// older ones still decode with theirs. The codec server (Handler) lets the
// Web UI show clear data to those who hold the key.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload, and the encoding of a payload that
// holds nothing (a nil argument), which is never refused.
const (
	encodingEncrypted = "binary/encrypted"
	encodingNull      = "binary/null"
	metadataEncoding  = "encoding"
	metadataKeyID     = "encryption-key-id"
)

// ErrPlaintext is the error of a strict codec's Decode for a payload that
// is not encrypted: a client without the key wrote it, so what it carries
// (an applicant's data, for a workflow input) is in Temporal in clear.
var ErrPlaintext = errors.New("payload is not encrypted: it was written by a Temporal client without certflow's codec key, so its data is stored in Temporal in clear; " +
	"give that client the key (CERTFLOW_CODEC_KEYS, or certflowclient.Encryption for a Go service), " +
	"or set CERTFLOW_ALLOW_PLAINTEXT=true on the worker while workflows started before encryption still run")

// Keyring holds the keys by id; Current encrypts new payloads.
type Keyring struct {
	Current string
	Keys    map[string][]byte
}

// ParseKeys reads "id:base64key" entries separated by commas or new lines;
// the first is the current key. Each key is 32 bytes (AES-256), base64.
func ParseKeys(spec string) (Keyring, error) {
	ring := Keyring{Keys: map[string][]byte{}}
	for _, entry := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == '\n' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" || strings.HasPrefix(entry, "#") {
			continue
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok || id == "" {
			return ring, fmt.Errorf("key entry %q: want id:base64key", truncate(entry))
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || len(key) != 32 {
			return ring, fmt.Errorf("key %q: want 32 bytes in base64 (generate one with `openssl rand -base64 32`)", id)
		}
		if _, dup := ring.Keys[id]; dup {
			return ring, fmt.Errorf("key id %q appears twice", id)
		}
		ring.Keys[id] = key
		if ring.Current == "" {
			ring.Current = id
		}
	}
	return ring, nil
}

func truncate(s string) string {
	if len(s) > 8 {
		return s[:8] + "…"
	}
	return s
}

// LoadKeys reads the keys from spec (CERTFLOW_CODEC_KEYS) and, when set,
// from file (CERTFLOW_CODEC_KEY_FILE), whose keys come after spec's. No
// key at all is an empty keyring: encryption off.
func LoadKeys(spec, file string) (Keyring, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return Keyring{}, fmt.Errorf("CERTFLOW_CODEC_KEY_FILE: %w", err)
		}
		if spec != "" {
			spec += ","
		}
		spec += string(b)
	}
	ring, err := ParseKeys(spec)
	if err != nil {
		return ring, fmt.Errorf("codec keys: %w", err)
	}
	return ring, nil
}

// Where the dev stack (certflow-dev, make dev) keeps its key: DevKeysName
// in its state folder, DevStateDir by default, relative to where it runs.
const (
	DevStateDir = ".dev"
	DevKeysName = "codec.keys"
)

// DevKeys returns a development stack's payload key, made once and kept
// in path (a git-ignored folder), so its Web UI decodes earlier runs too.
func DevKeys(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	keys := "dev1:" + base64.StdEncoding.EncodeToString(key)
	return keys, os.WriteFile(path, []byte(keys+"\n"), 0o600)
}

// Codec is a converter.PayloadCodec encrypting with the keyring.
type Codec struct {
	ring  Keyring
	aeads map[string]cipher.AEAD
	// strict refuses payloads that are not encrypted (Strict).
	strict bool
}

// New builds the codec; the keyring needs a current key.
func New(ring Keyring) (*Codec, error) {
	if ring.Current == "" || ring.Keys[ring.Current] == nil {
		return nil, errors.New("codec: no current key; set CERTFLOW_CODEC_KEYS=id:base64key")
	}
	c := &Codec{ring: ring, aeads: map[string]cipher.AEAD{}}
	for id, key := range ring.Keys {
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("codec key %q: %w", id, err)
		}
		if c.aeads[id], err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	}
	return c, nil
}

var _ converter.PayloadCodec = (*Codec)(nil)

// Encode encrypts each payload under the current key. The key id is
// authenticated with the data, so it cannot be swapped.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.ring.Current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{metadataEncoding: []byte(encodingEncrypted), metadataKeyID: []byte(c.ring.Current)},
			Data:     aead.Seal(nonce, nonce, plain, []byte(c.ring.Current)),
		}
	}
	return out, nil
}

// Strict returns the codec refusing, on Decode, every payload that is
// not encrypted (ErrPlaintext), for the worker: a workflow started by a
// client without the key then fails at once instead of sending data that
// sits in Temporal in clear on to a provider, and such a signal is
// dropped. A nil codec stays nil.
func (c *Codec) Strict() *Codec {
	if c == nil {
		return nil
	}
	strict := *c
	strict.strict = true
	return &strict
}

// Decode decrypts encrypted payloads with the key they name. Others pass
// through (payloads written before encryption was turned on), unless the
// codec is Strict.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		switch encoding := string(p.GetMetadata()[metadataEncoding]); {
		case encoding == encodingEncrypted:
		case c.strict && encoding != encodingNull:
			return nil, ErrPlaintext
		default:
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[metadataKeyID])
		aead, ok := c.aeads[id]
		if !ok {
			return nil, fmt.Errorf("payload encrypted with key %q, which is not configured: keep retired keys in CERTFLOW_CODEC_KEYS after the current one", id)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("encrypted payload is too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("payload does not decrypt with key %q: wrong key, or tampered with", id)
		}
		out[i] = &commonpb.Payload{}
		if err := proto.Unmarshal(plain, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DataConverter is the default converter with every payload encrypted.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter encodes failure messages and stack traces as payloads
// too, so an error that quotes an email is ciphertext in history. The one
// failure left in clear is ErrPlaintext's: it holds no data, and the
// client that caused it has no key to read it with.
func (c *Codec) FailureConverter() converter.FailureConverter {
	return failureConverter{
		FailureConverter: temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
			DataConverter:          c.DataConverter(),
			EncodeCommonAttributes: true,
		}),
		clear: temporal.GetDefaultFailureConverter(),
	}
}

// failureConverter encodes every failure but ErrPlaintext's.
type failureConverter struct {
	converter.FailureConverter
	clear converter.FailureConverter
}

func (f failureConverter) ErrorToFailure(err error) *failurepb.Failure {
	if errors.Is(err, ErrPlaintext) {
		return f.clear.ErrorToFailure(err)
	}
	return f.FailureConverter.ErrorToFailure(err)
}

// FromKeys builds the codec from CERTFLOW_CODEC_KEYS / _KEY_FILE, or
// returns nil (no encryption) when neither holds a key.
func FromKeys(spec, file string) (*Codec, error) {
	ring, err := LoadKeys(spec, file)
	if err != nil || ring.Current == "" {
		return nil, err
	}
	return New(ring)
}
