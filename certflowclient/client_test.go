package certflowclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"

	"github.com/certflow/certflow/contract"
)

// fakeTemporal records what the package asks of Temporal. Only the methods
// it defines are called; the embedded nil interface makes any other call
// panic, which would be a test failure worth seeing.
type fakeTemporal struct {
	client.Client
	opts         client.StartWorkflowOptions
	workflowType any
	args         []any
	startErr     error
	result       string // JSON the started run's Get decodes
	status       contract.Status
	signalled    []any // workflow ID, signal name, argument
	cancelled    string
	// cancelRequest is the last cancel request sent.
	cancelRequest *workflowservice.RequestCancelWorkflowExecutionRequest
	// ended, when set, is the execution status Describe answers (else
	// running), with stage as its CertflowStage.
	ended enums.WorkflowExecutionStatus
	stage string
}

func (f *fakeTemporal) DescribeWorkflowExecution(_ context.Context, _, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	info := &workflowpb.WorkflowExecutionInfo{Status: enums.WORKFLOW_EXECUTION_STATUS_RUNNING}
	if f.ended != 0 {
		stage, err := converter.GetDefaultDataConverter().ToPayload(f.stage)
		if err != nil {
			return nil, err
		}
		info.Status = f.ended
		info.SearchAttributes = &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{contract.SearchStage.GetName(): stage}}
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: info}, nil
}

func (f *fakeTemporal) ExecuteWorkflow(_ context.Context, opts client.StartWorkflowOptions, workflowType any, args ...any) (client.WorkflowRun, error) {
	f.opts, f.workflowType, f.args = opts, workflowType, args
	if f.startErr != nil {
		return nil, f.startErr
	}
	return fakeRun{id: opts.ID, result: f.result}, nil
}

func (f *fakeTemporal) QueryWorkflow(_ context.Context, _, _, queryType string, _ ...any) (converter.EncodedValue, error) {
	if queryType != contract.QueryStatus {
		return nil, errors.New("unknown query " + queryType)
	}
	p, err := converter.GetDefaultDataConverter().ToPayloads(f.status)
	return client.NewValue(p), err
}

func (f *fakeTemporal) SignalWorkflow(_ context.Context, id, _, name string, arg any) error {
	f.signalled = []any{id, name, arg}
	return nil
}

func (f *fakeTemporal) WorkflowService() workflowservice.WorkflowServiceClient {
	return fakeService{f: f}
}

// fakeService answers the raw request Cancel sends.
type fakeService struct {
	workflowservice.WorkflowServiceClient
	f *fakeTemporal
}

func (s fakeService) RequestCancelWorkflowExecution(_ context.Context, req *workflowservice.RequestCancelWorkflowExecutionRequest, _ ...grpc.CallOption) (*workflowservice.RequestCancelWorkflowExecutionResponse, error) {
	s.f.cancelled = req.GetWorkflowExecution().GetWorkflowId()
	s.f.cancelRequest = req
	return &workflowservice.RequestCancelWorkflowExecutionResponse{}, nil
}

type fakeRun struct {
	client.WorkflowRun
	id, result string
}

func (r fakeRun) GetID() string    { return r.id }
func (r fakeRun) GetRunID() string { return "run-1" }
func (r fakeRun) Get(_ context.Context, v any) error {
	if r.result == "" {
		return errors.New("workflow failed")
	}
	return json.Unmarshal([]byte(r.result), v)
}

func TestStartOptionsRefuseDuplicates(t *testing.T) {
	o := startOptions("universign-1", "certflow-eu", "Universign registration · level qcp")
	if o.ID != "universign-1" || o.TaskQueue != "certflow-eu" || o.StaticSummary != "Universign registration · level qcp" {
		t.Errorf("ID, task queue, summary = %q, %q, %q", o.ID, o.TaskQueue, o.StaticSummary)
	}
	if o.WorkflowIDReusePolicy != enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY ||
		o.WorkflowIDConflictPolicy != enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL ||
		!o.WorkflowExecutionErrorWhenAlreadyStarted {
		t.Errorf("options %+v: want reuse only after failure, conflict FAIL, an error when already started", o)
	}
}

func TestStartEachKind(t *testing.T) {
	tests := []struct {
		kind, workflowType, summary string
		start                       func(*Client, string) (string, error)
	}{
		{
			kind: "uanataca", workflowType: contract.UanatacaIssuanceName, summary: "Uanataca issuance · profile PFnubeAFCiudadano · RA 121",
			start: func(c *Client, id string) (string, error) {
				in := contract.UanatacaIssuanceInput{Request: UanatacaCreateRequest{Profile: "PFnubeAFCiudadano", RegistrationAuthority: "121"}}
				run, err := c.StartUanatacaIssuance(context.Background(), id, in)
				return run.ID(), err
			},
		},
		{
			kind: "universign", workflowType: contract.UniversignRegistrationName, summary: "Universign registration · level qcp",
			start: func(c *Client, id string) (string, error) {
				in := contract.UniversignRegistrationInput{Registration: UniversignCreateRegistration{Applicant: "ana@example.com", Level: "qcp"}}
				run, err := c.StartUniversignRegistration(context.Background(), id, in)
				return run.ID(), err
			},
		},
		{
			kind: "masstack", workflowType: contract.MasStackIdentificationName, summary: "MasStack identification · configuration MEDIUM",
			start: func(c *Client, id string) (string, error) {
				in := contract.MasStackIdentificationInput{Identification: MasStackCreateIdentification{Name: "Ana", ConfigurationName: "MEDIUM"}}
				run, err := c.StartMasStackIdentification(context.Background(), id, in)
				return run.ID(), err
			},
		},
		{
			kind: "humanos", workflowType: contract.HumanosRequestName, summary: "Humanos request · 2 subjects · HUMANOS_KYC",
			start: func(c *Client, id string) (string, error) {
				in := contract.HumanosRequestInput{Request: HumanosCreateRequest{Contacts: []string{"ana@example.com", "+34600112233"}, SecurityLevel: "HUMANOS_KYC"}}
				run, err := c.StartHumanosRequest(context.Background(), id, in)
				return run.ID(), err
			},
		},
	}
	generated := regexp.MustCompile(`^[a-z]+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			f := &fakeTemporal{}
			id, err := tt.start(New(f, Options{}), "")
			if err != nil {
				t.Fatal(err)
			}
			if !generated.MatchString(id) || !strings.HasPrefix(id, tt.kind+"-") || f.opts.ID != id {
				t.Errorf("generated ID %q (started %q), want %s-<uuid>", id, f.opts.ID, tt.kind)
			}
			if f.workflowType != tt.workflowType || len(f.args) != 1 {
				t.Errorf("started %v with %d arguments, want %s with the input", f.workflowType, len(f.args), tt.workflowType)
			}
			if f.opts.TaskQueue != contract.DefaultTaskQueue || f.opts.StaticSummary != tt.summary {
				t.Errorf("task queue %q, summary %q; want %q, %q", f.opts.TaskQueue, f.opts.StaticSummary, contract.DefaultTaskQueue, tt.summary)
			}

			f = &fakeTemporal{}
			if id, err := tt.start(New(f, Options{TaskQueue: "certflow-eu"}), "order-42"); err != nil || id != "order-42" || f.opts.TaskQueue != "certflow-eu" {
				t.Errorf("with an ID and a task queue: ID %q, task queue %q, error %v", id, f.opts.TaskQueue, err)
			}
		})
	}
}

func TestStartOfATakenIDIsErrAlreadyStarted(t *testing.T) {
	f := &fakeTemporal{startErr: serviceerror.NewWorkflowExecutionAlreadyStarted("Workflow execution is already running.", "", "run-0")}
	_, err := New(f, Options{}).StartUniversignRegistration(context.Background(), "order-42", contract.UniversignRegistrationInput{})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if !errors.Is(err, ErrAlreadyStarted) || !errors.As(err, &started) || started.RunId != "run-0" || !strings.Contains(err.Error(), "order-42") {
		t.Fatalf("error %v: want ErrAlreadyStarted naming the ID and keeping Temporal's error (existing run ID)", err)
	}

	f.startErr = serviceerror.NewUnavailable("connection refused")
	_, err = New(f, Options{}).StartUniversignRegistration(context.Background(), "order-42", contract.UniversignRegistrationInput{})
	if err == nil || errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("error %v: an unreachable Temporal is not ErrAlreadyStarted", err)
	}
}

// TestSummariesShowNoFreeText puts personal data in every field a summary
// could show: none of it may reach the summary.
func TestSummariesShowNoFreeText(t *testing.T) {
	const name = "Ana Ruiz"
	for _, s := range []string{
		uanatacaSummary(contract.UanatacaIssuanceInput{Request: UanatacaCreateRequest{Profile: name, RegistrationAuthority: "ana@example.com", GivenName: name}}),
		universignSummary(contract.UniversignRegistrationInput{Registration: UniversignCreateRegistration{Level: name, Fullname: name}}),
		masStackSummary(contract.MasStackIdentificationInput{Identification: MasStackCreateIdentification{ConfigurationName: name, Name: name}}),
		humanosSummary(contract.HumanosRequestInput{Request: HumanosCreateRequest{Contacts: []string{"ana@example.com"}, SecurityLevel: name, Name: name}}),
	} {
		if strings.Contains(s, "Ana") || strings.Contains(s, "@") || strings.HasSuffix(s, " ") || strings.Contains(s, "·  ·") {
			t.Errorf("summary %q shows free text or an empty part", s)
		}
	}
	if s := humanosSummary(contract.HumanosRequestInput{Request: HumanosCreateRequest{Contacts: []string{"ana@example.com"}}}); s != "Humanos request · 1 subject" {
		t.Errorf("summary %q", s)
	}
}

func TestRunResultIsTyped(t *testing.T) {
	f := &fakeTemporal{result: `{"id":"reg_5X","state":"completed","url":"https://example.com/r"}`}
	run, err := New(f, Options{}).StartUniversignRegistration(context.Background(), "order-42", contract.UniversignRegistrationInput{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := run.Result(context.Background())
	if err != nil || res != (contract.UniversignRegistrationResult{ID: "reg_5X", State: "completed", URL: "https://example.com/r"}) {
		t.Fatalf("result %+v, %v", res, err)
	}
	if run.ID() != "order-42" || run.RunID() != "run-1" {
		t.Errorf("ID %q, run ID %q", run.ID(), run.RunID())
	}

	f.result = ""
	run, _ = New(f, Options{}).StartUniversignRegistration(context.Background(), "order-43", contract.UniversignRegistrationInput{})
	if res, err := run.Result(context.Background()); err == nil || res != (contract.UniversignRegistrationResult{}) {
		t.Fatalf("failed workflow: result %+v, error %v; want the zero result and the error", res, err)
	}
}

func TestStatusCancelAndHint(t *testing.T) {
	f := &fakeTemporal{status: contract.Status{Provider: "universign", Stage: contract.StageAwaiting, ActionURL: "https://example.com/r"}}
	st, err := Status(context.Background(), f, "order-42")
	if err != nil || st.Stage != contract.StageAwaiting || st.ActionURL != "https://example.com/r" {
		t.Fatalf("status %+v, %v", st, err)
	}
	c := New(f, Options{Identity: "ops@host"})
	if err := c.Cancel(context.Background(), "order-42", ""); err != nil || f.cancelled != "order-42" || f.cancelRequest.GetIdentity() != "ops@host" || f.signalled != nil {
		t.Fatalf("cancel: %v, cancelled %q (%v), signalled %v", err, f.cancelled, f.cancelRequest, f.signalled)
	}
	// A reason is signalled first, encrypted like any payload; the cancel
	// request, stored in clear, only points to it.
	f.cancelled = ""
	if err := c.Cancel(context.Background(), "order-42", "customer withdrew"); err != nil || f.cancelled != "order-42" ||
		len(f.signalled) != 3 || f.signalled[1] != contract.SignalCancelReason || f.signalled[2] != (contract.CancelRequest{Reason: "customer withdrew"}) ||
		strings.Contains(f.cancelRequest.GetReason(), "customer") {
		t.Fatalf("cancel with a reason: %v, cancelled %q, signalled %v, request reason %q", err, f.cancelled, f.signalled, f.cancelRequest.GetReason())
	}
	f.cancelled, f.signalled = "", nil
	if err := c.Cancel(context.Background(), "order-42", strings.Repeat("x", 501)); err == nil || f.cancelled != "" || f.signalled != nil {
		t.Fatalf("cancel with a 501-character reason: %v, cancelled %q, signalled %v; want it refused, nothing sent", err, f.cancelled, f.signalled)
	}
	f.cancelled, f.ended, f.stage = "", enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, contract.StageCompleted
	err = c.Cancel(context.Background(), "order-42", "")
	var ended *EndedError
	if !errors.Is(err, ErrAlreadyEnded) || !errors.As(err, &ended) || ended.Status != "Completed" || ended.Stage != contract.StageCompleted || f.cancelled != "" {
		t.Fatalf("cancel of an ended workflow: %v (%+v), cancelled %q; want ErrAlreadyEnded naming Completed, stage completed, and no cancel sent", err, ended, f.cancelled)
	}
	hint := contract.StatusHint{Status: "completed"}
	if err := c.SendWebhookHint(context.Background(), "order-42", hint); err != nil || len(f.signalled) != 3 ||
		f.signalled[0] != "order-42" || f.signalled[1] != contract.SignalWebhook || f.signalled[2] != hint {
		t.Fatalf("hint: %v, signalled %v", err, f.signalled)
	}
}

func TestEncryptionConverters(t *testing.T) {
	dc, fc, err := Encryption("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32)))
	if err != nil || dc == nil || fc == nil {
		t.Fatalf("Encryption: %v, %v, %v", dc, fc, err)
	}
	p, err := dc.ToPayload("zzmarker@example.com")
	if err != nil || bytes.Contains(p.GetData(), []byte("zzmarker")) {
		t.Fatalf("payload not encrypted: %q, %v", p.GetData(), err)
	}
	if dc, fc, err := Encryption(""); dc != nil || fc != nil || err != nil {
		t.Fatal("no keys must mean no encryption")
	}
	if _, _, err := Encryption("k1:short"); err == nil {
		t.Fatal("a bad key was accepted")
	}
}
