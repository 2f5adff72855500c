// Package metrics exposes certflow's metrics for Prometheus: the Temporal
// SDK's own (through go.temporal.io/sdk/contrib/opentelemetry) and those
// workflows record with workflow.GetMetricsHandler (scratchcard pool
// levels, pool exhaustion), all through one OpenTelemetry meter provider
// whose Prometheus exporter the worker serves on GET /metrics.
package metrics

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Metrics is the process's metrics pipeline. There is one per process:
// certflow's own instruments bind to OpenTelemetry's global meter provider
// once, so every worker in the process (the dev stack and the tests run
// several) shares it.
type Metrics struct {
	registry *prometheus.Registry
	// Temporal is the handler to give the Temporal client
	// (client.Options.MetricsHandler).
	Temporal client.MetricsHandler
}

var (
	once    sync.Once
	shared  *Metrics
	initErr error
)

// New returns the process's pipeline, building it on first use. Metric
// errors are logged, never fatal: a broken gauge must not stop an issuance.
func New(log zerolog.Logger) (*Metrics, error) {
	once.Do(func() { shared, initErr = build(log) })
	return shared, initErr
}

func build(log zerolog.Logger) (*Metrics, error) {
	registry := prometheus.NewRegistry()
	// The process's memory and CPU (process_resident_memory_bytes,
	// go_memstats_heap_inuse_bytes, …), which a worker holding thousands
	// of waiting workflows is sized by.
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	// certflow's own instruments (provider calls, webhooks) use the global
	// meter provider, so packages record without being handed a meter.
	otel.SetMeterProvider(provider)
	return &Metrics{
		registry: registry,
		Temporal: temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
			Meter:                provider.Meter("certflow"),
			UseMonotonicCounters: true,
			OnError:              func(err error) { log.Warn().Err(err).Msg("recording a metric failed") },
		}),
	}, nil
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
