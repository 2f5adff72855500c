package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
	"github.com/certflow/certflow/starter"
	"github.com/certflow/certflow/workflows"
)

// listRow is one line of `certflow list --json`.
type listRow struct {
	WorkflowID      string `json:"workflow_id"`
	Type            string `json:"type"`
	Provider        string `json:"provider"`
	ExecutionStatus string `json:"execution_status"`
	Stage           string `json:"stage"`
	ProviderRef     string `json:"provider_ref"`
}

// listFields are all the fields `certflow list --json` may print: Temporal's
// facts and certflow's own search attributes, nothing that could name a
// person.
var listFields = map[string]bool{
	"workflow_id": true, "run_id": true, "type": true, "execution_status": true, "start_time": true,
	"close_time": true, "provider": true, "stage": true, "provider_ref": true,
}

// listJSON runs `certflow list --json args...` and returns its rows by
// workflow ID, failing the test on a field outside listFields.
func listJSON(t *testing.T, s *devstack.Stack, args ...string) map[string]listRow {
	t.Helper()
	code, out, errOut := cli(t, s, append([]string{"list", "--json"}, args...)...)
	if code != starter.ExitOK {
		t.Fatalf("list %v exited %d: %s", args, code, errOut)
	}
	rows := map[string]listRow{}
	for sc := bufio.NewScanner(strings.NewReader(out)); sc.Scan(); {
		var fields map[string]any
		var row listRow
		if err := json.Unmarshal(sc.Bytes(), &fields); err != nil {
			t.Fatalf("list line is not one JSON object: %v\n%s", err, sc.Text())
		}
		for f := range fields {
			if !listFields[f] {
				t.Errorf("list printed field %q: %s", f, sc.Text())
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		rows[row.WorkflowID] = row
	}
	return rows
}

// awaitListed runs `certflow list --json args...` until id is listed (or,
// with !want, no longer listed), for visibility lags the workflows it
// indexes, and returns id's row.
func awaitListed(t *testing.T, s *devstack.Stack, id string, want bool, args ...string) listRow {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		row, ok := listJSON(t, s, args...)[id]
		if ok == want {
			return row
		}
		if time.Now().After(deadline) {
			t.Fatalf("list %v: %s listed = %v, want %v", args, id, ok, want)
		}
	}
}

// endsCancelled waits for the workflow to end and checks it ended Canceled.
func endsCancelled(t *testing.T, run client.WorkflowRun) {
	t.Helper()
	var ce *temporal.CanceledError
	if err := outcome(run, nil); !errors.As(err, &ce) {
		t.Fatalf("workflow %s ended with %v, want cancelled", run.GetID(), err)
	}
}

func TestCLIListFiltersByProviderStageAndState(t *testing.T) {
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 10}, WebhookURL: deadWebhooks})
	running, ref := waitingIssuance(t, s, uniqueID("cli-list-running"))
	closed, closedRef := waitingIssuance(t, s, uniqueID("cli-list-closed"))
	if err := s.Client.CancelWorkflow(context.Background(), closed.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	endsCancelled(t, closed)

	row := awaitListed(t, s, running.GetID(), true, "--provider", "uanataca", "--stage", contract.StageAwaiting, "--running")
	want := listRow{WorkflowID: running.GetID(), Type: contract.UanatacaIssuanceName, Provider: contract.ProviderUanataca,
		ExecutionStatus: "Running", Stage: contract.StageAwaiting, ProviderRef: ref}
	if row != want {
		t.Errorf("running issuance listed as %+v, want %+v", row, want)
	}
	awaitListed(t, s, closed.GetID(), false, "--provider", "uanataca", "--running")

	row = awaitListed(t, s, closed.GetID(), true, "--provider", "uanataca", "--stage", contract.StageCancelled, "--closed")
	if row.ExecutionStatus != "Canceled" || row.ProviderRef != closedRef {
		t.Errorf("cancelled issuance listed as %+v, want Canceled with its request pk %s", row, closedRef)
	}
	if _, ok := listJSON(t, s, "--closed")[running.GetID()]; ok {
		t.Errorf("--closed lists the running issuance")
	}

	// Other tests' emulators hand out the same pks: only this test's two
	// issuances are told apart by --ref.
	if rows := listJSON(t, s, "--ref", ref); rows[running.GetID()].ProviderRef != ref || rows[closed.GetID()] != (listRow{}) {
		t.Errorf("--ref %s lists %+v, want the running issuance and not the cancelled one", ref, rows)
	}
	for _, args := range [][]string{{"--provider", "universign"}, {"--stage", contract.StageCompleted}} {
		if _, ok := listJSON(t, s, args...)[running.GetID()]; ok {
			t.Errorf("list %v lists the running issuance", args)
		}
	}
	if rows := listJSON(t, s, "--limit", "1"); len(rows) != 1 {
		t.Errorf("--limit 1 listed %d workflows", len(rows))
	}

	code, out, errOut := cli(t, s, "list", "--provider", "uanataca")
	if code != starter.ExitOK {
		t.Fatalf("list exited %d: %s", code, errOut)
	}
	for _, want := range []string{"WORKFLOW ID", "PROVIDER REF", running.GetID() + "  ", ref, contract.StageAwaiting, closed.GetID()} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestCLICancelWithReasonAndHistoryReplays(t *testing.T) {
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 10}, WebhookURL: deadWebhooks})
	run, _ := waitingIssuance(t, s, uniqueID("cli-cancel-reason"))
	const reason = "applicant withdrew, ticket OPS-1234"
	code, out, errOut := cli(t, s, "cancel", run.GetID(), "--reason", reason)
	if code != starter.ExitOK || !strings.Contains(out, reason) {
		t.Fatalf("cancel exited %d, printed %q (%s); want 0 and the reason", code, out, errOut)
	}
	endsCancelled(t, run)
	if st := status(t, s, run.GetID()); st.ExecutionStatus != "Canceled" || st.Status.Stage != contract.StageCancelled || st.Status.CancelReason != reason {
		t.Fatalf("status after cancel = %+v", st)
	}

	path := filepath.Join(t.TempDir(), "history.json")
	if code, out, errOut := cli(t, s, "history", run.GetID(), "-o", path); code != starter.ExitOK || !strings.Contains(out, path) {
		t.Fatalf("history exited %d, printed %q (%s)", code, out, errOut)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("history file mode %v, want 0600: it holds the workflow's input", fi.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The reason is signalled (encrypted like any payload) before the
	// cancel request, whose cause, stored in clear, only points to it.
	var cause string
	signalledFirst := false
	for _, e := range h.GetEvents() {
		if a := e.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == contract.SignalCancelReason && cause == "" {
			signalledFirst = true
		}
		if a := e.GetWorkflowExecutionCancelRequestedEventAttributes(); a != nil {
			cause = a.GetCause()
		}
	}
	if last := h.GetEvents()[len(h.GetEvents())-1]; !signalledFirst || strings.Contains(cause, "OPS-1234") || last.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED {
		t.Fatalf("exported history: reason signalled first %v, cancel requested with cause %q, last event %s; want the reason signalled, not in the cause, and the workflow canceled",
			signalledFirst, cause, last.GetEventType())
	}

	replayer := sdkworker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(workflows.UanatacaIssuance, workflow.RegisterOptions{Name: contract.UanatacaIssuanceName})
	if err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, path); err != nil {
		t.Fatalf("replaying the exported history: %v", err)
	}
}

func TestCLIWebhookReplaysHint(t *testing.T) {
	// The emulator's own webhooks go nowhere and the RA is polled hourly:
	// only the hints sent with the CLI can move the issuance on.
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 10}, WebhookURL: deadWebhooks})
	run, ref := waitingIssuance(t, s, uniqueID("cli-webhook"))
	dir := t.TempDir()
	payload := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	if err := s.Uanataca.Emulator.Approve(pkOf(t, ref)); err != nil {
		t.Fatal(err)
	}
	// The RA's raw legacy body is not the normalised payload: refused, not
	// sent as a hint the workflow could not decode.
	raw := payload("raw.json", `{"status":"ENROLLREADY","request":`+ref+`,"registration_authority":121}`)
	if code, _, errOut := cli(t, s, "webhook", run.GetID(), "-f", raw); code != starter.ExitFailed || !strings.Contains(errOut, "normalised") {
		t.Fatalf("webhook with the RA's raw body exited %d (%s); want 1 asking for the normalised payload", code, errOut)
	}
	normalised := payload("enrollready.json", `{"pk":`+ref+`,"status":"ENROLLREADY"}`)
	if code, _, errOut := cli(t, s, "webhook", run.GetID(), "-f", normalised); code != starter.ExitOK {
		t.Fatalf("webhook -f exited %d: %s", code, errOut)
	}
	awaitStatus(t, s, run.GetID(), func(st contract.Status) bool { return st.ProviderStatus == "ENROLLREADY" })

	if err := s.Uanataca.Emulator.Complete(pkOf(t, ref)); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli(t, s, "webhook", run.GetID(), "--status", "ISSUED"); code != starter.ExitOK {
		t.Fatalf("webhook --status exited %d: %s", code, errOut)
	}
	var res contract.UanatacaIssuanceResult
	if err := outcome(run, &res); err != nil || res.Status != "ISSUED" {
		t.Fatalf("result %+v, %v; want ISSUED after the replayed hint", res, err)
	}
	if code, _, errOut := cli(t, s, "webhook", run.GetID(), "--status", "ISSUED"); code != starter.ExitFailed || !strings.Contains(errOut, "running") {
		t.Fatalf("webhook to a completed workflow exited %d (%s); want 1", code, errOut)
	}
}

func TestCLIOpsHelpAndBadCommandLines(t *testing.T) {
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 1}})
	for _, cmd := range []string{"list", "cancel", "webhook", "history", "status"} {
		code, out, errOut := cli(t, s, cmd, "-h")
		if code != starter.ExitOK || !strings.HasPrefix(out, "Usage: certflow "+cmd) || errOut != "" {
			t.Errorf("%s -h exited %d, printed %q on stdout and %q on stderr; want 0 and the help on stdout", cmd, code, out, errOut)
		}
	}

	hu := start(t, s, uniqueID("cli-ops-humanos"), contract.HumanosRequestName, humanosInput("ana@example.com"))
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"list", "extra"}, `unexpected argument "extra"`},
		{[]string{"list", "--running", "--closed"}, "exclude each other"},
		{[]string{"list", "--provider", "docusign"}, "--provider"},
		{[]string{"list", "--stage", "done"}, "--stage"},
		{[]string{"list", "--limit", "0"}, "--limit"},
		{[]string{"list", "--ref", `1" OR 1=1`}, "--ref"},
		{[]string{"cancel"}, "exactly one workflow ID"},
		{[]string{"cancel", "a", "b"}, "exactly one workflow ID"},
		{[]string{"cancel", "a", "--why", "x"}, "-why"},
		{[]string{"webhook", "a"}, "either -f"},
		{[]string{"webhook", "a", "-f", "p.json", "--status", "ISSUED"}, "either -f"},
		{[]string{"history"}, "exactly one workflow ID"},
		{[]string{"history", "a", "--run"}, "-run"},
		// Humanos webhooks are events: a status cannot be turned into one.
		{[]string{"webhook", hu.GetID(), "--status", "ACCEPTED"}, "events"},
	}
	for _, tt := range tests {
		code, out, errOut := cli(t, s, tt.args...)
		if code != starter.ExitUsage || out != "" || !strings.HasPrefix(errOut, "certflow: ") ||
			strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("certflow %q exited %d with stderr %q; want 2 and one line \"certflow: ...\" mentioning %q", tt.args, code, errOut, tt.want)
		}
	}
}
