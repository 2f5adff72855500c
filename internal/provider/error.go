// Package provider holds what every provider client shares: the typed error a
// client returns for an unsuccessful HTTP exchange. Activities map this one
// type to Temporal errors in one place (activities/errors.go), so a new
// provider client only has to fill it in.
package provider

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error is an HTTP exchange with a provider that did not succeed: the
// provider answered with a non-2xx status. Transport failures (timeouts,
// refused connections) are returned as the underlying net error instead, and
// activities treat them as retryable.
type Error struct {
	// Provider is the provider's short name, e.g. "uanataca".
	Provider string
	// Operation names the client call, e.g. "create_request".
	Operation string
	// StatusCode is the HTTP status the provider answered with.
	StatusCode int
	// Code is the provider's own error code, when its body carries one.
	Code string
	// ID is the provider's identifier for this error occurrence, when given;
	// quote it to the provider's support.
	ID string
	// Message is the provider's human-readable explanation.
	Message string
	// RetryAfter is the delay the provider asked for (Retry-After), or zero.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Provider, e.Operation, e.StatusCode)
	if e.Code != "" {
		msg += " code " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.ID != "" {
		msg += " (error id " + e.ID + ")"
	}
	return msg
}

// StatusOf returns the HTTP status of a provider error in err's chain, or 0.
func StatusOf(err error) int {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.StatusCode
	}
	return 0
}

// ParseRetryAfter reads a Retry-After header value, either delay-seconds or
// an HTTP date, relative to now. It returns zero when the value is absent or
// unreadable, so callers fall back to their own backoff.
func ParseRetryAfter(value string, now time.Time) time.Duration {
	if value == "" {
		return 0
	}
	if secs, err := strconv.Atoi(value); err == nil && secs >= 0 {
		return min(time.Duration(min(secs, int(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(value); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// maxRetryAfter bounds an announced delay, so an absurd header (or an
// overflow) never parks a call for longer than a day.
const maxRetryAfter = 24 * time.Hour
