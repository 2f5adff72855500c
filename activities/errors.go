// Package activities is the only seam between certflow's durable workflows
// and the provider clients: it adapts client calls to Temporal (error
// mapping, idempotency, heartbeats). Workflows never do I/O; provider
// clients never import Temporal.
package activities

import (
	"errors"
	"net/http"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/validate"
)

// Stable error types carried by the non-retryable ApplicationErrors that
// activities return. Workflows and callers match on these names; never
// rename one.
const (
	ErrTypeBadRequest             = "ProviderBadRequest"         // 400, 413, 415, 422: the request itself is wrong
	ErrTypeUnauthorized           = "ProviderUnauthorized"       // 401: credentials missing or rejected
	ErrTypeForbidden              = "ProviderForbidden"          // 403: credentials lack a permission
	ErrTypeNotFound               = "ProviderNotFound"           // 404
	ErrTypeConflict               = "ProviderConflict"           // 409
	ErrTypeWrongState             = "ProviderWrongState"         // 412: not allowed in the resource's current state
	ErrTypeRateLimited            = "ProviderRateLimited"        // 429 (retryable)
	ErrTypeUnavailable            = "ProviderUnavailable"        // 5xx (retryable)
	ErrTypeNotFinal               = "ProviderNotFinal"           // polling: not in a final state yet (retryable)
	ErrTypeScratchcardUnavailable = "ScratchcardUnavailable"     // the reserved card was taken by another request
	ErrTypeInvalidInput           = contract.ErrTypeInvalidInput // a client refused the input before any call
)

// nonRetryable maps the HTTP statuses that no retry can fix to their types.
var nonRetryable = map[int]string{
	http.StatusBadRequest:           ErrTypeBadRequest,
	http.StatusUnauthorized:         ErrTypeUnauthorized,
	http.StatusForbidden:            ErrTypeForbidden,
	http.StatusNotFound:             ErrTypeNotFound,
	http.StatusConflict:             ErrTypeConflict,
	http.StatusPreconditionFailed:   ErrTypeWrongState,
	http.StatusUnsupportedMediaType: ErrTypeBadRequest,
	// A body too large (a document scan above what the provider, or a
	// proxy in front of it, takes) is as large on every retry.
	http.StatusRequestEntityTooLarge: ErrTypeBadRequest,
	http.StatusUnprocessableEntity:   ErrTypeBadRequest,
}

// mapError turns a provider client error into the error Temporal should see.
// It is the one place that decides what is retried:
//   - input a client refused before any call (*validate.Error): non-retryable
//     InvalidInput;
//   - 400/401/403/404/409/412/415/422: non-retryable, with a stable type;
//   - 429: retryable, after the provider's Retry-After when it gave one;
//   - 5xx and any other status: retryable with the activity's backoff;
//   - transport errors (timeouts, refused connections): returned as they
//     are, which Temporal retries with backoff.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var invalid *validate.Error
	if errors.As(err, &invalid) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return err
	}
	if typ, ok := nonRetryable[pe.StatusCode]; ok {
		return temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
	}
	if pe.StatusCode == http.StatusTooManyRequests {
		return temporal.NewApplicationErrorWithOptions(err.Error(), ErrTypeRateLimited,
			temporal.ApplicationErrorOptions{NextRetryDelay: pe.RetryAfter})
	}
	return temporal.NewApplicationError(err.Error(), ErrTypeUnavailable)
}

// notFinal is a polling activity's answer while the provider's state is
// not final: retryable, so the retry policy schedules the next poll, and
// benign, so the SDK neither logs it as an error nor counts it as a failure.
func notFinal(what string) error {
	return temporal.NewApplicationErrorWithOptions(what+", not final yet; polling again", ErrTypeNotFinal,
		temporal.ApplicationErrorOptions{Category: temporal.ApplicationErrorCategoryBenign})
}

// What a provider's answer means is read here: mapError for Temporal's
// retries, and the predicates below for most answers an activity acts on
// itself (the approval's 412 and a fill's 404 are read where acted on).

// alreadyFinal reports whether a cancel call's error means the resource is
// already gone (404), already final (409) or in a state that forbids it
// (412): the compensation has nothing left to do but read and report.
func alreadyFinal(err error) bool {
	switch provider.StatusOf(err) {
	case http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed:
		return true
	}
	return false
}

// retryable reports whether a retry may fix err, as mapError decides it.
func retryable(err error) bool {
	var appErr *temporal.ApplicationError
	return !errors.As(mapError(err), &appErr) || !appErr.NonRetryable()
}

// invalidScratchcard recognises the RA's answer to a create with a used or
// unknown card: HTTP 500 "Invalid ScratchCard".
func invalidScratchcard(err error) bool {
	var pe *provider.Error
	return errors.As(err, &pe) && pe.StatusCode == http.StatusInternalServerError &&
		strings.Contains(strings.ToLower(pe.Message), "invalid scratchcard")
}

// refused reports whether a create's error says the provider made nothing:
// input refused before any call, or a 4xx answer (429 included). A 5xx is
// not a refusal: a provider, or a gateway in front of it, may answer one
// after the object was stored.
func refused(err error) bool {
	var invalid *validate.Error
	var pe *provider.Error
	return errors.As(err, &invalid) || (errors.As(err, &pe) && pe.StatusCode < 500)
}
