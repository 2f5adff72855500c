package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/singleflight"

	"github.com/certflow/certflow/contract"
)

// DefaultCorrelationCache is how many provider references the ingress
// remembers the workflow of (about 150 bytes each).
const DefaultCorrelationCache = 100_000

// correlation remembers which workflow each provider reference belongs
// to, so that a provider's second and later webhooks for a request cost
// no visibility query, and coalesces concurrent lookups of one reference
// into one query.
type correlation struct {
	known *lru.Cache[refKey, owner]
	// signalled remembers which statuses were signalled for a reference,
	// so a repeat of one is checked against the workflow before it costs
	// another signal.
	signalled *lru.Cache[statusKey, struct{}]
	lookups   singleflight.Group
}

type refKey struct{ provider, ref string }

type statusKey struct{ provider, ref, status string }

// owner is the workflow a reference belongs to, and whether it has ended:
// a webhook for an ended workflow gets its final answer at once.
type owner struct {
	workflowID string
	ended      bool
}

func newCorrelation(size int) *correlation {
	if size <= 0 {
		size = DefaultCorrelationCache
	}
	known, _ := lru.New[refKey, owner](size) // only a size ≤ 0 is refused
	signalled, _ := lru.New[statusKey, struct{}](size)
	return &correlation{known: known, signalled: signalled}
}

// lookupTimeout bounds one coalesced lookup, which outlives the request
// that started it so the others waiting on it are not cut short.
const lookupTimeout = 10 * time.Second

// findRunning returns the ID of the running workflow of provider whose
// provider reference is ref. Decided per reference:
//   - known, or found in visibility, and running: that workflow;
//   - while a workflow of provider is creating a request, the reference
//     may be that request's, not yet recorded: looked up again for a
//     while, then 503 (an ended workflow's reference too: references
//     are unique at a provider, but the one being created must not be
//     refused for a stale one);
//   - otherwise, its workflow has ended: 410, final, at once;
//   - otherwise, unknown: 404 at once (not certflow's).
func (in *Ingress) findRunning(ctx context.Context, provider, ref string) (string, error) {
	c := in.correlation()
	key := refKey{provider, ref}
	o, ok := c.known.Get(key)
	if !ok {
		v, err, _ := c.lookups.Do(provider+"\x00"+ref, func() (any, error) {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
			defer cancel()
			return in.lookup(lctx, provider, ref)
		})
		if err != nil {
			return "", err
		}
		// What this process learnt meanwhile (Remember, a signal) is
		// newer than the lookup: it stays.
		if known, _ := c.known.ContainsOrAdd(key, v.(owner)); known {
			o, _ = c.known.Get(key)
		} else {
			o = v.(owner)
		}
	}
	if o.ended {
		return "", ended(o.workflowID)
	}
	return o.workflowID, nil
}

// ended is the final answer for a webhook whose workflow has ended.
func ended(workflowID string) error {
	return fail(http.StatusGone, "workflow %s has already ended; nothing to deliver", workflowID)
}

// Remember records that provider's reference ref belongs to the running
// workflow workflowID, for a webhook that may arrive before visibility
// shows it (the worker of this process calls it when it creates a
// request).
func (in *Ingress) Remember(provider, ref, workflowID string) {
	in.correlation().known.Add(refKey{provider, ref}, owner{workflowID: workflowID})
}

// confirmedTimeout bounds the status query that checks a repeated
// webhook; when it is not answered in time the webhook is signalled.
const confirmedTimeout = 2 * time.Second

// repeats reports whether a webhook announcing status for ref repeats one
// already signalled to workflowID whose status the workflow has since
// confirmed by reading the provider (its status query shows it). Such a
// webhook adds nothing: it gets 200 without a new signal, so duplicates do
// not grow the history. A status signalled but not confirmed (a forged
// webhook before the genuine one, or one not read yet) is signalled again.
func (in *Ingress) repeats(ctx context.Context, provider, ref, status, workflowID string) bool {
	if status == "" || !in.correlation().signalled.Contains(statusKey{provider, ref, status}) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, confirmedTimeout)
	defer cancel()
	// Only an open workflow's answer counts: a closed one's webhook gets
	// its final answer (410) from the signal.
	resp, err := in.Temporal.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID: workflowID, QueryType: contract.QueryStatus, QueryRejectCondition: enums.QUERY_REJECT_CONDITION_NOT_OPEN,
	})
	if err != nil || resp.QueryRejected != nil {
		return false
	}
	var st contract.Status
	return resp.QueryResult.Get(&st) == nil && st.ProviderStatus == status
}

// forget records that workflowID, to which ref belonged, has ended (a
// signal found it closed).
func (in *Ingress) forget(provider, ref, workflowID string) {
	in.correlation().known.Add(refKey{provider, ref}, owner{workflowID: workflowID, ended: true})
}

// lookup finds ref's workflow in visibility: the running one, else the
// latest ended one.
func (in *Ingress) lookup(ctx context.Context, provider, ref string) (owner, error) {
	byRef := fmt.Sprintf("%s = %q AND %s = %q",
		contract.SearchProvider.GetName(), provider, contract.SearchProviderRef.GetName(), ref)
	creating := fmt.Sprintf("%s = %q AND %s = %q AND ExecutionStatus = 'Running'",
		contract.SearchProvider.GetName(), provider, contract.SearchStage.GetName(), contract.StageCreating)
	attempts := max(in.LookupAttempts, 1)
	for i := 0; ; i++ {
		running, err := in.list(ctx, byRef+" AND ExecutionStatus = 'Running'")
		if err != nil {
			return owner{}, err
		}
		if len(running) > 0 {
			return owner{workflowID: running[0].GetExecution().GetWorkflowId()}, nil
		}
		if i == 0 {
			busy, err := in.list(ctx, creating)
			if err != nil {
				return owner{}, err
			}
			if len(busy) == 0 {
				return in.lookupEnded(ctx, byRef, provider, ref)
			}
		}
		if i == attempts-1 {
			return owner{}, fail(http.StatusServiceUnavailable, "no workflow has recorded %s reference %s yet, but one is creating its request; retry shortly", provider, ref)
		}
		select {
		case <-ctx.Done():
			return owner{}, fail(http.StatusServiceUnavailable, "looking up %s reference %s took too long; retry later", provider, ref)
		case <-time.After(in.LookupBackoff):
		}
	}
}

// lookupEnded finds the latest ended workflow that had ref: the webhook's
// final answer, 410; with none, the reference is unknown: 404.
func (in *Ingress) lookupEnded(ctx context.Context, byRef, provider, ref string) (owner, error) {
	execs, err := in.list(ctx, byRef)
	if err != nil {
		return owner{}, err
	}
	if len(execs) == 0 {
		return owner{}, fail(http.StatusNotFound, "no workflow for %s reference %s", provider, ref)
	}
	return owner{workflowID: execs[0].GetExecution().GetWorkflowId(), ended: true}, nil
}

// list runs a visibility query, saying what failed when it does.
func (in *Ingress) list(ctx context.Context, query string) ([]*workflowpb.WorkflowExecutionInfo, error) {
	resp, err := in.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 1})
	if err != nil {
		return nil, lookupFailed(err)
	}
	return resp.GetExecutions(), nil
}

// lookupFailed says why a visibility query failed: Temporal refusing it
// under load or a timeout is not Temporal being unreachable.
func lookupFailed(err error) error {
	var exhausted *serviceerror.ResourceExhausted
	var deadline *serviceerror.DeadlineExceeded
	var unavailable *serviceerror.Unavailable
	switch {
	case errors.As(err, &exhausted):
		return fail(http.StatusServiceUnavailable, "Temporal refused the workflow lookup under load (%s); retry later", exhausted.Cause.String())
	case errors.As(err, &deadline), errors.Is(err, context.DeadlineExceeded):
		return fail(http.StatusServiceUnavailable, "the workflow lookup in Temporal's visibility store timed out; retry later")
	case errors.As(err, &unavailable):
		return fail(http.StatusServiceUnavailable, "Temporal is unreachable; retry later")
	}
	return fail(http.StatusServiceUnavailable, "the workflow lookup in Temporal failed (%s); retry later", serviceerror.ToStatus(err).Code())
}
