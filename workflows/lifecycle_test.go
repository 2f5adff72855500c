package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
)

// The wait loop on its own, over a fake provider object whose status the
// test moves: "pending" until it becomes "done". The wait polls hourly
// (at 0, 1h, 2h) and its deadline is at 2h30.

type fakeState struct {
	Status string `json:"status"`
}

type fakeObject struct {
	scripted
	status string
	// gone makes every call answer 404 from then on.
	gone bool
	// refuseCancel leaves a pending object pending when cancelled, as a
	// provider answering 409 and then showing it open.
	refuseCancel bool
}

func (o *fakeObject) state(op string) (fakeState, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.call(op); err != nil {
		return fakeState{}, err
	}
	if o.gone {
		return fakeState{}, temporal.NewNonRetryableApplicationError("not found", activities.ErrTypeNotFound, nil)
	}
	if op == "cancel" && o.status == "pending" && !o.refuseCancel {
		o.status = "cancelled"
	}
	return fakeState{Status: o.status}, nil
}

func (o *fakeObject) set(status string, gone bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.status, o.gone = status, gone
}

func (o *fakeObject) poll(context.Context, string) (fakeState, error) {
	s, err := o.state("poll")
	if err == nil && s.Status == "pending" {
		return s, temporal.NewApplicationError("not final", activities.ErrTypeNotFinal)
	}
	return s, err
}

func (o *fakeObject) read(context.Context, string) (fakeState, error)   { return o.state("read") }
func (o *fakeObject) cancel(context.Context, string) (fakeState, error) { return o.state("cancel") }

// fakeFollowed judges the fake object's states.
type fakeFollowed struct{}

func (fakeFollowed) judge(s fakeState) activities.Verdict {
	outcome, final := map[string]activities.Outcome{"done": activities.OutcomeSucceeded, "cancelled": activities.OutcomeCancelled}[s.Status]
	if !final {
		outcome = activities.OutcomePending
	}
	return activities.Verdict{Outcome: outcome, Status: s.Status}
}

func (fakeFollowed) shows(s fakeState, h contract.StatusHint) bool {
	return showsStatus(s.Status, h.Status)
}
func (fakeFollowed) eventKey(h contract.StatusHint) string { return h.Status }

// waitOutcome is how the wait ended.
type waitOutcome struct {
	Outcome activities.Outcome `json:"outcome"`
	End     waitEnd            `json:"end"`
}

// waitWorkflow follows the fake object, created pending, for deadline.
func waitWorkflow(ctx workflow.Context, deadline time.Duration) (waitOutcome, error) {
	var h handlers[contract.StatusHint]
	if err := h.register(ctx, "fake", nil); err != nil {
		return waitOutcome{}, err
	}
	req := request{
		provider: "fake", ref: "object 1", deadline: workflow.Now(ctx).Add(deadline),
		firstPoll: time.Hour, pollEvery: time.Hour,
		poll: "FakePoll", read: "FakeRead", cancel: "FakeCancel", arg: "1",
	}
	_, v, end, err := newWait(h.t, fakeFollowed{}, req, h.hints, fakeState{Status: "pending"}).follow(ctx)
	return waitOutcome{Outcome: v.Outcome, End: end}, err
}

// newWaitEnv runs waitWorkflow over o.
func newWaitEnv(o *fakeObject) *testEnv {
	env := newTestEnv()
	env.RegisterWorkflow(waitWorkflow)
	env.RegisterActivityWithOptions(o.poll, activity.RegisterOptions{Name: "FakePoll"})
	env.RegisterActivityWithOptions(o.read, activity.RegisterOptions{Name: "FakeRead"})
	env.RegisterActivityWithOptions(o.cancel, activity.RegisterOptions{Name: "FakeCancel"})
	return env
}

func TestWaitLoop(t *testing.T) {
	tests := []struct {
		name string
		// script moves the object and signals hints on the env.
		script      func(env *testEnv, o *fakeObject)
		wantOutcome activities.Outcome
		wantEnd     waitEnd
		// wantReads and wantCancels count the activities run.
		wantReads, wantCancels int
	}{
		{"final found by polling", func(env *testEnv, o *fakeObject) {
			env.RegisterDelayedCallback(func() { o.set("done", false) }, 90*time.Minute)
		}, activities.OutcomeSucceeded, endFinal, 0, 0},
		{"final announced by a hint", func(env *testEnv, o *fakeObject) {
			env.RegisterDelayedCallback(func() {
				o.set("done", false)
				env.SignalWorkflow(contract.SignalWebhook, contract.StatusHint{Status: "done"})
			}, 30*time.Minute)
		}, activities.OutcomeSucceeded, endFinal, 1, 0},
		{"a hint the last state shows costs no read", func(env *testEnv, o *fakeObject) {
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(contract.SignalWebhook, contract.StatusHint{Status: "pending"})
			}, 10*time.Minute)
			env.RegisterDelayedCallback(func() { o.set("done", false) }, 90*time.Minute)
		}, activities.OutcomeSucceeded, endFinal, 0, 0},
		{"deadline cancels at the provider", func(*testEnv, *fakeObject) {}, activities.OutcomeCancelled, endDeadline, 0, 1},
		{"cancellation cancels at the provider", func(env *testEnv, _ *fakeObject) {
			env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour)
		}, activities.OutcomeCancelled, endCancelled, 0, 1},
		{"gone while waiting is final", func(env *testEnv, o *fakeObject) {
			env.RegisterDelayedCallback(func() { o.set("pending", true) }, 90*time.Minute)
		}, activities.OutcomeGone, endFinal, 0, 0},
		{"gone at the cancel is final", func(env *testEnv, o *fakeObject) {
			env.RegisterDelayedCallback(func() { o.set("pending", true) }, 130*time.Minute)
		}, activities.OutcomeGone, endDeadline, 0, 1},
		{"a failed read leaves the wait to polling", func(env *testEnv, o *fakeObject) {
			o.script("read", temporal.NewNonRetryableApplicationError("bad request", activities.ErrTypeBadRequest, nil))
			env.RegisterDelayedCallback(func() {
				o.set("done", false)
				env.SignalWorkflow(contract.SignalWebhook, contract.StatusHint{Status: "done"})
			}, 30*time.Minute)
		}, activities.OutcomeSucceeded, endFinal, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &fakeObject{status: "pending"}
			env := newWaitEnv(o)
			tt.script(env, o)
			env.ExecuteWorkflow(waitWorkflow, 150*time.Minute)

			var got waitOutcome
			if err := env.result(t, &got); err != nil {
				t.Fatalf("wait failed: %v", err)
			}
			if got.Outcome != tt.wantOutcome || got.End != tt.wantEnd {
				t.Fatalf("wait ended %+v, want outcome %s, end %d", got, tt.wantOutcome, tt.wantEnd)
			}
			if reads, cancels := len(env.started["FakeRead"]), len(env.started["FakeCancel"]); reads != tt.wantReads || cancels != tt.wantCancels {
				t.Fatalf("%d reads and %d cancels, want %d and %d", reads, cancels, tt.wantReads, tt.wantCancels)
			}
		})
	}
}

// A provider that refuses the cancel and still shows the request open
// fails the workflow with "cancel it there by hand": it is not reported as
// cancelled.
func TestWaitLoopRefusedCancelFails(t *testing.T) {
	env := newWaitEnv(&fakeObject{status: "pending", refuseCancel: true})
	env.ExecuteWorkflow(waitWorkflow, 150*time.Minute)

	var got waitOutcome
	if err := env.result(t, &got); err == nil || !strings.Contains(err.Error(), "cancel it there by hand") {
		t.Fatalf("wait ended %+v, %v; want a failure saying to cancel it by hand", got, err)
	}
}
