package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

func issuance(ra string, i int) contract.UanatacaIssuanceInput {
	return contract.UanatacaIssuanceInput{
		Request: uanataca.CreateRequest{
			Profile: "PFnubeAFCiudadano", ValidityTime: 365, SecureElement: "2", RegistrationAuthority: ra,
			IDDocumentType: "IDC", IDDocumentCountry: "ES", SerialNumber: fmt.Sprintf("%08dZ", i), GivenName: "Ana",
			Surname1: "Ruiz", Email: fmt.Sprintf("applicant%d@example.com", i), MobilePhoneNumber: "+34600112233",
		},
		Timeout: contract.Duration(10 * time.Minute),
	}
}

// runIssuances starts n issuances at once and waits for all of them.
func runIssuances(t *testing.T, s *devstack.Stack, n int, input func(i int) contract.UanatacaIssuanceInput) []contract.UanatacaIssuanceResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	results := make([]contract.UanatacaIssuanceResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: fmt.Sprintf("%s-%d", t.Name(), i), TaskQueue: s.Config.TaskQueue,
			}, contract.UanatacaIssuanceName, input(i))
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

func assertAllIssued(t *testing.T, results []contract.UanatacaIssuanceResult) {
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

// Fifty issuances start at once on one RA: the allocator hands each a
// distinct card, so no create is refused as "Invalid ScratchCard", and all
// of them complete through webhooks alone.
func TestUanatacaConcurrentIssuancesOnOneRA(t *testing.T) {
	s := startStack(t, uasandbox.Options{
		RAs:              map[string]int{"121": 100},
		AutoApproveAfter: 200 * time.Millisecond,
		IssueAfter:       500 * time.Millisecond,
	})
	// Polling every hour: within the test, only webhooks can finish them.
	results := runIssuances(t, s, 50, func(i int) contract.UanatacaIssuanceInput {
		in := issuance("121", i)
		in.PollInterval = contract.Duration(time.Hour)
		return in
	})
	assertAllIssued(t, results)
	stats := s.Uanataca.Emulator.Stats()
	if stats.Issued != 50 || stats.WebhooksSent < 100 || stats.InvalidScratchcard != 0 {
		t.Errorf("emulator issued %d, sent %d webhooks, refused %d cards as Invalid ScratchCard; want 50, at least 100 (the last may still be counting), 0",
			stats.Issued, stats.WebhooksSent, stats.InvalidScratchcard)
	}
	t.Logf("emulator: %+v", stats)
}

// An RA with three cards and four issuances: three are issued, the fourth
// fails at once with ScratchcardPoolExhausted naming the RA.
func TestUanatacaScratchcardPoolExhausted(t *testing.T) {
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 3}, AutoApproveAfter: 100 * time.Millisecond, IssueAfter: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var exhausted, issued int
	for i := range 4 {
		run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-%d", t.Name(), i), TaskQueue: s.Config.TaskQueue},
			contract.UanatacaIssuanceName, issuance("121", i))
		if err != nil {
			t.Fatal(err)
		}
		var res contract.UanatacaIssuanceResult
		err = run.Get(ctx, &res)
		var appErr *temporal.ApplicationError
		switch {
		case err == nil && res.Status == "ISSUED":
			issued++
		case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypePoolExhausted && strings.Contains(err.Error(), "RA 121"):
			exhausted++
		default:
			t.Errorf("issuance %d ended %+v, %v", i, res, err)
		}
	}
	if issued != 3 || exhausted != 1 {
		t.Fatalf("%d issued, %d refused for exhaustion; want 3 and 1", issued, exhausted)
	}
	// Operators see it: a counter by RA on the worker's /metrics, beside
	// the SDK's own metrics.
	resp, err := http.Get(strings.TrimSuffix(s.WebhookURL, "/webhooks/uanataca") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	exhaustedMetric := regexp.MustCompile(`certflow_scratchcard_pool_exhausted_total\{[^}]*ra="121"[^}]*\} [1-9]`)
	if !exhaustedMetric.Match(body) || !strings.Contains(string(body), "temporal_workflow_completed") {
		t.Fatalf("/metrics lacks the exhaustion counter for RA 121 or the SDK's metrics:\n%s", body)
	}
	for _, want := range []string{
		`certflow_provider_call_duration_seconds_count{operation="create_request",outcome="ok",provider="uanataca"}`,
		`certflow_webhooks_received_total{provider="uanataca"}`,
		`certflow_scratchcards_leased{`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestUanatacaDroppedWebhooksCompletedByPolling(t *testing.T) {
	s := startStack(t, uasandbox.Options{
		RAs:              map[string]int{"121": 100},
		AutoApproveAfter: 200 * time.Millisecond,
		IssueAfter:       300 * time.Millisecond,
		Faults:           uasandbox.Faults{DropWebhookRate: 1},
	})
	results := runIssuances(t, s, 5, func(i int) contract.UanatacaIssuanceInput {
		in := issuance("121", i)
		in.PollInterval = contract.Duration(time.Second)
		return in
	})
	assertAllIssued(t, results)
	if stats := s.Uanataca.Emulator.Stats(); stats.WebhooksSent != 0 || stats.WebhooksDropped == 0 {
		t.Errorf("emulator sent %d and dropped %d webhooks; want every webhook dropped", stats.WebhooksSent, stats.WebhooksDropped)
	}
}
