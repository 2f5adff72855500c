package humanos

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"time"
)

// Sign returns the signature Humanos uses for API calls and webhooks: the
// lowercase hex HMAC-SHA256, under secret, of "<timestamp>.<body>", or of
// "<timestamp>" alone when there is no body.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	if len(body) > 0 {
		mac.Write([]byte{'.'})
		mac.Write(body)
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify, so callers can answer each one precisely.
var (
	ErrBadSignature   = errors.New("signature does not match the body")
	ErrStaleTimestamp = errors.New("timestamp is outside the accepted window")
)

// Verify checks a signed message: the timestamp (Unix milliseconds) must be
// within window of now, and the signature must match, compared in constant
// time so a forger learns nothing from the answer's timing.
func Verify(secret, timestamp, signature string, body []byte, now time.Time, window time.Duration) error {
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not Unix milliseconds", ErrStaleTimestamp, timestamp)
	}
	if d := now.Sub(time.UnixMilli(ms)); d > window || d < -window {
		return fmt.Errorf("%w (%s off, %s allowed)", ErrStaleTimestamp, d.Round(time.Second), window)
	}
	want := Sign(secret, timestamp, body)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return ErrBadSignature
	}
	return nil
}

// Timestamp formats now as Humanos timestamps are: Unix milliseconds.
func Timestamp(now time.Time) string { return strconv.FormatInt(now.UnixMilli(), 10) }

// KeyDerivation derives the AES-256 key of encrypted webhooks from the
// webhook encryption secret and salt. Humanos does not document the
// iteration count or the digest, so both are settings, the same on both
// sides.
type KeyDerivation struct {
	Secret, Salt string
	Iterations   int
	// Digest is "sha256" or "sha512".
	Digest string
}

// Key returns the 32-byte key.
func (k KeyDerivation) Key() ([]byte, error) {
	var h func() hash.Hash
	switch k.Digest {
	case "sha256", "":
		h = sha256.New
	case "sha512":
		h = sha512.New
	default:
		return nil, fmt.Errorf("PBKDF2 digest %q: use sha256 or sha512", k.Digest)
	}
	if k.Secret == "" || k.Iterations < 1 {
		return nil, errors.New("webhook encryption needs a secret and a positive PBKDF2 iteration count")
	}
	return pbkdf2.Key(h, k.Secret, []byte(k.Salt), k.Iterations, 32)
}

// Envelope is an encrypted webhook body: AES-256-GCM with a 12-byte IV,
// the ciphertext and the 16-byte tag apart, each base64.
type Envelope struct {
	IV   string `json:"iv"`
	Data string `json:"data"`
	Tag  string `json:"tag"`
}

// ParseEnvelope reports whether body is an encrypted envelope, and returns
// it. A plain webhook has an eventType and no iv/data/tag.
func ParseEnvelope(body []byte) (Envelope, bool) {
	var e Envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if dec.Decode(&e) != nil || e.IV == "" || e.Data == "" || e.Tag == "" {
		return Envelope{}, false
	}
	return e, true
}

// Seal encrypts plaintext under key.
func Seal(key, plaintext []byte) (Envelope, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return Envelope{}, err
	}
	iv := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return Envelope{}, err
	}
	sealed := gcm.Seal(nil, iv, plaintext, nil)
	cut := len(sealed) - gcm.Overhead()
	b64 := base64.StdEncoding.EncodeToString
	return Envelope{IV: b64(iv), Data: b64(sealed[:cut]), Tag: b64(sealed[cut:])}, nil
}

// Open decrypts and authenticates an envelope; a tampered one fails.
func Open(key []byte, e Envelope) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	dec := base64.StdEncoding.DecodeString
	iv, err1 := dec(e.IV)
	data, err2 := dec(e.Data)
	tag, err3 := dec(e.Tag)
	if err := errors.Join(err1, err2, err3); err != nil || len(iv) != gcm.NonceSize() || len(tag) != gcm.Overhead() {
		return nil, errors.New("encrypted body is malformed: want base64 iv (12 bytes), data and tag (16 bytes)")
	}
	plain, err := gcm.Open(nil, iv, append(data, tag...), nil)
	if err != nil {
		return nil, errors.New("encrypted body does not decrypt: wrong key, or tampered with")
	}
	return plain, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("webhook encryption key: %w", err)
	}
	return cipher.NewGCM(block)
}
