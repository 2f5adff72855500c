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
	"github.com/certflow/certflow/internal/provider/masstack"
)

// fakeMasStack holds one identification whose status the test moves.
type fakeMasStack struct {
	polledFake[masstack.Identification]
}

func (f *fakeMasStack) CreateIdentification(context.Context, masstack.CreateIdentification) (masstack.Identification, error) {
	return f.create(masstack.Identification{ID: "6f1c2a4e-0000-4000-8000-000000000001", Status: masstack.StatusPending, URL: "https://masstack.test/identify/6f1c"})
}

func (f *fakeMasStack) GetIdentification(context.Context, string) (masstack.Identification, error) {
	return f.get()
}

func (f *fakeMasStack) CancelIdentification(_ context.Context, _, reason string) error {
	return f.cancel(reason)
}

func newMasStackEnv() (*testEnv, *fakeMasStack) {
	env, fake := newTestEnv(), &fakeMasStack{polledFake[masstack.Identification]{
		provider: "masstack", cancelTo: masstack.StatusCancelled,
		status:  func(i *masstack.Identification) *string { return &i.Status },
		pending: func(s string) bool { return masstack.OutcomeOf(s) == masstack.OutcomePending },
	}}
	env.RegisterWorkflow(MasStackIdentification)
	env.RegisterActivity(&activities.MasStack{Client: fake})
	return env, fake
}

func validIdentification() contract.MasStackIdentificationInput {
	return contract.MasStackIdentificationInput{Identification: masstack.CreateIdentification{
		Name: "Ana", LastName: "Ruiz", ConfigurationName: "MEDIUM", ExpiresIn: "P30D",
		IdentityDocument: masstack.IdentityDocument{DocumentNumber: "12345678Z", DocumentType: "NIF", Country: "ES"},
		Scoring:          &masstack.Scoring{Provider: "INTERNAL"},
	}}
}

func identificationResult(t *testing.T, env *testEnv) (*contract.MasStackIdentificationResult, error) {
	t.Helper()
	var res *contract.MasStackIdentificationResult
	err := env.result(t, &res)
	return res, err
}

func TestMasStackIdentificationCompletes(t *testing.T) {
	env, fake := newMasStackEnv()
	env.RegisterDelayedCallback(func() { fake.set(masstack.StatusInProgress) }, time.Hour)
	env.RegisterDelayedCallback(func() { fake.set(masstack.StatusCompleted) }, 5*time.Hour)
	env.ExecuteWorkflow(MasStackIdentification, asJSON(validIdentification()))

	res, err := identificationResult(t, env)
	if err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if res.Status != masstack.StatusCompleted || fake.count("cancel") != 0 {
		t.Fatalf("result %+v, cancels %d", res, fake.count("cancel"))
	}
}

func TestMasStackCancelledWorkflowCancelsWithReason(t *testing.T) {
	tests := []struct {
		name, reason, operator, want string
	}{
		{"default reason", "", "", masstackDefaultReason},
		{"input's reason", "applicant withdrew", "", "applicant withdrew"},
		// certflow cancel --reason (certflowclient.Cancel) signals the
		// reason just before requesting the cancellation.
		{"operator's reason", "applicant withdrew", "duplicate onboarding", "duplicate onboarding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, fake := newMasStackEnv()
			in := validIdentification()
			in.CancelReason = tt.reason
			env.RegisterDelayedCallback(func() {
				if tt.operator != "" {
					env.SignalWorkflow(contract.SignalCancelReason, contract.CancelRequest{Reason: tt.operator})
				}
				env.CancelWorkflow()
			}, 3*time.Hour)
			env.ExecuteWorkflow(MasStackIdentification, asJSON(in))

			_, err := identificationResult(t, env)
			var ce *temporal.CanceledError
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v, want a cancellation", err)
			}
			if len(fake.reasons) != 1 || fake.reasons[0] != tt.want || fake.current() != masstack.StatusCancelled {
				t.Fatalf("cancel reasons %q, status %s; want one cancel with %q", fake.reasons, fake.current(), tt.want)
			}
			if st := env.status(t); st.CancelReason != tt.operator {
				t.Fatalf("status cancel_reason %q, want the operator's %q", st.CancelReason, tt.operator)
			}
		})
	}
}

func TestMasStackCancelAnswered409ReportsFinalState(t *testing.T) {
	tests := []struct {
		name       string
		final      string
		wantErr    string
		wantStatus string
	}{
		{"completed meanwhile", masstack.StatusCompleted, "", masstack.StatusCompleted},
		{"rejected meanwhile", masstack.StatusRejected, contract.ErrTypeIdentificationRejected, masstack.StatusRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, fake := newMasStackEnv()
			in := validIdentification()
			in.Timeout = contract.Duration(3 * time.Hour)
			in.PollInterval = contract.Duration(24 * time.Hour)
			// The person finishes after the last poll before the deadline:
			// only the cancel's 409 reveals it.
			env.RegisterDelayedCallback(func() { fake.set(tt.final) }, 2*time.Hour+50*time.Minute)
			env.ExecuteWorkflow(MasStackIdentification, asJSON(in))

			res, err := identificationResult(t, env)
			if errorType(err) != tt.wantErr {
				t.Fatalf("error = %v, want type %q", err, tt.wantErr)
			}
			if fake.count("cancel") != 1 {
				t.Fatalf("cancel called %d times, want once", fake.count("cancel"))
			}
			if tt.wantErr == "" && res.Status != tt.wantStatus {
				t.Fatalf("result %+v, want status %s", res, tt.wantStatus)
			}
		})
	}
}

func TestMasStackIdentificationExpiresAtProvider(t *testing.T) {
	env, fake := newMasStackEnv()
	env.RegisterDelayedCallback(func() { fake.set(masstack.StatusExpired) }, 30*24*time.Hour)
	env.ExecuteWorkflow(MasStackIdentification, asJSON(validIdentification()))

	_, err := identificationResult(t, env)
	if errorType(err) != contract.ErrTypeExpiredAtProvider || fake.count("cancel") != 0 {
		t.Fatalf("error = %v, cancels %d; want %s without a cancel", err, fake.count("cancel"), contract.ErrTypeExpiredAtProvider)
	}
	// Thirty days of polling is one polling activity: its attempts are
	// not history events. Count the activities the workflow scheduled:
	// create, the poll (attempts share it), nothing else.
	if polls := len(env.started["AwaitMasStackIdentification"]); polls < 30*24 {
		t.Fatalf("%d polls in 30 days, want at least hourly", polls)
	}
	if n := len(env.started["CreateMasStackIdentification"]) + len(env.started["GetMasStackIdentification"]); n != 1 {
		t.Fatalf("%d create/read activities, want only the create", n)
	}
}

func TestMasStackInvalidInputFailsWithoutCalls(t *testing.T) {
	env, fake := newMasStackEnv()
	in := contract.MasStackIdentificationInput{Identification: masstack.CreateIdentification{
		IdentityDocument: masstack.IdentityDocument{DocumentType: "DNI", Country: "Spain"},
		ExpiresIn:        "P45D", ConfigurationName: "ULTRA",
	}}
	env.ExecuteWorkflow(MasStackIdentification, asJSON(in))

	_, err := identificationResult(t, env)
	if errorType(err) != contract.ErrTypeInvalidInput {
		t.Fatalf("error = %v, want %s", err, contract.ErrTypeInvalidInput)
	}
	for _, want := range []string{"document_number", "document_type", "identity_document.country", "expires_in", "configuration_name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if len(fake.calls) != 0 {
		t.Fatalf("MasStack was called on invalid input: %v", fake.calls)
	}
}
