package webhook

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Webhook metrics, through OpenTelemetry's global meter provider (the
// worker's metrics pipeline): every webhook received, and every one
// rejected, by the reason an operator would alert on (a spike of
// "unauthenticated" is an attack or a rotated secret; "unknown_reference"
// a misrouted RA).
var (
	webhooksReceived   metric.Int64Counter
	webhooksRejected   metric.Int64Counter
	webhooksDuplicates metric.Int64Counter
)

func init() {
	meter := otel.Meter("certflow/webhook")
	webhooksReceived, _ = meter.Int64Counter("certflow_webhooks_received", metric.WithDescription("Webhooks received, by provider"))
	webhooksRejected, _ = meter.Int64Counter("certflow_webhooks_rejected", metric.WithDescription("Webhooks not accepted, by provider and reason"))
	webhooksDuplicates, _ = meter.Int64Counter("certflow_webhooks_duplicates",
		metric.WithDescription("Webhooks answered 200 without a signal: repeats of a status the workflow had confirmed, by provider"))
}

// rejectReasons names the answers that refuse a webhook.
var rejectReasons = map[int]string{
	http.StatusBadRequest:            "malformed",
	http.StatusUnauthorized:          "unauthenticated",
	http.StatusForbidden:             "source_not_allowed",
	http.StatusNotFound:              "unknown_reference",
	http.StatusGone:                  "workflow_ended",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType:  "not_json",
	http.StatusServiceUnavailable:    "temporal_unavailable",
}

// count records one answered webhook; duplicate marks a 200 given without
// a signal.
func count(ctx context.Context, provider string, status int, duplicate bool) {
	p := attribute.String("provider", provider)
	webhooksReceived.Add(ctx, 1, metric.WithAttributes(p))
	if duplicate {
		webhooksDuplicates.Add(ctx, 1, metric.WithAttributes(p))
	}
	if status != http.StatusOK {
		reason, ok := rejectReasons[status]
		if !ok {
			reason = "other"
		}
		webhooksRejected.Add(ctx, 1, metric.WithAttributes(p, attribute.String("reason", reason)))
	}
}
