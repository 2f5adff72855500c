// Command certflow-dev runs certflow's whole development stack on this
// machine: the Temporal dev server with its Web UI, the provider emulators
// and the worker, wired together. `make dev` runs it until Ctrl-C; `make
// demo` runs it with -demo, which carries one issuance end to end, prints
// the result and exits.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/logging"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
	"github.com/certflow/certflow/workflows"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "certflow-dev:", err)
		os.Exit(1)
	}
}

func run() error {
	demo := flag.Bool("demo", false, "run one Uanataca issuance end to end, print the result and exit")
	state := flag.String("state", ".dev", "folder for the dev PKI and logs")
	temporalPort := flag.Int("temporal-port", 7233, "Temporal gRPC port")
	uiPort := flag.Int("ui-port", 8233, "Temporal Web UI port")
	uanatacaAddr := flag.String("uanataca-addr", "127.0.0.1:8443", "Uanataca emulator address (mutual TLS)")
	httpAddr := flag.String("http-addr", "127.0.0.1:8080", "worker's webhook and health address")
	issueAfter := flag.Duration("issue-after", 5*time.Second, "emulator: delay before the simulated applicant completes issuance")
	input := flag.String("input", "examples/uanataca-issuance.json", "demo: the issuance input")
	flag.Parse()

	log, err := logging.New(os.Stderr, "info", "console")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*state, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	serverLog, err := os.Create(filepath.Join(*state, "temporal.log"))
	if err != nil {
		return err
	}
	defer serverLog.Close()
	fmt.Fprintf(os.Stderr, "starting the Temporal dev server (logs in %s)…\n", serverLog.Name())
	temporal, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Port: *temporalPort, UIPort: *uiPort, Output: serverLog})
	if err != nil {
		return err
	}
	defer temporal.Stop()

	stack, err := devstack.Start(ctx, devstack.Options{
		TemporalAddress: temporal.Address, PKIDir: filepath.Join(*state, "pki"),
		UanatacaAddr: *uanatacaAddr, HTTPAddr: *httpAddr, WebUIURL: temporal.UIURL, Log: log,
		Uanataca: uasandbox.Options{RAs: map[string]int{"121": 1000}, IssueAfter: *issueAfter},
	})
	if err != nil {
		return err
	}
	defer stack.Close()

	fmt.Fprintf(os.Stderr, `
certflow dev stack is up:
  Temporal Web UI   %s
  Temporal gRPC     %s          (TEMPORAL_ADDRESS)
  Uanataca emulator %s  (mutual TLS; PKI in %s)
  webhooks          %s
  task queue        %s

Start an issuance from another terminal:
  TEMPORAL_ADDRESS=%s go run ./cmd/certflow start uanataca -f examples/uanataca-issuance.json --wait

`, temporal.UIURL, temporal.Address, stack.Uanataca.URL, filepath.Join(*state, "pki"), stack.WebhookURL, stack.Config.TaskQueue, temporal.Address)

	if *demo {
		return runDemo(ctx, stack, *input, temporal.UIURL)
	}
	fmt.Fprintln(os.Stderr, "Ctrl-C stops everything.")
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping…")
	return nil
}

// runDemo carries one issuance from start to ISSUED through the emulator's
// webhooks and prints the result.
func runDemo(ctx context.Context, stack *devstack.Stack, inputFile, uiURL string) error {
	raw, err := os.ReadFile(inputFile)
	if err != nil {
		return err
	}
	var in workflows.UanatacaIssuanceInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("%s: %w", inputFile, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	id := fmt.Sprintf("uanataca-demo-%d", time.Now().UnixNano())
	run, err := stack.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: stack.Config.TaskQueue, StaticSummary: "certflow demo issuance",
	}, workflows.UanatacaIssuanceName, in)
	if err != nil {
		return err
	}
	link := fmt.Sprintf("%s/namespaces/default/workflows/%s", uiURL, id)
	fmt.Fprintf(os.Stderr, "demo: started %s\ndemo: follow it at %s\n", id, link)
	var res workflows.UanatacaIssuanceResult
	if err := run.Get(ctx, &res); err != nil {
		return fmt.Errorf("demo issuance %s failed: %w", id, err)
	}
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Printf("%s\n", out)
	stats := stack.Uanataca.Emulator.Stats()
	fmt.Fprintf(os.Stderr, "demo: request %d is %s; the emulator sent %d webhooks\ndemo: %s\n", res.PK, res.Status, stats.WebhooksSent, link)
	if res.Status != "ISSUED" {
		return fmt.Errorf("demo ended with status %s, want ISSUED", res.Status)
	}
	return nil
}
