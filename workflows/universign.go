package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/provider/universign"
)

// UniversignRegistrationName is the workflow type name of a Universign
// standalone registration.
const UniversignRegistrationName = "UniversignRegistration"

// A registration session lasts 7 days at Universign. The default deadline
// leaves a day's margin, so Universign's own expiry is what normally ends
// an unused session (ExpiredAtProvider) and certflow cancels only a session
// Universign failed to expire.
const (
	universignDefaultTimeout = 8 * 24 * time.Hour
	universignDefaultPoll    = time.Hour
	universignMaxTimeout     = 31 * 24 * time.Hour
)

// UniversignRegistrationInput starts a registration.
type UniversignRegistrationInput struct {
	// Registration is the create call's body, field names as Universign
	// spells them (session_type is always standalone).
	Registration universign.CreateRegistration `json:"registration"`
	// Timeout before certflow cancels the registration (default "8d").
	Timeout Duration `json:"timeout,omitempty"`
	// PollInterval is the longest time between two reads of the
	// registration (default "1h"); polls start a minute apart and back off.
	PollInterval Duration `json:"poll_interval,omitempty"`
}

// UniversignRegistrationResult is the registration as it ended.
type UniversignRegistrationResult struct {
	ID    string `json:"id"`
	State string `json:"state"`
	URL   string `json:"url"`
}

func (in UniversignRegistrationInput) validate() error {
	return validateInput(in.Registration.Validate(), in.Timeout, in.PollInterval, universignMaxTimeout)
}

// UniversignRegistration creates a standalone registration, exposes its
// URL through the status query (action_url) at once, and follows it to
// completed, canceled, failed or expired. On its own deadline or on
// cancellation it cancels the registration at Universign.
func UniversignRegistration(ctx workflow.Context, in UniversignRegistrationInput) (*UniversignRegistrationResult, error) {
	t, err := newTracker(ctx, ProviderUniversign)
	if err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		t.stage(StageFailed)
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	deadline := workflow.Now(ctx).Add(in.Timeout.or(universignDefaultTimeout))
	t.deadline(deadline)

	var us *activities.Universign
	t.stage(StageCreating)
	var reg universign.Registration
	if err := createOnce(ctx, "Create the registration at Universign", us.CreateUniversignRegistration, in.Registration, &reg); err != nil {
		t.stage(StageFailed)
		return nil, err
	}
	t.ref(reg.ID)
	t.actionURL(reg.URL)
	t.providerStatus(reg.State)

	result := func(r universign.Registration) *UniversignRegistrationResult {
		return &UniversignRegistrationResult{ID: reg.ID, State: r.State, URL: reg.URL}
	}
	final, err := follow(ctx, t, lifecycle[universign.Registration, StatusHint]{
		provider: ProviderUniversign,
		ref:      "registration " + reg.ID,
		wait: pollingWait(t, polling[universign.Registration]{
			what:     "registration " + reg.ID + " at universign",
			deadline: deadline,
			first:    firstPoll,
			every:    in.PollInterval.or(universignDefaultPoll),
			await:    us.AwaitUniversignRegistration,
			get:      us.GetUniversignRegistration,
			arg:      reg.ID,
			final: func(r universign.Registration) bool {
				return universign.OutcomeOf(r.State) != universign.OutcomePending
			},
			status: func(r universign.Registration) string { return r.State },
		}, StatusHint.key),
		cancel: func(ctx workflow.Context) (r universign.Registration, err error) {
			err = workflow.ExecuteActivity(ctx, us.CancelUniversignRegistration, reg.ID).Get(ctx, &r)
			return r, err
		},
		judge:    judgeUniversign,
		failType: ErrTypeRegistrationFailed,
		details:  func(r universign.Registration) any { return result(r) },
	})
	if err != nil {
		return nil, err
	}
	return result(final), nil
}

// judgeUniversign maps a registration state to its lifecycle outcome.
func judgeUniversign(r universign.Registration) (outcome, string) {
	switch universign.OutcomeOf(r.State) {
	case universign.OutcomeCompleted:
		return outcomeSucceeded, r.State
	case universign.OutcomeCanceled:
		return outcomeCancelledAtProvider, r.State
	case universign.OutcomeFailed:
		return outcomeFailedAtProvider, r.State
	case universign.OutcomeExpired:
		return outcomeExpiredAtProvider, r.State
	}
	return outcomePending, r.State
}

// validateInput joins a provider request's validation with the bounds of
// the lifecycle's timeout and poll interval.
func validateInput(requestErr error, timeout, poll Duration, maxTimeout time.Duration) error {
	var problems []error
	if requestErr != nil {
		problems = append(problems, requestErr)
	}
	if t := time.Duration(timeout); t < 0 || t > maxTimeout || (t != 0 && t < time.Minute) {
		problems = append(problems, fmt.Errorf("timeout %s: use between 1m and %s", t, maxTimeout))
	}
	if p := time.Duration(poll); p < 0 || (p != 0 && p < time.Second) {
		problems = append(problems, fmt.Errorf("poll_interval %s: use at least 1s", p))
	}
	return errors.Join(problems...)
}
