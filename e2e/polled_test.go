package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/masstack"
	"github.com/certflow/certflow/internal/provider/universign"
	mssandbox "github.com/certflow/certflow/internal/sandbox/masstack"
	ussandbox "github.com/certflow/certflow/internal/sandbox/universign"
	"github.com/certflow/certflow/starter"
)

func registration() contract.UniversignRegistrationInput {
	return contract.UniversignRegistrationInput{
		Registration: universign.CreateRegistration{Applicant: "ana@example.com", Level: "qcp", Language: "es"},
		PollInterval: contract.Duration(time.Second),
	}
}

func identification() contract.MasStackIdentificationInput {
	return contract.MasStackIdentificationInput{
		Identification: masstack.CreateIdentification{
			Name: "Ana", LastName: "Ruiz", ConfigurationName: "MEDIUM", ExpiresIn: "P30D",
			IdentityDocument: masstack.IdentityDocument{DocumentNumber: "12345678Z", DocumentType: "NIF", Country: "ES"},
		},
		PollInterval: contract.Duration(time.Second),
	}
}

func start(t *testing.T, s *devstack.Stack, id, workflowType string, in any) client.WorkflowRun {
	t.Helper()
	run, err := s.Client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: s.Config.TaskQueue}, workflowType, in)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// outcome waits (two minutes at most, so a broken path fails rather than
// hangs) for the workflow's result.
func outcome(run client.WorkflowRun, result any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return run.Get(ctx, result)
}

// awaitStatus polls the status query until cond holds.
func awaitStatus(t *testing.T, s *devstack.Stack, id string, cond func(contract.Status) bool) contract.Status {
	t.Helper()
	var st contract.Status
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		v, err := s.Client.QueryWorkflow(context.Background(), id, "", contract.QueryStatus)
		if err == nil && v.Get(&st) == nil && cond(st) {
			return st
		}
	}
	t.Fatalf("status of %s never satisfied the condition; last %+v", id, st)
	return st
}

// cancelOnceCreated cancels the workflow once the provider's id is known,
// checks it ends Canceled, and returns that id.
func cancelOnceCreated(t *testing.T, s *devstack.Stack, run client.WorkflowRun) string {
	t.Helper()
	st := awaitStatus(t, s, run.GetID(), func(st contract.Status) bool { return st.ProviderRef != "" })
	if err := s.Client.CancelWorkflow(context.Background(), run.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	var ce *temporal.CanceledError
	if err := outcome(run, nil); !errors.As(err, &ce) {
		t.Fatalf("workflow ended with %v, want cancelled", err)
	}
	return st.ProviderRef
}

// historyCounts returns the number of events of a workflow's history and
// how many activities it scheduled.
func historyCounts(t *testing.T, s *devstack.Stack, id string) (events, scheduled int) {
	t.Helper()
	it := s.Client.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		if e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED {
			scheduled++
		}
	}
	return events, scheduled
}

func TestUniversignRegistrationCompletes(t *testing.T) {
	s := startStackWith(t, devstack.Options{Universign: ussandbox.Options{CompleteAfter: 2 * time.Second}})
	run := start(t, s, "us-complete", contract.UniversignRegistrationName, registration())
	st := awaitStatus(t, s, run.GetID(), func(st contract.Status) bool { return st.ActionURL != "" })
	if st.ProviderRef == "" || st.Stage != contract.StageAwaiting {
		t.Fatalf("status once the registration exists = %+v", st)
	}
	var res contract.UniversignRegistrationResult
	if err := outcome(run, &res); err != nil {
		t.Fatal(err)
	}
	if res.State != universign.StateCompleted || res.URL != st.ActionURL {
		t.Fatalf("result %+v, want completed with the URL the query gave", res)
	}
}

func TestUniversignCancelledWorkflowCancelsRegistration(t *testing.T) {
	s := startStackWith(t, devstack.Options{})
	run := start(t, s, "us-cancel", contract.UniversignRegistrationName, registration())
	id := cancelOnceCreated(t, s, run)
	if state, _ := s.Universign.Emulator.State(id); state != universign.StateCanceled {
		t.Fatalf("registration %s is %q at Universign, want canceled", id, state)
	}
}

func TestMasStackIdentificationSurvivesTokenExpiryAndKeepsHistorySmall(t *testing.T) {
	s := startStackWith(t, devstack.Options{MasStack: mssandbox.Options{
		TokenTTL: 2 * time.Second, StartAfter: time.Second, CompleteAfter: 6 * time.Second,
	}})
	run := start(t, s, "ms-complete", contract.MasStackIdentificationName, identification())
	var res contract.MasStackIdentificationResult
	if err := outcome(run, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != masstack.StatusCompleted {
		t.Fatalf("result %+v, want COMPLETED", res)
	}
	stats := s.MasStack.Emulator.Stats()
	if stats.TokensIssued < 2 || stats.Unauthorized != 0 {
		t.Fatalf("tokens issued %d, 401s %d: want tokens refreshed before expiry, never rejected", stats.TokensIssued, stats.Unauthorized)
	}
	// Six seconds of one-second polls: the polls are retries of one
	// activity, so the history holds the create and one poll activity.
	events, scheduled := historyCounts(t, s, run.GetID())
	if events >= 100 || scheduled > 3 {
		t.Fatalf("history has %d events and %d scheduled activities; polling must not grow it", events, scheduled)
	}
	t.Logf("history: %d events, %d activities scheduled, %d tokens issued", events, scheduled, stats.TokensIssued)
}

func TestMasStackCancelledWorkflowCancelsIdentificationWithReason(t *testing.T) {
	s := startStackWith(t, devstack.Options{})
	in := identification()
	in.CancelReason = "applicant withdrew"
	run := start(t, s, "ms-cancel", contract.MasStackIdentificationName, in)
	id := cancelOnceCreated(t, s, run)
	status, _ := s.MasStack.Emulator.Status(id)
	if stats := s.MasStack.Emulator.Stats(); status != masstack.StatusCancelled || stats.LastCancelReason != "applicant withdrew" {
		t.Fatalf("identification is %s at MasStack, last cancel reason %q", status, stats.LastCancelReason)
	}
}

// certflow cancel --reason reaches MasStack's cancel call and the
// workflow's status, overriding the input's reason.
func TestCLICancelReasonReachesMasStack(t *testing.T) {
	s := startStackWith(t, devstack.Options{})
	in := identification()
	in.CancelReason = "applicant withdrew"
	run := start(t, s, uniqueID("ms-cancel-reason"), contract.MasStackIdentificationName, in)
	st := awaitStatus(t, s, run.GetID(), func(st contract.Status) bool { return st.ProviderRef != "" })
	if code, out, errOut := cli(t, s, "cancel", run.GetID(), "--reason", "duplicate onboarding #77"); code != starter.ExitOK || !strings.Contains(out, "duplicate onboarding #77") {
		t.Fatalf("cancel exited %d: %s%s", code, out, errOut)
	}
	var ce *temporal.CanceledError
	if err := outcome(run, nil); !errors.As(err, &ce) {
		t.Fatalf("workflow ended with %v, want cancelled", err)
	}
	state, _ := s.MasStack.Emulator.Status(st.ProviderRef)
	if stats := s.MasStack.Emulator.Stats(); state != masstack.StatusCancelled || stats.LastCancelReason != "duplicate onboarding #77" {
		t.Fatalf("identification is %s at MasStack, last cancel reason %q; want the operator's", state, stats.LastCancelReason)
	}
	if got := status(t, s, run.GetID()).Status.CancelReason; got != "duplicate onboarding #77" {
		t.Fatalf("certflow status shows cancel_reason %q", got)
	}
}
