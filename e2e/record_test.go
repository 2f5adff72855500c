package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/masstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	"github.com/certflow/certflow/internal/provider/universign"
	husandbox "github.com/certflow/certflow/internal/sandbox/humanos"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
	ussandbox "github.com/certflow/certflow/internal/sandbox/universign"
)

// recordHistoriesEnv turns TestRecordHistories on. It is off by default
// because recording rewrites files under version control: it is done on
// purpose, when a workflow changed on purpose, never by `make test`.
const recordHistoriesEnv = "CERTFLOW_RECORD_HISTORIES"

// historiesDir is where workflows' replay test (TestReplayRecordedHistories)
// reads the histories from.
var historiesDir = filepath.Join("..", "workflows", "testdata", "histories")

// recorderIdentity replaces every client and worker identity in the
// recorded histories. The SDK's default is "pid@hostname", which would put
// the recording machine's name in the repository and change every line on
// each re-recording; replay never reads it.
const recorderIdentity = "certflow-history-recorder"

// TestRecordHistories runs one workflow of each type along a representative
// path on a real dev server, against the emulators, and writes each history
// to workflows/testdata/histories. Replaying those histories against the
// current workflow code (workflows.TestReplayRecordedHistories, in `make
// test`) is what catches a change that would break executions already
// running in production: a non-deterministic change fails the replay.
//
// Every ID is fixed and every input is the tests' fake data, so a
// re-recording changes only timestamps, run IDs and what the workflow
// change itself changed.
func TestRecordHistories(t *testing.T) {
	if os.Getenv(recordHistoriesEnv) != "1" {
		t.Skipf("records the replay histories only on request: %s=1 go test -count=1 -run TestRecordHistories ./e2e", recordHistoriesEnv)
	}
	s := startStackWith(t, devstack.Options{
		// Documents uploaded and approved by certflow take a request to
		// ENROLLREADY; the applicant "generates" 300ms later. Without
		// documents a request stays CREATED, for the cancellation.
		Uanataca:   uasandbox.Options{RAs: map[string]int{"121": 10}, IssueAfter: 300 * time.Millisecond},
		Universign: ussandbox.Options{CompleteAfter: 2 * time.Second},
		Humanos:    husandbox.Options{DecideAfter: 300 * time.Millisecond},
	})
	if err := os.MkdirAll(historiesDir, 0o755); err != nil {
		t.Fatal(err)
	}

	// Uanataca, completed: the example's request and documents, uploaded
	// and approved by certflow; polling hourly, so webhooks finish it.
	issued := start(t, s, "record-uanataca-issued", contract.UanatacaIssuanceName, exampleIssuance(t))
	var ir contract.UanatacaIssuanceResult
	if err := outcome(issued, &ir); err != nil || ir.Status != uanataca.StatusIssued || !ir.Approved {
		t.Fatalf("issuance ended %+v, %v; want ISSUED, approved by certflow", ir, err)
	}
	writeHistory(t, s, issued.GetID(), "uanataca-issued")

	// A second issuance, so the allocator's history holds more than one
	// allocation and report.
	second := exampleIssuance(t)
	second.Request.SerialNumber, second.Request.Email = "00000002Z", "applicant2@example.com"
	if err := outcome(start(t, s, "record-uanataca-issued-2", contract.UanatacaIssuanceName, second), &ir); err != nil || ir.Status != uanataca.StatusIssued {
		t.Fatalf("second issuance ended %+v, %v; want ISSUED", ir, err)
	}

	// Uanataca, cancelled while awaiting the applicant: the compensation
	// cancels the request at the RA.
	waiting := exampleIssuance(t)
	waiting.Documents = nil
	waiting.Request.SerialNumber, waiting.Request.Email = "00000003Z", "applicant3@example.com"
	cancelled := start(t, s, "record-uanataca-cancelled", contract.UanatacaIssuanceName, waiting)
	awaitStatus(t, s, cancelled.GetID(), func(st contract.Status) bool {
		return st.ProviderRef != "" && st.Stage == contract.StageAwaiting
	})
	ref := cancelRun(t, s, cancelled)
	if status, _ := s.Uanataca.Emulator.Status(pkOf(t, ref)); status != uanataca.StatusCancelled {
		t.Fatalf("request %s is %q at the RA, want CANCELLED", ref, status)
	}
	writeHistory(t, s, cancelled.GetID(), "uanataca-cancelled")

	// Universign, completed by the applicant, found by polling.
	reg := start(t, s, "record-universign-completed", contract.UniversignRegistrationName, registration())
	var rr contract.UniversignRegistrationResult
	if err := outcome(reg, &rr); err != nil || rr.State != universign.StateCompleted {
		t.Fatalf("registration ended %+v, %v; want completed", rr, err)
	}
	writeHistory(t, s, reg.GetID(), "universign-completed")

	// MasStack, cancelled with a reason.
	in := identification()
	in.CancelReason = "applicant withdrew"
	ident := start(t, s, "record-masstack-cancelled", contract.MasStackIdentificationName, in)
	awaitStatus(t, s, ident.GetID(), func(st contract.Status) bool { return st.ProviderRef != "" })
	id := cancelRun(t, s, ident)
	if status, _ := s.MasStack.Emulator.Status(id); status != masstack.StatusCancelled {
		t.Fatalf("identification %s is %s at MasStack, want cancelled", id, status)
	}
	writeHistory(t, s, ident.GetID(), "masstack-cancelled")

	// Humanos, two subjects accepting, through signed, encrypted webhooks.
	req := start(t, s, "record-humanos-accepted", contract.HumanosRequestName, humanosInput("ana@example.com", "rui@example.com"))
	var hr contract.HumanosRequestResult
	if err := outcome(req, &hr); err != nil || hr.Outcome != "ACCEPTED" {
		t.Fatalf("request ended %+v, %v; want ACCEPTED", hr, err)
	}
	writeHistory(t, s, req.GetID(), "humanos-accepted")

	// The allocator runs until stopped; every issuance above has reported
	// its card (the report is awaited before an issuance ends), so
	// stopping it now ends a history that holds every allocation.
	alloc := s.Client.GetWorkflow(context.Background(), contract.AllocatorID(s.Config.TaskQueue, "121"), "")
	cancelRun(t, s, alloc)
	writeHistory(t, s, alloc.GetID(), "scratchcard-allocator")
}

// exampleIssuance reads examples/uanataca-issuance.json, the issuance the
// README documents, so the recorded path is the one users start.
func exampleIssuance(t *testing.T) contract.UanatacaIssuanceInput {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "uanataca-issuance.json"))
	if err != nil {
		t.Fatal(err)
	}
	var in contract.UanatacaIssuanceInput
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// cancelRun cancels a running workflow, checks it ended Canceled, and
// returns the provider reference its status query reported last ("" for
// the allocator).
func cancelRun(t *testing.T, s *devstack.Stack, run client.WorkflowRun) string {
	t.Helper()
	var ref string
	if v, err := s.Client.QueryWorkflow(context.Background(), run.GetID(), "", contract.QueryStatus); err == nil {
		var st contract.Status
		if v.Get(&st) == nil {
			ref = st.ProviderRef
		}
	}
	if err := s.Client.CancelWorkflow(context.Background(), run.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	var ce *temporal.CanceledError
	if err := outcome(run, nil); !errors.As(err, &ce) {
		t.Fatalf("%s ended with %v, want cancelled", run.GetID(), err)
	}
	return ref
}

// writeHistory writes the closed workflow's full history to
// historiesDir/name.json in the format of `temporal workflow show --output
// json` (protojson of a History, payloads not shortened), which the SDK's
// replayer reads.
func writeHistory(t *testing.T, s *devstack.Stack, id, name string) {
	t.Helper()
	var h historypb.History
	it := s.Client.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	if n := len(h.Events); n == 0 || !isClose(h.Events[n-1].GetEventType()) {
		t.Fatalf("history of %s does not end with the workflow closed", id)
	}
	setIdentity(h.ProtoReflect())
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(historiesDir, name+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d events", path, len(h.Events))
}

// isClose reports whether an event type closes a workflow run.
func isClose(e enumspb.EventType) bool {
	switch e {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		return true
	}
	return false
}

// setIdentity sets every string field named identity, at any depth, to
// recorderIdentity.
func setIdentity(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Name() == "identity" && fd.Kind() == protoreflect.StringKind && fd.Cardinality() != protoreflect.Repeated:
			m.Set(fd, protoreflect.ValueOfString(recorderIdentity))
		case fd.Message() == nil:
		case fd.IsList():
			for i := range v.List().Len() {
				setIdentity(v.List().Get(i).Message())
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					setIdentity(mv.Message())
					return true
				})
			}
		default:
			setIdentity(v.Message())
		}
		return true
	})
}
