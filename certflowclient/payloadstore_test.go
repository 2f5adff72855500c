package certflowclient

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certflow/certflow/contract"
)

// Without a payload store, an input larger than Temporal takes is refused
// before anything is sent, saying to configure the store; one that fits
// is sent; with the store, a large one is sent.
func TestStartTooLargeWithoutAStoreIsNotSent(t *testing.T) {
	big := contract.UanatacaIssuanceInput{Documents: []UanatacaDocument{{Type: "document_front", Filename: "f.jpg", Content: make([]byte, 2<<20)}}}
	small := contract.UanatacaIssuanceInput{Documents: []UanatacaDocument{{Type: "document_front", Filename: "f.jpg", Content: make([]byte, 1<<20)}}}
	tests := []struct {
		name   string
		store  bool
		in     contract.UanatacaIssuanceInput
		tooBig bool
	}{
		{"large without a store", false, big, true},
		{"small without a store", false, small, false},
		{"large with the store", true, big, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTemporal{result: "{}"}
			_, err := New(f, Options{PayloadStore: tt.store}).StartUanatacaIssuance(context.Background(), "", tt.in)
			if errors.Is(err, ErrInputTooLarge) != tt.tooBig || (err != nil) != tt.tooBig {
				t.Fatalf("error %v, want ErrInputTooLarge: %v", err, tt.tooBig)
			}
			if sent := f.workflowType != nil; sent == tt.tooBig {
				t.Fatalf("sent: %v; an input too large must not be, any other must", sent)
			}
			if tt.tooBig && !strings.Contains(err.Error(), "CERTFLOW_PAYLOAD_STORE") {
				t.Errorf("error %v does not say what to configure", err)
			}
			// Workflow tasks that decode MBs of scans get more than
			// Temporal's 10 s.
			if want := map[bool]time.Duration{true: 30 * time.Second}[len(tt.in.Documents[0].Content) > 1<<20]; !tt.tooBig && f.opts.WorkflowTaskTimeout != want {
				t.Errorf("workflow task timeout %s, want %s", f.opts.WorkflowTaskTimeout, want)
			}
		})
	}
}

// Temporal's refusals of an oversized input — the server's blob limit
// (2 MB) and gRPC's message limit (4 MB), for a client that says it has
// the store but whose Temporal client has none — say to configure the
// payload store; other refusals stay as they are.
func TestStartTooLargeSaysToConfigureTheStore(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		tooBig  bool
		mention string
	}{
		{"blob limit", serviceerror.NewInvalidArgument("Blob data size exceeds limit."), true, "CERTFLOW_PAYLOAD_STORE"},
		{"gRPC limit", status.Error(codes.ResourceExhausted, "grpc: received message after decompression larger than max 4194304"), true, "CERTFLOW_PAYLOAD_STORE"},
		{"another invalid argument", serviceerror.NewInvalidArgument("WorkflowId is not set on request."), false, "WorkflowId"},
		{"rate limited", status.Error(codes.ResourceExhausted, "namespace rate limit exceeded"), false, "rate limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(&fakeTemporal{startErr: tt.err}, Options{PayloadStore: true})
			in := contract.UanatacaIssuanceInput{Documents: []UanatacaDocument{{Type: "document_front", Filename: "f.jpg", Content: make([]byte, 3<<20)}}}
			_, err := c.StartUanatacaIssuance(context.Background(), "", in)
			if errors.Is(err, ErrInputTooLarge) != tt.tooBig || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %v: want ErrInputTooLarge %v, mentioning %s", err, tt.tooBig, tt.mention)
			}
			if tt.tooBig && !strings.Contains(err.Error(), "4.0 MiB as JSON") {
				t.Errorf("error %v does not say how large the input was", err)
			}
		})
	}
}

func TestPayloadStoreSettings(t *testing.T) {
	if es, err := PayloadStore(PayloadStoreSettings{}); err != nil || len(es.Drivers) != 0 {
		t.Fatalf("no settings: %+v, %v; want no store", es, err)
	}
	dir := t.TempDir()
	es, err := PayloadStore(PayloadStoreSettings{URL: "file://" + dir})
	if err != nil || len(es.Drivers) != 1 || es.PayloadSizeThreshold != 256<<10 {
		t.Fatalf("file store: %+v, %v", es, err)
	}
	if _, err := PayloadStore(PayloadStoreSettings{URL: "s3://Bad_Bucket"}); err == nil || !strings.Contains(err.Error(), "CERTFLOW_PAYLOAD_STORE") {
		t.Fatalf("bad URL: %v", err)
	}
	t.Setenv("CERTFLOW_PAYLOAD_STORE", "file://"+dir)
	t.Setenv("CERTFLOW_PAYLOAD_STORE_THRESHOLD", "512KiB")
	if es, err := PayloadStoreFromEnv(); err != nil || len(es.Drivers) != 1 || es.PayloadSizeThreshold != 512<<10 {
		t.Fatalf("from the environment: %+v, %v", es, err)
	}
}
