// Command certflow is the CLI for certflow's workflows: start an issuance,
// list and follow workflows, cancel one, replay a lost webhook to it, export
// its history for replay tests. Run `certflow help` for the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"go.temporal.io/sdk/client"
	tenv "go.temporal.io/sdk/contrib/envconfig"

	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/internal/logging"
	"github.com/certflow/certflow/internal/payloadstore"
	"github.com/certflow/certflow/starter"
	"github.com/certflow/certflow/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx)
	stop()
	os.Exit(code)
}

func run(ctx context.Context) int {
	cfg, err := config.LoadCommon()
	if err != nil {
		fmt.Fprintln(os.Stderr, "certflow:", err)
		return starter.ExitUsage
	}
	// The CLI's own output is its result; the SDK's logs go to stderr at
	// warn unless LOG_LEVEL asks for more.
	if os.Getenv("LOG_LEVEL") == "" {
		cfg.Log.Level = "warn"
	}
	log, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		fmt.Fprintln(os.Stderr, "certflow:", err)
		return starter.ExitUsage
	}
	opts, err := tenv.LoadDefaultClientOptions()
	if err != nil {
		fmt.Fprintln(os.Stderr, "certflow: reading the TEMPORAL_* settings:", err)
		return starter.ExitUsage
	}
	wd, _ := os.Getwd()
	if cfg.Codec.Keys == "" && cfg.Codec.KeyFile == "" {
		// No key given: the dev stack's, when Temporal is the local one.
		cfg.Codec.KeyFile = starter.DevKeyFile(opts.HostPort, wd)
	}
	cd, err := codec.FromKeys(cfg.Codec.Keys, cfg.Codec.KeyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "certflow:", err)
		return starter.ExitUsage
	}
	if cfg.PayloadStore.URL == "" {
		// No store given: the dev stack's, likewise.
		cfg.PayloadStore.URL = starter.DevPayloadStore(opts.HostPort, wd)
	}
	store, err := payloadstore.Open(cfg.PayloadStore)
	if err != nil {
		fmt.Fprintln(os.Stderr, "certflow:", err)
		return starter.ExitUsage
	}
	cli := &starter.CLI{
		Out: os.Stdout, Err: os.Stderr, Config: cfg, Namespace: opts.Namespace, Encrypted: cd != nil,
		Dial: func() (client.Client, error) { return worker.Dial(log, nil, cd, store) },
	}
	return cli.Run(ctx, os.Args[1:])
}
