package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// runScratchcards measures scratchcard allocation under load: it starts N
// Uanataca issuances at once on one RA, waits for all of them, and prints
// issuances per second and card-allocation latency (p50, p99), read from
// each issuance's history: from scheduling AllocateScratchcard to its
// completion, queueing at the allocator included. `make
// bench-scratchcards` runs it.
func runScratchcards(args []string) error {
	fs := flag.NewFlagSet("scratchcards", flag.ExitOnError)
	n := fs.Int("n", 100, "issuances started at once on one RA")
	issueAfter := fs.Duration("issue-after", 200*time.Millisecond, "emulator: approval and issuance delay")
	fs.Parse(args)

	ctx := context.Background()
	s, stop, err := startStack(ctx, uasandbox.Options{RAs: map[string]int{"121": *n + 10}, AutoApproveAfter: *issueAfter, IssueAfter: *issueAfter})
	if err != nil {
		return err
	}
	defer stop()

	runCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	ids := issuanceIDs(*n)
	t := measure(*n, *n, func(i int) error { return issue(runCtx, s.Client, s.Config.TaskQueue, ids[i], i) })
	if err := t.err("issuances"); err != nil {
		return err
	}
	latencies, err := allocationLatencies(runCtx, s.Client, ids)
	if err != nil {
		return err
	}
	stats := s.Uanataca.Emulator.Stats()
	fmt.Printf("issuances: %d on one RA, all ISSUED, %d distinct cards, %d Invalid ScratchCard\n", *n, stats.Creates, stats.InvalidScratchcard)
	fmt.Printf("throughput: %.1f issuances/s (%s for all, emulator issuance delay %s)\n", float64(*n)/t.elapsed.Seconds(), t.elapsed.Round(time.Millisecond), 2**issueAfter)
	fmt.Printf("card allocation latency: p50 %s, p99 %s, max %s\n",
		percentile(latencies, 50), percentile(latencies, 99), latencies[len(latencies)-1].Round(time.Millisecond))
	return nil
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
