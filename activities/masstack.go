package activities

import (
	"context"

	"github.com/certflow/certflow/internal/provider/masstack"
)

// MasStackClient is what the identification activities need from the
// MasStack client.
type MasStackClient interface {
	CreateIdentification(ctx context.Context, r masstack.CreateIdentification) (masstack.Identification, error)
	GetIdentification(ctx context.Context, id string) (masstack.Identification, error)
	CancelIdentification(ctx context.Context, id, reason string) error
}

// MasStack holds the activities of a MasStack identity-document
// identification.
type MasStack struct {
	Client MasStackClient
}

// CreateMasStackIdentification creates the identification. MasStack
// documents no idempotency key and no listing, so a create whose answer is
// lost is retried and may leave one orphan identification, which expires
// unused after its expires_in; each such create is reported as a possible
// orphan (createReportingOrphans; README, "Idempotency").
func (a *MasStack) CreateMasStackIdentification(ctx context.Context, r masstack.CreateIdentification) (masstack.Identification, error) {
	return createReportingOrphans(ctx, orphanWatch{provider: "masstack", object: "identification", lifetime: r.Lifetime()},
		func(ctx context.Context) (masstack.Identification, error) {
			return a.Client.CreateIdentification(ctx, r)
		})
}

// GetMasStackIdentification reads the identification.
func (a *MasStack) GetMasStackIdentification(ctx context.Context, ref ObjectID) (masstack.Identification, error) {
	idn, err := a.Client.GetIdentification(ctx, ref.ID)
	return idn, mapError(err)
}

// AwaitMasStackIdentification returns the identification once its status
// is final; until then its retry policy polls.
func (a *MasStack) AwaitMasStackIdentification(ctx context.Context, ref ObjectID) (masstack.Identification, error) {
	return pollUntilFinal("identification "+ref.ID, func() (masstack.Identification, error) { return a.GetMasStackIdentification(ctx, ref) }, JudgeMasStack)
}

// CancelIdentificationInput names the identification and why it is
// cancelled (MasStack records the reason).
type CancelIdentificationInput struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// CancelMasStackIdentification cancels the identification with a reason
// and returns its final state; 409 (already final) and 404 (already gone)
// are reported, not failed.
func (a *MasStack) CancelMasStackIdentification(ctx context.Context, in CancelIdentificationInput) (masstack.Identification, error) {
	return cancelThenRead(func() error { return a.Client.CancelIdentification(ctx, in.ID, in.Reason) },
		func() (masstack.Identification, error) { return a.GetMasStackIdentification(ctx, ObjectID{ID: in.ID}) })
}
