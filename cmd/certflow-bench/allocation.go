package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// allocationFigures is one allocation burst beside its baseline: c
// allocations at once on an RA whose allocator has not run yet (its start
// and first fill included), and c get_first_unused calls at once on the
// same emulator, the one RA call an issuance would make without certflow.
type allocationFigures struct {
	c        int
	alloc    timings
	baseline timings
	// distinct counts the different cards handed out.
	distinct int
}

// runAllocation measures scratchcard allocation alone (issue 15's P5):
// for each concurrency, c allocations at once through the call an
// issuance's AllocateScratchcard activity makes, first on a fresh RA
// (cold: the allocator starts and reads its first cards meanwhile), then
// again on the same RA (warm: its stock was read ahead), each beside c
// get_first_unused calls. `make bench-allocation` runs it.
func runAllocation(args []string) error {
	fs := flag.NewFlagSet("allocation", flag.ExitOnError)
	levels := fs.String("c", "50,200", "concurrent allocations, one fresh RA per figure")
	fs.Parse(args)
	cs, err := intList(*levels)
	if err != nil {
		return err
	}
	var errs []error
	err = measureAllocations(context.Background(), cs, func(_ int, when string, f allocationFigures, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		fmt.Println(when+":", f)
	})
	return errors.Join(append(errs, err)...)
}

// measureAllocations measures, for each concurrency of cs, a burst on a
// fresh RA (cold) then one on the same RA (warm), on one stack, and hands
// each figure to each.
func measureAllocations(ctx context.Context, cs []int, each func(c int, when string, f allocationFigures, err error)) error {
	ras := map[string]int{}
	for i, c := range cs {
		ras[strconv.Itoa(121+i)] = 2*c + allocatorSlack
	}
	s, stop, err := startStack(ctx, uasandbox.Options{RAs: ras})
	if err != nil {
		return err
	}
	defer stop()
	for i, c := range cs {
		for _, when := range []string{"cold", "warm"} {
			f, err := measureAllocation(ctx, s, strconv.Itoa(121+i), c)
			each(c, when, f, err)
		}
	}
	return nil
}

// allocatorSlack is how many cards an RA holds beyond those a burst takes,
// so a fill ahead of demand never finds the pool dry.
const allocatorSlack = 50

// measureAllocation runs c allocations at once on ra, then c
// get_first_unused calls at once, and checks that no card went twice.
func measureAllocation(ctx context.Context, s *devstack.Stack, ra string, c int) (allocationFigures, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	f := allocationFigures{c: c}
	cards := make([]string, c)
	holder := fmt.Sprintf("bench-holder-%d-%s", time.Now().UnixNano(), ra)
	// The bench is one process asking, as one worker process would.
	var allocs activities.Allocations
	f.alloc = measure(c, c, func(i int) (err error) {
		cards[i], err = allocs.Allocate(ctx, s.Client, s.Config.TaskQueue, activities.AllocateInput{
			RA: ra, Holder: fmt.Sprintf("%s-%d", holder, i), UpdateID: fmt.Sprintf("%s-%d", holder, i),
			AllocatorID: contract.AllocatorID(s.Config.TaskQueue, ra),
		})
		return err
	})
	if err := f.alloc.err("allocations"); err != nil {
		return f, err
	}
	seen := map[string]bool{}
	for _, sn := range cards {
		seen[sn] = true
	}
	f.distinct = len(seen)
	if f.distinct != c {
		return f, fmt.Errorf("%d allocations handed out only %d distinct cards", c, f.distinct)
	}
	ua, err := uanataca.New(uanataca.Config{
		BaseURL: s.Config.Uanataca.BaseURL, CertFile: s.Config.Uanataca.CertFile, KeyFile: s.Config.Uanataca.KeyFile,
		CAFile: s.Config.Uanataca.CAFile, Timeout: s.Config.Uanataca.Timeout,
	})
	if err != nil {
		return f, err
	}
	f.baseline = measure(c, c, func(int) error {
		_, err := ua.GetFirstUnusedScratchcard(ctx, ra)
		return err
	})
	return f, f.baseline.err("get_first_unused calls")
}

func (f allocationFigures) String() string {
	return fmt.Sprintf("allocation, %d at once: p50 %s, p99 %s (%d distinct cards); get_first_unused, %d at once: p50 %s, p99 %s",
		f.c, percentile(f.alloc.latencies, 50), percentile(f.alloc.latencies, 99), f.distinct,
		f.c, percentile(f.baseline.latencies, 50), percentile(f.baseline.latencies, 99))
}

// intList parses "50,200".
func intList(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}
