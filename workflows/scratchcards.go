package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// The scratchcard allocator: one long-lived workflow per RA hands out
// cards one at a time, so concurrent issuances on one RA never race on
// get_first_unused (which reserves nothing) and never fail a create with
// "Invalid ScratchCard" because of each other.
const (
	ScratchcardAllocatorName = "ScratchcardAllocator"
	// UpdateAllocate hands the caller a card (Update-with-Start).
	UpdateAllocate = "allocate"
	// SignalScratchcard tells the allocator what became of a card it
	// leased: used, released or taken.
	SignalScratchcard = "scratchcard"
)

// What a lease holder reports about its card.
const (
	CardUsed     = "used"     // a request was created with it
	CardReleased = "released" // the issuance ended before creating: hand it out again
	CardTaken    = "taken"    // the RA refused it as used by somebody else
)

const (
	// allocatorBatch is the fewest unused cards one fill looks for (a page
	// of the RA's list); a fill looks for as many as allocations are
	// waiting, so a burst is served by one fill, not one per batch.
	allocatorBatch = 10
	// leaseTTL is how long a card stays leased without news before the
	// allocator asks the RA whether it was used.
	leaseTTL = 30 * time.Minute
	// allocatorRunLimit bounds one run's allocations; then it continues as
	// new, carrying its state, so its history stays bounded.
	allocatorRunLimit = 500
)

// AllocatorID is the workflow ID of RA's allocator for the certflow
// deployment on taskQueue (one deployment, one set of RA credentials); it
// holds no personal data.
func AllocatorID(taskQueue, ra string) string { return "scratchcard-allocator-" + taskQueue + "-" + ra }

// AllocatorState is the allocator's input and what it carries across
// continue-as-new.
type AllocatorState struct {
	RA string `json:"ra"`
	// Cursor is the RA list page the next fill continues from.
	Cursor int `json:"cursor,omitempty"`
	// Available are unused cards found and not yet handed out, in order.
	Available []string `json:"available,omitempty"`
	// Leases are cards handed out and not yet reported, by card.
	Leases map[string]Lease `json:"leases,omitempty"`
}

// Lease is a card handed to an issuance.
type Lease struct {
	Holder string    `json:"holder"`
	At     time.Time `json:"at"`
}

// AllocateRequest names the asking issuance and, when it asks for a
// replacement, the card it gives back with it: applied in the same update,
// so the allocator can never hand the given-back card out again to it.
type AllocateRequest struct {
	Holder string      `json:"holder"`
	Giving *CardReport `json:"giving,omitempty"`
}

// CardReport is a lease holder's news about its card.
type CardReport struct {
	SN      string `json:"sn"`
	Holder  string `json:"holder"`
	Outcome string `json:"outcome"`
}

// allocator is the allocator's running state.
type allocator struct {
	st      AllocatorState
	handled int
	// waiting counts allocations in progress, to size the next fill.
	waiting int
	// draining refuses new allocations while the run hands over to the
	// next; callers retry and reach the new run.
	draining bool
	fill     workflow.Mutex
}

// ScratchcardAllocator serves allocations for one RA until its run limit,
// then continues as new. A card is leased to one issuance at a time; the
// issuance reports it used (forgotten), released (handed out again) or
// taken (forgotten); a lease without news for leaseTTL is checked at the
// RA, so no card is handed out twice or lost track of.
func ScratchcardAllocator(ctx workflow.Context, st AllocatorState) error {
	if st.RA == "" {
		return temporal.NewNonRetryableApplicationError("the allocator needs its RA", ErrTypeInvalidInput, nil)
	}
	if st.Leases == nil {
		st.Leases = map[string]Lease{}
	}
	a := &allocator{st: st, fill: workflow.NewMutex(ctx)}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, a.status); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAllocate, a.allocate, workflow.UpdateHandlerOptions{
		Validator: func(_ workflow.Context, req AllocateRequest) error {
			if req.Holder == "" {
				return errors.New("allocate: name the holder (the issuance's workflow ID)")
			}
			if a.draining {
				return errors.New("allocator is handing over to its next run; retry")
			}
			return nil
		},
	}); err != nil {
		return err
	}

	reports := workflow.GetSignalChannel(ctx, SignalScratchcard)
	// One lease timer at a time, kept across reports, so reports add
	// nothing to history but themselves.
	timerCtx, stopTimer := workflow.WithCancel(ctx)
	defer stopTimer()
	expiry := workflow.NewTimer(timerCtx, a.untilNextExpiry(ctx))
	for a.handled < allocatorRunLimit && !workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(reports, func(c workflow.ReceiveChannel, _ bool) {
			var r CardReport
			c.Receive(ctx, &r)
			a.report(r)
		})
		sel.AddFuture(expiry, func(f workflow.Future) {
			if f.Get(ctx, nil) == nil {
				a.expire(ctx)
				expiry = workflow.NewTimer(timerCtx, a.untilNextExpiry(ctx))
			}
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		if ctx.Err() != nil {
			// Stopped by an operator: the next allocation starts a fresh
			// allocator, which finds unused cards at the RA again.
			return ctx.Err()
		}
	}
	// Hand over: refuse new allocations, let running ones finish, apply
	// every report, then continue with the same state.
	a.draining = true
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	for {
		var r CardReport
		if !reports.ReceiveAsync(&r) {
			break
		}
		a.report(r)
	}
	return workflow.NewContinueAsNewError(ctx, ScratchcardAllocatorName, a.st)
}

// allocate hands req's holder a card: the one it already leases (a retried
// update), or the next available one, filling from the RA when none is.
func (a *allocator) allocate(ctx workflow.Context, req AllocateRequest) (string, error) {
	a.handled++
	a.waiting++
	defer func() { a.waiting-- }()
	if err := a.fill.Lock(ctx); err != nil {
		return "", err
	}
	defer a.fill.Unlock()
	if req.Giving != nil {
		a.report(*req.Giving)
	}
	// A holder has one lease at a time: a repeated request (a retried
	// activity after a continue-as-new) gets the card it already holds.
	for sn, l := range a.st.Leases {
		if l.Holder == req.Holder {
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
	a.st.Leases[sn] = Lease{Holder: req.Holder, At: workflow.Now(ctx)}
	a.gauge(ctx)
	return sn, nil
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
	return nil
}

// withFill bounds a fill: an allocation waits for it, so it must not retry
// for hours like an issuance's calls.
func withFill(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    callTimeout,
		ScheduleToCloseTimeout: 5 * time.Minute,
		HeartbeatTimeout:       30 * time.Second,
	})
}

// report applies a holder's news about its card. A report from anyone but
// the card's current holder is stale and ignored.
func (a *allocator) report(r CardReport) {
	l, ok := a.st.Leases[r.SN]
	if !ok || l.Holder != r.Holder {
		return
	}
	delete(a.st.Leases, r.SN)
	if r.Outcome == CardReleased {
		a.st.Available = append([]string{r.SN}, a.st.Available...)
	}
}

// untilNextExpiry is how long until the oldest lease expires (leaseTTL
// when there is none; a lease made meanwhile expires after the timer).
func (a *allocator) untilNextExpiry(ctx workflow.Context) time.Duration {
	next := leaseTTL
	now := workflow.Now(ctx)
	for _, l := range a.st.Leases {
		next = min(next, l.At.Add(leaseTTL).Sub(now))
	}
	return max(next, time.Second)
}

// expire checks leases without news for leaseTTL: a card the RA reports
// used is forgotten, an unused one is handed out again.
func (a *allocator) expire(ctx workflow.Context) {
	var sc *activities.Scratchcards
	now := workflow.Now(ctx)
	for _, sn := range slices.Sorted(func(yield func(string) bool) {
		for sn, l := range a.st.Leases {
			if now.Sub(l.At) >= leaseTTL && !yield(sn) {
				return
			}
		}
	}) {
		var used bool
		if err := workflow.ExecuteActivity(summarize(withCalls(ctx), "Check expired lease of scratchcard "+sn), sc.ScratchcardUsed, sn).Get(ctx, &used); err != nil {
			workflow.GetLogger(ctx).Warn("could not check an expired scratchcard lease; keeping it", "sn", sn, "error", err)
			continue
		}
		holder := a.st.Leases[sn].Holder
		a.report(CardReport{SN: sn, Holder: holder, Outcome: map[bool]string{true: CardUsed, false: CardReleased}[used]})
	}
	a.gauge(ctx)
}

// gauge publishes the pool level operators watch.
func (a *allocator) gauge(ctx workflow.Context) {
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"ra": a.st.RA})
	m.Gauge("certflow_scratchcards_available").Update(float64(len(a.st.Available)))
	m.Gauge("certflow_scratchcards_leased").Update(float64(len(a.st.Leases)))
}

// status answers the status query with the pool's state.
func (a *allocator) status() (AllocatorStatus, error) {
	return AllocatorStatus{RA: a.st.RA, Available: len(a.st.Available), Leased: len(a.st.Leases), Cursor: a.st.Cursor}, nil
}

// AllocatorStatus is what an allocator's status query answers.
type AllocatorStatus struct {
	RA        string `json:"ra"`
	Available int    `json:"available"`
	Leased    int    `json:"leased"`
	Cursor    int    `json:"cursor"`
}
