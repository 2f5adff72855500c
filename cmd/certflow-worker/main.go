// Command certflow-worker runs the certflow worker: it polls the task
// queue for certflow's workflows and activities and serves the webhook and
// health endpoints. All settings come from the environment (README,
// "Configuration"); it stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/internal/logging"
	"github.com/certflow/certflow/internal/metrics"
	"github.com/certflow/certflow/internal/payloadstore"
	"github.com/certflow/certflow/worker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "certflow-worker:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.LoadWorker()
	if err != nil {
		return err
	}
	log, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := metrics.New(log)
	if err != nil {
		return err
	}
	cd, err := codec.FromKeys(cfg.Codec.Keys, cfg.Codec.KeyFile)
	if err != nil {
		return err
	}
	if err := worker.CheckCodec(cfg.Codec, cd); err != nil {
		return err
	}
	store, err := payloadstore.Open(cfg.PayloadStore)
	if err != nil {
		return err
	}
	if store != nil {
		log.Info().Stringer("payload_store", store).Msg("payloads too big for history go to the payload store")
	} else {
		log.Info().Msg("no payload store (CERTFLOW_PAYLOAD_STORE): workflow inputs above Temporal's 2 MB payload limit, such as real-size document scans, are refused")
	}
	// Process-wide, so set here, before any worker starts.
	sdkworker.SetStickyWorkflowCacheSize(cfg.WorkflowCacheSize)
	c, err := worker.Dial(log, m, worker.ClientCodec(cfg.Codec, cd), store)
	if err != nil {
		return err
	}
	defer c.Close()
	w, err := worker.New(cfg, c, log, m, cd, store)
	if err != nil {
		return err
	}
	return w.Run(ctx, nil)
}
