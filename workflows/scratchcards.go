package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
)

const (
	// allocatorBatch is the fewest unused cards one fill looks for (a page
	// of the RA's list); a fill looks for as many as allocations are
	// waiting, so a burst is served by one fill, not one per batch.
	allocatorBatch = 10
	// leaseCheckInterval is how often the allocator asks whether its lease
	// holders are still running.
	leaseCheckInterval = 30 * time.Minute
	// closedHolderGrace is how long after its holder closed a lease is left
	// alone: longer than one create attempt (callTimeout), so no create the
	// holder started can still reach the RA when the card is checked.
	closedHolderGrace = 2 * callTimeout
	// allocatorLoopChange versions the allocator's loop, taken once at a
	// run's start. Before it, reports were received in the loop's Selector,
	// and a lease without news for legacyLeaseTTL was ended inside the
	// timer's callback by the RA's isused alone, though its holder's create
	// may still be retrying (up to 24 h). A run begun before it keeps that
	// loop (serveBlocking) so its history replays, until it continues as
	// new (allocatorRunLimit allocations at most); the next run records
	// the version and leases end only by their holders.
	allocatorLoopChange  = "allocator-records-reports"
	allocatorLoopRecords = 1
	legacyLeaseTTL       = 30 * time.Minute
	// allocatorFillChange versions filling ahead, taken once at a run's
	// start. Before it, cards were read only when an allocation found none
	// left, so a burst waited for the fill, and every allocation queued on
	// the fill lock even with cards in stock. A run begun before it keeps
	// filling on demand so its history replays; the next run fills ahead.
	allocatorFillChange = "allocator-fills-ahead"
	allocatorFillsAhead = 1
	// allocatorRunLimit bounds one run's allocations; then it continues as
	// new, carrying its state, so its history stays bounded.
	allocatorRunLimit = 500
)

// allocator is the allocator's running state.
type allocator struct {
	st      contract.AllocatorState
	handled int
	// waiting counts allocations in progress, to size the next fill.
	waiting int
	// fillsAhead says this run keeps a stock of at least allocatorBatch
	// cards, read before allocations need them (allocatorFillChange).
	fillsAhead bool
	// dry says the last fill found no card: the loop stops filling ahead
	// until a fill finds some again.
	dry  bool
	fill workflow.Mutex
}

// ScratchcardAllocator serves allocations for one RA until its run limit,
// then continues as new. A card is leased to one issuance at a time; the
// issuance reports it used (forgotten), released (handed out again) or
// taken (forgotten). A lease ends only so, or when its holder is provably
// gone (closed without a word): then the RA says whether the card was
// used. So no card is handed out twice or lost track of.
func ScratchcardAllocator(ctx workflow.Context, st contract.AllocatorState) error {
	if st.RA == "" {
		return temporal.NewNonRetryableApplicationError("the allocator needs its RA", contract.ErrTypeInvalidInput, nil)
	}
	if st.Leases == nil {
		st.Leases = map[string]contract.Lease{}
	}
	a := &allocator{st: st, fill: workflow.NewMutex(ctx)}
	a.fillsAhead = workflow.GetVersion(ctx, allocatorFillChange, workflow.DefaultVersion, allocatorFillsAhead) == allocatorFillsAhead
	if err := workflow.SetQueryHandler(ctx, contract.QueryStatus, a.status); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateAllocate, a.allocate, workflow.UpdateHandlerOptions{
		Validator: func(_ workflow.Context, req contract.AllocateRequest) error {
			if req.Holder == "" {
				return errors.New("allocate: name the holder (the issuance's workflow ID)")
			}
			return nil
		},
	}); err != nil {
		return err
	}

	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateAllocateBatch, a.allocateBatch, workflow.UpdateHandlerOptions{
		Validator: func(_ workflow.Context, reqs []contract.AllocateRequest) error {
			if len(reqs) == 0 || slices.ContainsFunc(reqs, func(r contract.AllocateRequest) bool { return r.Holder == "" }) {
				return errors.New("allocate-batch: name each holder (the issuances' workflow IDs)")
			}
			return nil
		},
	}); err != nil {
		return err
	}

	reports := workflow.GetSignalChannel(ctx, contract.SignalScratchcard)
	if workflow.GetVersion(ctx, allocatorLoopChange, workflow.DefaultVersion, allocatorLoopRecords) == workflow.DefaultVersion {
		if err := a.serveBlocking(ctx, reports); err != nil {
			return err
		}
	} else if err := a.serve(ctx, reports); err != nil {
		return err
	}
	// Hand over: let running allocations finish — new ones are still
	// served, from stock or a fill of their own, so no caller is refused
	// and retries — apply every report, then continue with the same state.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	for {
		var r contract.CardReport
		if !reports.ReceiveAsync(&r) {
			break
		}
		a.report(r)
	}
	return workflow.NewContinueAsNewError(ctx, contract.ScratchcardAllocatorName, a.st)
}

// serve records reports and checks the leases every leaseCheckInterval
// until the run should hand over. Reports only record; the blocking work
// (checking leases) runs in this loop, which awaits recorded state, so a
// check waiting on the RA delays neither a report nor an allocation. It
// returns the workflow's cancellation (an operator stopped the allocator:
// the next allocation starts a fresh one, which finds unused cards at the
// RA again).
func (a *allocator) serve(ctx workflow.Context, reports workflow.ReceiveChannel) error {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var r contract.CardReport
			reports.Receive(ctx, &r)
			a.report(r)
		}
	})
	// One check timer at a time, so reports add nothing to history but
	// themselves.
	timerCtx, stopTimer := workflow.WithCancel(ctx)
	defer stopTimer()
	checkDue := workflow.NewTimer(timerCtx, leaseCheckInterval)
	for {
		if err := workflow.Await(ctx, func() bool { return checkDue.IsReady() || a.handOverDue(ctx) || a.lowStock() }); err != nil || ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case a.handOverDue(ctx):
			return nil
		case a.lowStock():
			a.fillAhead(ctx)
		default:
			a.checkLeases(ctx)
			checkDue = workflow.NewTimer(timerCtx, leaseCheckInterval)
		}
	}
}

// serveBlocking is serve as it was before allocatorLoopChange, kept only
// for runs begun before it (see there): reports are received in the
// loop's Selector, and the lease expiry runs inside the timer's callback.
// Remove it, with the version check, once every allocator has continued
// as new since the deploy.
func (a *allocator) serveBlocking(ctx workflow.Context, reports workflow.ReceiveChannel) error {
	timerCtx, stopTimer := workflow.WithCancel(ctx)
	defer stopTimer()
	expiry := workflow.NewTimer(timerCtx, a.untilNextExpiry(ctx))
	for a.handled < allocatorRunLimit && !workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(reports, func(c workflow.ReceiveChannel, _ bool) {
			var r contract.CardReport
			c.Receive(ctx, &r)
			a.report(r)
		})
		sel.AddFuture(expiry, func(f workflow.Future) {
			if f.Get(ctx, nil) == nil {
				a.expireByTTL(ctx)
				expiry = workflow.NewTimer(timerCtx, a.untilNextExpiry(ctx))
			}
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// untilNextExpiry is how long until the oldest lease is legacyLeaseTTL old
// (serveBlocking's timer).
func (a *allocator) untilNextExpiry(ctx workflow.Context) time.Duration {
	next := legacyLeaseTTL
	now := workflow.Now(ctx)
	for _, l := range a.st.Leases {
		next = min(next, l.At.Add(legacyLeaseTTL).Sub(now))
	}
	return max(next, time.Second)
}

// lowStock reports whether the loop should read cards ahead of demand:
// the stock is under a batch, the RA had cards last time, and no fill is
// running (one that is will serve the waiting allocations).
func (a *allocator) lowStock() bool {
	return a.fillsAhead && !a.dry && a.waiting == 0 && len(a.st.Available) < allocatorBatch
}

// fillAhead reads cards before allocations ask for them, under the fill
// lock an allocation finding no stock takes too. A failed fill is only
// logged: the allocation that finds no stock fills, and fails, itself.
func (a *allocator) fillAhead(ctx workflow.Context) {
	if err := a.fill.Lock(ctx); err != nil {
		return
	}
	defer a.fill.Unlock()
	if !a.lowStock() {
		return
	}
	if err := a.refill(ctx); err != nil {
		workflow.GetLogger(ctx).Warn("could not read scratchcards ahead of demand; allocations will fill themselves", "ra", a.st.RA, "error", err)
		a.dry = true
	}
}

// allocate hands req's holder a card: the one it already leases (a retried
// update), or the next available one, filling from the RA when none is.
// With cards in stock it takes one at once; only an allocation finding
// none waits for the fill lock.
func (a *allocator) allocate(ctx workflow.Context, req contract.AllocateRequest) (string, error) {
	a.handled++
	if req.Giving != nil {
		a.report(*req.Giving)
	}
	if sn, ok := a.leaseOf(req.Holder); ok {
		return sn, nil
	}
	if !a.fillsAhead || len(a.st.Available) == 0 {
		a.waiting++
		defer func() { a.waiting-- }()
		if err := a.fill.Lock(ctx); err != nil {
			return "", err
		}
		defer a.fill.Unlock()
		// The holder may have been served while it waited (a repeat).
		if sn, ok := a.leaseOf(req.Holder); ok {
			return sn, nil
		}
	}
	if len(a.st.Available) == 0 {
		if err := a.refill(ctx); err != nil {
			return "", err
		}
	}
	if len(a.st.Available) == 0 {
		workflow.GetLogger(ctx).Error("scratchcard pool exhausted", "ra", a.st.RA)
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"ra": a.st.RA}).Counter("certflow_scratchcard_pool_exhausted").Inc(1)
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("RA %s has no unused scratchcard left: load more cards into the RA, then start the issuance again", a.st.RA),
			activities.ErrTypePoolExhausted, nil)
	}
	sn := a.st.Available[0]
	a.st.Available = a.st.Available[1:]
	a.st.Leases[sn] = contract.Lease{Holder: req.Holder, At: workflow.Now(ctx)}
	a.gauge(ctx)
	return sn, nil
}

// allocateBatch serves each request as allocate does, all at once (so
// one fill is sized for all that find no stock), and answers each.
func (a *allocator) allocateBatch(ctx workflow.Context, reqs []contract.AllocateRequest) ([]contract.AllocateResult, error) {
	results := make([]contract.AllocateResult, len(reqs))
	pending := len(reqs)
	for i, req := range reqs {
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { pending-- }()
			results[i].Holder = req.Holder
			sn, err := a.allocate(ctx, req)
			if err == nil {
				results[i].SN = sn
				return
			}
			results[i].Error = err.Error()
			var appErr *temporal.ApplicationError
			if errors.As(err, &appErr) {
				results[i].ErrorType = appErr.Type()
			}
		})
	}
	err := workflow.Await(ctx, func() bool { return pending == 0 })
	return results, err
}

// refill asks the RA for a batch of unused cards not already held.
func (a *allocator) refill(ctx workflow.Context) error {
	var sc *activities.Scratchcards
	exclude := slices.Sorted(func(yield func(string) bool) {
		for sn := range a.st.Leases {
			if !yield(sn) {
				return
			}
		}
	})
	var res activities.FillResult
	err := workflow.ExecuteActivity(summarize(withFill(ctx), "Find unused scratchcards of RA "+a.st.RA), sc.FillScratchcards, activities.FillInput{
		RA: a.st.RA, Cursor: a.st.Cursor, Exclude: append(exclude, a.st.Available...), Want: max(allocatorBatch, a.waiting),
	}).Get(ctx, &res)
	if err != nil {
		return err
	}
	a.st.Cursor = res.Cursor
	a.st.Available = append(a.st.Available, res.Cards...)
	a.dry = len(res.Cards) == 0
	return nil
}

// leaseOf finds the card holder leases. A holder has one lease at a time:
// a repeated request (a retried activity after a continue-as-new) gets
// the card it already holds.
func (a *allocator) leaseOf(holder string) (string, bool) {
	for sn, l := range a.st.Leases {
		if l.Holder == holder {
			return sn, true
		}
	}
	return "", false
}

// withFill bounds a fill: an allocation waits for it, so it must not retry
// for hours like an issuance's calls. One attempt may chain tens of RA
// calls, each retried on its own (activities.CallBackoff); its heartbeat
// tells a dead worker from a slow RA, and the next attempt resumes from it.
func withFill(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    5 * time.Minute,
		ScheduleToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:       30 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	})
}

// report applies a holder's news about its card. A report from anyone but
// the card's current holder is stale and ignored.
func (a *allocator) report(r contract.CardReport) {
	l, ok := a.st.Leases[r.SN]
	if !ok || l.Holder != r.Holder {
		return
	}
	delete(a.st.Leases, r.SN)
	if r.Outcome == contract.CardReleased {
		a.st.Available = append([]string{r.SN}, a.st.Available...)
		a.dry = false
	}
}

// handOverDue reports whether this run should hand over to the next.
func (a *allocator) handOverDue(ctx workflow.Context) bool {
	return a.handled >= allocatorRunLimit || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// checkLeases ends the leases whose holders are provably gone: closed for
// closedHolderGrace, or unknown to Temporal. A running holder keeps its
// lease whatever its age — its create may be retrying for hours — and
// ends it itself by reporting.
func (a *allocator) checkLeases(ctx workflow.Context) {
	holders := slices.Compact(slices.Sorted(func(yield func(string) bool) {
		for _, l := range a.st.Leases {
			if !yield(l.Holder) {
				return
			}
		}
	}))
	if len(holders) == 0 {
		return
	}
	var sc *activities.Scratchcards
	var described []activities.LeaseHolder
	if err := workflow.ExecuteActivity(summarize(withLeaseCheck(ctx), fmt.Sprintf("Ask whether the %d holders of leased scratchcards still run", len(holders))),
		sc.DescribeLeaseHolders, holders).Get(ctx, &described); err != nil {
		workflow.GetLogger(ctx).Warn("could not describe the scratchcard lease holders; keeping their leases", "error", err)
		return
	}
	now := workflow.Now(ctx)
	gone := map[string]bool{}
	for _, h := range described {
		gone[h.ID] = h.Closed && now.Sub(h.ClosedAt) >= closedHolderGrace
	}
	for _, sn := range a.leasedCards(func(l contract.Lease) bool { return gone[l.Holder] }) {
		a.settleAtRA(ctx, sn)
	}
	a.gauge(ctx)
}

// expireByTTL is the lease check of runs begun before
// allocatorLoopChange (see there): it ends leases without news for
// legacyLeaseTTL by the RA's isused alone.
func (a *allocator) expireByTTL(ctx workflow.Context) {
	now := workflow.Now(ctx)
	for _, sn := range a.leasedCards(func(l contract.Lease) bool { return now.Sub(l.At) >= legacyLeaseTTL }) {
		a.settleAtRA(ctx, sn)
	}
	a.gauge(ctx)
}

// leasedCards lists, in order, the leased cards whose lease matches.
func (a *allocator) leasedCards(match func(contract.Lease) bool) []string {
	var cards []string
	for sn, l := range a.st.Leases {
		if match(l) {
			cards = append(cards, sn)
		}
	}
	slices.Sort(cards)
	return cards
}

// settleAtRA ends the lease of card sn, whose holder is gone without a
// word, by what the RA says: used → forgotten, unused → handed out again.
// If the RA cannot say, the lease is kept for the next check.
func (a *allocator) settleAtRA(ctx workflow.Context, sn string) {
	var sc *activities.Scratchcards
	holder := a.st.Leases[sn].Holder
	var used bool
	if err := workflow.ExecuteActivity(summarize(withLeaseCheck(ctx), "Check scratchcard "+sn+" of a lease holder gone without a word"), sc.ScratchcardUsed, sn).Get(ctx, &used); err != nil {
		workflow.GetLogger(ctx).Warn("could not check a scratchcard at the RA; keeping its lease", "sn", sn, "error", err)
		return
	}
	a.report(contract.CardReport{SN: sn, Holder: holder, Outcome: map[bool]string{true: contract.CardUsed, false: contract.CardReleased}[used]})
}

// withLeaseCheck bounds a lease check's calls: nothing waits on them, and
// a lease whose check fails is checked again leaseCheckInterval later.
func withLeaseCheck(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    callTimeout,
		ScheduleToCloseTimeout: 10 * time.Minute,
	})
}

// gauge publishes the pool level operators watch.
func (a *allocator) gauge(ctx workflow.Context) {
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"ra": a.st.RA})
	m.Gauge("certflow_scratchcards_available").Update(float64(len(a.st.Available)))
	m.Gauge("certflow_scratchcards_leased").Update(float64(len(a.st.Leases)))
}

// status answers the status query with the pool's state.
func (a *allocator) status() (contract.AllocatorStatus, error) {
	return contract.AllocatorStatus{RA: a.st.RA, Available: len(a.st.Available), Leased: len(a.st.Leases), Cursor: a.st.Cursor}, nil
}
