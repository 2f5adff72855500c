package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// deadWebhooks points the emulator's own webhooks nowhere, so the test
// alone decides which webhooks the ingress receives.
const deadWebhooks = "http://127.0.0.1:1/"

// sendUanataca posts a legacy-format webhook to the worker's ingress with
// the dev token and returns the status code.
func sendUanataca(t *testing.T, s *devstack.Stack, pk, status string) int {
	t.Helper()
	body := fmt.Sprintf(`{"status":%q,"date":"2026-11-22T10:00:00.000000","previous_status":"CREATED","request":%s,"registration_authority":121}`, status, pk)
	resp, err := http.Post(s.WebhookURL+"/"+s.Config.Uanataca.WebhookToken, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitingIssuance starts an issuance polled hourly and returns its run and
// request pk once recorded.
func waitingIssuance(t *testing.T, s *devstack.Stack, id string) (client.WorkflowRun, string) {
	t.Helper()
	in := issuance("121", 0)
	in.PollInterval = contract.Duration(time.Hour)
	run := start(t, s, id, contract.UanatacaIssuanceName, in)
	st := awaitStatus(t, s, id, func(st contract.Status) bool { return st.ProviderRef != "" && st.Stage == contract.StageAwaiting })
	return run, st.ProviderRef
}

// reads counts the authoritative reads (GetUanatacaRequest) in a history.
func reads(t *testing.T, s *devstack.Stack, id string) int {
	t.Helper()
	n := 0
	it := s.Client.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "GetUanatacaRequest" {
			n++
		}
	}
	return n
}

func pkOf(t *testing.T, ref string) int64 {
	t.Helper()
	pk, err := strconv.ParseInt(ref, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// Webhooks that reach the ingress before the create activity has returned
// (so before the workflow has recorded the pk) still complete it.
func TestWebhookBeforeCreateReturned(t *testing.T) {
	s := startStack(t, uasandbox.Options{
		RAs: map[string]int{"121": 10}, AutoApproveAfter: 50 * time.Millisecond, IssueAfter: 50 * time.Millisecond,
		CreateAnswerDelay: 1500 * time.Millisecond,
	})
	in := issuance("121", 0)
	in.PollInterval = contract.Duration(time.Hour) // only webhooks can finish it in time
	run := start(t, s, "early-webhooks", contract.UanatacaIssuanceName, in)
	var res contract.UanatacaIssuanceResult
	if err := outcome(run, &res); err != nil || res.Status != "ISSUED" {
		t.Fatalf("result %+v, %v; want ISSUED from webhooks sent before the pk was known", res, err)
	}
}

func TestDuplicateWebhooksOneTransition(t *testing.T) {
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 10}, WebhookURL: deadWebhooks})
	run, ref := waitingIssuance(t, s, "dup-webhooks")
	before := reads(t, s, run.GetID())
	if err := s.Uanataca.Emulator.Approve(pkOf(t, ref)); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if code := sendUanataca(t, s, ref, "ENROLLREADY"); code != http.StatusOK {
			t.Fatalf("webhook answered %d", code)
		}
	}
	awaitStatus(t, s, run.GetID(), func(st contract.Status) bool { return st.ProviderStatus == "ENROLLREADY" })
	if got := reads(t, s, run.GetID()) - before; got != 1 {
		t.Fatalf("5 identical webhooks caused %d reads of the RA, want 1", got)
	}
	if err := s.Uanataca.Emulator.Complete(pkOf(t, ref)); err != nil {
		t.Fatal(err)
	}
	sendUanataca(t, s, ref, "ISSUED")
	var res contract.UanatacaIssuanceResult
	if err := outcome(run, &res); err != nil || res.Status != "ISSUED" {
		t.Fatalf("result %+v, %v", res, err)
	}
}

func TestIssuedBeforeEnrollReadyEndsIssued(t *testing.T) {
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 10}, WebhookURL: deadWebhooks})
	run, ref := waitingIssuance(t, s, "out-of-order")
	if err := s.Uanataca.Emulator.Approve(pkOf(t, ref)); err != nil {
		t.Fatal(err)
	}
	if err := s.Uanataca.Emulator.Complete(pkOf(t, ref)); err != nil {
		t.Fatal(err)
	}
	sendUanataca(t, s, ref, "ISSUED")
	sendUanataca(t, s, ref, "ENROLLREADY") // late, and stale: answered 200 or 410 once the workflow ended
	var res contract.UanatacaIssuanceResult
	if err := outcome(run, &res); err != nil || res.Status != "ISSUED" {
		t.Fatalf("result %+v, %v; want ISSUED whatever the order", res, err)
	}
}

func TestForgedIssuedDoesNotComplete(t *testing.T) {
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 10}, WebhookURL: deadWebhooks})
	run, ref := waitingIssuance(t, s, "forged")
	if code := sendUanataca(t, s, ref, "ISSUED"); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	// The workflow reads CREATED at the RA and keeps waiting.
	awaitStatus(t, s, run.GetID(), func(contract.Status) bool { return reads(t, s, run.GetID()) >= 1 })
	time.Sleep(500 * time.Millisecond)
	desc, err := s.Client.DescribeWorkflowExecution(context.Background(), run.GetID(), "")
	if err != nil {
		t.Fatal(err)
	}
	st := awaitStatus(t, s, run.GetID(), func(contract.Status) bool { return true })
	if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || st.ProviderStatus != "CREATED" || st.Stage != contract.StageAwaiting {
		t.Fatalf("after a forged ISSUED: execution %s, status %+v; want still awaiting with CREATED", desc.GetWorkflowExecutionInfo().GetStatus(), st)
	}
}

// With Temporal down, the ingress answers 503 (the sender keeps the
// webhook); once Temporal is back, the same webhook is delivered and the
// issuance completes. This test runs its own dev server, on a file, so it
// can stop and restart it.
func TestTemporalDownThenBack(t *testing.T) {
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	topts := devstack.TemporalOptions{Port: port, DBFile: filepath.Join(t.TempDir(), "temporal.db")}
	temporal, err := devstack.StartTemporal(context.Background(), topts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { temporal.Stop() }()
	own := startStackOn(t, temporal.Address, uasandbox.Options{RAs: map[string]int{"121": 10}, WebhookURL: deadWebhooks})
	run, ref := waitingIssuance(t, own, "temporal-restart")
	if err := own.Uanataca.Emulator.Approve(pkOf(t, ref)); err != nil {
		t.Fatal(err)
	}
	if err := own.Uanataca.Emulator.Complete(pkOf(t, ref)); err != nil {
		t.Fatal(err)
	}

	temporal.Stop()
	if code := sendUanataca(t, own, ref, "ISSUED"); code != http.StatusServiceUnavailable {
		t.Fatalf("with Temporal down the webhook got %d, want 503", code)
	}
	if temporal, err = devstack.StartTemporal(context.Background(), topts); err != nil {
		t.Fatal(err)
	}
	// The restarted server and the worker's reconnection can take a while
	// on a loaded 2-core machine.
	deadline := time.Now().Add(60 * time.Second)
	code := 0
	for code != http.StatusOK && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		code = sendUanataca(t, own, ref, "ISSUED")
	}
	if code != http.StatusOK {
		t.Fatalf("after Temporal came back the webhook still got %d", code)
	}
	var res contract.UanatacaIssuanceResult
	if err := outcome(run, &res); err != nil || res.Status != "ISSUED" {
		t.Fatalf("result %+v, %v", res, err)
	}
}

// A webhook for a request whose workflow has ended gets its final answer,
// 410, at once: not a 404 the sender may retry, nor a 503.
func TestWebhookForEndedWorkflowIsFinal(t *testing.T) {
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 10}, WebhookURL: deadWebhooks})
	run, ref := waitingIssuance(t, s, uniqueID("ended"))
	if err := s.Uanataca.Emulator.Approve(pkOf(t, ref)); err != nil {
		t.Fatal(err)
	}
	if err := s.Uanataca.Emulator.Complete(pkOf(t, ref)); err != nil {
		t.Fatal(err)
	}
	if code := sendUanataca(t, s, ref, "ISSUED"); code != http.StatusOK {
		t.Fatalf("the ISSUED webhook answered %d, want 200", code)
	}
	if err := outcome(run, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		began := time.Now()
		if code := sendUanataca(t, s, ref, "ISSUED"); code != http.StatusGone || time.Since(began) > 2*time.Second {
			t.Fatalf("a webhook for the ended workflow answered %d after %s; want 410 at once", code, time.Since(began))
		}
	}
}
