package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/cluster"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/universign"
)

// runWaiting starts n workflows that wait at their provider (Universign
// registrations nobody completes, polled hourly) on the cluster stack with
// one worker process, and prints that worker's memory once they all wait,
// and the CPU it uses while they do. `make bench-waiting` runs it.
func runWaiting(args []string) error {
	fs := flag.NewFlagSet("waiting", flag.ExitOnError)
	n := fs.Int("n", 10000, "waiting workflows")
	cache := fs.Int("cache", 0, "the worker's CERTFLOW_WORKFLOW_CACHE_SIZE (0: its default)")
	bin := fs.String("bin", ".tools/cluster/bin", "folder of temporal-server and temporal-sql-tool (make cluster-tools)")
	workerBin := fs.String("worker-bin", ".tools/bin/certflow-worker", "the certflow worker binary")
	fs.Parse(args)
	f, err := measureWaiting(context.Background(), *n, *cache, *bin, *workerBin)
	if err != nil {
		return err
	}
	fmt.Println(f)
	return nil
}

// waitingFigures is one worker process holding n waiting workflows.
type waitingFigures struct {
	n, cache      int
	settled       time.Duration
	ended         int64
	rssMB, heapMB float64
	goroutines    float64
	// idleCPU is the worker's CPU seconds over idleWindow while they wait.
	idleCPU float64
}

// idleWindow is how long the worker's CPU is read while nothing happens.
const idleWindow = 30 * time.Second

func (f waitingFigures) String() string {
	cacheSize := "its default"
	if f.cache > 0 {
		cacheSize = strconv.Itoa(f.cache)
	}
	return fmt.Sprintf("waiting: %d workflows on one worker process (workflow cache %s), all waiting %s after the first start, %d ended\n"+
		"worker: RSS %.0f MB, heap in use %.0f MB, goroutines %.0f; CPU while they wait: %.2f s over %s",
		f.n, cacheSize, f.settled.Round(time.Second), f.ended, f.rssMB, f.heapMB, f.goroutines, f.idleCPU, idleWindow)
}

func measureWaiting(ctx context.Context, n, cache int, bin, workerBin string) (waitingFigures, error) {
	f := waitingFigures{n: n, cache: cache}
	dir, err := os.MkdirTemp("", "certflow-waiting")
	if err != nil {
		return f, err
	}
	defer os.RemoveAll(dir)
	var env []string
	if cache > 0 {
		env = append(env, "CERTFLOW_WORKFLOW_CACHE_SIZE="+strconv.Itoa(cache))
	}
	c, err := cluster.Start(ctx, cluster.Options{
		Dir: dir, PGDir: dir + "-pg", Bin: bin, WorkerBin: workerBin, Ports: cluster.Ports{Base: 25432}, Workers: 1,
		WorkerEnv: env, Emulators: devstack.Options{AllowPlaintext: true},
	})
	if err != nil {
		return f, err
	}
	defer os.RemoveAll(dir + "-pg")
	defer c.Stop()

	began := time.Now()
	t := measure(n, 50, func(i int) error {
		_, err := c.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("waiting-%d", i), TaskQueue: "certflow"},
			contract.UniversignRegistrationName, contract.UniversignRegistrationInput{
				Registration: universign.CreateRegistration{Applicant: fmt.Sprintf("waiting%d@example.com", i), Level: "qcp"},
				PollInterval: contract.Duration(time.Hour),
			})
		return err
	})
	if err := t.err("starts"); err != nil {
		return f, err
	}
	// Waiting: every registration created, and the worker idle again.
	if err := poll(ctx, 15*time.Minute, func() (bool, error) { return c.Emulators.Universign.Emulator.Stats().Creates >= int64(n), nil }); err != nil {
		return f, err
	}
	f.settled = time.Since(began)
	time.Sleep(15 * time.Second)
	cpuBefore := cpuSeconds(c.Workers[0].Pid())
	time.Sleep(idleWindow)
	idleCPU := cpuSeconds(c.Workers[0].Pid()) - cpuBefore

	m, err := scrape(c.WorkerURL(0) + "/metrics")
	if err != nil {
		return f, err
	}
	ended, err := c.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: "ExecutionStatus != 'Running'"})
	if err != nil {
		return f, err
	}
	f.ended, f.rssMB, f.heapMB = ended.GetCount(), m["process_resident_memory_bytes"]/1e6, m["go_memstats_heap_inuse_bytes"]/1e6
	f.goroutines, f.idleCPU = m["go_goroutines"], idleCPU
	return f, nil
}

// scrape reads the unlabelled samples of a Prometheus text page.
func scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			samples[name] = v
		}
	}
	return samples, sc.Err()
}
