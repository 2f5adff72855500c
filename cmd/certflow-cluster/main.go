// Command certflow-cluster runs certflow in its production shape on this
// machine until Ctrl-C: PostgreSQL, the Temporal server on it (persistence
// and SQL visibility), the Web UI, the provider emulators, two worker
// processes and a webhook ingress process. `make cluster` builds what it
// needs and runs it; `make dev` stays the quick, embedded default.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/certflow/certflow/internal/cluster"
	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/devstack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "certflow-cluster:", err)
		os.Exit(1)
	}
}

func run() error {
	state := flag.String("state", ".cluster", "folder for configuration, logs, the dev PKI and the payload key")
	bin := flag.String("bin", ".tools/cluster/bin", "folder of temporal-server, temporal-sql-tool and temporal-ui (make cluster-tools)")
	workerBin := flag.String("worker-bin", ".tools/bin/certflow-worker", "the certflow worker binary")
	basePort := flag.Int("base-port", 19432, "PostgreSQL's port; the others follow it (frontend +1, UI +48, ingress +20, workers +21, +22)")
	workers := flag.Int("workers", 2, "worker processes")
	issueAfter := flag.Duration("issue-after", 5*time.Second, "emulators: delay before the simulated person completes")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(*state, 0o755); err != nil {
		return err
	}
	keys, err := codec.DevKeys(filepath.Join(*state, codec.DevKeysName))
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "starting PostgreSQL, the Temporal server, the emulators and certflow's processes…")
	c, err := cluster.Start(ctx, cluster.Options{
		Dir: *state, Bin: *bin, WorkerBin: *workerBin, Ports: cluster.Ports{Base: *basePort}, Workers: *workers, CodecKeys: keys,
		Emulators: devstack.Simulated(*issueAfter),
	})
	if err != nil {
		return err
	}
	ui := c.UIURL
	if ui == "" {
		ui = "(not built: make cluster-tools)"
	}
	keyFile, _ := filepath.Abs(filepath.Join(*state, codec.DevKeysName))
	fmt.Fprintf(os.Stderr, `
certflow cluster is up (logs in %s):
  PostgreSQL        127.0.0.1:%d  (data in %s)
  Temporal server   %s  (persistence and SQL visibility on PostgreSQL)
  Temporal Web UI   %s
  Uanataca emulator %s
  Universign        %s
  MasStack          %s
  Humanos           %s
  ingress           %s/webhooks/…  (CERTFLOW_MODE=ingress)
  workers           %d processes (CERTFLOW_MODE=worker), health on %s …

Start workflows from another terminal:
  export TEMPORAL_ADDRESS=%s CERTFLOW_CODEC_KEY_FILE=%s
  go run ./cmd/certflow start uanataca -f examples/uanataca-issuance.json --wait

Ctrl-C stops everything.
`, filepath.Join(*state, "logs"), *basePort, c.Postgres.Dir, c.Address, ui,
		c.Emulators.Uanataca.URL, c.Emulators.Universign.URL, c.Emulators.MasStack.URL, c.Emulators.Humanos.URL,
		c.IngressURL(), len(c.Workers), c.WorkerURL(0), c.Address, keyFile)
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping…")
	return c.Stop()
}
