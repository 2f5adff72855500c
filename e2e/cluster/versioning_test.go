//go:build cluster

package cluster_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/cluster"
	"github.com/certflow/certflow/internal/provider/universign"
)

// The change version B makes: UniversignRegistration first sleeps a
// millisecond, a timer that version A's histories do not have, so B could
// not replay A's runs (a non-determinism error) without versioning.
const (
	changedFile = "workflows/universign.go"
	changedAt   = "func (u *universignRegistration) run(ctx workflow.Context) (*contract.UniversignRegistrationResult, error) {\n"
	change      = "\tif err := workflow.Sleep(ctx, time.Millisecond); err != nil {\n\t\treturn nil, err\n\t}\n"
)

// TestRollingUpgradeWithWorkerVersioning deploys version B of the worker,
// with a changed workflow, while version A's runs wait: A's runs finish on
// A without a non-determinism error, runs started after B became current
// run B's code, and A's workers are stopped once drained — the procedure
// the README gives operators.
func TestRollingUpgradeWithWorkerVersioning(t *testing.T) {
	const settle, runs = 40 * time.Second, 10
	c := startCluster(t, 29532, []string{"CERTFLOW_DEPLOYMENT_NAME=certflow", "CERTFLOW_BUILD_ID=a"}, settle)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	setCurrent(ctx, t, c, "a")
	old := registrations(ctx, t, c, "on-a", runs)

	binB := buildWorker(t, patchedModule(t), t.TempDir())
	for i := range 2 {
		if _, err := c.StartWorker(ctx, fmt.Sprintf("worker-b%d", i+1), binB, []string{"CERTFLOW_BUILD_ID=b"}); err != nil {
			t.Fatal(err)
		}
	}
	setCurrent(ctx, t, c, "b")
	fresh := registrations(ctx, t, c, "on-b", runs)

	for _, r := range old {
		checkRun(ctx, t, c, r, "a", false)
	}
	// A is drained: its workers go, as in a rolling deploy's last step.
	for _, w := range c.Workers[:2] {
		if err := w.Stop(45 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range fresh {
		checkRun(ctx, t, c, r, "b", true)
	}
}

// setCurrent makes buildID the deployment's current version, once its
// workers have registered it.
func setCurrent(ctx context.Context, t *testing.T, c *cluster.Cluster, buildID string) {
	t.Helper()
	h := c.Client.WorkerDeploymentClient().GetHandle("certflow")
	for {
		_, err := h.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: buildID})
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("setting version %s current: %v", buildID, err)
		case <-time.After(time.Second):
		}
	}
}

func registrations(ctx context.Context, t *testing.T, c *cluster.Cluster, prefix string, n int) []client.WorkflowRun {
	t.Helper()
	var started []client.WorkflowRun
	for i := range n {
		run, err := c.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-%d-%d", prefix, i, time.Now().UnixNano()), TaskQueue: "certflow"},
			contract.UniversignRegistrationName, contract.UniversignRegistrationInput{
				Registration: universign.CreateRegistration{Applicant: fmt.Sprintf("%s%d@example.com", prefix, i), Level: "qcp"},
				PollInterval: contract.Duration(5 * time.Second),
			})
		if err != nil {
			t.Fatal(err)
		}
		started = append(started, run)
	}
	return started
}

// checkRun waits for run to complete and checks it ran on buildID, never
// failed a workflow task, and has the changed code's timer or not.
func checkRun(ctx context.Context, t *testing.T, c *cluster.Cluster, run client.WorkflowRun, buildID string, changed bool) {
	t.Helper()
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("%s: %v", run.GetID(), err)
	}
	desc, err := c.Client.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo().GetVersioningInfo()
	if got := info.GetDeploymentVersion().GetBuildId(); got != buildID || info.GetBehavior() != enumspb.VERSIONING_BEHAVIOR_PINNED {
		t.Errorf("%s ran on build %q (%s); want pinned to %q", run.GetID(), got, info.GetBehavior(), buildID)
	}
	sleeps, failedTasks := 0, 0
	it := c.Client.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetTimerStartedEventAttributes(); a != nil && a.GetStartToFireTimeout().AsDuration() == time.Millisecond {
			sleeps++
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED {
			failedTasks++
		}
	}
	if failedTasks != 0 || (sleeps > 0) != changed {
		t.Errorf("%s: %d workflow tasks failed, %d one-millisecond sleeps; want none failed, and the changed code's sleep: %v", run.GetID(), failedTasks, sleeps, changed)
	}
}

// patchedModule copies the module's sources and applies version B's
// change, as the next commit would.
func patchedModule(t *testing.T) string {
	t.Helper()
	src, dst := root(t), t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || rel == "bin") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dst, changedFile)
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), changedAt) {
		t.Fatalf("%s no longer has %q to change: update the test (%v)", changedFile, changedAt, err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), changedAt, changedAt+change, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}
