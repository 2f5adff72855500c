package activities

import (
	"context"

	"github.com/certflow/certflow/internal/provider/humanos"
)

// HumanosClient is what the request activities need from the Humanos
// client.
type HumanosClient interface {
	CreateRequest(ctx context.Context, r humanos.CreateRequest, idempotencyKey string) (humanos.Request, error)
	GetRequest(ctx context.Context, id string) (humanos.Request, error)
	CancelRequest(ctx context.Context, id string) error
}

// Humanos holds the activities of a Humanos request.
type Humanos struct {
	Client HumanosClient
}

// CreateHumanosInput is a request to create and the key that makes its
// creation idempotent.
type CreateHumanosInput struct {
	Request humanos.CreateRequest `json:"request"`
	// IdempotencyKey is derived by the workflow from its identity, so every
	// attempt, even after a worker restart, sends the same one: Humanos
	// answers a repeat with the request it already created.
	IdempotencyKey string `json:"idempotency_key"`
}

// CreateHumanosRequest creates the request exactly once.
func (a *Humanos) CreateHumanosRequest(ctx context.Context, in CreateHumanosInput) (humanos.Request, error) {
	r, err := a.Client.CreateRequest(ctx, in.Request, in.IdempotencyKey)
	return r, mapError(err)
}

// GetHumanosRequest reads the request's authoritative state.
func (a *Humanos) GetHumanosRequest(ctx context.Context, ref ObjectID) (humanos.Request, error) {
	r, err := a.Client.GetRequest(ctx, ref.ID)
	return r, mapError(err)
}

// AwaitHumanosRequest returns the request once it is over; until then its
// retry policy polls (the fallback for lost webhooks).
func (a *Humanos) AwaitHumanosRequest(ctx context.Context, ref ObjectID) (humanos.Request, error) {
	return pollUntilFinal("request "+ref.ID, func() (humanos.Request, error) { return a.GetHumanosRequest(ctx, ref) }, JudgeHumanos)
}

// CancelHumanosRequest cancels the request (irreversibly) and returns its
// final state; a request already cancelled or gone is reported, not failed.
func (a *Humanos) CancelHumanosRequest(ctx context.Context, ref ObjectID) (humanos.Request, error) {
	return cancelThenRead(func() error { return a.Client.CancelRequest(ctx, ref.ID) },
		func() (humanos.Request, error) { return a.GetHumanosRequest(ctx, ref) })
}
