package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/certflowclient"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/internal/devstack"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
	"github.com/certflow/certflow/starter"
)

// cli runs the starter CLI against the stack and returns its exit code
// and output. The CLI holds the stack's codec key when it has one, and
// allows plaintext when it has none, as cmd/certflow is configured.
func cli(t *testing.T, s *devstack.Stack, args ...string) (int, string, string) {
	t.Helper()
	return cliKeyed(t, s, s.Config.Codec.Keys, args...)
}

// cliKeyed is cli with the CLI's codec keys ("" for none, and then
// plaintext allowed only when the stack allows it).
func cliKeyed(t *testing.T, s *devstack.Stack, keys string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	dc, fc, err := certflowclient.Encryption(keys)
	if err != nil {
		t.Fatal(err)
	}
	c := &starter.CLI{
		Out: &out, Err: &errOut, Encrypted: dc != nil,
		Config: config.Common{TaskQueue: s.Config.TaskQueue, WebUIURL: "http://localhost:8233", Codec: config.Codec{AllowPlaintext: s.Config.Codec.AllowPlaintext}},
		Dial: func() (client.Client, error) {
			return client.NewClientFromExisting(s.Client, client.Options{DataConverter: dc, FailureConverter: fc})
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := c.Run(ctx, args)
	return code, out.String(), errOut.String()
}

type statusOutput struct {
	ExecutionStatus string          `json:"execution_status"`
	Status          contract.Status `json:"status"`
	Result          json.RawMessage `json:"result"`
	Failure         struct {
		Type          string                  `json:"type"`
		Message       string                  `json:"message"`
		InvalidFields []contract.InputProblem `json:"invalid_fields"`
		Hint          string                  `json:"hint"`
	} `json:"failure"`
}

func status(t *testing.T, s *devstack.Stack, id string) statusOutput {
	t.Helper()
	code, out, errOut := cli(t, s, "status", id)
	if code != starter.ExitOK {
		t.Fatalf("status %s exited %d: %s", id, code, errOut)
	}
	var st statusOutput
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status output is not JSON: %v\n%s", err, out)
	}
	return st
}

func TestCLIStartWaitAndStatus(t *testing.T) {
	waitID := uniqueID("cli-wait")
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 10}, IssueAfter: 300 * time.Millisecond, WebhookFormat: uasandbox.WebhookEvent})
	example := filepath.Join("..", "examples", "uanataca-issuance.json")
	// The example's documents are uploaded and certflow approves them; the
	// emulator sends webhooks in the newer event format.
	code, out, errOut := cli(t, s, "start", "uanataca", "-f", example, "-validity-time", "730", "-id", waitID, "--wait")
	if code != starter.ExitOK {
		t.Fatalf("start exited %d: %s", code, errOut)
	}
	for _, want := range []string{"workflow_id: " + waitID, "web_ui: http://localhost:8233/namespaces/default/workflows/" + waitID, `"status": "ISSUED"`, `"approved": true`} {
		if !strings.Contains(out, want) {
			t.Errorf("start output lacks %q:\n%s", want, out)
		}
	}
	st := status(t, s, waitID)
	if st.ExecutionStatus != "Completed" || st.Status.Stage != contract.StageCompleted || st.Status.ProviderStatus != "ISSUED" || len(st.Result) == 0 {
		t.Fatalf("status after completion = %+v", st)
	}

	// Starting the same ID again must not create a second issuance.
	if code, _, errOut := cli(t, s, "start", "uanataca", "-f", example, "-id", waitID); code != starter.ExitFailed || !strings.Contains(errOut, waitID) {
		t.Fatalf("second start of a completed issuance exited %d (%s); want 1 naming the workflow", code, errOut)
	}
}

// The newcomer's path on a stack that encrypts: with the worker's key the
// CLI starts, waits and prints the decoded result; with none it refuses to
// start (nothing is written in clear), and status says a key is needed
// instead of failing on "payload encoding is not supported".
func TestCLIWithAndWithoutTheCodecKey(t *testing.T) {
	keys := "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))
	s := startStackWith(t, devstack.Options{CodecKeys: keys,
		Uanataca: uasandbox.Options{RAs: map[string]int{"121": 10}, IssueAfter: 300 * time.Millisecond, WebhookFormat: uasandbox.WebhookEvent}})
	example := filepath.Join("..", "examples", "uanataca-issuance.json")
	id := uniqueID("cli-keyed")
	code, out, errOut := cli(t, s, "start", "uanataca", "-f", example, "-validity-time", "730", "-id", id, "--wait")
	if code != starter.ExitOK || !strings.Contains(out, `"status": "ISSUED"`) {
		t.Fatalf("start --wait with the key exited %d, printed %q (%s); want 0 and the decoded result", code, out, errOut)
	}

	code, out, errOut = cliKeyed(t, s, "", "start", "uanataca", "-f", example, "-validity-time", "730")
	if code != starter.ExitUsage || out != "" || !strings.Contains(errOut, "no codec key") || !strings.Contains(errOut, "CERTFLOW_ALLOW_PLAINTEXT=true") {
		t.Fatalf("start without a key exited %d, printed %q / %q; want %d refusing, naming the key and the way out", code, out, errOut, starter.ExitUsage)
	}
	if n := s.Uanataca.Emulator.Stats().Creates; n != 1 {
		t.Fatalf("%d requests created at the RA; want only the keyed start's", n)
	}
	code, out, errOut = cliKeyed(t, s, "", "status", id)
	if code != starter.ExitOK || strings.Count(out, "has no codec key") < 2 {
		t.Fatalf("status without a key exited %d, printed %s (%s); want the status and result errors to say a key is needed", code, out, errOut)
	}
}

func TestCLICancelCancelsAtProvider(t *testing.T) {
	// No automatic approval or issuance: the request waits until cancelled.
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 10}})
	cancelID := uniqueID("cli-cancel")
	code, _, errOut := cli(t, s, "start", "uanataca", "-id", cancelID,
		"-profile", "PFnubeAFCiudadano", "-ra", "121", "-validity-time", "365", "-secure-element", "2",
		"-given-name", "Ana", "-surname-1", "Ruiz", "-email", "ana@example.com", "-phone", "+34600112233",
		"-serial-number", "12345678Z", "-id-document-type", "IDC", "-id-document-country", "ES")
	if code != starter.ExitOK {
		t.Fatalf("start exited %d: %s", code, errOut)
	}
	var st statusOutput
	deadline := time.Now().Add(30 * time.Second)
	for st.Status.Stage != contract.StageAwaiting && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		st = status(t, s, cancelID)
	}
	if st.Status.Stage != contract.StageAwaiting || st.Status.ProviderRef == "" || st.Status.Deadline.IsZero() {
		t.Fatalf("status while waiting = %+v", st.Status)
	}
	if code, _, errOut := cli(t, s, "cancel", cancelID); code != starter.ExitOK {
		t.Fatalf("cancel exited %d: %s", code, errOut)
	}
	for st.ExecutionStatus == "Running" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		st = status(t, s, cancelID)
	}
	if st.ExecutionStatus != "Canceled" || st.Status.Stage != contract.StageCancelled {
		t.Fatalf("status after cancel = %+v", st)
	}
	pk, _ := strconv.ParseInt(st.Status.ProviderRef, 10, 64)
	if got, _ := s.Uanataca.Emulator.Status(pk); got != "CANCELLED" {
		t.Fatalf("request %d is %s at the RA after the workflow was cancelled, want CANCELLED", pk, got)
	}

	// Cancelling it again must not report success: it had already ended.
	code, out, errOut := cli(t, s, "cancel", cancelID)
	if code != starter.ExitAlreadyEnded || out != "" || !strings.Contains(errOut, "had already ended (Canceled, stage cancelled)") {
		t.Fatalf("second cancel exited %d, printed %q / %q; want %d saying it had already ended, Canceled", code, out, errOut, starter.ExitAlreadyEnded)
	}
	if code, _, errOut := cli(t, s, "cancel", uniqueID("cli-cancel-unknown")); code != starter.ExitNotFound {
		t.Fatalf("cancel of an unknown ID exited %d (%s); want %d", code, errOut, starter.ExitNotFound)
	}
}

func TestCLIRejectsBadCommandLines(t *testing.T) {
	s := startStack(t, uasandbox.Options{RAs: map[string]int{"121": 1}})
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"launch"}, "unknown command"},
		{[]string{"start"}, "uanataca"},
		{[]string{"status"}, "exactly one workflow ID"},
		{[]string{"start", "uanataca", "-timeout", "soon"}, "duration"},
		{[]string{"start", "uanataca", "-field", "novalue"}, "name=value"},
	}
	for _, tt := range tests {
		code, _, errOut := cli(t, s, tt.args...)
		if code != starter.ExitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("certflow %v exited %d with %q; want 2 mentioning %q", tt.args, code, errOut, tt.want)
		}
	}
	// Invalid input reaches the workflow, which fails at once naming the field.
	code, _, errOut := cli(t, s, "start", "uanataca", "--wait", "-profile", "PFnubeAFCiudadano", "-ra", "121", "-email", "nope")
	if code != starter.ExitInvalidInput || !strings.Contains(errOut, "InvalidInput") || !strings.Contains(errOut, "given_name") {
		t.Errorf("invalid input exited %d with %q; want %d and an InvalidInput error naming given_name", code, errOut, starter.ExitInvalidInput)
	}
}

func TestWorkerHealthAndReadiness(t *testing.T) {
	s := startStack(t, uasandbox.Options{})
	base := strings.TrimSuffix(s.WebhookURL, "/webhooks/uanataca")
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s answered %d on a running worker", path, resp.StatusCode)
		}
	}
}
