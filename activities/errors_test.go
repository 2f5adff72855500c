package activities

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/validate"
)

func TestMapError(t *testing.T) {
	transport := errors.New("dial tcp: connection refused")
	tests := []struct {
		name          string
		status        int
		retryAfter    time.Duration
		wantType      string
		wantRetryable bool
		wantDelay     time.Duration
	}{
		{"bad request", http.StatusBadRequest, 0, ErrTypeBadRequest, false, 0},
		{"unauthorized", http.StatusUnauthorized, 0, ErrTypeUnauthorized, false, 0},
		{"forbidden", http.StatusForbidden, 0, ErrTypeForbidden, false, 0},
		{"not found", http.StatusNotFound, 0, ErrTypeNotFound, false, 0},
		{"conflict", http.StatusConflict, 0, ErrTypeConflict, false, 0},
		{"wrong state", http.StatusPreconditionFailed, 0, ErrTypeWrongState, false, 0},
		{"unsupported media", http.StatusUnsupportedMediaType, 0, ErrTypeBadRequest, false, 0},
		{"body too large", http.StatusRequestEntityTooLarge, 0, ErrTypeBadRequest, false, 0},
		{"unprocessable", http.StatusUnprocessableEntity, 0, ErrTypeBadRequest, false, 0},
		{"rate limited with Retry-After", http.StatusTooManyRequests, 7 * time.Second, ErrTypeRateLimited, true, 7 * time.Second},
		{"rate limited without Retry-After", http.StatusTooManyRequests, 0, ErrTypeRateLimited, true, 0},
		{"server error", http.StatusInternalServerError, 0, ErrTypeUnavailable, true, 0},
		{"bad gateway", http.StatusBadGateway, 0, ErrTypeUnavailable, true, 0},
		{"unavailable", http.StatusServiceUnavailable, 0, ErrTypeUnavailable, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mapError(&provider.Error{Provider: "uanataca", Operation: "op", StatusCode: tt.status, RetryAfter: tt.retryAfter})
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) {
				t.Fatalf("mapError returned %T %v, want an ApplicationError", err, err)
			}
			if appErr.Type() != tt.wantType || appErr.NonRetryable() == tt.wantRetryable || appErr.NextRetryDelay() != tt.wantDelay {
				t.Fatalf("got type %s non-retryable %v delay %s; want %s retryable %v delay %s",
					appErr.Type(), appErr.NonRetryable(), appErr.NextRetryDelay(), tt.wantType, tt.wantRetryable, tt.wantDelay)
			}
		})
	}
	if got := mapError(transport); got != transport {
		t.Fatalf("a transport error must pass through for Temporal's retry, got %v", got)
	}
	invalid := validate.New("test")
	invalid.Add("field", "wrong")
	var appErr *temporal.ApplicationError
	if err := mapError(invalid.Err()); !errors.As(err, &appErr) || appErr.Type() != ErrTypeInvalidInput || !appErr.NonRetryable() {
		t.Fatalf("a validation error mapped to %v, want non-retryable %s", err, ErrTypeInvalidInput)
	}
	if mapError(nil) != nil {
		t.Fatal("mapError(nil) must be nil")
	}
}

func TestAlreadyFinal(t *testing.T) {
	for status, want := range map[int]bool{404: true, 409: true, 412: true, 400: false, 500: false, 0: false} {
		var err error = &provider.Error{StatusCode: status}
		if status == 0 {
			err = errors.New("timeout")
		}
		if got := alreadyFinal(err); got != want {
			t.Errorf("alreadyFinal(%d) = %v, want %v", status, got, want)
		}
	}
}
