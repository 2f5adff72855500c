package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// issuanceFigures is certflow's issuance throughput beside a bare SDK
// workflow of the same shape, on the same server in the same run.
type issuanceFigures struct {
	n              int
	shape          issuanceShape
	certflow, bare timings
	// bareShape is what one bare workflow did.
	bareShape issuanceShape
}

// issuanceShape is what one certflow issuance did, read from its history:
// the bare workflow does as much.
type issuanceShape struct {
	Activities int `json:"activities"`
	Signals    int `json:"signals"`
	// Tasks and Events are not copied: they say where the time goes.
	Tasks  int `json:"-"`
	Events int `json:"-"`
}

// runIssuance measures issue 15's P1: n Uanataca issuances at once, the
// emulator answering at once (approval and issuance 1 ms after asked),
// then n bare workflows of the same shape — as many activities, doing
// nothing, and as many signals, sent by the activity that stands for the
// create as the RA's webhooks would be. `make bench-issuance` runs it.
func runIssuance(args []string) error {
	fs := flag.NewFlagSet("issuance", flag.ExitOnError)
	n := fs.Int("n", 100, "issuances, and bare workflows, at once")
	fs.Parse(args)
	f, err := measureIssuance(context.Background(), *n)
	if err != nil {
		return err
	}
	fmt.Println(f)
	return nil
}

func (f issuanceFigures) String() string {
	return fmt.Sprintf("issuances: %d at once, %.1f/s (p99 %s); bare SDK workflows of the same shape (%d activities, %d signals): %.1f/s (p99 %s); ratio %.2f\n"+
		"one issuance: %d events, %d workflow tasks; one bare workflow: %d events, %d workflow tasks",
		f.n, f.certflow.rate(), percentile(f.certflow.latencies, 99), f.shape.Activities, f.shape.Signals,
		f.bare.rate(), percentile(f.bare.latencies, 99), f.certflow.rate()/f.bare.rate(),
		f.shape.Events, f.shape.Tasks, f.bareShape.Events, f.bareShape.Tasks)
}

// rate is the successful calls per second over the batch.
func (t timings) rate() float64 { return float64(len(t.latencies)) / t.elapsed.Seconds() }

func measureIssuance(ctx context.Context, n int) (issuanceFigures, error) {
	f := issuanceFigures{n: n}
	s, stop, err := startStack(ctx, uasandbox.Options{RAs: map[string]int{"121": n + allocatorSlack}, AutoApproveAfter: time.Millisecond, IssueAfter: time.Millisecond})
	if err != nil {
		return f, err
	}
	defer stop()
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()

	// A first issuance warms the allocator and gives the shape to copy.
	warm := issuanceIDs(1)[0]
	if err := issue(runCtx, s.Client, s.Config.TaskQueue, warm, 0); err != nil {
		return f, err
	}
	if f.shape, err = shapeOf(runCtx, s.Client, warm); err != nil {
		return f, err
	}
	ids := issuanceIDs(n)
	f.certflow = measure(n, n, func(i int) error { return issue(runCtx, s.Client, s.Config.TaskQueue, ids[i], i+1) })
	if err := f.certflow.err("issuances"); err != nil {
		return f, err
	}

	const queue = "bench-bare"
	w := sdkworker.New(s.Client, queue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(bareIssuance, workflow.RegisterOptions{Name: "BareIssuance"})
	w.RegisterActivity(&bareActivities{client: s.Client})
	if err := w.Start(); err != nil {
		return f, err
	}
	defer w.Stop()
	f.bare = measure(n, n, func(i int) error {
		run, err := s.Client.ExecuteWorkflow(runCtx, client.StartWorkflowOptions{ID: ids[i] + "-bare", TaskQueue: queue}, "BareIssuance", f.shape)
		if err == nil {
			err = run.Get(runCtx, nil)
		}
		return err
	})
	if err := f.bare.err("bare workflows"); err != nil {
		return f, err
	}
	f.bareShape, err = shapeOf(runCtx, s.Client, ids[0]+"-bare")
	return f, err
}

// shapeOf counts the activities and signals in workflow id's history.
func shapeOf(ctx context.Context, c client.Client, id string) (issuanceShape, error) {
	var sh issuanceShape
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return sh, err
		}
		sh.Events++
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			sh.Tasks++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			sh.Activities++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			sh.Signals++
		}
	}
	if sh.Activities < 2 {
		return sh, errors.New("the issuance ran fewer than two activities: not the shape of an issuance")
	}
	return sh, nil
}

// bareIssuance is the baseline: the first activity (the allocation), the
// second (the create) which has the signals sent, the wait for them, then
// the rest of the activities one after another — certflow's order, with
// no I/O and no logic.
func bareIssuance(ctx workflow.Context, sh issuanceShape) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var a *bareActivities
	if err := workflow.ExecuteActivity(ctx, a.Step, 0).Get(ctx, nil); err != nil {
		return err
	}
	if err := workflow.ExecuteActivity(ctx, a.Step, sh.Signals).Get(ctx, nil); err != nil {
		return err
	}
	signals := workflow.GetSignalChannel(ctx, "webhook")
	for range sh.Signals {
		signals.Receive(ctx, nil)
	}
	for range sh.Activities - 2 {
		if err := workflow.ExecuteActivity(ctx, a.Step, 0).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// bareActivities is the baseline's one activity.
type bareActivities struct{ client client.Client }

// Step does nothing, except that it has signals sent to its workflow once
// it returned, as an RA sends webhooks after a create.
func (a *bareActivities) Step(ctx context.Context, signals int) error {
	if signals == 0 {
		return nil
	}
	id := activity.GetInfo(ctx).WorkflowExecution.ID
	go func() {
		for range signals {
			if err := a.client.SignalWorkflow(context.Background(), id, "", "webhook", nil); err != nil {
				fmt.Println("bare workflow: signal:", err)
			}
		}
	}()
	return nil
}
