package workflows

import (
	"errors"
	"math"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

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

// wait describes one provider's wait for its final state; awaitFinal runs it.
// S is the provider's state as an activity reads it; H is the webhook hint
// the ingress signals.
type wait[S, H any] struct {
	deadline time.Time
	// poll starts the polling activity, which completes only when the
	// provider's state is final (its retry policy does the waiting).
	poll func(ctx workflow.Context) workflow.Future
	// read re-reads the provider's authoritative state once.
	read func(ctx workflow.Context) (S, error)
	// final reports whether a state ends the wait.
	final func(S) bool
	// hintKey and stateKey name the provider event a hint announces and a
	// state shows, so a hint already applied is not read again; "" means
	// the hint cannot be deduplicated and is always followed by a read.
	hintKey  func(H) string
	stateKey func(S) string
	// observe is told every state read.
	observe func(S)
	// onHint, when set, is told every hint not seen before, before the
	// read it triggers (for what only webhooks carry, such as OTP failures).
	onHint func(H)
}

// awaitFinal waits until the provider's state is final, learned from a
// webhook signal, the polling activity, or both; or until the deadline
// passes or the workflow is cancelled. It is the one wait every lifecycle
// uses. A webhook is only a hint: its claims are never trusted, they only
// trigger an authoritative read, so a forged or stale webhook cannot end
// the wait with a state the provider does not hold.
//
// History stays small whatever the wait: the polling is a single activity
// whose retries are not recorded, and a repeated hint adds only its signal.
func awaitFinal[S, H any](ctx workflow.Context, w wait[S, H]) (S, waitEnd, error) {
	logger := workflow.GetLogger(ctx)
	var (
		last S
		end  waitEnd
		done bool
		err  error
	)

	pollCtx, stopPolling := workflow.WithCancel(ctx)
	defer stopPolling()
	timerCtx, stopTimer := workflow.WithCancel(ctx)
	defer stopTimer()

	sel := workflow.NewSelector(ctx)
	sel.AddFuture(w.poll(pollCtx), func(f workflow.Future) {
		if perr := f.Get(ctx, &last); perr != nil {
			if temporal.IsCanceledError(perr) && ctx.Err() != nil {
				return // the ctx.Done branch reports the cancellation
			}
			if pollingExhausted(perr) {
				// The next poll would fall after the deadline: the
				// deadline timer and webhooks decide from here.
				logger.Info("polling ended before the deadline; waiting for a webhook or the deadline")
				return
			}
			err = perr
		}
		done, end = true, endFinal
	})
	sel.AddFuture(workflow.NewTimer(timerCtx, w.deadline.Sub(workflow.Now(ctx))), func(f workflow.Future) {
		if f.Get(ctx, nil) == nil {
			done, end = true, endDeadline
		}
	})
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {
		done, end = true, endCancelled
	})

	applied := map[string]bool{}
	hints := workflow.GetSignalChannel(ctx, SignalWebhook)
	sel.AddReceive(hints, func(c workflow.ReceiveChannel, _ bool) {
		var hint H
		c.Receive(ctx, &hint)
		key := w.hintKey(hint)
		if key != "" && applied[key] {
			logger.Debug("webhook already applied; ignored", "event", key)
			return
		}
		if w.onHint != nil {
			w.onHint(hint)
		}
		state, rerr := w.read(ctx)
		if rerr != nil {
			// The polling activity still catches the change.
			logger.Warn("could not re-read provider state after a webhook", "error", rerr)
			return
		}
		if key != "" {
			applied[key] = true
		}
		applied[w.stateKey(state)] = true
		w.observe(state)
		if w.final(state) {
			last, done, end = state, true, endFinal
		}
	})

	for !done && err == nil {
		sel.Select(ctx)
	}
	if err == nil && end == endFinal {
		w.observe(last)
	}
	return last, end, err
}

// polling describes how a lifecycle reads its provider: the polling and
// reading activities, their argument, and what a state says.
type polling[S any] struct {
	// what names the provider's object in activity summaries, e.g.
	// "request 46000 at uanataca".
	what         string
	deadline     time.Time
	first, every time.Duration
	// await is the polling activity (completes once the state is final),
	// get the single-read activity; both take arg.
	await, get any
	arg        any
	final      func(S) bool
	status     func(S) string
}

// pollingWait builds the wait of a lifecycle from its polling and the key
// of its webhook hints.
func pollingWait[S, H any](t *tracker, p polling[S], hintKey func(H) string) wait[S, H] {
	return wait[S, H]{
		deadline: p.deadline,
		poll: func(ctx workflow.Context) workflow.Future {
			return workflow.ExecuteActivity(summarize(withPolling(ctx, p.first, p.every, p.deadline), "Poll "+p.what+" until final"), p.await, p.arg)
		},
		read: func(ctx workflow.Context) (s S, err error) {
			err = workflow.ExecuteActivity(summarize(withCalls(ctx), "Re-read "+p.what+" after a webhook"), p.get, p.arg).Get(ctx, &s)
			return s, err
		},
		final:    p.final,
		hintKey:  hintKey,
		stateKey: p.status,
		observe:  func(s S) { t.providerStatus(p.status(s)) },
	}
}

// Activity options shared by every lifecycle.
const (
	// callTimeout bounds one provider call attempt.
	callTimeout = time.Minute
	// callPersistence is how long a provider call keeps being retried
	// through outages before the lifecycle fails.
	callPersistence = 24 * time.Hour
)

// withCalls sets the options for ordinary provider calls: retried with
// backoff through 5xx and outages; 4xx errors are non-retryable at the
// source (activities.mapError).
func withCalls(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    callTimeout,
		ScheduleToCloseTimeout: callPersistence,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
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
			MaximumAttempts: int32(min(int64(window/first)+2, math.MaxInt32)),
		},
	})
}

// firstPoll is how soon a polled-only provider (no webhooks) is first
// polled: a person who acts at once is noticed within minutes, and the
// polls back off from there to the configured interval.
const firstPoll = time.Minute

// StatusHint is the webhook signal of providers that send no webhook of
// their own: anything (an operator, a future webhook) may signal that the
// status may have changed, which triggers one authoritative read.
type StatusHint struct {
	Status string `json:"status,omitempty"`
}

// key names the status a hint announces, so a repeated hint is read once.
func (h StatusHint) key() string { return h.Status }

// compensate runs the provider's cancel in a context that survives the
// workflow's own cancellation, and returns the final state it reports.
func compensate[S any](ctx workflow.Context, t *tracker, what string, cancel func(workflow.Context) (S, error)) (S, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	t.stage(StageCancellingAtProvider)
	return cancel(summarize(withCalls(dctx), "Cancel "+what))
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

// isCancellation reports whether err is the workflow's own cancellation.
func isCancellation(ctx workflow.Context, err error) bool {
	var ce *temporal.CanceledError
	return ctx.Err() != nil && (errors.As(err, &ce) || errors.Is(err, workflow.ErrCanceled))
}
