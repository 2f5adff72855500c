package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/provider/masstack"
)

// MasStackIdentificationName is the workflow type name of a MasStack
// identification with an identity document.
const MasStackIdentificationName = "MasStackIdentification"

const (
	masstackDefaultPoll = time.Hour
	// masstackExpiryMargin is added to the identification's own validity
	// for the default deadline, so MasStack's expiry normally comes first.
	masstackExpiryMargin = time.Hour
	masstackMaxTimeout   = masstack.MaxExpiresIn + 24*time.Hour
	// masstackDefaultReason is recorded at MasStack when certflow cancels.
	masstackDefaultReason = "abandoned: the certflow workflow was cancelled or passed its deadline"
	masstackMaxReason     = 500
)

// MasStackIdentificationInput starts an identification.
type MasStackIdentificationInput struct {
	// Identification is the create call's body, field names as MasStack
	// spells them.
	Identification masstack.CreateIdentification `json:"identification"`
	// Timeout before certflow cancels the identification (default: its
	// expires_in, or 30 days, plus an hour).
	Timeout Duration `json:"timeout,omitempty"`
	// PollInterval is the longest time between two reads (default "1h");
	// polls start a minute apart and back off.
	PollInterval Duration `json:"poll_interval,omitempty"`
	// CancelReason is recorded at MasStack when certflow cancels.
	CancelReason string `json:"cancel_reason,omitempty"`
}

// MasStackIdentificationResult is the identification as it ended.
type MasStackIdentificationResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	URL    string `json:"url,omitempty"`
}

func (in MasStackIdentificationInput) validate() error {
	err := validateInput(in.Identification.Validate(), in.Timeout, in.PollInterval, masstackMaxTimeout)
	if len(in.CancelReason) > masstackMaxReason {
		err = errors.Join(err, errors.New("cancel_reason: longer than 500 characters"))
	}
	return err
}

// timeout is the workflow's deadline: the given one, or the
// identification's own validity plus a margin.
func (in MasStackIdentificationInput) timeout() time.Duration {
	validity := masstack.MaxExpiresIn
	if v, err := masstack.ParseISODuration(in.Identification.ExpiresIn); err == nil && in.Identification.ExpiresIn != "" {
		validity = v
	}
	return in.Timeout.or(validity + masstackExpiryMargin)
}

// MasStackIdentification creates an identification, exposes the person's
// link through the status query (action_url), and follows it to its final
// status. On its deadline or on cancellation it cancels the identification
// at MasStack with a reason; a cancel answered 409 (already final) or 404
// (already gone) is not a failure: the final status is read and reported.
func MasStackIdentification(ctx workflow.Context, in MasStackIdentificationInput) (*MasStackIdentificationResult, error) {
	t, err := newTracker(ctx, ProviderMasStack)
	if err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		t.stage(StageFailed)
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	deadline := workflow.Now(ctx).Add(in.timeout())
	t.deadline(deadline)
	reason := in.CancelReason
	if reason == "" {
		reason = masstackDefaultReason
	}

	var ms *activities.MasStack
	t.stage(StageCreating)
	var idn masstack.Identification
	if err := createOnce(ctx, "Create the identification at MasStack", ms.CreateMasStackIdentification, in.Identification, &idn); err != nil {
		t.stage(StageFailed)
		return nil, err
	}
	t.ref(idn.ID)
	t.actionURL(idn.URL)
	t.providerStatus(idn.Status)

	result := func(r masstack.Identification) *MasStackIdentificationResult {
		return &MasStackIdentificationResult{ID: idn.ID, Status: r.Status, URL: idn.URL}
	}
	final, err := follow(ctx, t, lifecycle[masstack.Identification, StatusHint]{
		provider: ProviderMasStack,
		ref:      "identification " + idn.ID,
		wait: pollingWait(t, polling[masstack.Identification]{
			what:     "identification " + idn.ID + " at masstack",
			deadline: deadline,
			first:    firstPoll,
			every:    in.PollInterval.or(masstackDefaultPoll),
			await:    ms.AwaitMasStackIdentification,
			get:      ms.GetMasStackIdentification,
			arg:      idn.ID,
			final:    func(r masstack.Identification) bool { return masstack.OutcomeOf(r.Status) != masstack.OutcomePending },
			status:   func(r masstack.Identification) string { return r.Status },
		}, StatusHint.key),
		cancel: func(ctx workflow.Context) (r masstack.Identification, err error) {
			in := activities.CancelIdentificationInput{ID: idn.ID, Reason: reason}
			err = workflow.ExecuteActivity(ctx, ms.CancelMasStackIdentification, in).Get(ctx, &r)
			return r, err
		},
		judge:    judgeMasStack,
		failType: ErrTypeIdentificationRejected,
		details:  func(r masstack.Identification) any { return result(r) },
	})
	if err != nil {
		return nil, err
	}
	return result(final), nil
}

// judgeMasStack maps an identification status to its lifecycle outcome.
func judgeMasStack(r masstack.Identification) (outcome, string) {
	switch masstack.OutcomeOf(r.Status) {
	case masstack.OutcomeCompleted:
		return outcomeSucceeded, r.Status
	case masstack.OutcomeCancelled:
		return outcomeCancelledAtProvider, r.Status
	case masstack.OutcomeRejected:
		return outcomeFailedAtProvider, r.Status
	case masstack.OutcomeExpired:
		return outcomeExpiredAtProvider, r.Status
	}
	return outcomePending, r.Status
}
