package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// outcome is what a provider's state means for a lifecycle. Each provider
// maps its own states to it in one function (its lifecycle's judge).
type outcome int

const (
	// outcomePending: not final; keep waiting.
	outcomePending outcome = iota
	// outcomeSucceeded: the provider did what was asked.
	outcomeSucceeded
	// outcomeCancelledAtProvider: cancelled at the provider.
	outcomeCancelledAtProvider
	// outcomeFailedAtProvider: the provider ended it unsuccessfully
	// (rejected, failed identification).
	outcomeFailedAtProvider
	// outcomeExpiredAtProvider: the provider's own validity ran out.
	outcomeExpiredAtProvider
)

// lifecycle is the part of every provider lifecycle that follows the
// creation of the provider's request: optional preparation, the wait, the
// compensation and the conclusion. S is the provider's state, H its
// webhook hint.
type lifecycle[S, H any] struct {
	// provider and ref name the request in messages ("uanataca",
	// "request 46000").
	provider, ref string
	// prepare runs before the wait (e.g. uploading documents); nil skips.
	prepare func(ctx workflow.Context) error
	wait    wait[S, H]
	// cancel cancels at the provider and returns the final state; it must
	// treat "already gone or final" as success (activities do).
	cancel func(ctx workflow.Context) (S, error)
	// judge maps a state to its outcome and the provider's status text.
	judge func(S) (outcome, string)
	// failType is the error type of outcomeFailedAtProvider.
	failType string
	// details is the result attached to the workflow's failure.
	details func(S) any
}

// follow runs a lifecycle once the provider's request exists. The request
// never stays behind unattended: if the wait ends by deadline or
// cancellation, or a step fails, follow cancels it at the provider first,
// then reports. It returns the final state and the workflow's error for it
// (nil when the provider succeeded).
func follow[S, H any](ctx workflow.Context, t *tracker, l lifecycle[S, H]) (S, error) {
	var final S
	end := endFinal
	var err error
	if ctx.Err() != nil {
		end = endCancelled
	} else if l.prepare != nil {
		if err = l.prepare(ctx); err != nil && isCancellation(ctx, err) {
			end, err = endCancelled, nil
		}
	}
	if err == nil && end == endFinal {
		t.stage(StageAwaiting)
		final, end, err = awaitFinal(ctx, l.wait)
	}
	if err != nil {
		if _, cerr := compensate(ctx, t, l.ref+" at "+l.provider, l.cancel); cerr != nil {
			workflow.GetLogger(ctx).Error("cancelling at the provider after a failure failed; cancel it there by hand",
				"provider", l.provider, "ref", l.ref, "error", cerr)
		}
		t.stage(StageFailed)
		return final, err
	}
	if end != endFinal {
		if final, err = compensate(ctx, t, l.ref+" at "+l.provider, l.cancel); err != nil {
			t.stage(StageFailed)
			return final, fmt.Errorf("cancelling %s at %s failed; cancel it there by hand: %w", l.ref, l.provider, err)
		}
		_, status := l.judge(final)
		t.providerStatus(status)
	}
	return final, conclude(t, l, final, end)
}

// conclude turns the final state and the way the wait ended into the
// workflow's error. A provider success wins even over a deadline or a
// cancellation (the cancel found it already done).
func conclude[S, H any](t *tracker, l lifecycle[S, H], final S, end waitEnd) error {
	oc, status := l.judge(final)
	details := l.details(final)
	switch oc {
	case outcomeSucceeded:
		t.stage(StageCompleted)
		return nil
	case outcomeFailedAtProvider:
		t.stage(StageFailed)
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s ended %s at %s", l.ref, status, l.provider), l.failType, nil, details)
	case outcomeExpiredAtProvider:
		t.stage(StageExpired)
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s expired at %s before it was completed (status %s)", l.ref, l.provider, status), ErrTypeExpiredAtProvider, nil, details)
	}
	switch end {
	case endCancelled:
		t.stage(StageCancelled)
		return temporal.NewCanceledError(details)
	case endDeadline:
		t.stage(StageExpired)
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s was not completed before the workflow's deadline; it was cancelled at %s (status %s)", l.ref, l.provider, status),
			ErrTypeDeadlineExceeded, nil, details)
	}
	t.stage(StageFailed)
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s was cancelled at %s (status %s)", l.ref, l.provider, status), ErrTypeRequestCancelled, nil, details)
}

// createOnce runs a provider create activity so that a cancellation
// arriving meanwhile cannot interrupt it: once sent, the create must finish,
// so the workflow learns the provider's id and can cancel what it created.
func createOnce(ctx workflow.Context, summary string, activity, arg, result any) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	return workflow.ExecuteActivity(summarize(withCalls(dctx), summary), activity, arg).Get(dctx, result)
}
