package activities

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/contract"
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
	// Temporal reaches the allocator workflow (Update-with-Start) and
	// describes lease holders' workflows.
	Temporal client.Client
	// FillBackoff retries each RA call of a fill; zero: defaultFillBackoff.
	FillBackoff CallBackoff
	// allocations batches this process's allocations by allocator.
	allocations Allocations
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

// CallBackoff is how a fill retries one RA call that failed with a 5xx, a
// 429 or a transport error.
type CallBackoff struct {
	// Tries bounds the tries of one call, the first included.
	Tries int
	// First is the wait before the second try; each later wait doubles,
	// up to Max.
	First time.Duration
	// Max bounds one wait. A Retry-After longer than Max is not waited for
	// inside the fill: the fill ends there (see FillScratchcards).
	Max time.Duration
}

// defaultFillBackoff tries a call 8 times over about 18 s: with 40% of
// calls failing (an ordinary bad day), one call in 1,500 still fails
// after them. Waits stay well under the fill's heartbeat timeout.
var defaultFillBackoff = CallBackoff{Tries: 8, First: 250 * time.Millisecond, Max: 5 * time.Second}

// fillProgress is how far a fill got. It is recorded as heartbeat details
// before each RA call and read back by the next attempt (after a worker
// crash, a timeout, or a call that kept failing), which continues from it
// with the cards already found instead of starting over.
type fillProgress struct {
	// Checked is the highest card decided so far: the RA's first unused
	// card, then each card asked isused after it. Empty until
	// get_first_unused answered.
	Checked string `json:"checked,omitempty"`
	// Page is the RA list page being walked; 0 until it is known.
	Page int `json:"page,omitempty"`
	// Cards are the unused cards found, in the RA's order.
	Cards []string `json:"cards,omitempty"`
}

// FillScratchcards finds up to in.Want unused cards for the allocator. The
// RA's get_first_unused reserves nothing and always names the lowest
// unused card, so past it this walks the RA's card list from the cursor
// page and asks isused of each card the allocator does not hold. No card
// found means the pool is exhausted (or the RA unknown): the allocator
// decides.
//
// A fill chains many RA calls (tens for a burst of allocations), so one
// failed call must cost one retried call, not the fill: each call is
// retried on its own, with backoff and the RA's Retry-After, inside this
// one activity — one activity per fill keeps the allocator's history
// small, where an activity per call would add three events per card. When
// a call still fails, the cards already found are returned (the waiting
// allocations get them now; the next fill continues from the cursor); with
// none found yet, the attempt fails and Temporal's retry resumes from the
// progress recorded as heartbeat details, as after a worker crash.
func (a *Scratchcards) FillScratchcards(ctx context.Context, in FillInput) (FillResult, error) {
	f := &filler{client: a.Client, in: in, backoff: a.FillBackoff, skip: map[string]bool{}}
	if f.backoff == (CallBackoff{}) {
		f.backoff = defaultFillBackoff
	}
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &f.progress); err != nil {
			activity.GetLogger(ctx).Warn("fill progress unreadable; filling from the start", "error", err)
			f.progress = fillProgress{}
		}
	}
	for _, sn := range in.Exclude {
		f.skip[sn] = true
	}
	for _, sn := range f.progress.Cards {
		f.skip[sn] = true
	}
	err := f.run(ctx)
	res := FillResult{Cards: f.progress.Cards, Cursor: cmp.Or(f.progress.Page, in.Cursor)}
	switch {
	case err == nil, provider.StatusOf(err) == http.StatusNotFound && f.progress.Checked == "":
		return res, nil
	case len(res.Cards) > 0 && ctx.Err() == nil:
		activity.GetLogger(ctx).Warn("RA call kept failing; handing out the cards found so far", "cards", len(res.Cards), "error", err)
		return res, nil
	}
	return FillResult{}, mapError(err)
}

// filler is one fill attempt: its input, its progress and the RA calls
// that make it.
type filler struct {
	client   ScratchcardClient
	in       FillInput
	backoff  CallBackoff
	progress fillProgress
	// skip holds the cards not to offer: held by the allocator, or found.
	skip map[string]bool
}

// run finds cards until in.Want are found or the RA's list ends.
func (f *filler) run(ctx context.Context) error {
	p := &f.progress
	if p.Checked == "" {
		var first uanataca.Scratchcard
		if err := f.ask(ctx, func() (err error) {
			first, err = f.client.GetFirstUnusedScratchcard(ctx, f.in.RA)
			return err
		}); err != nil {
			return err
		}
		p.Checked = string(first.SN)
		f.found(p.Checked)
	}
	if p.Page < 1 {
		p.Page = f.in.Cursor
	}
	if p.Page < 1 {
		if f.enough() {
			return nil
		}
		page, err := f.pageOf(ctx, p.Checked)
		if err != nil {
			return err
		}
		p.Page = page
	}
	for !f.enough() {
		var page uanataca.Page[uanataca.Scratchcard]
		if err := f.ask(ctx, func() (err error) {
			page, err = f.client.ListScratchcards(ctx, f.in.RA, p.Page)
			return err
		}); err != nil {
			return err
		}
		var candidates []string
		for _, card := range page.Results {
			// Skip cards held, found, or decided already (below the
			// first unused: used).
			if sn := string(card.SN); !f.skip[sn] && snLess(p.Checked, sn) {
				candidates = append(candidates, sn)
			}
		}
		for len(candidates) > 0 {
			batch := candidates[:min(len(candidates), fillParallel, max(f.in.Want-len(p.Cards), 1))]
			candidates = candidates[len(batch):]
			if err := f.checkUsed(ctx, batch); err != nil || f.enough() {
				return err
			}
		}
		if page.Next == nil || *page.Next == "" {
			return nil
		}
		p.Page++
	}
	return nil
}

// fillParallel bounds the isused calls a fill has in flight: a burst of
// allocations needs tens of cards, and one call at a time would make it
// wait for tens of RA round trips.
const fillParallel = 8

// checkUsed asks isused of the cards of batch at once, then takes the
// answers in the RA's order, so progress still names the highest card
// decided with every card below it decided too. On an error it keeps the
// answers before the failed call's card and returns the error.
func (f *filler) checkUsed(ctx context.Context, batch []string) error {
	used := make([]bool, len(batch))
	errs := make([]error, len(batch))
	panics := make([]any, len(batch))
	var wg sync.WaitGroup
	for i, sn := range batch {
		wg.Go(func() {
			// A panic belongs to the activity's goroutine, where the SDK
			// turns it into a failed attempt; here it would kill the worker.
			defer func() { panics[i] = recover() }()
			errs[i] = f.ask(ctx, func() (err error) {
				used[i], err = f.client.IsScratchcardUsed(ctx, sn)
				return err
			})
		})
	}
	wg.Wait()
	for _, p := range panics {
		if p != nil {
			panic(p)
		}
	}
	for i, sn := range batch {
		if errs[i] != nil {
			return errs[i]
		}
		f.progress.Checked = sn
		if !used[i] {
			f.found(sn)
		}
		if f.enough() {
			return nil
		}
	}
	return nil
}

// found adds sn to the cards found, unless the allocator holds it.
func (f *filler) found(sn string) {
	if !f.skip[sn] {
		f.progress.Cards = append(f.progress.Cards, sn)
		f.skip[sn] = true
	}
}

// enough reports whether the fill found what the allocations need.
func (f *filler) enough() bool { return len(f.progress.Cards) >= f.in.Want }

// ask makes one RA call, first recording the progress made so far, and
// retries it with backoff while it fails with an error a retry can fix,
// waiting at least the RA's Retry-After.
func (f *filler) ask(ctx context.Context, call func() error) error {
	wait := f.backoff.First
	for try := 1; ; try++ {
		activity.RecordHeartbeat(ctx, f.progress)
		err := call()
		if err == nil || try >= f.backoff.Tries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		var pe *provider.Error
		if errors.As(err, &pe) {
			wait = max(wait, pe.RetryAfter)
		}
		if wait > f.backoff.Max {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		wait = min(2*wait, f.backoff.Max)
	}
}

// pageOf finds the list page holding card sn by binary search (the RA lists
// cards in ascending order), so a long-used RA is not walked from page 1.
func (f *filler) pageOf(ctx context.Context, sn string) (int, error) {
	list := func(n int) (page uanataca.Page[uanataca.Scratchcard], err error) {
		err = f.ask(ctx, func() (err error) {
			page, err = f.client.ListScratchcards(ctx, f.in.RA, n)
			return err
		})
		return page, err
	}
	p, err := list(1)
	if err != nil {
		return 0, err
	}
	size := max(len(p.Results), 1)
	lo, hi := 1, max((p.Count+size-1)/size, 1)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		page, err := list(mid)
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
// allocator, about a card whose holder is gone without a word).
func (a *Scratchcards) ScratchcardUsed(ctx context.Context, sn string) (bool, error) {
	used, err := a.Client.IsScratchcardUsed(ctx, sn)
	return used, mapError(err)
}

// LeaseHolder is what Temporal says of a lease holder's workflow.
type LeaseHolder struct {
	// ID is the holder's workflow ID.
	ID string `json:"id"`
	// Closed says the workflow ended, or that Temporal does not know it
	// (its history outlived the namespace's retention).
	Closed bool `json:"closed"`
	// ClosedAt is when it ended; zero when Temporal does not know it.
	ClosedAt time.Time `json:"closed_at,omitzero"`
}

// DescribeLeaseHolders asks Temporal about the latest run of each lease
// holder's workflow, so the allocator ends a lease only when its holder is
// provably gone: a holder still running may still create with its card,
// however long its create has been retrying.
func (a *Scratchcards) DescribeLeaseHolders(ctx context.Context, ids []string) ([]LeaseHolder, error) {
	holders := make([]LeaseHolder, 0, len(ids))
	for _, id := range ids {
		d, err := a.Temporal.DescribeWorkflowExecution(ctx, id, "")
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
			holders = append(holders, LeaseHolder{ID: id, Closed: true})
		case err != nil:
			return nil, fmt.Errorf("describing the workflow of lease holder %s: %w", id, err)
		default:
			h := LeaseHolder{ID: id}
			if closed := d.GetWorkflowExecutionInfo().GetCloseTime(); closed != nil {
				h.Closed, h.ClosedAt = true, closed.AsTime()
			}
			holders = append(holders, h)
		}
	}
	return holders, nil
}

// AllocatorTaskQueue is where a deployment's allocators run: a queue of
// their own, so an allocation is not queued behind the workflow tasks of
// the very issuances waiting for it. The worker polls it beside taskQueue.
func AllocatorTaskQueue(taskQueue string) string { return taskQueue + "-scratchcards" }

// AllocateInput asks the allocator of RA for a card.
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
	// AllocatorID is the allocator's workflow ID (contract.AllocatorID),
	// the one the issuance reports its card to.
	AllocatorID string `json:"allocator_id"`
}

// AllocateScratchcard asks the RA's allocator workflow for a card with
// Update-with-Start: the allocator is started on first use and reused
// after. The allocator hands each card to one issuance only. The request
// goes with the others this worker process has for the same allocator at
// the same moment (Allocations).
func (a *Scratchcards) AllocateScratchcard(ctx context.Context, in AllocateInput) (string, error) {
	return a.allocations.Allocate(ctx, a.Temporal, activity.GetInfo(ctx).TaskQueue, in)
}

// Allocations sends a worker process's allocations to the allocators in
// batches: while one update to an allocator is in flight, the requests
// that arrive for it wait and go together in the next. A burst of
// issuances on one RA so costs the allocator a few updates instead of one
// each — each update is a workflow task and history events of the one
// allocator workflow, which serialises them — and a lone request goes at
// once, without a wait to gather others. The zero value is ready.
type Allocations struct {
	mu sync.Mutex
	// queues holds, by allocator ID, the requests waiting for the update
	// in flight to return; an ID is present while one is in flight.
	queues map[string][]*allocation
}

// allocation is one caller's request and where its answer goes.
type allocation struct {
	in     AllocateInput
	answer chan allocationAnswer
}

type allocationAnswer struct {
	sn  string
	err error
}

// batchTimeout bounds one batch's update: its callers' own contexts
// bound their waits, but the batch serves them all, so it cannot take
// one caller's.
const batchTimeout = time.Minute

// Allocate asks in.AllocatorID's allocator, on taskQueue's allocator
// queue, for a card for in.Holder through c. It is AllocateScratchcard's
// call, apart so the allocation benchmark measures the very call an
// issuance makes.
func (b *Allocations) Allocate(ctx context.Context, c client.Client, taskQueue string, in AllocateInput) (string, error) {
	req := &allocation{in: in, answer: make(chan allocationAnswer, 1)}
	b.mu.Lock()
	if b.queues == nil {
		b.queues = map[string][]*allocation{}
	}
	queued, inFlight := b.queues[in.AllocatorID]
	b.queues[in.AllocatorID] = append(queued, req)
	b.mu.Unlock()
	if !inFlight {
		go b.send(c, taskQueue, in.AllocatorID, in.RA)
	}
	select {
	case a := <-req.answer:
		return a.sn, a.err
	case <-ctx.Done():
		// The card, if one comes, stays leased to the holder: its next
		// attempt gets the same one back.
		return "", ctx.Err()
	}
}

// send sends the requests queued for allocatorID, batch after batch,
// until none is left.
func (b *Allocations) send(c client.Client, taskQueue, allocatorID, ra string) {
	for {
		b.mu.Lock()
		batch := b.queues[allocatorID]
		if len(batch) == 0 {
			delete(b.queues, allocatorID)
			b.mu.Unlock()
			return
		}
		b.queues[allocatorID] = batch[:0:0]
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		answers := allocateBatch(ctx, c, taskQueue, allocatorID, ra, batch)
		cancel()
		for i, req := range batch {
			req.answer <- answers[i]
		}
	}
}

// allocateBatch is one Update-with-Start of the allocator for the
// requests of batch, answering each in order. Its update ID is derived
// from the requests' own, so a batch sent again is answered again
// without a second allocation; a holder asking again in another batch
// gets the card it already holds.
func allocateBatch(ctx context.Context, c client.Client, taskQueue, allocatorID, ra string, batch []*allocation) []allocationAnswer {
	answers := make([]allocationAnswer, len(batch))
	reqs := make([]contract.AllocateRequest, len(batch))
	id := sha256.New()
	for i, r := range batch {
		reqs[i] = contract.AllocateRequest{Holder: r.in.Holder}
		if r.in.GivingSN != "" {
			reqs[i].Giving = &contract.CardReport{SN: r.in.GivingSN, Holder: r.in.Holder, Outcome: r.in.GivingOutcome}
		}
		fmt.Fprintln(id, r.in.UpdateID)
	}
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       allocatorID,
		TaskQueue:                AllocatorTaskQueue(taskQueue),
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Scratchcard allocator of RA " + ra,
	}, contract.ScratchcardAllocatorName, contract.AllocatorState{RA: ra})
	handle, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID: "batch-" + hex.EncodeToString(id.Sum(nil)), UpdateName: contract.UpdateAllocateBatch,
			Args:         []any{reqs},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var results []contract.AllocateResult
	if err == nil {
		err = handle.Get(ctx, &results)
	}
	if err == nil && len(results) != len(batch) {
		err = fmt.Errorf("the allocator answered %d of %d requests", len(results), len(batch))
	}
	for i := range answers {
		switch {
		case err != nil:
			answers[i].err = fmt.Errorf("asking the scratchcard allocator of RA %s: %w", ra, err)
		case results[i].ErrorType == ErrTypePoolExhausted:
			answers[i].err = temporal.NewNonRetryableApplicationError(results[i].Error, ErrTypePoolExhausted, nil)
		case results[i].Error != "":
			answers[i].err = temporal.NewApplicationError(results[i].Error, results[i].ErrorType)
		default:
			answers[i].sn = results[i].SN
		}
	}
	return answers
}
