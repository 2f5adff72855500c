package workflows_test

import (
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/workflows"
)

// replayed are the workflow types the worker registers, under their
// contract names (worker.register): the names recorded histories carry.
func replayed() map[string]any {
	fns := maps.Clone(workflows.Lifecycles)
	fns[contract.ScratchcardAllocatorName] = workflows.ScratchcardAllocator
	return fns
}

// TestReplayRecordedHistories replays every history recorded from a real
// server (e2e TestRecordHistories) against the current workflow code. A
// worker restarted on changed code replays the histories of executions
// already running the same way; a change that makes the code issue other
// commands than the history holds (an activity added, removed or moved, a
// timer, a signal wait) fails them with a non-determinism error in
// production. This test fails first, in `make test`, with no server.
//
// A change made on purpose is either guarded by workflow.GetVersion (when
// executions of the old code may be running) or, for a path no running
// execution can be on, followed by re-recording:
//
//	CERTFLOW_RECORD_HISTORIES=1 go test -count=1 -run TestRecordHistories ./e2e
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no history in testdata/histories: record them with CERTFLOW_RECORD_HISTORIES=1 go test -count=1 -run TestRecordHistories ./e2e")
	}
	covered := map[string]bool{}
	// versions counts, per workflow type and change, the histories
	// recorded before (false) and since (true) the change.
	versions := map[string]map[bool]int{}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			h := readHistory(t, file)
			typ := workflowType(h)
			covered[typ] = true
			if versions[typ] == nil {
				versions[typ] = map[bool]int{}
			}
			versions[typ][hasChange(h, changeOf[typ])]++
			r := worker.NewWorkflowReplayer()
			for name, fn := range replayed() {
				r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
			}
			if err := r.ReplayWorkflowHistoryFromJSONFile(testLogger(t), file); err != nil {
				t.Fatalf("replaying %s against the current code: %v", file, err)
			}
		})
	}
	// A workflow type without a history would let any change to it
	// through unnoticed.
	for name := range replayed() {
		if !covered[name] {
			t.Errorf("no recorded history of %s in testdata/histories; record one in e2e TestRecordHistories", name)
		}
	}
	// Both loops must stay covered while runs of the old one may exist:
	// the *.before-redesign.json histories were recorded before the
	// change, the others since.
	for typ, change := range changeOf {
		if versions[typ][false] == 0 || versions[typ][true] == 0 {
			t.Errorf("%s: %d histories recorded before %q and %d since, want both", typ, versions[typ][false], change, versions[typ][true])
		}
	}
}

// changeOf is, by workflow type, the change ID (workflow.GetVersion) under
// which the loop was redesigned: the wait of the provider lifecycles, the
// allocator's loop.
var changeOf = map[string]string{
	contract.UanatacaIssuanceName:       "wait-loop-records",
	contract.UniversignRegistrationName: "wait-loop-records",
	contract.MasStackIdentificationName: "wait-loop-records",
	contract.HumanosRequestName:         "wait-loop-records",
	contract.ScratchcardAllocatorName:   "allocator-records-reports",
}

// hasChange reports whether a history recorded the workflow.GetVersion
// marker of changeID.
func hasChange(h *historypb.History, changeID string) bool {
	for _, e := range h.GetEvents() {
		for _, p := range e.GetMarkerRecordedEventAttributes().GetDetails()["change-id"].GetPayloads() {
			if string(p.GetData()) == strconv.Quote(changeID) {
				return true
			}
		}
	}
	return false
}

// readHistory reads a history file in `temporal workflow show --output
// json` form.
func readHistory(t *testing.T, file string) *historypb.History {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil || len(h.GetEvents()) == 0 {
		t.Fatalf("%s is not a history in `temporal workflow show --output json` form: %v", file, err)
	}
	return h
}

// workflowType is the workflow type a history starts.
func workflowType(h *historypb.History) string {
	return h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
}

// testLogger sends the replayed workflow's warnings (a non-determinism
// error's details among them) to the test's log instead of stdout.
func testLogger(t *testing.T) log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
