package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPayloadStoreDefaults(t *testing.T) {
	w, err := LoadWorker()
	if err != nil {
		t.Fatal(err)
	}
	if w.PayloadStore.URL != "" || w.PayloadStore.Threshold != 256<<10 {
		t.Fatalf("defaults: %+v, want no store and a 256 KiB threshold", w.PayloadStore)
	}
	if l, err := w.PayloadStore.Location(); err != nil || l.IsFile() || l.IsS3() {
		t.Fatalf("no store configured, got %v, %v", l, err)
	}
}

func TestPayloadStoreLocations(t *testing.T) {
	tests := []struct {
		url  string
		want StoreLocation
	}{
		{"file:///var/lib/certflow/payloads", StoreLocation{Dir: "/var/lib/certflow/payloads"}},
		{"file://localhost/srv/p/", StoreLocation{Dir: "/srv/p"}},
		{"s3://certflow-payloads", StoreLocation{Bucket: "certflow-payloads", Endpoint: "s3.amazonaws.com", Secure: true}},
		{"s3://certflow-payloads/prod/eu?region=eu-west-1", StoreLocation{Bucket: "certflow-payloads", Prefix: "prod/eu", Endpoint: "s3.amazonaws.com", Region: "eu-west-1", Secure: true}},
		{"s3://b01/p/?endpoint=minio.internal:9000&secure=false", StoreLocation{Bucket: "b01", Prefix: "p", Endpoint: "minio.internal:9000", Secure: false}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := PayloadStore{URL: tt.url}.Location()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Every malformed setting is refused by LoadWorker and LoadCommon with an
// error naming the variable and saying what to write, never repeating a
// credential.
func TestPayloadStoreRejects(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"relative dir", map[string]string{"CERTFLOW_PAYLOAD_STORE": "file://payloads"}, "absolute directory"},
		{"plain path", map[string]string{"CERTFLOW_PAYLOAD_STORE": "/var/lib/payloads"}, "scheme must be file or s3"},
		{"other scheme", map[string]string{"CERTFLOW_PAYLOAD_STORE": "gs://bucket"}, "file:///absolute/dir"},
		{"file with parameters", map[string]string{"CERTFLOW_PAYLOAD_STORE": "file:///tmp/p?sync=1"}, "no parameters"},
		{"bad bucket", map[string]string{"CERTFLOW_PAYLOAD_STORE": "s3://My_Bucket/p"}, "bucket name"},
		{"bad prefix", map[string]string{"CERTFLOW_PAYLOAD_STORE": "s3://bucket/a/../b"}, "prefix"},
		{"misspelt parameter", map[string]string{"CERTFLOW_PAYLOAD_STORE": "s3://bucket?endpiont=h:9000"}, `unknown parameter "endpiont"`},
		{"endpoint with scheme", map[string]string{"CERTFLOW_PAYLOAD_STORE": "s3://bucket?endpoint=http://h:9000"}, "without scheme"},
		{"bad secure", map[string]string{"CERTFLOW_PAYLOAD_STORE": "s3://bucket?secure=maybe"}, "secure is true or false"},
		{"credentials in the URL", map[string]string{"CERTFLOW_PAYLOAD_STORE": "s3://AKIA:s3cr3t@bucket"}, "CERTFLOW_PAYLOAD_STORE_ACCESS_KEY"},
		{"threshold too small", map[string]string{"CERTFLOW_PAYLOAD_STORE_THRESHOLD": "10"}, "CERTFLOW_PAYLOAD_STORE_THRESHOLD"},
		{"threshold too big", map[string]string{"CERTFLOW_PAYLOAD_STORE_THRESHOLD": "4MiB"}, "1MiB"},
		{"threshold not a size", map[string]string{"CERTFLOW_PAYLOAD_STORE_THRESHOLD": "big"}, "CERTFLOW_PAYLOAD_STORE_THRESHOLD"},
		{"key twice", map[string]string{"CERTFLOW_PAYLOAD_STORE": "s3://bucket", "CERTFLOW_PAYLOAD_STORE_SECRET_KEY": "s3cr3t", "CERTFLOW_PAYLOAD_STORE_SECRET_KEY_FILE": secret, "CERTFLOW_PAYLOAD_STORE_ACCESS_KEY": "a"}, "both set"},
		{"half the credentials", map[string]string{"CERTFLOW_PAYLOAD_STORE": "s3://bucket", "CERTFLOW_PAYLOAD_STORE_ACCESS_KEY": "a"}, "set both"},
		{"credentials without S3", map[string]string{"CERTFLOW_PAYLOAD_STORE": "file:///tmp/p", "CERTFLOW_PAYLOAD_STORE_ACCESS_KEY": "a", "CERTFLOW_PAYLOAD_STORE_SECRET_KEY": "s3cr3t"}, "not an s3:// store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			for _, load := range []func() error{
				func() error { _, err := LoadWorker(); return err },
				func() error { _, err := LoadCommon(); return err },
			} {
				err := load()
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error = %v, want it to mention %s", err, tt.want)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Fatalf("the error repeats the secret: %v", err)
				}
			}
		})
	}
}

// Credentials come from the variables or from the files they name,
// trimmed, so secrets can be mounted from a secret store.
func TestPayloadStoreCredentials(t *testing.T) {
	dir := t.TempDir()
	access, secret := filepath.Join(dir, "access"), filepath.Join(dir, "secret")
	if err := os.WriteFile(access, []byte("AKIAFILE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("  from-file \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CERTFLOW_PAYLOAD_STORE", "s3://certflow/p?endpoint=127.0.0.1:9000&secure=false")
	t.Setenv("CERTFLOW_PAYLOAD_STORE_ACCESS_KEY_FILE", access)
	t.Setenv("CERTFLOW_PAYLOAD_STORE_SECRET_KEY_FILE", secret)
	t.Setenv("CERTFLOW_PAYLOAD_STORE_THRESHOLD", "64KiB")
	c, err := LoadCommon()
	if err != nil {
		t.Fatal(err)
	}
	if c.PayloadStore.Threshold != 64<<10 {
		t.Fatalf("threshold %d, want 64 KiB", c.PayloadStore.Threshold)
	}
	a, s, err := c.PayloadStore.Credentials()
	if err != nil || a != "AKIAFILE" || s != "from-file" {
		t.Fatalf("credentials %q %q %v, want the files' contents", a, s, err)
	}

	t.Setenv("CERTFLOW_PAYLOAD_STORE_ACCESS_KEY_FILE", "")
	t.Setenv("CERTFLOW_PAYLOAD_STORE_SECRET_KEY_FILE", "")
	t.Setenv("CERTFLOW_PAYLOAD_STORE_ACCESS_KEY", "AKIAENV")
	t.Setenv("CERTFLOW_PAYLOAD_STORE_SECRET_KEY", "from-env")
	if c, err = LoadCommon(); err != nil {
		t.Fatal(err)
	}
	if a, s, err := c.PayloadStore.Credentials(); err != nil || a != "AKIAENV" || s != "from-env" {
		t.Fatalf("credentials %q %q %v, want the variables'", a, s, err)
	}

	missing := PayloadStore{URL: "s3://bucket", AccessKey: "a", SecretKeyFile: filepath.Join(dir, "missing")}
	if _, _, err := missing.Credentials(); err == nil || !strings.Contains(err.Error(), "CERTFLOW_PAYLOAD_STORE_SECRET_KEY_FILE") {
		t.Fatalf("a missing file: %v, want an error naming the variable", err)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"262144": 256 << 10, "256KiB": 256 << 10, "256 KiB": 256 << 10, "1MiB": 1 << 20, "2MB": 2 << 20, "512K": 512 << 10, "100B": 100} {
		var b ByteSize
		if err := b.Decode(in); err != nil || b != want {
			t.Errorf("Decode(%q) = %d, %v; want %d", in, b, err, want)
		}
		var back ByteSize
		if err := back.Decode(b.String()); err != nil || back != b {
			t.Errorf("%d written %q reads back as %d, %v", b, b.String(), back, err)
		}
	}
	for _, in := range []string{"", "KiB", "-1", "1.5MiB", "1GiB"} {
		var b ByteSize
		if err := b.Decode(in); err == nil {
			t.Errorf("Decode(%q) = %d, want an error", in, b)
		}
	}
}
