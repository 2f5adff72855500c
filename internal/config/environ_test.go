package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// What Environ writes, LoadWorker reads back the same, for every kind of
// field the configuration has.
func TestEnvironRoundTrip(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "CERTFLOW_") || strings.HasPrefix(name, "UANATACA_") ||
			strings.HasPrefix(name, "UNIVERSIGN_") || strings.HasPrefix(name, "MASSTACK_") || strings.HasPrefix(name, "HUMANOS_") || strings.HasPrefix(name, "LOG_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	want, err := LoadWorker()
	if err != nil {
		t.Fatal(err)
	}
	want.Mode, want.HTTPAddr, want.ShutdownTimeout = ModeIngress, "127.0.0.1:18080", 90*time.Second
	want.Codec.AllowPlaintext, want.Codec.Keys = true, "k1:abc"
	want.Uanataca.WebhookAllow = []string{"10.0.0.0/8", "192.168.0.0/16"}
	want.Uanataca.RAOUsername, want.Uanataca.RAOPassword, want.Uanataca.RAOPIN, want.Uanataca.RAOID = "rao", "pw", "1234", 7
	want.DeploymentName, want.BuildID = "certflow", "v2"
	want.PayloadStore = PayloadStore{URL: "s3://certflow/payloads?endpoint=127.0.0.1:9000&secure=false", Threshold: 64 << 10, AccessKey: "a", SecretKeyFile: "/run/secrets/s3"}
	for _, kv := range Environ(want) {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	got, err := LoadWorker()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, want)
	}
}
