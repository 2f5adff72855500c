// Command certflow-dev runs certflow's whole development stack on this
// machine: the Temporal dev server with its Web UI, the provider emulators
// and the worker, wired together. `make dev` runs it until Ctrl-C; `make
// demo` runs it with -demo, which carries one workflow of each kind end to
// end, prints the results and exits.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/logging"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "certflow-dev:", err)
		os.Exit(1)
	}
}

func run() error {
	demo := flag.Bool("demo", false, "run one workflow of each kind end to end, print the results and exit")
	state := flag.String("state", codec.DevStateDir, "folder for the dev PKI, payload key, payload store and logs")
	temporalPort := flag.Int("temporal-port", 7233, "Temporal gRPC port")
	uiPort := flag.Int("ui-port", 8233, "Temporal Web UI port")
	uanatacaAddr := flag.String("uanataca-addr", "127.0.0.1:8443", "Uanataca emulator address (mutual TLS)")
	universignAddr := flag.String("universign-addr", "127.0.0.1:8444", "Universign emulator address")
	masstackAddr := flag.String("masstack-addr", "127.0.0.1:8445", "MasStack emulator address (API and token endpoint)")
	humanosAddr := flag.String("humanos-addr", "127.0.0.1:8446", "Humanos emulator address")
	httpAddr := flag.String("http-addr", "127.0.0.1:8080", "worker's webhook and health address")
	issueAfter := flag.Duration("issue-after", 5*time.Second, "emulators: delay before the simulated person completes (issuance, registration, identification)")
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
	keyFile, err := filepath.Abs(filepath.Join(*state, codec.DevKeysName))
	if err != nil {
		return err
	}
	keys, err := codec.DevKeys(keyFile)
	if err != nil {
		return err
	}
	temporal, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{
		Port: *temporalPort, UIPort: *uiPort, Output: serverLog,
		UICodecEndpoint: "http://" + *httpAddr + "/codec",
	})
	if err != nil {
		return err
	}
	defer temporal.Stop()

	opts := devstack.Simulated(*issueAfter)
	opts.TemporalAddress, opts.PKIDir = temporal.Address, filepath.Join(*state, "pki")
	opts.UanatacaAddr, opts.UniversignAddr, opts.MasStackAddr, opts.HumanosAddr = *uanatacaAddr, *universignAddr, *masstackAddr, *humanosAddr
	opts.HTTPAddr, opts.WebUIURL, opts.Log, opts.CodecKeys = *httpAddr, temporal.UIURL, log, keys
	stack, err := devstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer stack.Close()

	fmt.Fprintf(os.Stderr, `
certflow dev stack is up:
  Temporal Web UI   %s  (payloads encrypted; the UI decodes them through the worker's /codec)
  Temporal gRPC     %s          (TEMPORAL_ADDRESS)
  Uanataca emulator %s  (mutual TLS; PKI in %s)
  Universign        %s  (API key %s)
  MasStack          %s  (token endpoint %s)
  Humanos           %s  (signed, encrypted webhooks)
  webhooks          %s
  task queue        %s
  payload store     %s

Start workflows from another terminal (certflow finds the dev key and
payload store by itself in this checkout; elsewhere, export them too):
  export TEMPORAL_ADDRESS=%s CERTFLOW_CODEC_KEY_FILE=%s CERTFLOW_PAYLOAD_STORE=%s
  go run ./cmd/certflow start uanataca -f examples/uanataca-issuance.json --wait
  go run ./cmd/certflow start universign -f examples/universign-registration.json -poll-interval 5s --wait
  go run ./cmd/certflow start masstack -f examples/masstack-identification.json -poll-interval 5s --wait
  go run ./cmd/certflow start humanos -f examples/humanos-request.json --wait

`, temporal.UIURL, temporal.Address, stack.Uanataca.URL, filepath.Join(*state, "pki"),
		stack.Universign.URL, stack.Config.Universign.APIKey, stack.MasStack.URL, stack.MasStack.TokenURL, stack.Humanos.URL,
		stack.WebhookURL, stack.Config.TaskQueue, stack.PayloadStore, temporal.Address, keyFile, stack.Config.PayloadStore.URL)

	if *demo {
		return runDemo(ctx, stack, temporal.UIURL)
	}
	fmt.Fprintln(os.Stderr, "Ctrl-C stops everything.")
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping…")
	return nil
}

// demo is one workflow of the demo: its input file, and the provider
// status it must end in.
type demo struct {
	workflowType, input, want string
	in                        any
	poll                      *contract.Duration
	status                    func() string
	result                    any
}

// runDemo carries one workflow of each kind from start to success through
// the emulators, at once, and prints the results. Polling is shortened to
// a second for the providers learned only by polling, so they finish
// within the demo; Uanataca and Humanos finish through their webhooks.
func runDemo(ctx context.Context, stack *devstack.Stack, uiURL string) error {
	var (
		ua    contract.UanatacaIssuanceInput
		us    contract.UniversignRegistrationInput
		ms    contract.MasStackIdentificationInput
		hu    contract.HumanosRequestInput
		uaRes contract.UanatacaIssuanceResult
		usRes contract.UniversignRegistrationResult
		msRes contract.MasStackIdentificationResult
		huRes contract.HumanosRequestResult
	)
	demos := []demo{
		{contract.UanatacaIssuanceName, "examples/uanataca-issuance.json", "ISSUED", &ua, nil, func() string { return uaRes.Status }, &uaRes},
		{contract.UniversignRegistrationName, "examples/universign-registration.json", "completed", &us, &us.PollInterval, func() string { return usRes.State }, &usRes},
		{contract.MasStackIdentificationName, "examples/masstack-identification.json", "COMPLETED", &ms, &ms.PollInterval, func() string { return msRes.Status }, &msRes},
		{contract.HumanosRequestName, "examples/humanos-request.json", "ACCEPTED", &hu, nil, func() string { return huRes.Outcome }, &huRes},
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	errs := make([]error, len(demos))
	var wg sync.WaitGroup
	for i, d := range demos {
		raw, err := os.ReadFile(d.input)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, d.in); err != nil {
			return fmt.Errorf("%s: %w", d.input, err)
		}
		if d.poll != nil {
			*d.poll = contract.Duration(time.Second)
		}
		id := fmt.Sprintf("demo-%s-%d", d.workflowType, time.Now().UnixNano())
		run, err := stack.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: stack.Config.TaskQueue, StaticSummary: "certflow demo: " + d.workflowType,
		}, d.workflowType, d.in)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "demo: started %s — %s/namespaces/default/workflows/%s\n", d.workflowType, uiURL, id)
		wg.Go(func() { errs[i] = run.Get(ctx, d.result) })
	}
	wg.Wait()
	for i, d := range demos {
		if errs[i] != nil {
			return fmt.Errorf("demo %s failed: %w", d.workflowType, errs[i])
		}
		out, _ := json.MarshalIndent(d.result, "", "  ")
		fmt.Printf("%s:\n%s\n", d.workflowType, out)
		if got := d.status(); got != d.want {
			return fmt.Errorf("demo %s ended %s, want %s", d.workflowType, got, d.want)
		}
	}
	fmt.Fprintf(os.Stderr, "demo: all four workflows succeeded; webhooks sent: Uanataca %d, Humanos %d\n",
		stack.Uanataca.Emulator.Stats().WebhooksSent, stack.Humanos.Emulator.Stats().WebhooksSent)
	return nil
}
