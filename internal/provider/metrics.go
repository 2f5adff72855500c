package provider

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Provider call metrics, recorded for every client in HTTP.Do through
// OpenTelemetry's global meter provider (set by the worker's metrics
// pipeline; a no-op elsewhere), so operators see each provider's latency
// and errors by operation without any client knowing about metrics.
var (
	callDuration metric.Float64Histogram
	callErrors   metric.Int64Counter
)

func init() {
	meter := otel.Meter("certflow/provider")
	callDuration, _ = meter.Float64Histogram("certflow_provider_call_duration_seconds",
		metric.WithDescription("Provider API call latency, by provider, operation and outcome"), metric.WithUnit("s"))
	callErrors, _ = meter.Int64Counter("certflow_provider_call_errors",
		metric.WithDescription("Provider API calls that failed, by provider, operation and HTTP status (0: no answer)"))
}

// observe records one call: its latency, and its error with the status.
func observe(ctx context.Context, provider, op string, began time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	attrs := []attribute.KeyValue{attribute.String("provider", provider), attribute.String("operation", op)}
	callDuration.Record(ctx, time.Since(began).Seconds(), metric.WithAttributes(append(attrs, attribute.String("outcome", outcome))...))
	if err != nil {
		status := 0
		var pe *Error
		if errors.As(err, &pe) {
			status = pe.StatusCode
		}
		callErrors.Add(ctx, 1, metric.WithAttributes(append(attrs, attribute.String("status", strconv.Itoa(status)))...))
	}
}
