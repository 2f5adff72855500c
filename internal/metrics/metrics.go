// Package metrics exposes certflow's metrics for Prometheus: the Temporal
// SDK's own (through go.temporal.io/sdk/contrib/opentelemetry) and those
// workflows record with workflow.GetMetricsHandler (scratchcard pool
// levels, pool exhaustion), all through one OpenTelemetry meter provider
// whose Prometheus exporter the worker serves on GET /metrics.
package metrics

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Metrics is one process's metrics pipeline.
type Metrics struct {
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	// Temporal is the handler to give the Temporal client
	// (client.Options.MetricsHandler).
	Temporal client.MetricsHandler
}

// New builds the pipeline. Metric errors are logged, never fatal: a
// broken gauge must not stop an issuance.
func New(log zerolog.Logger) (*Metrics, error) {
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	return &Metrics{
		registry: registry,
		provider: provider,
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

// Shutdown flushes and stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.provider.Shutdown(ctx) }
