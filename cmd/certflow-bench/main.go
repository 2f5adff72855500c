// Command certflow-bench measures certflow under load against the dev
// stack (Temporal dev server, emulators, worker in-process), or for
// scaleout and waiting the cluster stack. Its modes:
//
//	certflow-bench table [-only P1,P5] [-waiting N] [-issuances N]
//	certflow-bench [scratchcards] [-n N] [-issue-after D]
//	certflow-bench issuance [-n N]
//	certflow-bench allocation [-c 50,200]
//	certflow-bench documents [-docs 3] [-size 5MiB]
//	certflow-bench webhooks [-n N] [-c concurrency]
//	certflow-bench scaleout [-n N]
//	certflow-bench waiting [-n N] [-cache C]
//	certflow-bench history [-webhooks W]
//
// table runs issue 15's targets P1–P6 and prints their table;
// scratchcards (the default, so `make bench-scratchcards` runs it with
// flags only) measures whole issuances and their scratchcard allocation;
// issuance compares issuances with bare SDK workflows of their shape;
// allocation measures allocation alone; documents runs an issuance with
// scans of real size; webhooks measures the
// webhook ingress against direct signals; scaleout compares one worker
// process with two on PostgreSQL; waiting measures a worker holding many
// waiting workflows; history counts one issuance's history events. See
// each mode's file.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "certflow-bench:", err)
		os.Exit(1)
	}
}

// run picks the mode from the first argument; when there is none, or it is
// already a flag, the mode is scratchcards, as before modes existed.
func run(args []string) error {
	mode := "scratchcards"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
	}
	switch mode {
	case "scratchcards":
		return runScratchcards(args)
	case "webhooks":
		return runWebhooks(args)
	case "scaleout":
		return runScaleOut(args)
	case "waiting":
		return runWaiting(args)
	case "history":
		return runHistory(args)
	case "allocation":
		return runAllocation(args)
	case "issuance":
		return runIssuance(args)
	case "table":
		return runTable(args)
	case "documents":
		return runDocuments(args)
	}
	return fmt.Errorf("unknown mode %q: want table, scratchcards, issuance, allocation, documents, webhooks, scaleout, waiting or history", mode)
}

// startStack starts a Temporal dev server and the dev stack on it, with
// the Uanataca emulator configured by ua; stop tears both down.
func startStack(ctx context.Context, ua uasandbox.Options) (s *devstack.Stack, stop func(), err error) {
	temporal, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{})
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "certflow-bench")
	if err != nil {
		temporal.Stop()
		return nil, nil, err
	}
	s, err = devstack.Start(ctx, devstack.Options{
		TemporalAddress: temporal.Address, PKIDir: filepath.Join(dir, "pki"),
		UanatacaAddr: "127.0.0.1:0", UniversignAddr: "127.0.0.1:0", MasStackAddr: "127.0.0.1:0", HumanosAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Uanataca: ua,
		// The figures compare certflow with bare Temporal calls, which
		// carry no encryption either.
		AllowPlaintext: true,
		// Warnings (a failed workflow task, say) explain a slow figure.
		Log: zerolog.New(os.Stderr).Level(zerolog.WarnLevel),
	})
	if err != nil {
		os.RemoveAll(dir)
		temporal.Stop()
		return nil, nil, err
	}
	return s, func() {
		s.Close()
		os.RemoveAll(dir)
		temporal.Stop()
	}, nil
}

// issuanceIDs names n issuances uniquely to this run.
func issuanceIDs(n int) []string {
	ids := make([]string, n)
	now := time.Now().UnixNano()
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%d-%d", now, i)
	}
	return ids
}

// input is issuance i's input on RA 121; its long poll interval leaves
// the progress to the emulator's webhooks (or, in webhooks mode, to none).
func input(i int) contract.UanatacaIssuanceInput {
	return contract.UanatacaIssuanceInput{
		Request: uanataca.CreateRequest{
			Profile: "PFnubeAFCiudadano", ValidityTime: 365, SecureElement: "2", RegistrationAuthority: "121",
			IDDocumentType: "IDC", IDDocumentCountry: "ES", SerialNumber: fmt.Sprintf("%08dZ", i), GivenName: "Bench",
			Surname1: "Applicant", Email: fmt.Sprintf("bench%d@example.com", i), MobilePhoneNumber: "+34600112233",
		},
		PollInterval: contract.Duration(time.Hour),
	}
}

// issue runs issuance i under id to its end.
func issue(ctx context.Context, c client.Client, taskQueue, id string, i int) error {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}, contract.UanatacaIssuanceName, input(i))
	if err == nil {
		err = run.Get(ctx, nil)
	}
	return err
}

// timings is what measure saw: the wall time of the whole batch, the
// duration of each successful call (sorted), and each call's error.
type timings struct {
	elapsed   time.Duration
	latencies []time.Duration
	errs      []error
}

// measure runs call(0) … call(n-1) on c concurrent workers and times each
// call and the whole batch.
func measure(n, c int, call func(i int) error) timings {
	t := timings{errs: make([]error, n)}
	durations := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	for range min(c, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				start := time.Now()
				t.errs[i] = call(i)
				durations[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	t.elapsed = time.Since(began)
	for i, d := range durations {
		if t.errs[i] == nil {
			t.latencies = append(t.latencies, d)
		}
	}
	slices.Sort(t.latencies)
	return t
}

// failed counts the calls that returned an error.
func (t timings) failed() int {
	return len(t.errs) - len(t.latencies)
}

// err says how many calls failed and why the first did; nil when none.
func (t timings) err(what string) error {
	for i, err := range t.errs {
		if err != nil {
			return fmt.Errorf("%d of %d %s failed; #%d: %w", t.failed(), len(t.errs), what, i, err)
		}
	}
	return nil
}

// percentile of sorted durations (nearest rank), rounded to the
// millisecond; 0 when there are none.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)].Round(time.Millisecond)
}
