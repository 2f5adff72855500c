package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/logging"
	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/provider/masstack"
	"github.com/certflow/certflow/internal/provider/universign"
	husandbox "github.com/certflow/certflow/internal/sandbox/humanos"
	mssandbox "github.com/certflow/certflow/internal/sandbox/masstack"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
	ussandbox "github.com/certflow/certflow/internal/sandbox/universign"
)

// Recognisable personal data: none of it may be found, in clear, in
// Temporal's database or the worker's logs.
var personal = []string{"zzmarker@example.com", "+34699887766", "99887766Q", "Zacarias"}

// syncWriter collects the worker's log lines.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// runEveryWorkflowType runs one workflow of each type with the personal
// values above on its own dev server (database in dbFile), with payloads
// encrypted under keys ("" for none), and returns the worker's logs.
func runEveryWorkflowType(t *testing.T, dbFile, keys string) []byte {
	t.Helper()
	temporal, err := devstack.StartTemporal(context.Background(), devstack.TemporalOptions{DBFile: dbFile})
	if err != nil {
		t.Fatal(err)
	}
	defer temporal.Stop()
	var logs syncWriter
	log, err := logging.New(&logs, "debug", "json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := devstack.Start(context.Background(), devstack.Options{
		TemporalAddress: temporal.Address, TaskQueue: "privacy", PKIDir: t.TempDir(), CodecKeys: keys, AllowPlaintext: keys == "", WebUIURL: "http://localhost:8233",
		UanatacaAddr: "127.0.0.1:0", UniversignAddr: "127.0.0.1:0", MasStackAddr: "127.0.0.1:0", HumanosAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Uanataca:   uasandbox.Options{RAs: map[string]int{"121": 5}, AutoApproveAfter: 100 * time.Millisecond, IssueAfter: 100 * time.Millisecond},
		Universign: ussandbox.Options{CompleteAfter: time.Second},
		MasStack:   mssandbox.Options{StartAfter: 300 * time.Millisecond, CompleteAfter: time.Second},
		Humanos:    husandbox.Options{DecideAfter: 300 * time.Millisecond},
		Log:        log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	ua := issuance("121", 0)
	ua.Request.Email, ua.Request.MobilePhoneNumber, ua.Request.SerialNumber, ua.Request.GivenName = personal[0], personal[1], personal[2], personal[3]
	us := contract.UniversignRegistrationInput{Registration: universign.CreateRegistration{
		Applicant: personal[0], Level: "qcp", PhoneNumber: personal[1], PhoneNumberType: "suggestion", Fullname: personal[3] + " Marker",
	}, PollInterval: contract.Duration(time.Second)}
	ms := contract.MasStackIdentificationInput{Identification: masstack.CreateIdentification{
		Name: personal[3], LastName: "Marker", IdentityDocument: masstack.IdentityDocument{DocumentNumber: personal[2], DocumentType: "NIF", Country: "ES"},
	}, PollInterval: contract.Duration(time.Second)}
	hu := contract.HumanosRequestInput{Request: humanos.CreateRequest{
		Contacts: []string{personal[0], personal[1]}, ResourcesIDs: []string{"507f1f77bcf86cd799439012"},
		ExpectedDocIDs: []humanos.ExpectedDoc{{Contact: personal[0], DocID: personal[2]}},
	}}
	for _, w := range []struct {
		id, typ string
		in      any
	}{
		{"privacy-uanataca", contract.UanatacaIssuanceName, ua},
		{"privacy-universign", contract.UniversignRegistrationName, us},
		{"privacy-masstack", contract.MasStackIdentificationName, ms},
		{"privacy-humanos", contract.HumanosRequestName, hu},
	} {
		run, err := s.Client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: w.id, TaskQueue: "privacy"}, w.typ, w.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := outcome(run, nil); err != nil {
			t.Fatalf("%s: %v", w.id, err)
		}
	}
	// Search attributes and workflow IDs never hold personal data,
	// encrypted or not: they are indexed in clear.
	assertNoPersonalSearchAttributes(t, s)
	s.Close()
	return []byte(logs.String())
}

// assertNoPersonalSearchAttributes reads every search attribute value and
// workflow ID the run wrote.
func assertNoPersonalSearchAttributes(t *testing.T, s *devstack.Stack) {
	t.Helper()
	it, err := s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range it.GetExecutions() {
		values := []string{e.GetExecution().GetWorkflowId()}
		for _, p := range e.GetSearchAttributes().GetIndexedFields() {
			values = append(values, string(p.GetData()))
		}
		for _, v := range values {
			for _, pd := range personal {
				if strings.Contains(v, pd) {
					t.Errorf("workflow %s: a search attribute or ID holds personal data: %q", e.GetExecution().GetWorkflowId(), v)
				}
			}
		}
	}
}

// occurrences counts the personal values in the dev server's database
// files (the SQLite file and its journal) and in logs.
func occurrences(t *testing.T, dbFile string, logs []byte) (inDB, inLogs int) {
	t.Helper()
	files, _ := filepath.Glob(dbFile + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, pd := range personal {
			inDB += bytes.Count(b, []byte(pd))
		}
	}
	for _, pd := range personal {
		inLogs += bytes.Count(logs, []byte(pd))
	}
	return inDB, inLogs
}

func TestPersonalDataEncryptedInTemporalAndOutOfLogs(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	encrypted := filepath.Join(t.TempDir(), "encrypted.db")
	logs := runEveryWorkflowType(t, encrypted, "k1:"+key)
	inDB, inLogs := occurrences(t, encrypted, logs)
	if inDB != 0 || inLogs != 0 {
		t.Fatalf("with the codec, personal data found %d times in Temporal's database and %d times in the logs; want 0", inDB, inLogs)
	}

	// The same run without the codec must find it, or the search above
	// proves nothing.
	clear := filepath.Join(t.TempDir(), "clear.db")
	logs = runEveryWorkflowType(t, clear, "")
	if inDB, _ := occurrences(t, clear, logs); inDB == 0 {
		t.Fatal("without the codec the personal data was not found in the database either: the search is blind")
	}
}

// A worker holding keys refuses a workflow that a client without them
// started: its input is in Temporal in clear already, so the workflow
// fails at once, naming the fix, and sends nothing to the provider; and a
// signal sent in clear is dropped, never acted on.
func TestWorkerRefusesPayloadsWrittenWithoutTheKey(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	s := startStackWith(t, devstack.Options{CodecKeys: "k1:" + key})
	plain, err := client.NewClientFromExisting(s.Client, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	run, err := plain.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: uniqueID("plaintext"), TaskQueue: s.Config.TaskQueue},
		contract.UniversignRegistrationName, registration())
	if err != nil {
		t.Fatal(err)
	}
	err = outcome(run, nil)
	if err == nil || !strings.Contains(err.Error(), "payload is not encrypted") || !strings.Contains(err.Error(), "CERTFLOW_CODEC_KEYS") {
		t.Fatalf("a workflow started in clear ended with %v; want it failed, saying its payload is not encrypted and what to do", err)
	}
	if n := s.Universign.Emulator.Stats().Creates; n != 0 {
		t.Fatalf("%d registrations created from an input sent in clear; want 0", n)
	}

	// The same input, encrypted, runs; a webhook hint sent in clear to it
	// is dropped.
	run = start(t, s, uniqueID("encrypted"), contract.UniversignRegistrationName, registration())
	awaitStatus(t, s, run.GetID(), func(st contract.Status) bool { return st.ProviderRef != "" })
	_, before := historyCounts(t, s, run.GetID())
	if err := plain.SignalWorkflow(context.Background(), run.GetID(), "", contract.SignalWebhook, contract.StatusHint{Status: "completed"}); err != nil {
		t.Fatal(err)
	}
	// Once a workflow task has handled the signal, a hint acted on would
	// have scheduled a re-read.
	deadline := time.Now().Add(20 * time.Second)
	for !handledAfterSignal(t, s, run.GetID()) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if _, after := historyCounts(t, s, run.GetID()); !handledAfterSignal(t, s, run.GetID()) || after != before {
		t.Fatalf("%d activities scheduled before a hint sent in clear, %d after; want it dropped, nothing scheduled", before, after)
	}
	if err := s.Client.CancelWorkflow(context.Background(), run.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	var ce *temporal.CanceledError
	if err := outcome(run, nil); !errors.As(err, &ce) {
		t.Fatalf("encrypted workflow ended with %v; want it to run until cancelled", err)
	}
}

// handledAfterSignal reports whether a workflow task completed after the
// workflow's first signal.
func handledAfterSignal(t *testing.T, s *devstack.Stack, id string) bool {
	t.Helper()
	it := s.Client.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	signalled := false
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			signalled = true
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			if signalled {
				return true
			}
		}
	}
	return false
}
