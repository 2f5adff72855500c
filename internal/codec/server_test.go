package codec

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/internal/payloadstore"
)

// post sends payloads to the codec server's path and decodes its answer.
func post(t *testing.T, h http.Handler, path string, payloads ...*commonpb.Payload) []*commonpb.Payload {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.Header.Set("Origin", "http://localhost:8233")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s answered %s: %v", path, rec.Body, err)
	}
	return out.Payloads
}

// With a payload store, the codec server encrypts before it stores (the
// stored object holds no clear text), /decode hands a stored payload's
// reference back untouched whatever the caller asks, so the Web UI never
// downloads a document to render history, and /download fetches and
// decrypts it on demand.
func TestCodecServerWithPayloadStore(t *testing.T) {
	dir := t.TempDir()
	store, err := payloadstore.Open(config.PayloadStore{URL: "file://" + dir, Threshold: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c := mustCodec(t, "k1:"+key(1))
	h, err := Handler(c, store.ExternalStorage(), "http://localhost:8233", "")
	if err != nil {
		t.Fatal(err)
	}
	big, err := converter.GetDefaultDataConverter().ToPayload(strings.Repeat(marker+" ", 400))
	if err != nil {
		t.Fatal(err)
	}
	small, err := converter.GetDefaultDataConverter().ToPayload(marker)
	if err != nil {
		t.Fatal(err)
	}

	encoded := post(t, h, "/codec/encode", big, small)
	ref, inline := encoded[0], encoded[1]
	if string(ref.Metadata["messageType"]) != "temporal.api.sdk.v1.ExternalStorageReference" || proto.Size(ref) > 1024 {
		t.Fatalf("the big payload was not stored: %s (%d bytes)", ref.Metadata, proto.Size(ref))
	}
	if string(inline.Metadata["encoding"]) != "binary/encrypted" {
		t.Fatalf("the small payload was not encrypted inline: %s", inline.Metadata)
	}
	if bytes.Contains(ref.Data, []byte(marker)) {
		t.Fatal("the reference carries the payload's text")
	}

	var objects []string
	err = filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			objects = append(objects, path)
		}
		return err
	})
	if err != nil || len(objects) != 1 {
		t.Fatalf("stored objects %v, %v; want one", objects, err)
	}
	raw, err := os.ReadFile(objects[0])
	if err != nil {
		t.Fatal(err)
	}
	var stored commonpb.Payload
	if err := proto.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(marker)) || string(stored.Metadata["encoding"]) != "binary/encrypted" {
		t.Fatalf("the stored object is not ciphertext: %s", stored.Metadata)
	}

	for _, path := range []string{"/codec/decode", "/codec/decode?preserveStorageRefs=false"} {
		decoded := post(t, h, path, ref, inline)
		if !proto.Equal(decoded[0], ref) {
			t.Errorf("%s changed the reference: %s", path, decoded[0].Metadata)
		}
		if !bytes.Contains(decoded[1].Data, []byte(marker)) {
			t.Errorf("%s did not decrypt the inline payload", path)
		}
	}

	downloaded := post(t, h, "/codec/download", ref)
	if !proto.Equal(downloaded[0], big) {
		t.Errorf("/download gave %s, want the payload in clear", downloaded[0].Metadata)
	}
}
