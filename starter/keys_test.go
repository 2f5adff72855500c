package starter

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/config"
)

func TestDevKeyFile(t *testing.T) {
	checkout := t.TempDir()
	keys := filepath.Join(checkout, codec.DevStateDir, codec.DevKeysName)
	if err := os.MkdirAll(filepath.Dir(keys), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keys, []byte("dev1:x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(checkout, "examples", "deep")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, hostPort, dir, want string
	}{
		{"default address, in the checkout", "", checkout, keys},
		{"localhost, below the checkout", "localhost:7233", sub, keys},
		{"loopback IP", "127.0.0.1:7233", checkout, keys},
		{"IPv6 loopback", "[::1]:7233", checkout, keys},
		{"a cluster: never the dev key", "temporal.prod.internal:7233", checkout, ""},
		{"a LAN address", "10.0.0.5:7233", checkout, ""},
		{"outside any checkout", "", t.TempDir(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DevKeyFile(tt.hostPort, tt.dir); got != tt.want {
				t.Fatalf("DevKeyFile(%q, %s) = %q, want %q", tt.hostPort, tt.dir, got, tt.want)
			}
		})
	}
}

// The CLI finds the dev stack's payload store where it finds its key, and
// only then.
func TestDevPayloadStore(t *testing.T) {
	checkout := t.TempDir()
	state := filepath.Join(checkout, codec.DevStateDir)
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, codec.DevKeysName), []byte("dev1:x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := DevPayloadStore("", checkout); got != "" {
		t.Fatalf("no payloads folder yet, got %q", got)
	}
	if err := os.MkdirAll(filepath.Join(state, "payloads"), 0o700); err != nil {
		t.Fatal(err)
	}
	want := "file://" + filepath.Join(state, "payloads")
	if got := DevPayloadStore("127.0.0.1:7233", filepath.Join(checkout)); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := DevPayloadStore("temporal.prod.internal:7233", checkout); got != "" {
		t.Fatalf("a cluster got the dev store %q", got)
	}
}

// Without a key, start is refused before Temporal is even dialled, unless
// plaintext is allowed.
func TestStartWithoutKeyRefused(t *testing.T) {
	for _, allow := range []bool{false, true} {
		var out, errOut bytes.Buffer
		dialled := false
		c := &CLI{Out: &out, Err: &errOut, Config: config.Common{Codec: config.Codec{AllowPlaintext: allow}},
			Dial: func() (client.Client, error) {
				dialled = true
				return client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
			}}
		code := c.Run(context.Background(), []string{"start", "universign", "-applicant", "ana@example.com", "-level", "qcp"})
		switch {
		case !allow && (code != ExitUsage || dialled || !strings.Contains(errOut.String(), "no codec key")):
			t.Errorf("without a key: exit %d, dialled %v, %q; want %d before dialling", code, dialled, errOut.String(), ExitUsage)
		case allow && !dialled:
			t.Errorf("with CERTFLOW_ALLOW_PLAINTEXT: exit %d without dialling (%q)", code, errOut.String())
		}
	}
}
