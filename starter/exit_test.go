package starter

import (
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/certflowclient"
	"github.com/certflow/certflow/contract"
)

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"usage", usage("unknown command %q", "x"), ExitUsage},
		{"input needs the payload store", fmt.Errorf("starting UanatacaIssuance u: %w", certflowclient.ErrInputTooLarge), ExitUsage},
		{"already ended", fmt.Errorf("cancel: %w", &certflowclient.EndedError{ID: "w", Status: "Completed"}), ExitAlreadyEnded},
		{"not found", fmt.Errorf("reading workflow w: %w", serviceerror.NewNotFound("workflow not found")), ExitNotFound},
		{"invalid input", fmt.Errorf("workflow w failed: %w", temporal.NewNonRetryableApplicationError("given_name: required", contract.ErrTypeInvalidInput, nil)), ExitInvalidInput},
		{"dial failed", unreachableError{errors.New("connection refused")}, ExitUnreachable},
		{"server unavailable", fmt.Errorf("x: %w", serviceerror.NewUnavailable("down")), ExitUnreachable},
		{"other failure", temporal.NewNonRetryableApplicationError("ended REJECTED", contract.ErrTypeIdentificationRejected, nil), ExitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Fatalf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
