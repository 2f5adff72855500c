// Command certflow-bench measures scratchcard allocation under load: it
// starts the dev stack (Temporal dev server, emulators, worker), starts N
// Uanataca issuances at once on one RA, waits for all of them, and prints
// issuances per second and card-allocation latency (p50, p99), read from
// each issuance's history: from scheduling AllocateScratchcard to its
// completion, queueing at the allocator included. `make bench-scratchcards`
// runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
	"github.com/certflow/certflow/workflows"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "certflow-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 100, "issuances started at once on one RA")
	issueAfter := flag.Duration("issue-after", 200*time.Millisecond, "emulator: approval and issuance delay")
	flag.Parse()

	ctx := context.Background()
	temporal, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{})
	if err != nil {
		return err
	}
	defer temporal.Stop()
	dir, err := os.MkdirTemp("", "certflow-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := devstack.Start(ctx, devstack.Options{
		TemporalAddress: temporal.Address, PKIDir: filepath.Join(dir, "pki"),
		UanatacaAddr: "127.0.0.1:0", UniversignAddr: "127.0.0.1:0", MasStackAddr: "127.0.0.1:0", HumanosAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Uanataca: uasandbox.Options{RAs: map[string]int{"121": *n + 10}, AutoApproveAfter: *issueAfter, IssueAfter: *issueAfter},
		Log:      zerolog.Nop(),
	})
	if err != nil {
		return err
	}
	defer s.Close()

	runCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	began := time.Now()
	errs := make([]error, *n)
	ids := make([]string, *n)
	var wg sync.WaitGroup
	for i := range *n {
		ids[i] = fmt.Sprintf("bench-%d-%d", began.UnixNano(), i)
		wg.Go(func() {
			run, err := s.Client.ExecuteWorkflow(runCtx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: s.Config.TaskQueue},
				workflows.UanatacaIssuanceName, input(i))
			if err == nil {
				err = run.Get(runCtx, nil)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("issuance %d: %w", i, err)
		}
	}
	latencies, err := allocationLatencies(runCtx, s.Client, ids)
	if err != nil {
		return err
	}
	stats := s.Uanataca.Emulator.Stats()
	fmt.Printf("issuances: %d on one RA, all ISSUED, %d distinct cards, %d Invalid ScratchCard\n", *n, stats.Creates, stats.InvalidScratchcard)
	fmt.Printf("throughput: %.1f issuances/s (%s for all, emulator issuance delay %s)\n", float64(*n)/elapsed.Seconds(), elapsed.Round(time.Millisecond), 2**issueAfter)
	fmt.Printf("card allocation latency: p50 %s, p99 %s, max %s\n",
		percentile(latencies, 50).Round(time.Millisecond), percentile(latencies, 99).Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
	return nil
}

func input(i int) workflows.UanatacaIssuanceInput {
	return workflows.UanatacaIssuanceInput{
		Request: uanataca.CreateRequest{
			Profile: "PFnubeAFCiudadano", ValidityTime: 365, SecureElement: "2", RegistrationAuthority: "121",
			IDDocumentType: "IDC", IDDocumentCountry: "ES", SerialNumber: fmt.Sprintf("%08dZ", i), GivenName: "Bench",
			Surname1: "Applicant", Email: fmt.Sprintf("bench%d@example.com", i), MobilePhoneNumber: "+34600112233",
		},
		PollInterval: workflows.Duration(time.Hour),
	}
}

// allocationLatencies reads, from each issuance's history, the time from
// scheduling AllocateScratchcard to its completion, sorted.
func allocationLatencies(ctx context.Context, c client.Client, ids []string) ([]time.Duration, error) {
	var out []time.Duration
	for _, id := range ids {
		scheduled := map[int64]time.Time{}
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return nil, err
			}
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "AllocateScratchcard" {
				scheduled[e.GetEventId()] = e.GetEventTime().AsTime()
			}
			if a := e.GetActivityTaskCompletedEventAttributes(); a != nil {
				if at, ok := scheduled[a.GetScheduledEventId()]; ok {
					out = append(out, e.GetEventTime().AsTime().Sub(at))
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no allocation found in the issuances' histories")
	}
	slices.Sort(out)
	return out, nil
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}
