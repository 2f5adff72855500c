package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/certflowclient"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/universign"
	ussandbox "github.com/certflow/certflow/internal/sandbox/universign"
)

// newCertflowClient wraps a Temporal client of the test's own, as another
// service would, around the stack's connection.
func newCertflowClient(t *testing.T, s *devstack.Stack) (*certflowclient.Client, client.Client) {
	t.Helper()
	tc, err := client.NewClientFromExisting(s.Client, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	return certflowclient.New(tc, certflowclient.Options{TaskQueue: s.Config.TaskQueue}), tc
}

// clientStatus polls certflowclient.Status until cond holds.
func clientStatus(t *testing.T, tc client.Client, id string, cond func(contract.Status) bool) contract.Status {
	t.Helper()
	var st contract.Status
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err = certflowclient.Status(ctx, tc, id)
		cancel()
		if err == nil && cond(st) {
			return st
		}
	}
	t.Fatalf("status of %s never satisfied the condition; last %+v, %v", id, st, err)
	return st
}

func TestCertflowClientCompletesUniversignRegistration(t *testing.T) {
	s := startStackWith(t, devstack.Options{Universign: ussandbox.Options{CompleteAfter: time.Second}})
	cf, tc := newCertflowClient(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	run, err := cf.StartUniversignRegistration(ctx, "", registration())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(run.ID(), contract.ProviderUniversign+"-") || run.RunID() == "" {
		t.Fatalf("ID %q, run ID %q: want a generated universign-<uuid> and a run", run.ID(), run.RunID())
	}
	st := clientStatus(t, tc, run.ID(), func(st contract.Status) bool { return st.ActionURL != "" })
	if err := cf.SendWebhookHint(ctx, run.ID(), contract.StatusHint{Status: universign.StateCompleted}); err != nil {
		t.Fatal(err)
	}
	res, err := run.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != universign.StateCompleted || res.URL != st.ActionURL || res.ID != st.ProviderRef {
		t.Fatalf("result %+v, want completed with the ID and URL the status gave (%+v)", res, st)
	}

	desc, err := tc.DescribeWorkflowExecution(ctx, run.ID(), "")
	if err != nil {
		t.Fatal(err)
	}
	var summary string
	if err := converter.GetDefaultDataConverter().FromPayload(desc.GetExecutionConfig().GetUserMetadata().GetSummary(), &summary); err != nil || summary != "Universign registration · level qcp" {
		t.Fatalf("summary %q (%v), want the static one without personal data", summary, err)
	}

	_, err = cf.StartUniversignRegistration(ctx, run.ID(), registration())
	if !errors.Is(err, certflowclient.ErrAlreadyStarted) {
		t.Fatalf("starting the succeeded ID again: %v, want ErrAlreadyStarted", err)
	}
}

func TestCertflowClientCancelsUniversignRegistration(t *testing.T) {
	s := startStackWith(t, devstack.Options{})
	cf, tc := newCertflowClient(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	run, err := cf.StartUniversignRegistration(ctx, "us-client-cancel", registration())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cf.StartUniversignRegistration(ctx, "us-client-cancel", registration()); !errors.Is(err, certflowclient.ErrAlreadyStarted) {
		t.Fatalf("starting a running ID again: %v, want ErrAlreadyStarted", err)
	}
	st := clientStatus(t, tc, run.ID(), func(st contract.Status) bool { return st.ProviderRef != "" })
	if err := cf.Cancel(ctx, run.ID(), ""); err != nil {
		t.Fatal(err)
	}
	var ce *temporal.CanceledError
	if _, err := run.Result(ctx); !errors.As(err, &ce) {
		t.Fatalf("workflow ended with %v, want cancelled", err)
	}
	if state, _ := s.Universign.Emulator.State(st.ProviderRef); state != universign.StateCanceled {
		t.Fatalf("registration %s is %q at Universign, want canceled", st.ProviderRef, state)
	}
}
