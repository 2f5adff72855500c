package workflows

import (
	"time"

	"github.com/certflow/certflow/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/provider/universign"
)

// A registration session lasts 7 days at Universign. The default deadline
// leaves a day's margin, so Universign's own expiry is what normally ends
// an unused session (ExpiredAtProvider) and certflow cancels only a session
// Universign failed to expire.
const (
	universignDefaultTimeout = 8 * 24 * time.Hour
	universignDefaultPoll    = time.Hour
	universignMaxTimeout     = 31 * 24 * time.Hour
)

func validateUniversign(in contract.UniversignRegistrationInput) error {
	return validateInput(in.Registration.Validate(), in.Timeout, in.PollInterval, universignMaxTimeout)
}

// UniversignRegistration creates a standalone registration, exposes its
// URL through the status query (action_url) at once, and follows it to
// completed, canceled, failed or expired. On its own deadline or on
// cancellation it cancels the registration at Universign.
func UniversignRegistration(ctx workflow.Context, in contract.UniversignRegistrationInput) (*contract.UniversignRegistrationResult, error) {
	u, err := setupUniversign(ctx, in)
	if err != nil {
		return nil, err
	}
	return u.run(ctx)
}

// universignRegistration is one registration's lifecycle.
type universignRegistration struct {
	in    contract.UniversignRegistrationInput
	t     *tracker
	hints *inbox[contract.StatusHint]
	// reg is the registration as created.
	reg universign.Registration
	us  *activities.Universign
}

// setupUniversign registers the status query and starts recording hints.
func setupUniversign(ctx workflow.Context, in contract.UniversignRegistrationInput) (*universignRegistration, error) {
	t, err := newTracker(ctx, contract.ProviderUniversign)
	if err != nil {
		return nil, err
	}
	return &universignRegistration{in: in, t: t, hints: listen[contract.StatusHint](ctx, nil)}, nil
}

func (u *universignRegistration) run(ctx workflow.Context) (*contract.UniversignRegistrationResult, error) {
	if err := validateUniversign(u.in); err != nil {
		u.t.stage(contract.StageFailed)
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeInvalidInput, nil)
	}
	deadline := workflow.Now(ctx).Add(u.in.Timeout.Or(universignDefaultTimeout))
	u.t.deadline(deadline)

	u.t.stage(contract.StageCreating)
	if err := createUninterrupted(ctx, "Create the registration at Universign", u.us.CreateUniversignRegistration, u.in.Registration, &u.reg); err != nil {
		u.t.stage(contract.StageFailed)
		return nil, err
	}
	u.t.ref(u.reg.ID)
	u.t.actionURL(u.reg.URL)

	req := request{
		provider: contract.ProviderUniversign, ref: "registration " + u.reg.ID, failType: contract.ErrTypeRegistrationFailed,
		deadline: deadline, firstPoll: firstPoll, pollEvery: u.in.PollInterval.Or(universignDefaultPoll),
	}
	_, verdict, end, err := newWait(u.t, u, req, u.hints, u.reg).follow(ctx)
	if err != nil {
		return nil, err
	}
	res := &contract.UniversignRegistrationResult{ID: u.reg.ID, State: verdict.Status, URL: u.reg.URL}
	if err := conclude(u.t, req, verdict, end, res); err != nil {
		return nil, err
	}
	return res, nil
}

func (u *universignRegistration) poll(ctx workflow.Context) workflow.Future {
	return workflow.ExecuteActivity(ctx, u.us.AwaitUniversignRegistration, activities.ObjectID{ID: u.reg.ID})
}

func (u *universignRegistration) read(ctx workflow.Context) workflow.Future {
	return workflow.ExecuteActivity(ctx, u.us.GetUniversignRegistration, activities.ObjectID{ID: u.reg.ID})
}

func (u *universignRegistration) cancel(ctx workflow.Context) workflow.Future {
	return workflow.ExecuteActivity(ctx, u.us.CancelUniversignRegistration, activities.ObjectID{ID: u.reg.ID})
}

func (u *universignRegistration) judge(s universign.Registration) activities.Verdict {
	return activities.JudgeUniversign(s)
}

// eventKey names a hint by the status it announces.
func (u *universignRegistration) eventKey(h contract.StatusHint) string { return h.Status }

func (u *universignRegistration) shows(s universign.Registration, h contract.StatusHint) bool {
	return showsStatus(s.State, h.Status)
}
