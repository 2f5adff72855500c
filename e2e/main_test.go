// Package e2e runs certflow end to end: a real Temporal dev server (built
// by `make temporal`), the provider emulators over real sockets with mutual
// TLS, and the worker, all wired as in production.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/rs/zerolog"

	"github.com/certflow/certflow/internal/devstack"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// temporalAddress is the dev server shared by every test of the package.
var temporalAddress string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	temporal, err := devstack.StartTemporal(context.Background(), devstack.TemporalOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer temporal.Stop()
	temporalAddress = temporal.Address
	return m.Run()
}

// startStack runs emulators and a worker on their own task queue, stopped
// at the end of the test.
func startStack(t *testing.T, ua uasandbox.Options) *devstack.Stack {
	t.Helper()
	s, err := devstack.Start(context.Background(), devstack.Options{
		TemporalAddress: temporalAddress,
		TaskQueue:       "e2e-" + t.Name(),
		PKIDir:          t.TempDir(),
		UanatacaAddr:    "127.0.0.1:0",
		HTTPAddr:        "127.0.0.1:0",
		Uanataca:        ua,
		Log:             zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
	})
	return s
}
