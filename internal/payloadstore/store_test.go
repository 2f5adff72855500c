package payloadstore

import (
	"strings"
	"testing"

	"github.com/certflow/certflow/internal/config"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir() + "/new/payloads"
	tests := []struct {
		name       string
		cfg        config.PayloadStore
		driver     string
		threshold  int
		describing string
	}{
		{"none", config.PayloadStore{}, "", 0, "none"},
		{"file, default threshold", config.PayloadStore{URL: "file://" + dir}, FileDriverName, DefaultThreshold, "file://" + dir + " (payloads from 256KiB)"},
		{"s3 with keys", config.PayloadStore{URL: "s3://bucket/p?endpoint=127.0.0.1:9000&secure=false", Threshold: 64 << 10, AccessKey: "AKIA", SecretKey: "s3cr3t"},
			S3DriverName, 64 << 10, "s3://bucket/p at http://127.0.0.1:9000 (payloads from 64KiB)"},
		{"s3 with AWS's credentials", config.PayloadStore{URL: "s3://bucket?region=eu-west-1"}, S3DriverName, DefaultThreshold, "s3://bucket/ at https://s3.amazonaws.com (eu-west-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); !strings.HasPrefix(got, tt.describing) || strings.Contains(got, "s3cr3t") || strings.Contains(got, "AKIA") {
				t.Errorf("described as %q, want %q and no credential", got, tt.describing)
			}
			es := s.ExternalStorage()
			if tt.driver == "" {
				if s != nil || len(es.Drivers) != 0 {
					t.Fatalf("no store configured, got %v", s)
				}
				return
			}
			if len(es.Drivers) != 1 || es.Drivers[0].Name() != tt.driver || es.PayloadSizeThreshold != tt.threshold {
				t.Fatalf("external storage %+v, want driver %s from %d bytes", es, tt.driver, tt.threshold)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, cfg := range []config.PayloadStore{
		{URL: "file:relative"},
		{URL: "s3://bucket", AccessKey: "a"},
		{URL: "s3://bucket", AccessKeyFile: "/nonexistent/access", SecretKeyFile: "/nonexistent/secret"},
		{URL: "file:///proc/certflow-cannot-create-this"},
	} {
		if s, err := Open(cfg); err == nil {
			t.Errorf("Open(%+v) = %v, want an error", cfg, s)
		}
	}
}
