package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
	"github.com/certflow/certflow/workflows"
)

func issuance(ra string, i int) workflows.UanatacaIssuanceInput {
	return workflows.UanatacaIssuanceInput{
		Request: uanataca.CreateRequest{
			Profile: "PFnubeAFCiudadano", ValidityTime: 365, SecureElement: "2", RegistrationAuthority: ra,
			IDDocumentType: "IDC", IDDocumentCountry: "ES", SerialNumber: fmt.Sprintf("%08dZ", i), GivenName: "Ana",
			Surname1: "Ruiz", Email: fmt.Sprintf("applicant%d@example.com", i), MobilePhoneNumber: "+34600112233",
		},
		Timeout: workflows.Duration(10 * time.Minute),
	}
}

// runIssuances starts n issuances at once and waits for all of them.
func runIssuances(t *testing.T, s *devstack.Stack, n int, input func(i int) workflows.UanatacaIssuanceInput) []workflows.UanatacaIssuanceResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	results := make([]workflows.UanatacaIssuanceResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: fmt.Sprintf("%s-%d", t.Name(), i), TaskQueue: s.Config.TaskQueue,
			}, workflows.UanatacaIssuanceName, input(i))
			if err == nil {
				err = run.Get(ctx, &results[i])
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("issuance %d: %v", i, err)
		}
	}
	return results
}

func assertAllIssued(t *testing.T, results []workflows.UanatacaIssuanceResult) {
	t.Helper()
	pks, cards := map[int64]bool{}, map[string]bool{}
	for i, r := range results {
		if r.Status != uanataca.StatusIssued || len(r.CertificateSet) == 0 {
			t.Errorf("issuance %d ended %q with %d certificates, want ISSUED with one", i, r.Status, len(r.CertificateSet))
		}
		pks[r.PK] = true
		cards[r.RegistrationAuthority+"/"+r.Scratchcard] = true
	}
	if len(pks) != len(results) || len(cards) != len(results) {
		t.Errorf("%d issuances got %d distinct requests and %d distinct cards", len(results), len(pks), len(cards))
	}
}

func TestUanatacaConcurrentIssuancesCompleteThroughWebhooks(t *testing.T) {
	s := startStack(t, uasandbox.Options{
		RAs:              map[string]int{"121": 100},
		AutoApproveAfter: 200 * time.Millisecond,
		IssueAfter:       500 * time.Millisecond,
	})
	// Polling every hour: within the test, only webhooks can finish them.
	results := runIssuances(t, s, 20, func(i int) workflows.UanatacaIssuanceInput {
		in := issuance("121", i)
		in.PollInterval = workflows.Duration(time.Hour)
		return in
	})
	assertAllIssued(t, results)
	stats := s.Uanataca.Emulator.Stats()
	if stats.Issued != 20 || stats.WebhooksSent < 60 {
		t.Errorf("emulator issued %d requests and sent %d webhooks; want 20 and at least 60 (3 per request)", stats.Issued, stats.WebhooksSent)
	}
	t.Logf("emulator: %+v", stats)
}

func TestUanatacaDroppedWebhooksCompletedByPolling(t *testing.T) {
	s := startStack(t, uasandbox.Options{
		RAs:              map[string]int{"121": 100},
		AutoApproveAfter: 200 * time.Millisecond,
		IssueAfter:       300 * time.Millisecond,
		Faults:           uasandbox.Faults{DropWebhookRate: 1},
	})
	results := runIssuances(t, s, 5, func(i int) workflows.UanatacaIssuanceInput {
		in := issuance("121", i)
		in.PollInterval = workflows.Duration(time.Second)
		return in
	})
	assertAllIssued(t, results)
	if stats := s.Uanataca.Emulator.Stats(); stats.WebhooksSent != 0 || stats.WebhooksDropped == 0 {
		t.Errorf("emulator sent %d and dropped %d webhooks; want every webhook dropped", stats.WebhooksSent, stats.WebhooksDropped)
	}
}
