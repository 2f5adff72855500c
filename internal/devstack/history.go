package devstack

import (
	"context"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// HistorySize is what one workflow run weighs in Temporal's history, as
// the server returns it (payloads kept in a payload store count as their
// references, which is what history holds).
type HistorySize struct {
	Events int
	// Bytes is the size of every event, protobuf-encoded.
	Bytes int
	// PayloadBytes is the size of every payload in the events.
	PayloadBytes int
	// WorkflowInput is the size of the workflow's input payloads (the
	// started event's), ActivityInputs that of each activity type's
	// scheduled inputs, all of its schedulings together.
	WorkflowInput  int
	ActivityInputs map[string]int
	// References counts the payloads history holds as references to a
	// payload store; StoredBytes is their size in the store.
	References  int
	StoredBytes int64
}

// MeasureHistory reads workflow id's latest run's history and weighs it.
func MeasureHistory(ctx context.Context, c client.Client, id string) (HistorySize, error) {
	h := HistorySize{ActivityInputs: map[string]int{}}
	it := c.GetWorkflowHistory(ctx, id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return h, fmt.Errorf("reading the history of %s: %w", id, err)
		}
		h.Events++
		h.Bytes += proto.Size(e)
		payloads := 0
		err = proxy.VisitPayloads(ctx, e, proxy.VisitPayloadsOptions{
			Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
				for _, p := range ps {
					payloads += proto.Size(p)
					if isReference(p) {
						h.References++
						for _, x := range p.GetExternalPayloads() {
							h.StoredBytes += x.GetSizeBytes()
						}
					}
				}
				return ps, nil
			},
		})
		if err != nil {
			return h, err
		}
		h.PayloadBytes += payloads
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			h.WorkflowInput += sizeOf(a.GetInput())
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			h.ActivityInputs[a.GetActivityType().GetName()] += sizeOf(a.GetInput())
		}
	}
	return h, nil
}

func sizeOf(ps *commonpb.Payloads) int {
	n := 0
	for _, p := range ps.GetPayloads() {
		n += proto.Size(p)
	}
	return n
}

// isReference reports whether p is the SDK's reference to a payload kept
// in external storage (converter.ExternalStorage).
func isReference(p *commonpb.Payload) bool {
	return string(p.GetMetadata()[converter.MetadataEncoding]) == converter.MetadataEncodingProtoJSON &&
		string(p.GetMetadata()[converter.MetadataMessageType]) == "temporal.api.sdk.v1.ExternalStorageReference"
}
