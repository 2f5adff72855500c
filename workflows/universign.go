package workflows

import (
	"encoding/json"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/universign"
	"github.com/certflow/certflow/internal/validate"
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
	return validateInput(validate.Within("registration", in.Registration.Validate()), in.Timeout, in.PollInterval, universignMaxTimeout)
}

// UniversignRegistration creates a standalone registration, exposes its
// URL through the status query (action_url) at once, and follows it to
// completed, canceled, failed or expired. On its own deadline or on
// cancellation it cancels the registration at Universign.
func UniversignRegistration(ctx workflow.Context, input json.RawMessage) (*contract.UniversignRegistrationResult, error) {
	return execute(ctx, &universignRegistration{raw: input})
}

// universignRegistration is one registration's lifecycle.
type universignRegistration struct {
	handlers[contract.StatusHint]
	// raw is the input as started, decoded into in by run.
	raw json.RawMessage
	in  contract.UniversignRegistrationInput
	// reg is the registration as created.
	reg universign.Registration
	us  *activities.Universign
}

func (u *universignRegistration) setup(ctx workflow.Context) error {
	return u.register(ctx, contract.ProviderUniversign, nil)
}

func (u *universignRegistration) run(ctx workflow.Context) (*contract.UniversignRegistrationResult, error) {
	problems := checkInput(u.raw, &u.in, validateUniversign)
	deadline, err := u.t.begin(problems, u.in.Timeout.Or(universignDefaultTimeout))
	if err != nil {
		return nil, err
	}
	if err := u.t.create(ctx, "Create the registration at Universign", u.us.CreateUniversignRegistration, u.in.Registration, &u.reg); err != nil {
		return nil, err
	}
	u.t.ref(u.reg.ID)
	u.t.actionURL(u.reg.URL)

	req := request{
		provider: contract.ProviderUniversign, ref: "registration " + u.reg.ID, failType: contract.ErrTypeRegistrationFailed,
		deadline: deadline, firstPoll: firstPoll, pollEvery: u.in.PollInterval.Or(universignDefaultPoll),
		poll: u.us.AwaitUniversignRegistration, read: u.us.GetUniversignRegistration, cancel: u.us.CancelUniversignRegistration,
		arg: activities.ObjectID{ID: u.reg.ID},
	}
	_, verdict, end, err := newWait(u.t, u, req, u.hints, u.reg).follow(ctx)
	if err != nil {
		return nil, err
	}
	return finish(u.t, req, verdict, end, &contract.UniversignRegistrationResult{ID: u.reg.ID, State: verdict.Status, URL: u.reg.URL})
}

func (u *universignRegistration) judge(s universign.Registration) activities.Verdict {
	return activities.JudgeUniversign(s)
}

// eventKey names a hint by the status it announces.
func (u *universignRegistration) eventKey(h contract.StatusHint) string { return h.Status }

func (u *universignRegistration) shows(s universign.Registration, h contract.StatusHint) bool {
	return showsStatus(s.State, h.Status)
}
