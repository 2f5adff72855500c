package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// row is one line of the table: a target of issue 15, what was measured,
// its baseline in the same run, and whether the target holds.
type row struct {
	id, what, figure, baseline, ratio, target string
	pass                                      bool
}

// runTable runs every target of issue 15 (P1–P6), each on a stack of its
// own, and prints the table the README carries: figure, baseline, ratio,
// target, pass or fail. A target that cannot run (P3 without the cluster
// tools) is a failed row saying why. `make bench` runs it.
func runTable(args []string) error {
	fs := flag.NewFlagSet("table", flag.ExitOnError)
	waitingN := fs.Int("waiting", 10000, "P3: waiting workflows on one worker")
	issuances := fs.Int("issuances", 100, "P1: issuances at once")
	only := fs.String("only", "", "run only these targets, e.g. P1,P5 (default: all)")
	fs.Parse(args)

	ctx := context.Background()
	want := func(id string) bool { return *only == "" || strings.Contains(","+*only+",", ","+id+",") }
	var rows []row
	add := func(r ...row) {
		rows = append(rows, r...)
		for _, x := range r {
			fmt.Fprintf(os.Stderr, "%s %s: %s (baseline %s) %s\n", x.id, x.what, x.figure, x.baseline, verdict(x.pass))
		}
	}
	fail := func(id, what, target string, err error) row {
		return row{id: id, what: what, figure: "failed: " + err.Error(), target: target}
	}
	if want("P1") {
		if f, err := measureIssuance(ctx, *issuances); err != nil {
			add(fail("P1", "issuances/s", "≥ 0.90×", err))
		} else {
			ratio := f.certflow.rate() / f.bare.rate()
			add(row{id: "P1", what: fmt.Sprintf("issuances/s, %d at once", f.n), figure: fmt.Sprintf("%.1f/s", f.certflow.rate()),
				baseline: fmt.Sprintf("%.1f/s bare SDK (%d activities, %d signals)", f.bare.rate(), f.shape.Activities, f.shape.Signals),
				ratio:    fmt.Sprintf("%.2f×", ratio), target: "≥ 0.90×", pass: ratio >= 0.90})
		}
	}
	if want("P2") {
		for _, n := range []int{200, 2000} {
			f, err := measureWebhooks(ctx, n, 16)
			if err != nil {
				add(fail("P2", fmt.Sprintf("webhooks, N=%d", n), "≥ 0.8×, p99 ≤ 1.25×", err))
				continue
			}
			tput := f.ingress.rate() / f.direct.rate()
			p99, base := percentile(f.ingress.latencies, 99), percentile(f.direct.latencies, 99)
			add(row{id: "P2", what: fmt.Sprintf("webhooks accepted/s, N=%d", n), figure: fmt.Sprintf("%.0f/s", f.ingress.rate()),
				baseline: fmt.Sprintf("%.0f/s SignalWorkflow", f.direct.rate()), ratio: fmt.Sprintf("%.2f×", tput), target: "≥ 0.80×", pass: tput >= 0.8},
				row{id: "P2", what: fmt.Sprintf("webhook p99, N=%d", n), figure: p99.String(), baseline: base.String() + " SignalWorkflow",
					ratio: fmt.Sprintf("%.2f×", p99.Seconds()/base.Seconds()), target: "≤ 1.25×", pass: p99.Seconds() <= 1.25*base.Seconds()})
		}
	}
	if want("P3") {
		f, err := measureWaiting(ctx, *waitingN, 0, ".tools/cluster/bin", ".tools/bin/certflow-worker")
		if err != nil {
			add(fail("P3", "waiting issuances", "≤ 256 MB", err))
		} else {
			add(row{id: "P3", what: fmt.Sprintf("%d waiting on one worker: RSS", f.n), figure: fmt.Sprintf("%.0f MB (heap %.0f MB), %d ended, CPU %.2f s in %s idle", f.rssMB, f.heapMB, f.ended, f.idleCPU, idleWindow),
				baseline: "—", ratio: "—", target: "≤ 256 MB, 0 ended", pass: f.rssMB <= 256 && f.ended == 0})
		}
	}
	if want("P4") {
		if f, err := measureHistory(ctx, 20, 200*time.Millisecond); err != nil {
			add(fail("P4", "history events", "≤ 100", err))
		} else {
			add(row{id: "P4", what: fmt.Sprintf("history events, %d webhooks", f.webhooks), figure: fmt.Sprint(f.events),
				baseline: "—", ratio: "—", target: "≤ 100", pass: f.events <= 100})
		}
	}
	if want("P5") {
		add(allocationRows(ctx)...)
	}
	if want("P6") {
		const docs, size = 3, 5 << 20
		if f, err := measureDocuments(ctx, docs, size); err != nil {
			add(fail("P6", "documents", "accepted, ≤ 4 KB a document", err))
		} else {
			add(row{id: "P6", what: fmt.Sprintf("%d scans of %d MiB, history per document", docs, size>>20),
				figure:   fmt.Sprintf("%d bytes (history %d bytes; accepted %v, issued %v in %s)", f.HistoryBytesPerDoc, f.HistoryBytes, f.Accepted, f.Issued, f.Elapsed.Round(time.Millisecond)),
				baseline: "—", ratio: "—", target: "accepted, ≤ 4 KB a document", pass: f.Accepted && f.Issued && f.HistoryBytesPerDoc <= 4096})
		}
	}
	printTable(rows)
	return nil
}

// allocationRows measures P5 at 50 and 200 at once, cold then warm.
func allocationRows(ctx context.Context) []row {
	const target = "p99 ≤ 250 ms, 0 twice"
	var rows []row
	err := measureAllocations(ctx, []int{50, 200}, func(c int, when string, f allocationFigures, err error) {
		what := fmt.Sprintf("allocation p99, %d at once, %s", c, when)
		if err != nil {
			rows = append(rows, row{id: "P5", what: what, figure: "failed: " + err.Error(), target: target})
			return
		}
		p99, base := percentile(f.alloc.latencies, 99), percentile(f.baseline.latencies, 99)
		rows = append(rows, row{id: "P5", what: what, figure: fmt.Sprintf("%s (%d distinct)", p99, f.distinct),
			baseline: base.String() + " get_first_unused", ratio: fmt.Sprintf("%.1f×", p99.Seconds()/base.Seconds()),
			target: target, pass: p99 <= 250*time.Millisecond && f.distinct == c})
	})
	if err != nil {
		rows = append(rows, row{id: "P5", what: "scratchcard allocation", figure: "failed: " + err.Error(), target: target})
	}
	return rows
}

// printTable prints rows as the Markdown table the README carries, with
// the machine it ran on.
func printTable(rows []row) {
	host, _ := os.Hostname()
	fmt.Printf("\ncertflow-bench table, %s, %d CPUs (%s), %s\n\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), host, runtime.Version())
	fmt.Println("| # | what | figure | baseline (same run) | ratio | target | |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.id, r.what, r.figure, r.baseline, r.ratio, r.target, verdict(r.pass))
	}
}

func verdict(pass bool) string {
	if pass {
		return "pass"
	}
	return "FAIL"
}
