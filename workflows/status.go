package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/uanataca"
)

// tracker keeps a workflow's Status, answers the status query with it, and
// mirrors stage and provider reference into search attributes.
type tracker struct {
	ctx workflow.Context
	s   contract.Status
	// reasons receives the canceller's reasons (SignalCancelReason).
	reasons workflow.ReceiveChannel
}

// newTracker registers the status query and records the provider.
func newTracker(ctx workflow.Context, provider string) (*tracker, error) {
	t := &tracker{
		ctx: ctx, s: contract.Status{Provider: provider, Stage: contract.StageValidating, UpdatedAt: workflow.Now(ctx)},
		reasons: workflow.GetSignalChannel(ctx, contract.SignalCancelReason),
	}
	if err := workflow.SetQueryHandler(ctx, contract.QueryStatus, func() (contract.Status, error) { return t.s, nil }); err != nil {
		return nil, err
	}
	t.upsert(contract.SearchProvider.ValueSet(provider), contract.SearchStage.ValueSet(t.s.Stage))
	return t, nil
}

// upsert writes search attributes. It uses a disconnected context so that
// a cancelled workflow still records its last stages.
func (t *tracker) upsert(updates ...temporal.SearchAttributeUpdate) {
	ctx, _ := workflow.NewDisconnectedContext(t.ctx)
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(t.ctx).Warn("could not record search attributes", "error", err)
	}
}

func (t *tracker) touch() { t.s.UpdatedAt = workflow.Now(t.ctx) }

// stage moves the lifecycle to a new stage.
func (t *tracker) stage(stage string) {
	if t.s.Stage == stage {
		return
	}
	t.s.Stage = stage
	t.touch()
	t.upsert(contract.SearchStage.ValueSet(stage))
}

// ref records the provider's reference, making the workflow findable by it
// (the webhook ingress looks Uanataca requests up this way).
func (t *tracker) ref(ref string) {
	t.s.ProviderRef = ref
	t.touch()
	t.upsert(contract.SearchProviderRef.ValueSet(ref))
}

// providerStatus records the provider's last status.
func (t *tracker) providerStatus(status string) {
	if t.s.ProviderStatus != status {
		t.s.ProviderStatus = status
		t.touch()
	}
}

// cancelReason records and returns the reason the canceller gave, or "".
// It is read when the cancellation is acted on: the reason's signal is
// sent before the cancellation is requested, so it is there by then. A
// reason longer than contract.MaxCancelReason (certflowclient refuses
// one; another SDK may send it) is cut there.
func (t *tracker) cancelReason() string {
	var req contract.CancelRequest
	for t.reasons.ReceiveAsync(&req) {
		if r := []rune(req.Reason); len(r) > contract.MaxCancelReason {
			req.Reason = string(r[:contract.MaxCancelReason])
		}
		t.s.CancelReason = req.Reason
		t.touch()
	}
	return t.s.CancelReason
}

// documents records the documents to upload, as the status shows them:
// type, size and SHA-256, never content or file name (a file name can
// carry a name).
func (t *tracker) documents(docs []uanataca.Document) {
	if len(docs) == 0 {
		return
	}
	t.s.Documents = make([]contract.DocumentStatus, len(docs))
	for i, d := range docs {
		sum := sha256.Sum256(d.Content)
		t.s.Documents[i] = contract.DocumentStatus{Type: d.Type, Size: len(d.Content), SHA256: hex.EncodeToString(sum[:])}
	}
	t.touch()
}

// documentUploaded records that the RA accepted document i.
func (t *tracker) documentUploaded(i int) {
	t.s.Documents[i].Uploaded = true
	t.touch()
}

// actionURL records the link the person must open.
func (t *tracker) actionURL(u string) {
	t.s.ActionURL = u
	t.touch()
}

// begin checks a lifecycle's input and starts its clock: invalid input
// (problems not nil) ends the workflow at once with a non-retryable
// InvalidInput error naming every problem, with each field in its details
// (contract.InputProblems); otherwise the deadline, timeout
// from now, is recorded and returned.
func (t *tracker) begin(problems error, timeout time.Duration) (time.Time, error) {
	if problems != nil {
		t.stage(contract.StageFailed)
		return time.Time{}, temporal.NewNonRetryableApplicationError(problems.Error(), contract.ErrTypeInvalidInput, nil,
			contract.InputProblems{Problems: inputProblems(problems)})
	}
	t.s.Deadline = workflow.Now(t.ctx).Add(timeout)
	return t.s.Deadline, nil
}

// create runs the provider's create activity (createUninterrupted),
// recording the creating stage, and the failed one if it fails.
func (t *tracker) create(ctx workflow.Context, summary string, activity, arg, result any) error {
	t.stage(contract.StageCreating)
	err := createUninterrupted(ctx, summary, activity, arg, result)
	if err != nil {
		t.stage(contract.StageFailed)
	}
	return err
}
