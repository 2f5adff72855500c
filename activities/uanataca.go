package activities

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/uanataca"
)

// UanatacaClient is what the issuance activities need from the RA client.
// *uanataca.Client satisfies it; tests substitute fakes.
type UanatacaClient interface {
	CreateRequest(ctx context.Context, req uanataca.CreateRequest) (uanataca.Request, error)
	GetRequest(ctx context.Context, pk int64) (uanataca.Request, error)
	ListRequestsByScratchcard(ctx context.Context, sn string) ([]uanataca.Request, error)
	CancelRequest(ctx context.Context, pk int64) error
	UploadDocument(ctx context.Context, pk int64, doc uanataca.Document) (uanataca.UploadedDocument, error)
	Approve(ctx context.Context, pk int64, a uanataca.Approval) (uanataca.Request, error)
}

// Uanataca holds the activities of a Uanataca certificate issuance. Method
// names carry the provider so that every provider's activities can share one
// worker without name clashes.
type Uanataca struct {
	Client UanatacaClient
	// WebhookURL, when set, becomes the webhook_url of requests that do not
	// name one (demo and test setups; production RAs have one URL set by
	// Uanataca).
	WebhookURL string
	// Approval holds the RAO credentials; nil leaves approval to an operator.
	Approval *uanataca.Approval
	// Created, when set, is told each request the create activity made or
	// found, with its workflow's ID (the webhook ingress of this process
	// learns the pk's workflow before its first webhook).
	Created func(workflowID string, pk int64)
}

// CreateUanatacaRequest creates the RA request, safely across retries. Create
// is not idempotent at Uanataca, so before creating, and again when the RA
// answers "Invalid ScratchCard", it looks for a request already made with
// this scratchcard for this applicant (an earlier attempt that timed out
// after the RA had stored it) and returns that one instead of a second.
// A card used by somebody else's request yields a non-retryable
// ScratchcardUnavailable error: the workflow asks for another card.
func (a *Uanataca) CreateUanatacaRequest(ctx context.Context, req uanataca.CreateRequest) (uanataca.Request, error) {
	created, err := a.create(ctx, req)
	if err == nil && a.Created != nil {
		a.Created(activity.GetInfo(ctx).WorkflowExecution.ID, created.PK)
	}
	return created, err
}

func (a *Uanataca) create(ctx context.Context, req uanataca.CreateRequest) (uanataca.Request, error) {
	if existing, found, err := a.findOwnRequest(ctx, req); err != nil || found {
		return existing, err
	}
	if req.WebhookURL == "" {
		req.WebhookURL = a.WebhookURL
	}
	created, err := a.Client.CreateRequest(ctx, req)
	if err == nil {
		return public(created), nil
	}
	if !invalidScratchcard(err) {
		return uanataca.Request{}, mapError(err)
	}
	if existing, found, lookErr := a.findOwnRequest(ctx, req); lookErr != nil || found {
		return existing, lookErr
	}
	// Benign: the workflow expects this and reserves another card.
	return uanataca.Request{}, temporal.NewApplicationErrorWithOptions(
		fmt.Sprintf("scratchcard %s of RA %s is already used by another request; reserve another card", req.Scratchcard, req.RegistrationAuthority),
		ErrTypeScratchcardUnavailable, temporal.ApplicationErrorOptions{NonRetryable: true, Cause: err, Category: temporal.ApplicationErrorCategoryBenign})
}

// findOwnRequest looks up a request created with req's scratchcard for the
// same applicant and profile.
func (a *Uanataca) findOwnRequest(ctx context.Context, req uanataca.CreateRequest) (uanataca.Request, bool, error) {
	found, err := a.Client.ListRequestsByScratchcard(ctx, req.Scratchcard)
	if err != nil {
		return uanataca.Request{}, false, mapError(err)
	}
	for _, r := range found {
		if string(r.Scratchcard) == req.Scratchcard && r.Profile == req.Profile &&
			strings.EqualFold(r.Email, req.Email) {
			return public(r), true, nil
		}
	}
	return uanataca.Request{}, false, nil
}

// UploadUanatacaDocument attaches one document to the request.
func (a *Uanataca) UploadUanatacaDocument(ctx context.Context, ref RequestPK, doc uanataca.Document) (uanataca.UploadedDocument, error) {
	up, err := a.Client.UploadDocument(ctx, ref.PK, doc)
	return up, mapError(err)
}

// ApproveResult says whether certflow approved the request itself.
type ApproveResult struct {
	Approved bool             `json:"approved"`
	Request  uanataca.Request `json:"request"`
}

// ApproveUanatacaRequest approves the request with the configured RAO
// credentials. Without credentials it approves nothing and says so, and the
// request waits for an operator's approval in the RA's own tools. A request
// already past CREATED (412, e.g. a retry after a lost answer) is read and
// returned rather than failed.
func (a *Uanataca) ApproveUanatacaRequest(ctx context.Context, ref RequestPK) (ApproveResult, error) {
	if a.Approval == nil {
		return ApproveResult{}, nil
	}
	r, err := a.Client.Approve(ctx, ref.PK, *a.Approval)
	if provider.StatusOf(err) == http.StatusPreconditionFailed {
		r, err = a.Client.GetRequest(ctx, ref.PK)
	}
	if err != nil {
		return ApproveResult{}, mapError(err)
	}
	return ApproveResult{Approved: true, Request: public(r)}, nil
}

// GetUanatacaRequest reads the request's authoritative state.
func (a *Uanataca) GetUanatacaRequest(ctx context.Context, ref RequestPK) (uanataca.Request, error) {
	r, err := a.Client.GetRequest(ctx, ref.PK)
	if err != nil {
		return uanataca.Request{}, mapError(err)
	}
	return public(r), nil
}

// AwaitUanatacaRequest returns the request once its status is final. While
// it is not, it fails with a retryable ProviderNotFinal error: the activity's
// retry policy then does the waiting between polls, which adds nothing to
// workflow history however long the wait.
func (a *Uanataca) AwaitUanatacaRequest(ctx context.Context, ref RequestPK) (uanataca.Request, error) {
	return pollUntilFinal(fmt.Sprintf("request %d", ref.PK), func() (uanataca.Request, error) { return a.GetUanatacaRequest(ctx, ref) }, JudgeUanataca)
}

// CancelUanatacaRequest cancels the request and returns its final state. A
// request already issued or cancelled (412) or gone (404) is not an error:
// the compensation reads and reports what the RA holds.
func (a *Uanataca) CancelUanatacaRequest(ctx context.Context, ref RequestPK) (uanataca.Request, error) {
	return cancelThenRead(func() error { return a.Client.CancelRequest(ctx, ref.PK) },
		func() (uanataca.Request, error) { return a.GetUanatacaRequest(ctx, ref) })
}

// public strips the one personal field a Request carries before it enters
// workflow history.
func public(r uanataca.Request) uanataca.Request {
	r.Email = ""
	return r
}
