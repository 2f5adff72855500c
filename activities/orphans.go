package activities

import (
	"context"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
)

// A create at Universign or MasStack cannot be made safe to repeat: neither
// API takes an idempotency key or a caller reference, and neither lists or
// searches what was created (provider notes, sections 2 and 4). When a
// create's answer is lost, the retry creates again and the first object, if
// the provider made it, is an orphan nobody follows or cancels: certflow
// never learnt its id. What the activity can do is never let that pass
// silently: every create sent whose outcome is unknown is reported as a
// possible orphan (a warning and certflow_create_possible_orphans_total),
// with when it was sent and by when it expires unused.

// possibleOrphanMetric counts creates sent whose outcome an attempt never
// learnt, by provider (Prometheus adds _total).
const possibleOrphanMetric = "certflow_create_possible_orphans"

// orphanWatch names a provider whose creates cannot be looked up, and how
// long an object it creates lives unused.
type orphanWatch struct {
	provider string        // as the metric's provider label, e.g. "universign"
	object   string        // what a create makes, e.g. "registration"
	lifetime time.Duration // how long an unused one stays open at the provider
}

// createInDoubt is the heartbeat detail of a create activity: when the
// current attempt sent its create, as long as its outcome is unknown. It
// carries no personal data, only a time, since heartbeat details are kept
// in Temporal's history of the activity.
type createInDoubt struct {
	SentAt time.Time `json:"sent_at"`
}

// createReportingOrphans runs create, one call to w's create endpoint, as
// one attempt of a create activity, and reports a create whose outcome is
// unknown as a possible orphan, once:
//   - by this attempt, when create fails after its request left and the
//     provider did not refuse it (no answer, a timeout, a 5xx, an answer
//     that could not be read);
//   - by the next attempt, when this one never got to (the worker died
//     mid-call, the attempt timed out): before sending, the attempt records
//     in its heartbeat details when it sends, and clears that record once
//     the outcome is known or reported. The first heartbeat of an attempt
//     reaches Temporal at once and the last is sent when the attempt fails,
//     so the next attempt's heartbeat details hold the record.
//
// A create that is known not to have happened is not reported: nothing was
// sent (the provider unreachable, a token refused), or the provider
// answered with a refusal (4xx, 429). "Sent" means an HTTP request of the
// attempt was written in full; for MasStack a token exchange due in the
// same attempt is such a request too, so a create that fails to connect
// right after a fresh token is reported although it never left: a rare
// false alarm, never a missed orphan. Outside an activity (a direct call in
// a test) it only creates.
func createReportingOrphans[T any](ctx context.Context, w orphanWatch, create func(context.Context) (T, error)) (T, error) {
	if !activity.IsActivity(ctx) {
		v, err := create(ctx)
		return v, mapError(err)
	}
	if activity.HasHeartbeatDetails(ctx) {
		var earlier createInDoubt
		// Unreadable details say nothing about earlier attempts.
		if activity.GetHeartbeatDetails(ctx, &earlier) == nil && !earlier.SentAt.IsZero() {
			reportPossibleOrphan(ctx, w, earlier.SentAt)
		}
	}
	sentAt := time.Now().UTC()
	activity.RecordHeartbeat(ctx, createInDoubt{SentAt: sentAt})
	var sent atomic.Bool
	traced := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				sent.Store(true)
			}
		},
	})
	v, err := create(traced)
	if err != nil {
		if sent.Load() && !refused(err) {
			reportPossibleOrphan(ctx, w, sentAt)
		}
		activity.RecordHeartbeat(ctx, createInDoubt{})
	}
	return v, mapError(err)
}

// reportPossibleOrphan logs and counts one create sent at sentAt whose
// outcome was never learnt. The log line names the provider and times, never
// the person the create was about.
func reportPossibleOrphan(ctx context.Context, w orphanWatch, sentAt time.Time) {
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"provider": w.provider}).Counter(possibleOrphanMetric).Inc(1)
	activity.GetLogger(ctx).Warn("Possible orphan at the provider: a create was sent and its outcome never learnt; "+
		"if the provider made the "+w.object+", nobody follows or cancels it and it expires unused",
		"provider", w.provider, "sent_at", sentAt.Format(time.RFC3339), "expires_by", sentAt.Add(w.lifetime).Format(time.RFC3339))
}
