package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/uanataca"
)

// fakeCards is an RA pool of cards 1001.. of which the test marks some
// used; it serves the allocator's activities through their real code.
type fakeCards struct {
	scripted
	total int
	used  map[string]bool
}

func (f *fakeCards) sn(i int) string { return fmt.Sprint(1000 + i) }

func (f *fakeCards) GetFirstUnusedScratchcard(_ context.Context, _ string) (uanataca.Scratchcard, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("first")
	for i := 1; i <= f.total; i++ {
		if !f.used[f.sn(i)] {
			return uanataca.Scratchcard{SN: uanataca.FlexString(f.sn(i))}, nil
		}
	}
	return uanataca.Scratchcard{}, &provider.Error{Provider: "uanataca", StatusCode: 404, Message: "No scratchcards available"}
}

func (f *fakeCards) ListScratchcards(_ context.Context, _ string, page int) (uanataca.Page[uanataca.Scratchcard], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("list")
	p := uanataca.Page[uanataca.Scratchcard]{Count: f.total}
	for i := (page-1)*10 + 1; i <= min(page*10, f.total); i++ {
		p.Results = append(p.Results, uanataca.Scratchcard{SN: uanataca.FlexString(f.sn(i))})
	}
	if page*10 < f.total {
		next := fmt.Sprintf("?page=%d", page+1)
		p.Next = &next
	}
	return p, nil
}

func (f *fakeCards) IsScratchcardUsed(_ context.Context, sn string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("isused")
	return f.used[sn], nil
}

func (f *fakeCards) use(sn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used[sn] = true
}

type allocatorEnv struct {
	*testEnv
	cards *fakeCards
	// got records each allocation's card or error, in the order asked.
	got []string
}

func newAllocatorEnv(total int, used ...string) *allocatorEnv {
	env := &allocatorEnv{testEnv: newTestEnv(), cards: &fakeCards{total: total, used: map[string]bool{}}}
	for _, sn := range used {
		env.cards.used[sn] = true
	}
	env.RegisterWorkflow(ScratchcardAllocator)
	env.RegisterActivity(&activities.Scratchcards{Client: env.cards})
	return env
}

// allocate asks for a card at d, as holder, optionally giving one back.
func (e *allocatorEnv) allocate(t *testing.T, d time.Duration, holder string, giving *CardReport) {
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateAllocate, fmt.Sprintf("%s@%s", holder, d), &testsuite.TestUpdateCallback{
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
				e.got = append(e.got, v.(string))
			},
		}, AllocateRequest{Holder: holder, Giving: giving})
	}, d)
}

func (e *allocatorEnv) report(d time.Duration, r CardReport) {
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalScratchcard, r) }, d)
}

func (e *allocatorEnv) run(t *testing.T, until time.Duration) {
	t.Helper()
	e.RegisterDelayedCallback(e.CancelWorkflow, until)
	e.ExecuteWorkflow(ScratchcardAllocator, AllocatorState{RA: "121"})
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
	// A fill looks for a page of cards at least: eight allocations, one
	// fill, not a call to the RA per card.
	if n := env.cards.count("first"); n != 1 {
		t.Fatalf("%d fills for 8 allocations, want 1", n)
	}
}

func TestAllocatorReleasedCardIsHandedOutAgainUsedCardNever(t *testing.T) {
	env := newAllocatorEnv(30)
	env.allocate(t, 1*time.Second, "wf-a", nil) // 1001
	env.allocate(t, 2*time.Second, "wf-b", nil) // 1002
	env.report(3*time.Second, CardReport{SN: "1001", Holder: "wf-a", Outcome: CardReleased})
	env.RegisterDelayedCallback(func() { env.cards.use("1002") }, 3*time.Second)
	env.report(4*time.Second, CardReport{SN: "1002", Holder: "wf-b", Outcome: CardUsed})
	env.report(4*time.Second, CardReport{SN: "1003", Holder: "wf-stale", Outcome: CardReleased}) // not its lease: ignored
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
	env.RegisterDelayedCallback(func() { env.cards.use("1001") }, 3*time.Second)
	env.allocate(t, 4*time.Second, "wf-a", &CardReport{SN: "1001", Holder: "wf-a", Outcome: CardTaken})
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

func TestAllocatorExpiredLeaseCheckedAtRA(t *testing.T) {
	env := newAllocatorEnv(30)
	env.allocate(t, 1*time.Second, "wf-a", nil) // 1001, never reported: its issuance vanished
	env.allocate(t, 2*time.Second, "wf-b", nil) // 1002, used but never reported
	env.RegisterDelayedCallback(func() { env.cards.use("1002") }, 3*time.Second)
	env.allocate(t, leaseTTL+2*time.Minute, "wf-c", nil)
	env.allocate(t, leaseTTL+3*time.Minute, "wf-d", nil)
	env.run(t, 2*leaseTTL)

	if fmt.Sprint(env.got) != "[1001 1002 1001 1003]" {
		t.Fatalf("allocations %v; want the unused expired 1001 handed out again, the used 1002 never", env.got)
	}
}

func TestAllocatorContinuesAsNewWithItsState(t *testing.T) {
	env := newAllocatorEnv(1000)
	for i := range allocatorRunLimit {
		env.allocate(t, time.Duration(i+1)*time.Millisecond, fmt.Sprintf("wf-%d", i), nil)
	}
	env.ExecuteWorkflow(ScratchcardAllocator, AllocatorState{RA: "121"})

	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("allocator ended with %v after %d allocations, want continue-as-new", err, allocatorRunLimit)
	}
	var next AllocatorState
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.RA != "121" || len(next.Leases) != allocatorRunLimit || next.Cursor == 0 {
		t.Fatalf("state carried over: RA %q, %d leases, cursor %d; want every lease kept", next.RA, len(next.Leases), next.Cursor)
	}
}
