package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/certflow/certflow/internal/cluster"
	"github.com/certflow/certflow/internal/devstack"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// runScaleOut measures the same issuance load on the cluster stack
// (PostgreSQL, the Temporal server, worker processes) with one worker and
// with two, and prints the throughput ratio and where the CPU time went.
// `make bench-scaleout` runs it.
func runScaleOut(args []string) error {
	fs := flag.NewFlagSet("scaleout", flag.ExitOnError)
	n := fs.Int("n", 200, "issuances started at once")
	bin := fs.String("bin", ".tools/cluster/bin", "folder of temporal-server and temporal-sql-tool (make cluster-tools)")
	workerBin := fs.String("worker-bin", ".tools/bin/certflow-worker", "the certflow worker binary")
	fs.Parse(args)

	rates := map[int]float64{}
	for _, workers := range []int{1, 2} {
		rate, err := scaleOutRun(*n, workers, *bin, *workerBin)
		if err != nil {
			return fmt.Errorf("%d worker(s): %w", workers, err)
		}
		rates[workers] = rate
	}
	fmt.Printf("scale-out: %.2f× the throughput with 2 workers than with 1 (%d cores on this machine)\n", rates[2]/rates[1], runtime.NumCPU())
	return nil
}

// scaleOutRun starts a fresh cluster with the given number of workers,
// runs n issuances at once and prints their throughput and each part's CPU.
func scaleOutRun(n, workers int, bin, workerBin string) (float64, error) {
	dir, err := os.MkdirTemp("", "certflow-scaleout")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Options{
		Dir: dir, PGDir: dir + "-pg", Bin: bin, WorkerBin: workerBin, Ports: cluster.Ports{Base: 25432}, Workers: workers,
		// The figures compare worker counts, not encryption.
		Emulators: devstack.Options{AllowPlaintext: true, Uanataca: uasandbox.Options{
			RAs: map[string]int{"121": n + 10}, AutoApproveAfter: 100 * time.Millisecond, IssueAfter: 100 * time.Millisecond,
		}},
	})
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir + "-pg")
	defer c.Stop()

	before := cpuByPart(c)
	runCtx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	ids := issuanceIDs(n)
	t := measure(n, n, func(i int) error { return issue(runCtx, c.Client, "certflow", ids[i], i) })
	if err := t.err("issuances"); err != nil {
		return 0, err
	}
	after := cpuByPart(c)
	rate := float64(n) / t.elapsed.Seconds()
	fmt.Printf("%d worker(s): %d issuances in %s, %.1f issuances/s; CPU seconds:", workers, n, t.elapsed.Round(time.Millisecond), rate)
	for _, part := range []string{"temporal-server", "postgres", "workers", "emulators+client"} {
		fmt.Printf(" %s %.1f", part, after[part]-before[part])
	}
	fmt.Println()
	return rate, nil
}

// cpuByPart reads the CPU seconds each part of the stack has used so far:
// the Temporal server, PostgreSQL (every process of the postgres user),
// the workers, and this process (the emulators and the client).
func cpuByPart(c *cluster.Cluster) map[string]float64 {
	parts := map[string]float64{"temporal-server": cpuSeconds(c.Server.Pid()), "emulators+client": cpuSeconds(os.Getpid())}
	for _, w := range c.Workers {
		parts["workers"] += cpuSeconds(w.Pid())
	}
	if u, err := user.Lookup("postgres"); err == nil {
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			if fi, err := os.Stat(p); err == nil && ownedBy(fi, u.Uid) {
				pid, _ := strconv.Atoi(filepath.Base(p))
				parts["postgres"] += cpuSeconds(pid)
			}
		}
	}
	return parts
}

// cpuSeconds is a process's user and system time, from /proc/<pid>/stat.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// ownedBy reports whether a /proc entry belongs to the user uid.
func ownedBy(fi os.FileInfo, uid string) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && strconv.FormatUint(uint64(st.Uid), 10) == uid
}
