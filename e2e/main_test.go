// Package e2e runs certflow end to end: a real Temporal dev server (built
// by `make temporal`), the provider emulators over real sockets with mutual
// TLS, and the worker, all wired as in production.
package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/certflow/certflow/internal/devstack"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// temporalAddress is the dev server shared by every test of the package.
var temporalAddress string

// uniqueID makes a workflow ID that no earlier test run used on this dev
// server, so repeated runs (-count) do not collide.
func uniqueID(prefix string) string {
	return prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

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
	return startStackWith(t, devstack.Options{Uanataca: ua})
}

// startStackOn is startStack on another Temporal than the shared one.
func startStackOn(t *testing.T, address string, ua uasandbox.Options) *devstack.Stack {
	t.Helper()
	return startStackWith(t, devstack.Options{TemporalAddress: address, Uanataca: ua})
}

// startStackWith is startStack with every emulator's options; addresses,
// task queue and logging are filled in.
func startStackWith(t *testing.T, opts devstack.Options) *devstack.Stack {
	t.Helper()
	if opts.TemporalAddress == "" {
		opts.TemporalAddress = temporalAddress
	}
	opts.TaskQueue = "e2e-" + t.Name()
	// The tests' data is made up; without a key they store it in clear,
	// and say so, as a deployment must.
	opts.AllowPlaintext = opts.CodecKeys == ""
	opts.PKIDir = t.TempDir()
	opts.UanatacaAddr, opts.UniversignAddr, opts.MasStackAddr, opts.HumanosAddr, opts.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	opts.Log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	s, err := devstack.Start(context.Background(), opts)
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
