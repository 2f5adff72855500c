package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/sandbox/sandboxtest"
)

// newRACards is a pool of total cards of which every third, from the
// first, is used.
func newRACards(total int) *sandboxtest.Cards {
	ra := sandboxtest.NewCards(total)
	for i := 1; i <= total; i += 3 {
		ra.Use(ra.SN(i))
	}
	return ra
}

// fill runs one FillScratchcards attempt against ra, resuming from
// heartbeat when it is not nil, and returns its result, its error and the
// last heartbeat details it recorded.
func fill(t *testing.T, ra *sandboxtest.Cards, in FillInput, heartbeat json.RawMessage) (FillResult, error, json.RawMessage) {
	t.Helper()
	return fillWith(t, &Scratchcards{Client: ra}, in, heartbeat)
}

// fillWith is fill with sc's settings.
func fillWith(t *testing.T, sc *Scratchcards, in FillInput, heartbeat json.RawMessage) (FillResult, error, json.RawMessage) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(sc)
	if heartbeat != nil {
		env.SetHeartbeatDetails(heartbeat)
	}
	var mu sync.Mutex
	var last json.RawMessage
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var raw json.RawMessage
		if details.HasValues() && details.Get(&raw) == nil {
			mu.Lock()
			last = raw
			mu.Unlock()
		}
	})
	var res FillResult
	val, err := env.ExecuteActivity((&Scratchcards{}).FillScratchcards, in)
	if err == nil {
		err = val.Get(&res)
	}
	mu.Lock()
	defer mu.Unlock()
	return res, err, last
}

// A fill whose worker dies halfway is retried with the progress it
// recorded as heartbeat details: the retry keeps the cards found and
// asks the RA only what was not asked yet.
func TestFillResumesFromHeartbeatAfterACrash(t *testing.T) {
	in := FillInput{RA: "121", Want: 20}
	whole := newRACards(100)
	want, err, _ := fill(t, whole, in, nil)
	if err != nil || len(want.Cards) != 20 {
		t.Fatalf("uninterrupted fill: %v, %v", want, err)
	}

	const crashAt = 15 // the 16th isused never answers: the worker died
	crashing := newRACards(100)
	crashing.Fault = func(op, _ string, n int) error {
		if op == "isused" && n == crashAt {
			panic("worker killed")
		}
		return nil
	}
	_, err, heartbeat := fill(t, crashing, in, nil)
	if err == nil {
		t.Fatal("the crashed attempt succeeded")
	}
	if heartbeat == nil {
		t.Fatal("the crashed attempt recorded no progress")
	}

	resumed := newRACards(100)
	got, err, _ := fill(t, resumed, in, heartbeat)
	if err != nil {
		t.Fatalf("resumed fill: %v", err)
	}
	if !slices.Equal(got.Cards, want.Cards) {
		t.Fatalf("resumed fill found %v, want %v", got.Cards, want.Cards)
	}
	if n := resumed.Calls("first"); n != 0 {
		t.Errorf("resumed fill asked get_first_unused %d time(s) again, want 0", n)
	}
	// Progress is recorded before each batch of isused calls asked at
	// once, so the retry repeats at most one batch.
	if n, all := resumed.Calls("isused"), whole.Calls("isused"); n > all-crashAt+fillParallel {
		t.Errorf("resumed fill asked isused %d times; the whole fill asks %d, %d of them before the crash, %d at once", n, all, crashAt, fillParallel)
	}
	if n, all := resumed.Calls("list"), whole.Calls("list"); n >= all {
		t.Errorf("resumed fill read %d list pages, as many as the whole fill (%d): it searched for the page again", n, all)
	}
}

// A failed call is retried on its own, after the RA's Retry-After: the
// fill neither starts over nor gives up.
func TestFillRetriesAFailedCallAfterRetryAfter(t *testing.T) {
	const retryAfter = 200 * time.Millisecond
	ra := newRACards(100)
	ra.Fault = func(op, _ string, n int) error {
		switch {
		case op == "isused" && n == 3:
			return &provider.Error{Provider: "uanataca", StatusCode: http.StatusTooManyRequests, RetryAfter: retryAfter}
		case op == "list" && n == 1:
			return &provider.Error{Provider: "uanataca", StatusCode: http.StatusBadGateway}
		}
		return nil
	}
	sc := &Scratchcards{Client: ra, FillBackoff: CallBackoff{Tries: 3, First: time.Millisecond, Max: time.Second}}
	start := time.Now()
	got, err, _ := fillWith(t, sc, FillInput{RA: "121", Want: 10}, nil)
	if err != nil || len(got.Cards) != 10 {
		t.Fatalf("fill: %v, %v; want 10 cards", got, err)
	}
	if n := ra.Calls("first"); n != 1 {
		t.Errorf("get_first_unused asked %d times, want once: a failed call must not restart the fill", n)
	}
	if waited := time.Since(start); waited < retryAfter {
		t.Errorf("fill took %v, less than the RA's Retry-After (%v)", waited, retryAfter)
	}
}

// A call that keeps failing ends the fill with the cards already found:
// they are handed out, never thrown away.
func TestFillKeepsCardsFoundWhenACallKeepsFailing(t *testing.T) {
	ra := newRACards(100)
	ra.Fault = func(op, sn string, _ int) error {
		if op == "isused" && sn == "1009" {
			return &provider.Error{Provider: "uanataca", StatusCode: http.StatusServiceUnavailable}
		}
		return nil
	}
	sc := &Scratchcards{Client: ra, FillBackoff: CallBackoff{Tries: 3, First: time.Millisecond, Max: time.Second}}
	got, err, _ := fillWith(t, sc, FillInput{RA: "121", Want: 10}, nil)
	if err != nil {
		t.Fatalf("fill failed (%v), want the cards found before 1009", err)
	}
	if fmt.Sprint(got.Cards) != "[1002 1003 1005 1006 1008]" || got.Cursor != 1 {
		t.Fatalf("fill found %v (cursor %d), want [1002 1003 1005 1006 1008] on page 1", got.Cards, got.Cursor)
	}
	// The page's 8 cards from 1003 are asked at once; 1009 is retried.
	if n := ra.Calls("isused"); n != 8+2 {
		t.Errorf("isused asked %d times, want 1003 to 1010 once each and 1009 twice more", n)
	}
}

// holderClient answers DescribeWorkflowExecution: running, closed at a
// time, or unknown to Temporal.
type holderClient struct {
	client.Client
	closed  map[string]time.Time
	unknown map[string]bool
}

func (c holderClient) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if c.unknown[id] {
		return nil, serviceerror.NewNotFound("workflow not found")
	}
	info := &workflowpb.WorkflowExecutionInfo{Status: enums.WORKFLOW_EXECUTION_STATUS_RUNNING}
	if at, ok := c.closed[id]; ok {
		info.Status, info.CloseTime = enums.WORKFLOW_EXECUTION_STATUS_FAILED, timestamppb.New(at)
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: info}, nil
}

func TestDescribeLeaseHolders(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	sc := &Scratchcards{Temporal: holderClient{closed: map[string]time.Time{"wf-closed": at}, unknown: map[string]bool{"wf-purged": true}}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(sc)
	val, err := env.ExecuteActivity(sc.DescribeLeaseHolders, []string{"wf-running", "wf-closed", "wf-purged"})
	var got []LeaseHolder
	if err == nil {
		err = val.Get(&got)
	}
	want := []LeaseHolder{{ID: "wf-running"}, {ID: "wf-closed", Closed: true, ClosedAt: at}, {ID: "wf-purged", Closed: true}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("described %v (%v), want %v", got, err, want)
	}
}

// batchingAllocator is the allocator as the Temporal client sees it: it
// answers each batch update with a card per request, holding the first
// until released, and records each batch's size.
type batchingAllocator struct {
	client.Client
	release chan struct{}
	mu      sync.Mutex
	sizes   []int
	next    int
}

func (f *batchingAllocator) NewWithStartWorkflowOperation(client.StartWorkflowOptions, any, ...any) client.WithStartWorkflowOperation {
	return nil
}

func (f *batchingAllocator) UpdateWithStartWorkflow(_ context.Context, o client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	reqs := o.UpdateOptions.Args[0].([]contract.AllocateRequest)
	f.mu.Lock()
	first := len(f.sizes) == 0
	f.sizes = append(f.sizes, len(reqs))
	results := make([]contract.AllocateResult, len(reqs))
	for i, r := range reqs {
		f.next++
		results[i] = contract.AllocateResult{Holder: r.Holder, SN: fmt.Sprint(1000 + f.next)}
	}
	f.mu.Unlock()
	if first {
		<-f.release
	}
	return batchAnswer(results), nil
}

// batchAnswer is an update's completed answer.
type batchAnswer []contract.AllocateResult

func (batchAnswer) WorkflowID() string { return "allocator" }
func (batchAnswer) RunID() string      { return "" }
func (batchAnswer) UpdateID() string   { return "" }
func (a batchAnswer) Get(_ context.Context, v any) error {
	*(v.(*[]contract.AllocateResult)) = a
	return nil
}

// Allocations asked while an update to their allocator is in flight go
// together in the next one: a burst of 20 costs the allocator 2 updates,
// and each caller gets its own card.
func TestAllocationsAskedTogetherGoInOneUpdate(t *testing.T) {
	f := &batchingAllocator{release: make(chan struct{})}
	var b Allocations
	ctx := context.Background()
	in := func(i int) AllocateInput {
		return AllocateInput{RA: "121", Holder: fmt.Sprintf("wf-%d", i), UpdateID: fmt.Sprintf("wf-%d/1", i), AllocatorID: "allocator-121"}
	}
	cards := make([]string, 20)
	errs := make([]error, 20)
	var wg sync.WaitGroup
	wg.Go(func() { cards[0], errs[0] = b.Allocate(ctx, f, "certflow", in(0)) })
	for !slices.Equal(f.batchSizes(), []int{1}) {
		time.Sleep(time.Millisecond) // the first is in flight
	}
	for i := 1; i < 20; i++ {
		wg.Go(func() { cards[i], errs[i] = b.Allocate(ctx, f, "certflow", in(i)) })
	}
	for b.queued("allocator-121") < 19 {
		time.Sleep(time.Millisecond)
	}
	close(f.release)
	wg.Wait()

	if sizes := f.batchSizes(); !slices.Equal(sizes, []int{1, 19}) {
		t.Fatalf("updates of %v requests, want [1 19]: those asked while one was in flight go together", sizes)
	}
	seen := map[string]bool{}
	for i, sn := range cards {
		if errs[i] != nil || sn == "" || seen[sn] {
			t.Fatalf("caller %d got %q, %v; cards %v: want each its own card", i, sn, errs[i], cards)
		}
		seen[sn] = true
	}
}

func (f *batchingAllocator) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sizes)
}

// queued counts the requests waiting for allocatorID's update in flight.
func (b *Allocations) queued(allocatorID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queues[allocatorID])
}
