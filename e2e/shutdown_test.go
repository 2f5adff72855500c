package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/sandbox/devpki"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// The worker process, sent SIGTERM while an activity is in flight, stops
// polling, lets the activity finish, and exits 0.
func TestWorkerProcessGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	bin := buildWorker(t, dir)
	pki, err := devpki.Generate(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	// Every RA call takes a second: the SIGTERM lands while the allocator's
	// first fill (several calls) is in flight.
	ra, err := uasandbox.Start("127.0.0.1:0", uasandbox.Options{
		RAs: map[string]int{"121": 5}, RequireClientCert: true, WebhookURL: deadWebhooks,
		Faults: sandbox.Faults{Latency: time.Second},
	}, pki)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	taskQueue := "e2e-shutdown"
	var logs syncWriter // written by the process's output copier, read here
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"TEMPORAL_ADDRESS="+temporalAddress, "CERTFLOW_TASK_QUEUE="+taskQueue, "CERTFLOW_ALLOW_PLAINTEXT=true",
		fmt.Sprintf("CERTFLOW_HTTP_ADDR=127.0.0.1:%d", port), "CERTFLOW_SHUTDOWN_TIMEOUT=20s",
		"UANATACA_BASE_URL="+ra.URL, "UANATACA_CERT_FILE="+pki.ClientCertFile, "UANATACA_KEY_FILE="+pki.ClientKeyFile, "UANATACA_CA_FILE="+pki.CAFile,
	)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	c, err := client.Dial(client.Options{HostPort: temporalAddress})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in := issuance("121", 0)
	if _, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "shutdown-issuance", TaskQueue: taskQueue},
		contract.UanatacaIssuanceName, in); err != nil {
		t.Fatal(err)
	}
	// Wait until an RA call is in flight (the allocator's fill), then stop.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "certflow worker started") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("worker exited with %v after SIGTERM, want 0\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("worker did not exit after SIGTERM\n%s", logs.String())
	}
	out := logs.String()
	for _, want := range []string{"certflow worker stopping", "certflow worker stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("worker log lacks %q", want)
		}
	}
	// The fill in flight at SIGTERM finished and was reported before the
	// process exited: the allocator's history shows it completed.
	completed := false
	it := c.GetWorkflowHistory(context.Background(), contract.AllocatorID(taskQueue, "121"), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED {
			completed = true
		}
	}
	if !completed {
		t.Fatalf("the activity in flight at SIGTERM did not complete before the worker exited\n%s", out)
	}
}

// buildWorker builds the worker's binary into dir.
func buildWorker(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "certflow-worker")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/certflow-worker").CombinedOutput(); err != nil {
		t.Fatalf("building the worker: %v\n%s", err, out)
	}
	return bin
}

// The worker process, started by hand without a codec key, refuses to run
// rather than store applicants' data in clear, and says how to go on.
func TestWorkerProcessRefusesToStartWithoutCodecKey(t *testing.T) {
	cmd := exec.Command(buildWorker(t, t.TempDir()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CERTFLOW_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TEMPORAL_ADDRESS="+temporalAddress, "CERTFLOW_HTTP_ADDR=127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "no codec key") || !strings.Contains(string(out), "CERTFLOW_ALLOW_PLAINTEXT=true") {
		t.Fatalf("worker without a key: %v\n%s\nwant exit 1 naming the missing key and CERTFLOW_ALLOW_PLAINTEXT", err, out)
	}
}
