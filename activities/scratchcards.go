package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/uanataca"
)

// ErrTypePoolExhausted is the error type of an allocation on an RA with no
// unused scratchcard left.
const ErrTypePoolExhausted = "ScratchcardPoolExhausted"

// ScratchcardClient is what the scratchcard activities need from the RA.
type ScratchcardClient interface {
	GetFirstUnusedScratchcard(ctx context.Context, ra string) (uanataca.Scratchcard, error)
	ListScratchcards(ctx context.Context, ra string, page int) (uanataca.Page[uanataca.Scratchcard], error)
	IsScratchcardUsed(ctx context.Context, sn string) (bool, error)
}

// Scratchcards holds the activities of scratchcard allocation: those the
// per-RA allocator workflow runs (finding unused cards) and the one an
// issuance runs to ask the allocator for a card.
type Scratchcards struct {
	Client ScratchcardClient
	// Temporal reaches the allocator workflow (Update-with-Start).
	Temporal client.Client
}

// FillInput asks for up to Want unused cards of RA that are not in
// Exclude (cards the allocator already holds or leased), continuing from
// page Cursor (0: find the first unused card's page).
type FillInput struct {
	RA      string   `json:"ra"`
	Cursor  int      `json:"cursor"`
	Exclude []string `json:"exclude"`
	Want    int      `json:"want"`
}

// FillResult is the cards found, in the RA's order, and the page to
// continue from next time.
type FillResult struct {
	Cards  []string `json:"cards"`
	Cursor int      `json:"cursor"`
}

// FillScratchcards finds unused cards for the allocator. The RA's
// get_first_unused reserves nothing and always names the lowest unused
// card, so past it this walks the RA's card list from the cursor page and
// asks isused of each card the allocator does not hold. No card found
// means the pool is exhausted (or the RA unknown): the allocator decides.
func (a *Scratchcards) FillScratchcards(ctx context.Context, in FillInput) (FillResult, error) {
	res := FillResult{Cursor: in.Cursor}
	first, err := a.Client.GetFirstUnusedScratchcard(ctx, in.RA)
	if provider.StatusOf(err) == http.StatusNotFound {
		return res, nil
	}
	if err != nil {
		return res, mapError(err)
	}
	skip := map[string]bool{}
	for _, sn := range in.Exclude {
		skip[sn] = true
	}
	if !skip[string(first.SN)] {
		res.Cards = append(res.Cards, string(first.SN))
		skip[string(first.SN)] = true
	}
	if len(res.Cards) >= in.Want {
		return res, nil
	}
	if res.Cursor < 1 {
		if res.Cursor, err = a.pageOf(ctx, in.RA, string(first.SN)); err != nil {
			return res, mapError(err)
		}
	}
	for {
		activity.RecordHeartbeat(ctx, res.Cursor)
		page, err := a.Client.ListScratchcards(ctx, in.RA, res.Cursor)
		if err != nil {
			return res, mapError(err)
		}
		for _, card := range page.Results {
			sn := string(card.SN)
			if skip[sn] || snLess(sn, string(first.SN)) {
				continue // held by the allocator, or below the first unused: used
			}
			used, err := a.Client.IsScratchcardUsed(ctx, sn)
			if err != nil {
				return res, mapError(err)
			}
			if !used {
				res.Cards = append(res.Cards, sn)
				if len(res.Cards) >= in.Want {
					return res, nil
				}
			}
		}
		if page.Next == nil || *page.Next == "" {
			return res, nil
		}
		res.Cursor++
	}
}

// pageOf finds the list page holding card sn by binary search (the RA lists
// cards in ascending order), so a long-used RA is not walked from page 1.
func (a *Scratchcards) pageOf(ctx context.Context, ra, sn string) (int, error) {
	p, err := a.Client.ListScratchcards(ctx, ra, 1)
	if err != nil {
		return 0, err
	}
	size := max(len(p.Results), 1)
	lo, hi := 1, max((p.Count+size-1)/size, 1)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		page, err := a.Client.ListScratchcards(ctx, ra, mid)
		if err != nil {
			return 0, err
		}
		if len(page.Results) > 0 && !snLess(sn, string(page.Results[0].SN)) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

// snLess orders serial numbers numerically (they are decimal), falling back
// to text order.
func snLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// ScratchcardUsed tells whether card sn was consumed by a request (for the
// allocator's expired leases).
func (a *Scratchcards) ScratchcardUsed(ctx context.Context, sn string) (bool, error) {
	used, err := a.Client.IsScratchcardUsed(ctx, sn)
	return used, mapError(err)
}

// AllocatorTaskQueue is where a deployment's allocators run: a queue of
// their own, so an allocation is not queued behind the workflow tasks of
// the very issuances waiting for it. The worker polls it beside taskQueue.
func AllocatorTaskQueue(taskQueue string) string { return taskQueue + "-scratchcards" }

// AllocateInput asks the allocator of RA for a card. The workflow names
// the allocator and its update (activities cannot import workflows).
type AllocateInput struct {
	RA string `json:"ra"`
	// Holder is the asking issuance's workflow ID.
	Holder string `json:"holder"`
	// UpdateID makes a retried allocation return the same card.
	UpdateID string `json:"update_id"`
	// Giving is the card handed back with this request (taken by somebody
	// else), with its outcome; empty on a first request.
	GivingSN      string `json:"giving_sn,omitempty"`
	GivingOutcome string `json:"giving_outcome,omitempty"`
	AllocatorID   string `json:"allocator_id"`
	AllocatorType string `json:"allocator_type"`
	UpdateName    string `json:"update_name"`
}

// AllocateScratchcard asks the RA's allocator workflow for a card with
// Update-with-Start: the allocator is started on first use and reused
// after. The allocator hands each card to one issuance only.
func (a *Scratchcards) AllocateScratchcard(ctx context.Context, in AllocateInput) (string, error) {
	start := a.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       in.AllocatorID,
		TaskQueue:                AllocatorTaskQueue(activity.GetInfo(ctx).TaskQueue),
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Scratchcard allocator of RA " + in.RA,
	}, in.AllocatorType, map[string]string{"ra": in.RA})
	handle, err := a.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID: in.UpdateID, UpdateName: in.UpdateName,
			Args:         []any{allocateRequest(in)},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return "", fmt.Errorf("asking the scratchcard allocator of RA %s: %w", in.RA, err)
	}
	var sn string
	err = handle.Get(ctx, &sn)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrTypePoolExhausted {
		return "", temporal.NewNonRetryableApplicationError(appErr.Error(), ErrTypePoolExhausted, nil)
	}
	return sn, err
}

// allocateRequest is the allocator's AllocateRequest, as JSON fields.
func allocateRequest(in AllocateInput) map[string]any {
	req := map[string]any{"holder": in.Holder}
	if in.GivingSN != "" {
		req["giving"] = map[string]string{"sn": in.GivingSN, "holder": in.Holder, "outcome": in.GivingOutcome}
	}
	return req
}
