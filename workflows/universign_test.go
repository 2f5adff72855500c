package workflows

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/universign"
)

// fakeUniversign holds one registration whose state the test moves.
type fakeUniversign struct {
	scripted
	reg *universign.Registration
}

func (f *fakeUniversign) CreateRegistration(_ context.Context, _ universign.CreateRegistration) (universign.Registration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("create"); err != nil {
		return universign.Registration{}, err
	}
	f.reg = &universign.Registration{ID: "reg_5X", State: universign.StateOpen, URL: "https://universign.test/registration/reg_5X"}
	return *f.reg, nil
}

func (f *fakeUniversign) GetRegistration(_ context.Context, id string) (universign.Registration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("get"); err != nil {
		return universign.Registration{}, err
	}
	return *f.reg, nil
}

func (f *fakeUniversign) CancelRegistration(_ context.Context, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cancel"); err != nil {
		return err
	}
	if f.reg.State != universign.StateOpen {
		return &provider.Error{Provider: "universign", StatusCode: http.StatusConflict}
	}
	f.reg.State = universign.StateCanceled
	return nil
}

func (f *fakeUniversign) set(state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reg.State = state
}

func (f *fakeUniversign) state() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reg.State
}

func newUniversignEnv() (*testEnv, *fakeUniversign) {
	env, fake := newTestEnv(), &fakeUniversign{}
	env.RegisterWorkflow(UniversignRegistration)
	env.RegisterActivity(&activities.Universign{Client: fake})
	return env, fake
}

func validRegistration() UniversignRegistrationInput {
	return UniversignRegistrationInput{Registration: universign.CreateRegistration{
		Applicant: "ana@example.com", Level: "qcp", Language: "es", PhoneNumber: "+34600112233", PhoneNumberType: "suggestion",
	}}
}

func registrationResult(t *testing.T, env *testEnv) (*UniversignRegistrationResult, error) {
	t.Helper()
	var res *UniversignRegistrationResult
	err := env.result(t, &res)
	return res, err
}

func TestUniversignRegistrationCompletes(t *testing.T) {
	env, fake := newUniversignEnv()
	env.RegisterDelayedCallback(func() {
		st := env.status(t)
		if st.ActionURL != "https://universign.test/registration/reg_5X" || st.ProviderRef != "reg_5X" || st.Stage != StageAwaiting {
			t.Errorf("status right after creation = %+v; want the registration URL at once", st)
		}
	}, time.Second)
	env.RegisterDelayedCallback(func() { fake.set(universign.StateCompleted) }, 3*time.Hour)
	env.ExecuteWorkflow(UniversignRegistration, validRegistration())

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
	env.ExecuteWorkflow(UniversignRegistration, validRegistration())

	_, err := registrationResult(t, env)
	if errorType(err) != ErrTypeExpiredAtProvider {
		t.Fatalf("error = %v, want %s", err, ErrTypeExpiredAtProvider)
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
	env.ExecuteWorkflow(UniversignRegistration, validRegistration())

	_, err := registrationResult(t, env)
	var ce *temporal.CanceledError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a cancellation", err)
	}
	if fake.count("cancel") != 1 || fake.state() != universign.StateCanceled {
		t.Fatalf("cancels=%d state=%s; want the registration canceled at Universign", fake.count("cancel"), fake.state())
	}
}

func TestUniversignDeadlineCancelsRegistration(t *testing.T) {
	env, fake := newUniversignEnv()
	in := validRegistration()
	in.Timeout = Duration(48 * time.Hour)
	env.ExecuteWorkflow(UniversignRegistration, in)

	_, err := registrationResult(t, env)
	if errorType(err) != ErrTypeDeadlineExceeded || fake.state() != universign.StateCanceled {
		t.Fatalf("error = %v, state %s; want %s and a canceled registration", err, fake.state(), ErrTypeDeadlineExceeded)
	}
}

func TestUniversignInvalidInputFailsWithoutCalls(t *testing.T) {
	env, fake := newUniversignEnv()
	in := UniversignRegistrationInput{
		Registration: universign.CreateRegistration{Applicant: "ana", Level: "qualified", PhoneNumber: "600112233", Language: "xx"},
		Timeout:      Duration(time.Second),
	}
	env.ExecuteWorkflow(UniversignRegistration, in)

	_, err := registrationResult(t, env)
	if errorType(err) != ErrTypeInvalidInput {
		t.Fatalf("error = %v, want %s", err, ErrTypeInvalidInput)
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
