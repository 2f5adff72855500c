package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/universign"
)

// fakeUniversign holds one registration whose state the test moves.
type fakeUniversign struct {
	polledFake[universign.Registration]
}

func (f *fakeUniversign) CreateRegistration(context.Context, universign.CreateRegistration) (universign.Registration, error) {
	return f.create(universign.Registration{ID: "reg_5X", State: universign.StateOpen, URL: "https://universign.test/registration/reg_5X"})
}

func (f *fakeUniversign) GetRegistration(context.Context, string) (universign.Registration, error) {
	return f.get()
}

func (f *fakeUniversign) CancelRegistration(context.Context, string) error { return f.cancel("") }

func newUniversignEnv() (*testEnv, *fakeUniversign) {
	env, fake := newTestEnv(), &fakeUniversign{polledFake[universign.Registration]{
		provider: "universign", cancelTo: universign.StateCanceled,
		status:  func(r *universign.Registration) *string { return &r.State },
		pending: func(s string) bool { return universign.OutcomeOf(s) == universign.OutcomePending },
	}}
	env.RegisterWorkflow(UniversignRegistration)
	env.RegisterActivity(&activities.Universign{Client: fake})
	return env, fake
}

func validRegistration() contract.UniversignRegistrationInput {
	return contract.UniversignRegistrationInput{Registration: universign.CreateRegistration{
		Applicant: "ana@example.com", Level: "qcp", Language: "es", PhoneNumber: "+34600112233", PhoneNumberType: "suggestion",
	}}
}

func registrationResult(t *testing.T, env *testEnv) (*contract.UniversignRegistrationResult, error) {
	t.Helper()
	var res *contract.UniversignRegistrationResult
	err := env.result(t, &res)
	return res, err
}

func TestUniversignRegistrationCompletes(t *testing.T) {
	env, fake := newUniversignEnv()
	env.RegisterDelayedCallback(func() {
		st := env.status(t)
		if st.ActionURL != "https://universign.test/registration/reg_5X" || st.ProviderRef != "reg_5X" || st.Stage != contract.StageAwaiting {
			t.Errorf("status right after creation = %+v; want the registration URL at once", st)
		}
	}, time.Second)
	env.RegisterDelayedCallback(func() { fake.set(universign.StateCompleted) }, 3*time.Hour)
	env.ExecuteWorkflow(UniversignRegistration, asJSON(validRegistration()))

	res, err := registrationResult(t, env)
	if err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if res.State != universign.StateCompleted || res.URL == "" || fake.count("cancel") != 0 {
		t.Fatalf("result %+v, cancels %d", res, fake.count("cancel"))
	}
	// Polls start a minute apart and back off to the hourly interval.
	polls := env.started["AwaitUniversignRegistration"]
	if len(polls) < 2 || polls[1].Sub(polls[0]) != time.Minute {
		t.Fatalf("polls at %v, want the second a minute after the first", polls)
	}
}

func TestUniversignRegistrationExpiresAfterSevenDays(t *testing.T) {
	env, fake := newUniversignEnv()
	env.RegisterDelayedCallback(func() { fake.set(universign.StateExpired) }, 7*24*time.Hour)
	env.ExecuteWorkflow(UniversignRegistration, asJSON(validRegistration()))

	_, err := registrationResult(t, env)
	if errorType(err) != contract.ErrTypeExpiredAtProvider {
		t.Fatalf("error = %v, want %s", err, contract.ErrTypeExpiredAtProvider)
	}
	if fake.count("cancel") != 0 {
		t.Fatal("an expired registration must not be cancelled")
	}
	// Hourly polls over 7 days: one activity, many attempts.
	if n := len(env.started["AwaitUniversignRegistration"]); n < 7*24 {
		t.Fatalf("%d polls in 7 days, want at least one an hour", n)
	}
}

func TestUniversignWorkflowCancelledCancelsRegistration(t *testing.T) {
	env, fake := newUniversignEnv()
	env.RegisterDelayedCallback(env.CancelWorkflow, 2*time.Hour)
	env.ExecuteWorkflow(UniversignRegistration, asJSON(validRegistration()))

	_, err := registrationResult(t, env)
	var ce *temporal.CanceledError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a cancellation", err)
	}
	if fake.count("cancel") != 1 || fake.current() != universign.StateCanceled {
		t.Fatalf("cancels=%d state=%s; want the registration canceled at Universign", fake.count("cancel"), fake.current())
	}
}

func TestUniversignDeadlineCancelsRegistration(t *testing.T) {
	env, fake := newUniversignEnv()
	in := validRegistration()
	in.Timeout = contract.Duration(48 * time.Hour)
	env.ExecuteWorkflow(UniversignRegistration, asJSON(in))

	_, err := registrationResult(t, env)
	if errorType(err) != contract.ErrTypeDeadlineExceeded || fake.current() != universign.StateCanceled {
		t.Fatalf("error = %v, state %s; want %s and a canceled registration", err, fake.current(), contract.ErrTypeDeadlineExceeded)
	}
}

func TestUniversignInvalidInputFailsWithoutCalls(t *testing.T) {
	env, fake := newUniversignEnv()
	in := contract.UniversignRegistrationInput{
		Registration: universign.CreateRegistration{Applicant: "ana", Level: "qualified", PhoneNumber: "600112233", Language: "xx"},
		Timeout:      contract.Duration(time.Second),
	}
	env.ExecuteWorkflow(UniversignRegistration, asJSON(in))

	_, err := registrationResult(t, env)
	if errorType(err) != contract.ErrTypeInvalidInput {
		t.Fatalf("error = %v, want %s", err, contract.ErrTypeInvalidInput)
	}
	for _, want := range []string{"applicant", "level", "phone_number", "language", "timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if len(fake.calls) != 0 {
		t.Fatalf("Universign was called on invalid input: %v", fake.calls)
	}
}
