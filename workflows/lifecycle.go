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

// This file is the part every provider lifecycle shares once its request
// exists at the provider: the wait for the request's outcome, the
// compensation that cancels it when the wait ends without one, and the
// conclusion. A provider plugs in by implementing followed once; its own
// file tells the rest of its story (validate, create, follow, conclude).

// lifecycle is a provider lifecycle's impl struct, as its thin workflow
// function runs it (the shape of Temporal's reference-app-orders-go):
// setup registers the handlers, run reads top to bottom as the lifecycle's
// story.
type lifecycle[R any] interface {
	setup(ctx workflow.Context) error
	run(ctx workflow.Context) (*R, error)
}

// execute runs a lifecycle: setup, then run.
func execute[R any](ctx workflow.Context, l lifecycle[R]) (*R, error) {
	if err := l.setup(ctx); err != nil {
		return nil, err
	}
	return l.run(ctx)
}

// handlers is what every lifecycle's setup registers: the status query
// (and search attributes) through its tracker, and the inbox of webhook
// hints of type H.
type handlers[H any] struct {
	t     *tracker
	hints *inbox[H]
}

// register sets up the handlers of provider's lifecycle; heard, when not
// nil, is told each hint as it arrives.
func (h *handlers[H]) register(ctx workflow.Context, provider string, heard func(H)) (err error) {
	h.t, err = newTracker(ctx, provider)
	h.hints = listen(ctx, heard)
	return err
}

// followed is a request that exists at its provider, as the shared wait
// and compensation see it: what its states and hints mean. S is the
// provider's state as its activities read it, H the webhook hint the
// ingress signals. The activities that reach it are named in its request.
type followed[S, H any] interface {
	// judge says what a state means (the provider's activities.JudgeX,
	// which its polling activity uses too).
	judge(S) activities.Verdict
	// shows reports whether a state shows what a hint announced. Only
	// such a hint is spent without a read: a forged or early hint that no
	// read confirmed never hides the genuine one that follows.
	shows(S, H) bool
	// eventKey names the event a hint announces (only awaitBlocking, the
	// wait of runs started before waitLoopChange, uses it).
	eventKey(H) string
}

// observer is implemented by a followed request that keeps more of each
// state read than its status (Humanos: every subject's progress).
type observer[S any] interface {
	observe(S)
}

// request names a followed request in messages and activity summaries and
// says how its wait runs.
type request struct {
	// provider and ref name the request: "masstack", "identification 6f1c…".
	provider, ref string
	// failType is the error type of a request the provider ended
	// unsuccessfully (OutcomeFailed).
	failType string
	deadline time.Time
	// firstPoll and pollEvery space the polls: the first after firstPoll,
	// then backing off (doubling) to one every pollEvery.
	firstPoll, pollEvery time.Duration
	// poll, read and cancel are the provider's activities: poll until the
	// state is final (its retry policy does the waiting, so a long wait
	// adds nothing to history), read it once, cancel and read the state
	// it ends in. Each takes arg; cancel takes cancelArg's when it is
	// set, given the canceller's reason ("" when there is none).
	poll, read, cancel any
	arg                any
	cancelArg          func(reason string) any
}

func (r request) String() string { return r.ref + " at " + r.provider }

// startPoll schedules the polling activity.
func (r request) startPoll(ctx workflow.Context) workflow.Future {
	ctx = summarize(withPolling(ctx, r.firstPoll, r.pollEvery, r.deadline), "Poll "+r.String()+" until final")
	return workflow.ExecuteActivity(ctx, r.poll, r.arg)
}

// startRead schedules one authoritative read.
func (r request) startRead(ctx workflow.Context) workflow.Future {
	return workflow.ExecuteActivity(summarize(withCalls(ctx), "Re-read "+r.String()+" after a webhook"), r.read, r.arg)
}

// startCancel schedules the cancel at the provider, for reason.
func (r request) startCancel(ctx workflow.Context, reason string) workflow.Future {
	arg := r.arg
	if r.cancelArg != nil {
		arg = r.cancelArg(reason)
	}
	return workflow.ExecuteActivity(summarize(withCalls(ctx), "Cancel "+r.String()), r.cancel, arg)
}

// validateInput joins a provider request's validation with the bounds of
// the lifecycle's timeout and poll interval.
func validateInput(requestErr error, timeout, poll contract.Duration, maxTimeout time.Duration) error {
	var problems []error
	if requestErr != nil {
		problems = append(problems, requestErr)
	}
	if t := time.Duration(timeout); t < 0 || t > maxTimeout || (t != 0 && t < time.Minute) {
		problems = append(problems, fmt.Errorf("timeout: %s is not allowed; use between 1m and %s", t, maxTimeout))
	}
	if p := time.Duration(poll); p < 0 || (p != 0 && p < time.Second) {
		problems = append(problems, fmt.Errorf("poll_interval: %s is not allowed; use at least 1s", p))
	}
	return errors.Join(problems...)
}

// waitEnd says why a wait returned.
type waitEnd int

const (
	// endFinal: the provider reached a final state.
	endFinal waitEnd = iota
	// endDeadline: the lifecycle's deadline passed first.
	endDeadline
	// endCancelled: the workflow was cancelled.
	endCancelled
)

// inbox holds the webhook hints a workflow has received and not yet
// spent. One coroutine does nothing but receive them, from the workflow's
// start, so a hint is recorded whatever the workflow is doing; the wait
// loop spends them.
type inbox[H any] struct {
	pending []H
	// heard, when not nil, is told each hint as it arrives (it must only
	// record).
	heard func(H)
	// channel is the signal channel, which only awaitBlocking reads
	// itself (blocking is set): every other run's coroutine does.
	channel  workflow.ReceiveChannel
	blocking bool
}

// listen starts recording the workflow's webhook hints. A run started
// before waitLoopChange leaves the signal channel to awaitBlocking.
func listen[H any](ctx workflow.Context, heard func(H)) *inbox[H] {
	in := &inbox[H]{heard: heard, channel: workflow.GetSignalChannel(ctx, contract.SignalWebhook)}
	if workflow.GetVersion(ctx, waitLoopChange, workflow.DefaultVersion, waitLoopRecords) == workflow.DefaultVersion {
		in.blocking = true
		return in
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var h H
			in.channel.Receive(ctx, &h)
			if heard != nil {
				heard(h)
			}
			in.pending = append(in.pending, h)
		}
	})
	return in
}

// take returns the pending hints and empties the inbox.
func (in *inbox[H]) take() []H {
	taken := in.pending
	in.pending = nil
	return taken
}

// wait follows one request to its outcome. Callbacks and coroutines only
// record into it (a state read, the poll's end, the deadline); the loop in
// follow acts on what they recorded. So a deadline or a cancellation is
// acted on within one workflow task, whatever a provider call is doing.
type wait[S, H any] struct {
	p     followed[S, H]
	req   request
	t     *tracker
	hints *inbox[H]
	// last is the latest state known (the create's answer at first) and
	// verdict its judgement.
	last    S
	verdict activities.Verdict
	// reading is true while a read is in flight: at most one at a time,
	// which covers every hint pending when it started.
	reading        bool
	deadlinePassed bool
	// failed is the polling's failure, which ends the wait.
	failed error
}

func newWait[S, H any](t *tracker, p followed[S, H], req request, hints *inbox[H], created S) *wait[S, H] {
	w := &wait[S, H]{p: p, req: req, t: t, hints: hints}
	w.saw(created)
	return w
}

// follow runs the request's lifecycle from the wait on. The request never
// stays behind unattended: when the wait ends by deadline, cancellation or
// failure, follow cancels it at the provider first. It returns the final
// state, its verdict, how the wait ended, and the failure that ended it.
func (w *wait[S, H]) follow(ctx workflow.Context) (S, activities.Verdict, waitEnd, error) {
	end := endCancelled
	var err error
	if ctx.Err() == nil {
		w.t.stage(contract.StageAwaiting)
		if w.hints.blocking {
			end, err = w.awaitBlocking(ctx)
		} else {
			end, err = w.await(ctx)
		}
	}
	if err != nil {
		w.abandon(ctx)
		return w.last, w.verdict, end, err
	}
	if end != endFinal && !w.verdict.Final() {
		reason := ""
		if end == endCancelled {
			reason = w.t.cancelReason()
		}
		final, verdict, cerr := compensate(ctx, w.t, w.p, w.req, reason)
		if cerr != nil {
			w.t.stage(contract.StageFailed)
			return w.last, w.verdict, end, fmt.Errorf("cancelling %s failed; cancel it there by hand: %w", w.req, cerr)
		}
		if !verdict.Final() && !w.hints.blocking {
			// The provider refused the cancel (409/412) yet shows the
			// request open: nothing certflow can do will close it. (Runs
			// begun before waitLoopChange end as they did.)
			w.t.stage(contract.StageFailed)
			return w.last, verdict, end, fmt.Errorf("%s refused the cancel and is still %s there; cancel it there by hand", w.req, verdict.Status)
		}
		if verdict.Outcome != activities.OutcomeGone {
			w.last = final // a gone request keeps the last state read
		}
		w.verdict = verdict
		w.t.providerStatus(verdict.Status)
	}
	return w.last, w.verdict, end, nil
}

// await waits until the provider's state is final, learned from a read
// that a webhook hint triggered or from the polling activity; or until the
// deadline passes or the workflow is cancelled. A hint is never trusted:
// it only triggers an authoritative read, so a forged or stale webhook
// cannot end the wait with a state the provider does not hold.
func (w *wait[S, H]) await(ctx workflow.Context) (waitEnd, error) {
	pollCtx, stopPolling := workflow.WithCancel(ctx)
	defer stopPolling()
	timerCtx, stopTimer := workflow.WithCancel(ctx)
	defer stopTimer()
	readCtx, stopReading := workflow.WithCancel(ctx)
	defer stopReading()

	polling := w.req.startPoll(pollCtx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		var s S
		w.polled(ctx, s, polling.Get(ctx, &s))
	})
	deadline := workflow.NewTimer(timerCtx, w.req.deadline.Sub(workflow.Now(ctx)))
	workflow.Go(ctx, func(ctx workflow.Context) {
		w.deadlinePassed = deadline.Get(ctx, nil) == nil
	})

	for {
		err := workflow.Await(ctx, func() bool {
			return w.verdict.Final() || w.failed != nil || w.deadlinePassed || (!w.reading && len(w.hints.pending) > 0)
		})
		switch {
		case err != nil:
			return endCancelled, nil
		case w.failed != nil:
			return endFinal, w.failed
		case w.verdict.Final():
			return endFinal, nil
		case w.deadlinePassed:
			return endDeadline, nil
		}
		w.readFor(readCtx, w.hints.take())
	}
}

// waitLoopChange names the change from a wait that re-read inside its
// Selector callbacks (awaitBlocking) to one whose callbacks only record
// (await). Runs started before it keep the old loop, so their histories
// replay unchanged; every run started since records the version.
const (
	waitLoopChange  = "wait-loop-records"
	waitLoopRecords = 1
)

// awaitBlocking is the wait as it was before waitLoopChange, kept only for
// runs started before it was deployed (at most a lifecycle's longest
// deadline, 366 days): it receives hints itself and re-reads inside the
// Selector callback, blocking everything else meanwhile, and spends a
// hint's event key once read, whatever the read showed. Remove it, and
// the version check, once no such run remains (`certflow list --running`).
func (w *wait[S, H]) awaitBlocking(ctx workflow.Context) (waitEnd, error) {
	var (
		end  waitEnd
		done bool
		err  error
	)
	pollCtx, stopPolling := workflow.WithCancel(ctx)
	defer stopPolling()
	timerCtx, stopTimer := workflow.WithCancel(ctx)
	defer stopTimer()

	sel := workflow.NewSelector(ctx)
	sel.AddFuture(w.req.startPoll(pollCtx), func(f workflow.Future) {
		var s S
		if perr := f.Get(ctx, &s); perr != nil {
			if (temporal.IsCanceledError(perr) && ctx.Err() != nil) || pollingExhausted(perr) {
				return
			}
			err = perr
		} else {
			w.saw(s)
		}
		done, end = true, endFinal
	})
	sel.AddFuture(workflow.NewTimer(timerCtx, w.req.deadline.Sub(workflow.Now(ctx))), func(f workflow.Future) {
		if f.Get(ctx, nil) == nil {
			done, end = true, endDeadline
		}
	})
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {
		done, end = true, endCancelled
	})
	applied := map[string]bool{}
	sel.AddReceive(w.hints.channel, func(c workflow.ReceiveChannel, _ bool) {
		var h H
		c.Receive(ctx, &h)
		if w.p.eventKey(h) != "" && applied[w.p.eventKey(h)] {
			return
		}
		if w.hints.heard != nil {
			w.hints.heard(h)
		}
		var s S
		if rerr := w.req.startRead(ctx).Get(ctx, &s); rerr != nil {
			workflow.GetLogger(ctx).Warn("could not re-read provider state after a webhook", "error", rerr)
			return
		}
		applied[w.p.eventKey(h)] = true
		w.saw(s)
		applied[w.verdict.Status] = true
		if w.verdict.Final() {
			done, end = true, endFinal
		}
	})
	for !done && err == nil {
		sel.Select(ctx)
	}
	return end, err
}

// readFor starts one read for hints, unless the latest state already shows
// all they announce.
func (w *wait[S, H]) readFor(ctx workflow.Context, hints []H) {
	if !slices.ContainsFunc(hints, func(h H) bool { return !w.p.shows(w.last, h) }) {
		workflow.GetLogger(ctx).Debug("webhook already shown by the last read; no read", "hints", len(hints))
		return
	}
	w.reading = true
	read := w.req.startRead(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.reading = false }()
		var s S
		switch err := read.Get(ctx, &s); {
		case err == nil:
			w.saw(s)
		case isGone(err):
			w.gone()
		case !temporal.IsCanceledError(err):
			// The polling activity still catches the change.
			workflow.GetLogger(ctx).Warn("could not re-read provider state after a webhook", "error", err)
		}
	})
}

// polled records the end of the polling activity.
func (w *wait[S, H]) polled(ctx workflow.Context, s S, err error) {
	switch {
	case err == nil:
		w.saw(s)
	case isGone(err):
		w.gone()
	case temporal.IsCanceledError(err):
		// The wait ended (or the workflow was cancelled): nothing to record.
	case pollingExhausted(err):
		// The next poll would fall after the deadline: the deadline
		// timer and webhooks decide from here.
		workflow.GetLogger(ctx).Info("polling ended before the deadline; waiting for a webhook or the deadline")
	default:
		w.failed = err
	}
}

// saw records a state read.
func (w *wait[S, H]) saw(s S) {
	w.last, w.verdict = s, w.p.judge(s)
	w.t.providerStatus(w.verdict.Status)
	if o, ok := w.p.(observer[S]); ok {
		o.observe(s)
	}
}

// gone records that the provider no longer knows the request.
func (w *wait[S, H]) gone() {
	w.verdict = activities.Gone
	w.t.providerStatus(w.verdict.Status)
}

// abandon cancels the request at the provider after a failure that ends
// the lifecycle, so it is not left behind; the failure is what the
// workflow reports, so a cancel that fails too is only logged.
func (w *wait[S, H]) abandon(ctx workflow.Context) {
	if _, _, err := compensate(ctx, w.t, w.p, w.req, ""); err != nil {
		workflow.GetLogger(ctx).Error("cancelling at the provider after a failure failed; cancel it there by hand",
			"provider", w.req.provider, "ref", w.req.ref, "error", err)
	}
	w.t.stage(contract.StageFailed)
}

// compensate cancels the request at the provider, for the canceller's
// reason ("" when the workflow ends it on its own), in a context that
// survives the workflow's own cancellation, and returns the state it ends
// in and its verdict. A request the provider no longer knows is gone, a
// final state: there is nothing left to cancel.
func compensate[S, H any](ctx workflow.Context, t *tracker, p followed[S, H], req request, reason string) (S, activities.Verdict, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	t.stage(contract.StageCancellingAtProvider)
	var s S
	err := req.startCancel(dctx, reason).Get(dctx, &s)
	switch {
	case isGone(err):
		return s, activities.Gone, nil
	case err != nil:
		return s, activities.Verdict{}, err
	}
	return s, p.judge(s), nil
}

// conclude turns a lifecycle's final verdict and the way its wait ended
// into the workflow's error, with details (the result) attached, and sets
// the final stage. A provider success wins even over a deadline or a
// cancellation (the cancel found it already done).
func conclude(t *tracker, req request, v activities.Verdict, end waitEnd, details any) error {
	switch v.Outcome {
	case activities.OutcomeSucceeded:
		t.stage(contract.StageCompleted)
		return nil
	case activities.OutcomeFailed:
		t.stage(contract.StageFailed)
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s ended %s at %s", req.ref, v.Status, req.provider), req.failType, nil, details)
	case activities.OutcomeExpired:
		t.stage(contract.StageExpired)
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s expired before it was completed (status %s)", req, v.Status), contract.ErrTypeExpiredAtProvider, nil, details)
	}
	switch end {
	case endCancelled:
		t.stage(contract.StageCancelled)
		return temporal.NewCanceledError(details)
	case endDeadline:
		t.stage(contract.StageExpired)
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s was not completed before the workflow's deadline; it was cancelled at %s (status %s)", req.ref, req.provider, v.Status),
			contract.ErrTypeDeadlineExceeded, nil, details)
	}
	t.stage(contract.StageFailed)
	if v.Outcome == activities.OutcomeGone {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s no longer exists at %s", req.ref, req.provider), contract.ErrTypeRequestCancelledAtProvider, nil, details)
	}
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s was cancelled at %s (status %s)", req.ref, req.provider, v.Status), contract.ErrTypeRequestCancelledAtProvider, nil, details)
}

// finish concludes a lifecycle (conclude) and returns its result, or the
// failure conclude made of it.
func finish[R any](t *tracker, req request, v activities.Verdict, end waitEnd, res *R) (*R, error) {
	if err := conclude(t, req, v, end, res); err != nil {
		return nil, err
	}
	return res, nil
}

// createUninterrupted runs a provider create activity so that a
// cancellation arriving meanwhile cannot interrupt it: once sent, the
// create must finish, so the workflow learns the provider's id and can
// cancel what it created.
func createUninterrupted(ctx workflow.Context, summary string, activity, arg, result any) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	return workflow.ExecuteActivity(summarize(withCalls(dctx), summary), activity, arg).Get(dctx, result)
}

// showsStatus reports whether status is the one a hint announced.
func showsStatus(status string, hinted string) bool {
	return hinted != "" && status == hinted
}

// Activity options shared by every lifecycle.
const (
	// callTimeout bounds one provider call attempt.
	callTimeout = time.Minute
	// callPersistence is how long a provider call keeps being retried
	// through outages before the lifecycle fails.
	callPersistence = 24 * time.Hour
	// firstPoll is how soon a polled-only provider (no webhooks) is first
	// polled: a person who acts at once is noticed within minutes, and the
	// polls back off from there to the configured interval.
	firstPoll = time.Minute
)

// withCalls sets the options for ordinary provider calls: retried with
// backoff through 5xx and outages for callPersistence; 4xx errors are
// non-retryable at the source (activities.mapError).
func withCalls(ctx workflow.Context) workflow.Context {
	const maxInterval = 5 * time.Minute
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    callTimeout,
		ScheduleToCloseTimeout: callPersistence,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    maxInterval,
			// More attempts than callPersistence can hold, stated rather
			// than left unlimited, so the SDK's test environment (which
			// caps unlimited retries at 10) retries as a real server does.
			MaximumAttempts: int32(callPersistence/maxInterval) + 16,
		},
	})
}

// withPolling sets the options of a polling activity: each retry is one
// poll, first after `first`, then backing off (doubling) to one every
// `every`, until the deadline (plus a margin, so the workflow's own
// deadline timer decides first). first == every polls at a fixed interval.
func withPolling(ctx workflow.Context, first, every time.Duration, deadline time.Time) workflow.Context {
	first = min(first, every)
	backoff := 2.0
	if first == every {
		backoff = 1
	}
	window := deadline.Sub(workflow.Now(ctx)) + time.Hour
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    callTimeout,
		ScheduleToCloseTimeout: window,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    first,
			BackoffCoefficient: backoff,
			MaximumInterval:    every,
			// More attempts than the window can hold, stated rather than
			// left "unlimited", so the SDK's test environment (which caps
			// unlimited retries) polls exactly as a real server does.
			MaximumAttempts: int32(min(int64(window/first)+2, 1<<31-1)),
		},
	})
}

// summarize names the next activity for the Web UI's timeline, so an
// operator reads the lifecycle without opening each event.
func summarize(ctx workflow.Context, summary string) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	opts.Summary = summary
	return workflow.WithActivityOptions(ctx, opts)
}

// pollingExhausted reports whether the polling activity gave up only
// because its time ran out while the state was still not final.
func pollingExhausted(err error) bool {
	var appErr *temporal.ApplicationError
	var timeoutErr *temporal.TimeoutError
	return (errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeNotFinal) || errors.As(err, &timeoutErr)
}

// isGone reports whether a read or cancel failed because the provider no
// longer knows the object: a 404 for an object certflow created.
func isGone(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeNotFound
}

// isCancellation reports whether err is the workflow's own cancellation.
func isCancellation(ctx workflow.Context, err error) bool {
	var ce *temporal.CanceledError
	return ctx.Err() != nil && (errors.As(err, &ce) || errors.Is(err, workflow.ErrCanceled))
}
