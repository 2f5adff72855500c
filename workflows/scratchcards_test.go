package workflows

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/sandbox/sandboxtest"
)

// fakeHolders is the Temporal client's view of the lease holders'
// workflows: each runs until the test closes it.
type fakeHolders struct {
	client.Client
	mu     sync.Mutex
	closed map[string]time.Time
}

func (f *fakeHolders) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info := &workflowpb.WorkflowExecutionInfo{Status: enums.WORKFLOW_EXECUTION_STATUS_RUNNING}
	if at, ok := f.closed[id]; ok {
		info.Status, info.CloseTime = enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, timestamppb.New(at)
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: info}, nil
}

type allocatorEnv struct {
	*testEnv
	cards   *sandboxtest.Cards
	holders *fakeHolders
	// got records each allocation's card or error, in the order asked.
	got []string
	// handedTo records, by card, each holder it was handed to.
	handedTo map[string][]string
}

func newAllocatorEnv(total int, used ...string) *allocatorEnv {
	env := &allocatorEnv{
		testEnv: newTestEnv(), cards: sandboxtest.NewCards(total, used...),
		holders: &fakeHolders{closed: map[string]time.Time{}}, handedTo: map[string][]string{},
	}
	env.RegisterWorkflow(ScratchcardAllocator)
	env.RegisterActivity(&activities.Scratchcards{
		Client: env.cards, Temporal: env.holders,
		// The fills' retries wait real time: keep them short.
		FillBackoff: activities.CallBackoff{Tries: 8, First: time.Millisecond, Max: 50 * time.Millisecond},
	})
	return env
}

// closeHolder ends holder's workflow at d, as if it completed without
// telling the allocator.
func (e *allocatorEnv) closeHolder(d time.Duration, holder string) {
	e.RegisterDelayedCallback(func() {
		e.holders.mu.Lock()
		defer e.holders.mu.Unlock()
		e.holders.closed[holder] = e.Now()
	}, d)
}

// handedTwice lists the cards handed to more than one holder.
func (e *allocatorEnv) handedTwice() map[string][]string {
	twice := map[string][]string{}
	for sn, holders := range e.handedTo {
		if len(holders) > 1 {
			twice[sn] = holders
		}
	}
	return twice
}

// allocate asks for a card at d, as holder, optionally giving one back.
func (e *allocatorEnv) allocate(t *testing.T, d time.Duration, holder string, giving *contract.CardReport) {
	e.allocateThen(t, d, holder, giving, nil)
}

// allocateThen asks for a card at d, as holder, and calls onCard with the
// card it gets.
func (e *allocatorEnv) allocateThen(t *testing.T, d time.Duration, holder string, giving *contract.CardReport, onCard func(sn string)) {
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(contract.UpdateAllocate, fmt.Sprintf("%s@%s", holder, d), &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("allocation for %s rejected: %v", holder, err) },
			OnComplete: func(v any, err error) {
				if err != nil {
					var appErr *temporal.ApplicationError
					if errors.As(err, &appErr) {
						e.got = append(e.got, "error:"+appErr.Type())
						return
					}
					e.got = append(e.got, "error:"+err.Error())
					return
				}
				sn := v.(string)
				e.got = append(e.got, sn)
				if !slices.Contains(e.handedTo[sn], holder) {
					e.handedTo[sn] = append(e.handedTo[sn], holder)
				}
				if onCard != nil {
					onCard(sn)
				}
			},
		}, contract.AllocateRequest{Holder: holder, Giving: giving})
	}, d)
}

func (e *allocatorEnv) report(d time.Duration, r contract.CardReport) {
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(contract.SignalScratchcard, r) }, d)
}

func (e *allocatorEnv) run(t *testing.T, until time.Duration) {
	t.Helper()
	e.RegisterDelayedCallback(e.CancelWorkflow, until)
	e.ExecuteWorkflow(ScratchcardAllocator, contract.AllocatorState{RA: "121"})
}

func TestAllocatorHandsOutDistinctUnusedCards(t *testing.T) {
	env := newAllocatorEnv(30, "1001", "1002", "1004")
	for i := range 8 {
		env.allocate(t, time.Duration(i+1)*time.Second, fmt.Sprintf("wf-%d", i), nil)
	}
	env.run(t, time.Minute)

	want := []string{"1003", "1005", "1006", "1007", "1008", "1009", "1010", "1011"}
	if fmt.Sprint(env.got) != fmt.Sprint(want) {
		t.Fatalf("allocations %v, want %v: distinct, unused, in order", env.got, want)
	}
	// A fill looks for a page of cards at least: eight allocations, two
	// fills (the first, then one ahead of demand once the stock fell under
	// a batch), not a call to the RA per card.
	if n := env.cards.Calls("first"); n != 2 {
		t.Fatalf("%d fills for 8 allocations, want 2", n)
	}
}

// Cards are read before allocations need them: once the allocator has
// served its first allocation, a later burst is served from the stock
// read ahead, even when the RA answers no call while it arrives.
func TestAllocatorFillsAheadOfDemand(t *testing.T) {
	env := newAllocatorEnv(100)
	var raDown atomic.Bool
	env.cards.Fault = func(op, _ string, _ int) error {
		if raDown.Load() {
			return &provider.Error{Provider: "uanataca", Operation: op, StatusCode: http.StatusServiceUnavailable}
		}
		return nil
	}
	env.allocate(t, time.Second, "wf-first", nil)
	env.RegisterDelayedCallback(func() { raDown.Store(true) }, time.Minute)
	for i := range allocatorBatch {
		env.allocate(t, 2*time.Minute, fmt.Sprintf("wf-%d", i), nil)
	}
	env.run(t, 5*time.Minute)

	if len(env.got) != allocatorBatch+1 || len(env.handedTwice()) > 0 || slices.ContainsFunc(env.got, func(s string) bool { return strings.HasPrefix(s, "error") }) {
		t.Fatalf("allocations %v, want %d distinct cards, the burst's from the stock read ahead", env.got, allocatorBatch+1)
	}
}

// A batch of allocations is served as that many single ones: distinct
// unused cards, the same card to a holder asking again, and the pool's
// exhaustion to those beyond it, each in its own answer.
func TestAllocatorServesABatch(t *testing.T) {
	env := newAllocatorEnv(4, "1002")
	var got []contract.AllocateResult
	batch := func(d time.Duration, id string, holders ...string) {
		env.RegisterDelayedCallback(func() {
			var reqs []contract.AllocateRequest
			for _, h := range holders {
				reqs = append(reqs, contract.AllocateRequest{Holder: h})
			}
			env.UpdateWorkflow(contract.UpdateAllocateBatch, id, &testsuite.TestUpdateCallback{
				OnReject: func(err error) { t.Errorf("batch %s rejected: %v", id, err) },
				OnComplete: func(v any, err error) {
					if err != nil {
						t.Errorf("batch %s failed: %v", id, err)
						return
					}
					got = append(got, v.([]contract.AllocateResult)...)
				},
			}, reqs)
		}, d)
	}
	batch(time.Second, "b1", "wf-a", "wf-b")
	batch(2*time.Second, "b2", "wf-a", "wf-c", "wf-d")
	env.run(t, time.Minute)

	var answers []string
	for _, r := range got {
		answers = append(answers, r.Holder+":"+cmp.Or(r.SN, r.ErrorType))
	}
	want := "[wf-a:1001 wf-b:1003 wf-a:1001 wf-c:1004 wf-d:" + activities.ErrTypePoolExhausted + "]"
	if fmt.Sprint(answers) != want {
		t.Fatalf("answers %v, want %s", answers, want)
	}
}

func TestAllocatorReleasedCardIsHandedOutAgainUsedCardNever(t *testing.T) {
	env := newAllocatorEnv(30)
	env.allocate(t, 1*time.Second, "wf-a", nil) // 1001
	env.allocate(t, 2*time.Second, "wf-b", nil) // 1002
	env.report(3*time.Second, contract.CardReport{SN: "1001", Holder: "wf-a", Outcome: contract.CardReleased})
	env.RegisterDelayedCallback(func() { env.cards.Use("1002") }, 3*time.Second)
	env.report(4*time.Second, contract.CardReport{SN: "1002", Holder: "wf-b", Outcome: contract.CardUsed})
	env.report(4*time.Second, contract.CardReport{SN: "1003", Holder: "wf-stale", Outcome: contract.CardReleased}) // not its lease: ignored
	env.allocate(t, 5*time.Second, "wf-c", nil)
	env.allocate(t, 6*time.Second, "wf-d", nil)
	env.run(t, time.Minute)

	if fmt.Sprint(env.got) != "[1001 1002 1001 1003]" {
		t.Fatalf("allocations %v, want the released 1001 again, never the used 1002", env.got)
	}
}

func TestAllocatorRepeatedHolderGetsItsCardAndGivingBackReplacesIt(t *testing.T) {
	env := newAllocatorEnv(30)
	env.allocate(t, 1*time.Second, "wf-a", nil)
	env.allocate(t, 2*time.Second, "wf-a", nil) // a retry: same card
	env.RegisterDelayedCallback(func() { env.cards.Use("1001") }, 3*time.Second)
	env.allocate(t, 4*time.Second, "wf-a", &contract.CardReport{SN: "1001", Holder: "wf-a", Outcome: contract.CardTaken})
	env.run(t, time.Minute)

	if fmt.Sprint(env.got) != "[1001 1001 1002]" {
		t.Fatalf("allocations %v, want the same card on a retry, a new one when the old is given back", env.got)
	}
}

func TestAllocatorPoolExhausted(t *testing.T) {
	env := newAllocatorEnv(2)
	env.allocate(t, 1*time.Second, "wf-a", nil)
	env.allocate(t, 2*time.Second, "wf-b", nil)
	env.allocate(t, 3*time.Second, "wf-c", nil)
	env.run(t, time.Minute)

	want := "[1001 1002 error:" + activities.ErrTypePoolExhausted + "]"
	if fmt.Sprint(env.got) != want {
		t.Fatalf("allocations %v, want %s", env.got, want)
	}
}

// lapse is longer than the allocator leaves a lease unchecked.
const lapse = 30 * time.Minute

func TestAllocatorLeaseOfClosedHolderCheckedAtRA(t *testing.T) {
	env := newAllocatorEnv(30)
	env.allocate(t, 1*time.Second, "wf-a", nil) // 1001, never reported: its issuance vanished
	env.allocate(t, 2*time.Second, "wf-b", nil) // 1002, used but never reported
	env.RegisterDelayedCallback(func() { env.cards.Use("1002") }, 3*time.Second)
	env.closeHolder(10*time.Minute, "wf-a")
	env.closeHolder(10*time.Minute, "wf-b")
	env.allocate(t, lapse+2*time.Minute, "wf-c", nil)
	env.allocate(t, lapse+3*time.Minute, "wf-d", nil)
	env.run(t, 2*lapse)

	if fmt.Sprint(env.got) != "[1001 1002 1001 1003]" {
		t.Fatalf("allocations %v; want the unused 1001 of a closed holder handed out again, the used 1002 never", env.got)
	}
}

// A run begun before leases ended by their holder's word (its history has
// no allocatorLoopChange marker) keeps ending them by the TTL and the RA
// alone, so its history replays.
func TestAllocatorRunBeforeLoopChangeKeepsTTLExpiry(t *testing.T) {
	env := newAllocatorEnv(30)
	env.OnGetVersion(allocatorLoopChange, workflow.DefaultVersion, allocatorLoopRecords).Return(workflow.DefaultVersion)
	env.allocate(t, 1*time.Second, "wf-a", nil) // 1001, holder still running
	env.allocate(t, 2*time.Second, "wf-b", nil) // 1002, used
	env.RegisterDelayedCallback(func() { env.cards.Use("1002") }, 3*time.Second)
	env.allocate(t, 2*legacyLeaseTTL+time.Minute, "wf-c", nil)
	env.run(t, 3*legacyLeaseTTL)

	if fmt.Sprint(env.got) != "[1001 1002 1001]" {
		t.Fatalf("allocations %v; want the unused 1001 expired by the TTL and handed out again, as before", env.got)
	}
}

// An issuance whose create keeps failing (the RA answers 5xx) holds its
// card, unused at the RA, for as long as the create is retried: the card
// must not be handed to anybody else meanwhile.
func TestAllocatorKeepsLeaseWhileItsHolderRetriesCreate(t *testing.T) {
	env := newAllocatorEnv(100)
	env.allocate(t, time.Second, "wf-stuck", nil) // 1001; its create fails for 2 h
	for i := range 20 {
		holder := fmt.Sprintf("wf-%d", i)
		env.allocateThen(t, time.Duration(i+1)*6*time.Minute, holder, nil, func(sn string) {
			env.cards.Use(sn) // created at once
			env.SignalWorkflow(contract.SignalScratchcard, contract.CardReport{SN: sn, Holder: holder, Outcome: contract.CardUsed})
		})
	}
	env.RegisterDelayedCallback(func() { env.cards.Use("1001") }, 2*time.Hour) // the create succeeds at last
	env.report(2*time.Hour, contract.CardReport{SN: "1001", Holder: "wf-stuck", Outcome: contract.CardUsed})
	env.run(t, 2*time.Hour+10*time.Minute)

	if twice := env.handedTwice(); len(twice) > 0 {
		t.Fatalf("cards handed out twice (card: holders): %v", twice)
	}
	if len(env.got) != 21 {
		t.Fatalf("allocations %v, want 21 cards", env.got)
	}
}

// Checking a lease whose holder is gone waits on the RA (isused failing);
// meanwhile a holder's report must be applied at once, so its released
// card is the next one handed out.
func TestAllocatorAppliesReportsWhileALeaseCheckWaitsOnTheRA(t *testing.T) {
	env := newAllocatorEnv(30)
	env.cards.Fault = func(op, sn string, _ int) error {
		if op == "isused" && sn == "1001" {
			return &provider.Error{Provider: "uanataca", Operation: "is_scratchcard_used", StatusCode: http.StatusServiceUnavailable}
		}
		return nil
	}
	env.allocate(t, 1*time.Second, "wf-gone", nil) // 1001
	env.closeHolder(10*time.Minute, "wf-gone")     // without a word
	env.allocate(t, 2*time.Second, "wf-b", nil)    // 1002
	env.report(lapse+time.Minute, contract.CardReport{SN: "1002", Holder: "wf-b", Outcome: contract.CardReleased})
	env.allocate(t, lapse+2*time.Minute, "wf-c", nil)
	env.run(t, lapse+5*time.Minute)

	if fmt.Sprint(env.got) != "[1001 1002 1002]" {
		t.Fatalf("allocations %v, want the released 1002 handed out again while 1001 is being checked", env.got)
	}
}

// An ordinary bad day at the RA (30% 5xx, 10% 429) must not starve the
// issuances: 50 concurrent allocations all get distinct unused cards.
func TestAllocatorServesConcurrentAllocationsFromAFaultyRA(t *testing.T) {
	env := newAllocatorEnv(300)
	env.SetTestTimeout(time.Minute) // the fills' retries wait real time
	usedBefore := map[string]bool{}
	for i := 1; i <= 300; i += 4 {
		env.cards.Use(env.cards.SN(i)) // used outside certflow
		usedBefore[env.cards.SN(i)] = true
	}
	rng := rand.New(rand.NewPCG(12, 6))
	env.cards.Fault = func(op, _ string, _ int) error {
		switch r := rng.Float64(); {
		case r < 0.30:
			return &provider.Error{Provider: "uanataca", Operation: op, StatusCode: http.StatusServiceUnavailable}
		case r < 0.40:
			return &provider.Error{Provider: "uanataca", Operation: op, StatusCode: http.StatusTooManyRequests, RetryAfter: 10 * time.Millisecond}
		}
		return nil
	}
	for i := range 50 {
		env.allocate(t, time.Second, fmt.Sprintf("wf-%d", i), nil)
	}
	env.run(t, time.Hour)

	if len(env.got) != 50 {
		t.Fatalf("%d of 50 allocations answered: %v", len(env.got), env.got)
	}
	for _, sn := range env.got {
		if usedBefore[sn] || len(env.handedTo[sn]) != 1 {
			t.Fatalf("allocations %v: want 50 distinct unused cards; %s is used at the RA or handed out twice (%v)", env.got, sn, env.handedTo[sn])
		}
	}
}

func TestAllocatorContinuesAsNewWithItsState(t *testing.T) {
	env := newAllocatorEnv(1000)
	for i := range allocatorRunLimit {
		env.allocate(t, time.Duration(i+1)*time.Millisecond, fmt.Sprintf("wf-%d", i), nil)
	}
	env.ExecuteWorkflow(ScratchcardAllocator, contract.AllocatorState{RA: "121"})

	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("allocator ended with %v after %d allocations, want continue-as-new", err, allocatorRunLimit)
	}
	var next contract.AllocatorState
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.RA != "121" || len(next.Leases) != allocatorRunLimit || next.Cursor == 0 {
		t.Fatalf("state carried over: RA %q, %d leases, cursor %d; want every lease kept", next.RA, len(next.Leases), next.Cursor)
	}
}
