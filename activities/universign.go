package activities

import (
	"context"

	"github.com/certflow/certflow/internal/provider/universign"
)

// UniversignClient is what the registration activities need from the
// Universign client.
type UniversignClient interface {
	CreateRegistration(ctx context.Context, r universign.CreateRegistration) (universign.Registration, error)
	GetRegistration(ctx context.Context, id string) (universign.Registration, error)
	CancelRegistration(ctx context.Context, id string) error
}

// Universign holds the activities of a Universign standalone registration.
type Universign struct {
	Client UniversignClient
}

// CreateUniversignRegistration creates the registration. Universign
// documents no idempotency key and no way to list registrations, so a
// create whose answer is lost is retried and may leave one orphan open
// session, which expires unused after 7 days; each such create is reported
// as a possible orphan (createReportingOrphans; README, "Idempotency").
func (a *Universign) CreateUniversignRegistration(ctx context.Context, r universign.CreateRegistration) (universign.Registration, error) {
	return createReportingOrphans(ctx, orphanWatch{provider: "universign", object: "registration", lifetime: universign.SessionLifetime},
		func(ctx context.Context) (universign.Registration, error) { return a.Client.CreateRegistration(ctx, r) })
}

// GetUniversignRegistration reads the registration.
func (a *Universign) GetUniversignRegistration(ctx context.Context, ref ObjectID) (universign.Registration, error) {
	reg, err := a.Client.GetRegistration(ctx, ref.ID)
	return reg, mapError(err)
}

// AwaitUniversignRegistration returns the registration once its state is
// final; until then its retry policy polls.
func (a *Universign) AwaitUniversignRegistration(ctx context.Context, ref ObjectID) (universign.Registration, error) {
	return pollUntilFinal("registration "+ref.ID, func() (universign.Registration, error) { return a.GetUniversignRegistration(ctx, ref) }, JudgeUniversign)
}

// CancelUniversignRegistration cancels the registration and returns its
// final state.
func (a *Universign) CancelUniversignRegistration(ctx context.Context, ref ObjectID) (universign.Registration, error) {
	return cancelThenRead(func() error { return a.Client.CancelRegistration(ctx, ref.ID) },
		func() (universign.Registration, error) { return a.GetUniversignRegistration(ctx, ref) })
}
