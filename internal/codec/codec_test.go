package codec

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func mustCodec(t *testing.T, spec string) *Codec {
	t.Helper()
	ring, err := ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(ring)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const marker = "zzmarker@example.com"

func TestRoundTripHidesTheData(t *testing.T) {
	c := mustCodec(t, "k1:"+key(1))
	dc := c.DataConverter()
	p, err := dc.ToPayload(map[string]string{"email": marker})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("zzmarker")) || string(p.Metadata["encryption-key-id"]) != "k1" {
		t.Fatalf("payload not encrypted: %q %v", p.Data, p.Metadata)
	}
	var back map[string]string
	if err := dc.FromPayload(p, &back); err != nil || back["email"] != marker {
		t.Fatalf("decoded %v, %v", back, err)
	}
}

func TestKeyRotation(t *testing.T) {
	old := mustCodec(t, "k1:"+key(1))
	encrypted, _ := old.Encode([]*commonpb.Payload{{Data: []byte("old secret")}})

	rotated := mustCodec(t, "k2:"+key(2)+",k1:"+key(1))
	plain, err := rotated.Decode(encrypted)
	if err != nil || string(plain[0].Data) != "old secret" {
		t.Fatalf("an old payload after rotation: %v, %v", plain, err)
	}
	fresh, _ := rotated.Encode([]*commonpb.Payload{{Data: []byte("new")}})
	if string(fresh[0].Metadata["encryption-key-id"]) != "k2" {
		t.Fatalf("new payloads use key %q, want the current k2", fresh[0].Metadata["encryption-key-id"])
	}
	if _, err := mustCodec(t, "k2:"+key(2)).Decode(encrypted); err == nil || !strings.Contains(err.Error(), `"k1"`) {
		t.Fatalf("decoding with the key dropped: %v; want an error naming k1", err)
	}
}

func TestTamperedAndPlainPayloads(t *testing.T) {
	c := mustCodec(t, "k1:"+key(1))
	enc, _ := c.Encode([]*commonpb.Payload{{Data: []byte("x")}})
	enc[0].Data[len(enc[0].Data)-1] ^= 1
	if _, err := c.Decode(enc); err == nil {
		t.Fatal("a tampered payload decoded")
	}
	plain := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"x"`)}
	out, err := c.Decode([]*commonpb.Payload{plain})
	if err != nil || out[0] != plain {
		t.Fatalf("a payload written before encryption must pass through: %v", err)
	}
}

// The worker's codec is strict: a payload a client wrote without the key
// is refused, whatever its encoding, but for a nil argument's, which
// carries nothing; encrypted payloads still decode.
func TestStrictRefusesPlaintext(t *testing.T) {
	c := mustCodec(t, "k1:"+key(1))
	strict := c.Strict()
	enc, _ := c.Encode([]*commonpb.Payload{{Data: []byte("x")}})
	if out, err := strict.Decode(enc); err != nil || string(out[0].Data) != "x" {
		t.Fatalf("strict codec on an encrypted payload: %v, %v", out, err)
	}
	for _, encoding := range []string{"json/plain", "binary/plain", "json/protobuf", ""} {
		plain := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte(encoding)}, Data: []byte(`"x"`)}
		if _, err := strict.Decode(append(enc, plain)); !errors.Is(err, ErrPlaintext) || !strings.Contains(err.Error(), "CERTFLOW_CODEC_KEYS") {
			t.Errorf("strict codec on a %q payload: %v; want ErrPlaintext saying what to do", encoding, err)
		}
	}
	null := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/null")}}
	if _, err := strict.Decode([]*commonpb.Payload{null}); err != nil {
		t.Errorf("strict codec on a nil argument: %v", err)
	}
	if _, err := c.Decode([]*commonpb.Payload{{Data: []byte("x")}}); err != nil {
		t.Errorf("Strict changed the codec it was made from: %v", err)
	}
	if (*Codec)(nil).Strict() != nil {
		t.Error("no codec must stay no codec")
	}
}

func TestFailureMessagesEncrypted(t *testing.T) {
	c := mustCodec(t, "k1:"+key(1))
	f := c.FailureConverter().ErrorToFailure(temporal.NewApplicationError("applicant "+marker+" refused", "X"))
	if strings.Contains(f.GetMessage(), "zzmarker") || f.GetEncodedAttributes() == nil {
		t.Fatalf("failure message in clear: %q", f.GetMessage())
	}
	back := c.FailureConverter().FailureToError(f)
	var appErr *temporal.ApplicationError
	if !errors.As(back, &appErr) || !strings.Contains(appErr.Error(), marker) {
		t.Fatalf("decoded failure %v", back)
	}
}

func TestParseKeysRejects(t *testing.T) {
	for _, spec := range []string{"k1", "k1:notbase64!", "k1:" + base64.StdEncoding.EncodeToString([]byte("short")), "k1:" + key(1) + ",k1:" + key(2)} {
		if _, err := ParseKeys(spec); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
	if ring, err := ParseKeys(""); err != nil || ring.Current != "" {
		t.Errorf("empty spec: %+v, %v; want no key, no error", ring, err)
	}
	if _, err := New(Keyring{}); err == nil {
		t.Error("a codec without a key was built")
	}
}

func TestCodecServer(t *testing.T) {
	c := mustCodec(t, "k1:"+key(1))
	enc, _ := c.DataConverter().ToPayloads(marker)
	payloadJSON := `{"payloads":[{"metadata":{"encoding":"` + base64.StdEncoding.EncodeToString(enc.Payloads[0].Metadata["encoding"]) +
		`","encryption-key-id":"` + base64.StdEncoding.EncodeToString([]byte("k1")) + `"},"data":"` + base64.StdEncoding.EncodeToString(enc.Payloads[0].Data) + `"}]}`
	h, err := Handler(c, converter.ExternalStorage{}, "http://localhost:8233", "t0k")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, origin, auth string
		want                       int
		wantBody                   string
	}{
		{"decode from the UI", http.MethodPost, "http://localhost:8233", "Bearer t0k", 200, base64.StdEncoding.EncodeToString([]byte(`"` + marker + `"`))},
		{"preflight", http.MethodOptions, "http://localhost:8233", "", 200, ""},
		{"other origin", http.MethodPost, "http://evil.example", "Bearer t0k", 403, ""},
		{"no token", http.MethodPost, "http://localhost:8233", "", 401, ""},
		{"wrong token", http.MethodPost, "", "Bearer guess", 401, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/codec/decode", strings.NewReader(payloadJSON))
		r.Header.Set("Content-Type", "application/json")
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.wantBody) {
			t.Errorf("%s: %d %s; want %d containing %q", tt.name, rec.Code, rec.Body, tt.want, tt.wantBody)
		}
		if tt.want == 200 && tt.origin != "" && rec.Header().Get("Access-Control-Allow-Origin") != tt.origin {
			t.Errorf("%s: CORS origin %q", tt.name, rec.Header().Get("Access-Control-Allow-Origin"))
		}
	}
}
