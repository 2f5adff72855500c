package payloadstore

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// fakeS3 serves an S3-compatible store over a real socket, with bucket.
func fakeS3(t *testing.T, bucket string) (*s3mem.Backend, string) {
	t.Helper()
	mem := s3mem.New()
	if err := mem.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(srv.Close)
	return mem, strings.TrimPrefix(srv.URL, "http://")
}

func TestS3(t *testing.T) {
	mem, endpoint := fakeS3(t, "certflow-payloads")
	d, err := NewS3(S3Options{Endpoint: endpoint, Bucket: "certflow-payloads", Prefix: "prod/eu", AccessKey: "test", SecretKey: "test"})
	if err != nil {
		t.Fatal(err)
	}
	testDriver(t, backend{
		driver: d,
		read: func(t *testing.T, key string) []byte {
			obj, err := mem.GetObject("certflow-payloads", "prod/eu/"+key, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Contents.Close()
			b, err := io.ReadAll(obj.Contents)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		write: func(t *testing.T, key string, data []byte) {
			if _, err := mem.PutObject("certflow-payloads", "prod/eu/"+key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
				t.Fatal(err)
			}
		},
		remove: func(t *testing.T, key string) {
			if _, err := mem.DeleteObject("certflow-payloads", "prod/eu/"+key); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// A bucket that does not exist fails the store with S3's word for it.
func TestS3NoBucket(t *testing.T) {
	_, endpoint := fakeS3(t, "other")
	d, err := NewS3(S3Options{Endpoint: endpoint, Bucket: "missing", AccessKey: "test", SecretKey: "test"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Store(converter.StorageDriverStoreContext{Context: context.Background()}, []*commonpb.Payload{payload("x")})
	if err == nil || !strings.Contains(err.Error(), "bucket") {
		t.Fatalf("store into a missing bucket: %v, want an error about the bucket", err)
	}
}
