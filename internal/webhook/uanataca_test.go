package webhook

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/certflow/certflow/contract"
)

// fakeTemporal finds workflows by the provider reference in the query and
// records signals.
type fakeTemporal struct {
	running   map[string]string // provider reference -> workflow ID
	ended     map[string]string // provider reference -> ended workflow ID
	provider  string            // default uanataca
	listErr   error
	signalErr error
	lists     int
	signals   []any
	signalled []string // workflow IDs
	// creating makes a workflow of the provider look mid-create.
	creating bool
	// confirmed is the provider status each workflow's status query shows.
	confirmed map[string]string
	queries   int
}

func (f *fakeTemporal) QueryWorkflowWithOptions(_ context.Context, req *client.QueryWorkflowWithOptionsRequest) (*client.QueryWorkflowWithOptionsResponse, error) {
	f.queries++
	status, ok := f.confirmed[req.WorkflowID]
	if !ok || req.QueryType != contract.QueryStatus {
		return nil, serviceerror.NewNotFound("no such query")
	}
	p, err := converter.GetDefaultDataConverter().ToPayloads(contract.Status{ProviderStatus: status})
	return &client.QueryWorkflowWithOptionsResponse{QueryResult: client.NewValue(p)}, err
}

// post builds a JSON webhook request.
func post(path, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func (f *fakeTemporal) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	f.lists++
	if f.listErr != nil {
		return nil, f.listErr
	}
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	if f.creating && strings.Contains(req.GetQuery(), `CertflowStage = "creating"`) {
		resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{Execution: &commonpb.WorkflowExecution{WorkflowId: "wf-creating"}})
	}
	provider := f.provider
	if provider == "" {
		provider = "uanataca"
	}
	byStatus := map[enums.WorkflowExecutionStatus]map[string]string{enums.WORKFLOW_EXECUTION_STATUS_RUNNING: f.running}
	if !strings.Contains(req.GetQuery(), "ExecutionStatus = 'Running'") {
		byStatus[enums.WORKFLOW_EXECUTION_STATUS_COMPLETED] = f.ended
	}
	for status, refs := range byStatus {
		for pk, id := range refs {
			if strings.Contains(req.GetQuery(), `CertflowProviderRef = "`+pk+`"`) && strings.Contains(req.GetQuery(), `CertflowProvider = "`+provider+`"`) {
				resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{Execution: &commonpb.WorkflowExecution{WorkflowId: id}, Status: status})
			}
		}
	}
	return resp, nil
}

func (f *fakeTemporal) SignalWorkflow(_ context.Context, id, _, name string, arg any) error {
	if f.signalErr != nil {
		return f.signalErr
	}
	if name != contract.SignalWebhook {
		return errors.New("unexpected signal " + name)
	}
	if !slices.Contains(slices.Collect(maps.Values(f.running)), id) {
		return serviceerror.NewNotFound("workflow not found")
	}
	f.signals = append(f.signals, arg)
	f.signalled = append(f.signalled, id)
	return nil
}

func TestUanatacaIngress(t *testing.T) {
	legacy := `{"status":"ENROLLREADY","date":"2021-07-20T08:08:21.132394","previous_status":"CREATED","request":46760,"registration_authority":455}`
	event := `{"event_type":"REQUEST_ENROLLED","sent_at":"20240207101500","request":{"pk":46760,"status":"ISSUED","profile":"PFnubeAFCiudadano","registration_authority":455,"scratchcard":"1256948"},"certificates":[{"status":"VALID"}]}`
	tests := []struct {
		name       string
		body       string
		fake       fakeTemporal
		wantStatus int
		wantHint   *contract.UanatacaWebhook
		wantError  string
	}{
		{name: "legacy format", body: legacy, fake: fakeTemporal{running: map[string]string{"46760": "wf-1"}}, wantStatus: 200,
			wantHint: &contract.UanatacaWebhook{PK: 46760, Status: "ENROLLREADY", PreviousStatus: "CREATED", RegistrationAuthority: "455", Date: "2021-07-20T08:08:21.132394"}},
		{name: "event format", body: event, fake: fakeTemporal{running: map[string]string{"46760": "wf-1"}}, wantStatus: 200,
			wantHint: &contract.UanatacaWebhook{PK: 46760, Status: "ISSUED", EventType: "REQUEST_ENROLLED", RegistrationAuthority: "455", Date: "20240207101500"}},
		{name: "not JSON", body: `status=ISSUED`, wantStatus: 400, wantError: "malformed Uanataca webhook"},
		{name: "trailing data", body: `{"status":"ISSUED","request":46760}{"status":"CANCELLED","request":7}`, wantStatus: 400, wantError: "one JSON object"},
		{name: "event format, pk as text", body: `{"event_type":"REQUEST_ENROLLED","request":{"pk":"46760","status":"ISSUED"}}`,
			fake: fakeTemporal{running: map[string]string{"46760": "wf-1"}}, wantStatus: 200,
			wantHint: &contract.UanatacaWebhook{PK: 46760, Status: "ISSUED", EventType: "REQUEST_ENROLLED"}},
		{name: "no request", body: `{"status":"ISSUED"}`, wantStatus: 400, wantError: `missing \"request\"`},
		{name: "pk not a number", body: `{"status":"ISSUED","request":"abc"}`, wantStatus: 400, wantError: "whole-number pk"},
		{name: "no status", body: `{"request":46760}`, wantStatus: 400, wantError: "status"},
		{name: "unknown request", body: legacy, fake: fakeTemporal{running: map[string]string{}}, wantStatus: 404, wantError: "no workflow for uanataca reference 46760"},
		{name: "not findable yet while an issuance creates", body: legacy, fake: fakeTemporal{running: map[string]string{}, creating: true}, wantStatus: 503, wantError: "retry shortly"},
		{name: "request of an ended workflow", body: legacy,
			fake: fakeTemporal{ended: map[string]string{"46760": "wf-old"}}, wantStatus: 410, wantError: "wf-old has already ended"},
		{name: "request of an ended workflow, while another issuance creates: it may be that one's", body: legacy,
			fake: fakeTemporal{ended: map[string]string{"46760": "wf-old"}, creating: true}, wantStatus: 503, wantError: "retry shortly"},
		{name: "Temporal unreachable", body: legacy, fake: fakeTemporal{listErr: serviceerror.NewUnavailable("connection refused")}, wantStatus: 503, wantError: "unreachable"},
		{name: "lookup refused under load", body: legacy, fake: fakeTemporal{listErr: serviceerror.NewResourceExhausted(enums.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, "rate")},
			wantStatus: 503, wantError: "refused the workflow lookup under load (RpsLimit)"},
		{name: "lookup timed out", body: legacy, fake: fakeTemporal{listErr: serviceerror.NewDeadlineExceeded("slow")}, wantStatus: 503, wantError: "timed out"},
		{name: "workflow ended meanwhile", body: legacy, fake: fakeTemporal{running: map[string]string{"46760": "wf-1"}, signalErr: serviceerror.NewNotFound("gone")},
			wantStatus: 410, wantError: "has already ended"},
		{name: "signal refused", body: legacy, fake: fakeTemporal{running: map[string]string{"46760": "wf-1"}, signalErr: errors.New("unavailable")},
			wantStatus: 503, wantError: "retry later"},
		{name: "too large", body: `{"status":"` + strings.Repeat("x", maxBody) + `"}`, wantStatus: 413, wantError: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := tt.fake
			in := &Ingress{Temporal: &fake, Log: zerolog.Nop(), LookupAttempts: 3}
			mux := http.NewServeMux()
			in.Register(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, post("/webhooks/uanataca", tt.body))

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantError != "" && !strings.Contains(rec.Body.String(), tt.wantError) {
				t.Fatalf("body %s does not say %q", rec.Body, tt.wantError)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q, want application/json", ct)
			}
			if tt.wantHint == nil {
				if len(fake.signals) != 0 {
					t.Fatalf("signalled %v on a rejected webhook", fake.signals)
				}
				return
			}
			if len(fake.signals) != 1 || fake.signals[0] != any(*tt.wantHint) {
				t.Fatalf("signals = %+v, want [%+v]", fake.signals, *tt.wantHint)
			}
		})
	}
}

// Lookups are decided per reference: an unknown one while nothing is
// being created is refused at once; only while an issuance creates its
// request is it looked up again; a known one costs no lookup at all.
func TestUanatacaIngressLookups(t *testing.T) {
	tests := []struct {
		name      string
		fake      fakeTemporal
		webhooks  int
		want      int
		wantLists int
	}{
		{"unknown, nothing creating: refused at once", fakeTemporal{}, 1, 404, 3},
		{"unknown while an issuance creates: looked up again", fakeTemporal{creating: true}, 1, 503, 4 + 1},
		{"ended: final at once, and remembered", fakeTemporal{ended: map[string]string{"5": "wf-old"}}, 3, 410, 3},
		{"running: looked up once for its three webhooks", fakeTemporal{running: map[string]string{"5": "wf-5"}}, 3, 200, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := tt.fake
			in := &Ingress{Temporal: &fake, Log: zerolog.Nop(), LookupAttempts: 4}
			mux := http.NewServeMux()
			in.Register(mux)
			for range tt.webhooks {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, post("/webhooks/uanataca", `{"status":"ISSUED","request":5}`))
				if rec.Code != tt.want {
					t.Fatalf("answered %d, want %d: %s", rec.Code, tt.want, rec.Body)
				}
			}
			if fake.lists != tt.wantLists {
				t.Fatalf("%d visibility queries for %d webhooks, want %d", fake.lists, tt.webhooks, tt.wantLists)
			}
		})
	}
}

// A signal that finds the workflow ended makes the reference's next
// webhook get its final answer without a lookup.
func TestUanatacaIngressRemembersEndedWorkflow(t *testing.T) {
	fake := &fakeTemporal{running: map[string]string{"5": "wf-5"}, signalErr: serviceerror.NewNotFound("closed")}
	in := &Ingress{Temporal: fake, Log: zerolog.Nop(), LookupAttempts: 2}
	mux := http.NewServeMux()
	in.Register(mux)
	for range 2 {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, post("/webhooks/uanataca", `{"status":"ISSUED","request":5}`))
		if rec.Code != http.StatusGone {
			t.Fatalf("answered %d, want 410: %s", rec.Code, rec.Body)
		}
	}
	if fake.lists != 1 {
		t.Fatalf("%d lookups, want 1", fake.lists)
	}
}

// Concurrent webhooks for one reference share one lookup.
func TestUanatacaIngressCoalescesLookups(t *testing.T) {
	fake := &slowTemporal{fakeTemporal: fakeTemporal{running: map[string]string{"5": "wf-5"}}, release: make(chan struct{})}
	in := &Ingress{Temporal: fake, Log: zerolog.Nop(), LookupAttempts: 2}
	mux := http.NewServeMux()
	in.Register(mux)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, post("/webhooks/uanataca", `{"status":"ISSUED","request":5}`))
			codes[i] = rec.Code
		})
	}
	time.Sleep(100 * time.Millisecond) // let them all wait on the one lookup
	close(fake.release)
	wg.Wait()
	if fake.lists.Load() != 1 || slices.ContainsFunc(codes, func(c int) bool { return c != 200 }) {
		t.Fatalf("%d lookups, answers %v; want one lookup and every webhook accepted", fake.lists.Load(), codes)
	}
}

// slowTemporal holds every lookup until release is closed.
type slowTemporal struct {
	fakeTemporal
	mu      sync.Mutex
	lists   atomic.Int64
	release chan struct{}
}

func (s *slowTemporal) ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	s.lists.Add(1)
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fakeTemporal.ListWorkflow(ctx, req)
}

func (s *slowTemporal) SignalWorkflow(ctx context.Context, id, runID, name string, arg any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fakeTemporal.SignalWorkflow(ctx, id, runID, name, arg)
}

func (s *slowTemporal) QueryWorkflowWithOptions(ctx context.Context, req *client.QueryWorkflowWithOptionsRequest) (*client.QueryWorkflowWithOptionsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fakeTemporal.QueryWorkflowWithOptions(ctx, req)
}

func TestIngressRequiresJSON(t *testing.T) {
	mux := http.NewServeMux()
	(&Ingress{Temporal: &fakeTemporal{}, Log: zerolog.Nop(), Humanos: HumanosSettings{Secret: "s"}}).Register(mux)
	for _, path := range []string{"/webhooks/uanataca", "/webhooks/humanos"} {
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"status":"ISSUED","request":5}`))
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, r)
			if rec.Code != http.StatusUnsupportedMediaType {
				t.Errorf("%s with Content-Type %q answered %d, want 415", path, ct, rec.Code)
			}
		}
	}
}

func TestUanatacaIngressRejectsOtherMethods(t *testing.T) {
	mux := http.NewServeMux()
	(&Ingress{Temporal: &fakeTemporal{}, Log: zerolog.Nop()}).Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhooks/uanataca", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET answered %d, want 405", rec.Code)
	}
}

func TestUanatacaIngressAuthenticity(t *testing.T) {
	body := `{"status":"ISSUED","request":46760}`
	allow := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	tests := []struct {
		name       string
		settings   UanatacaSettings
		path, from string
		want       int
	}{
		{"token in the path", UanatacaSettings{Token: "s3cret"}, "/webhooks/uanataca/s3cret", "192.0.2.1:4000", 200},
		{"token in the query", UanatacaSettings{Token: "s3cret"}, "/webhooks/uanataca?token=s3cret", "192.0.2.1:4000", 200},
		{"wrong token", UanatacaSettings{Token: "s3cret"}, "/webhooks/uanataca/guess", "192.0.2.1:4000", 401},
		{"no token", UanatacaSettings{Token: "s3cret"}, "/webhooks/uanataca", "192.0.2.1:4000", 401},
		{"allowed network", UanatacaSettings{Allow: allow}, "/webhooks/uanataca", "10.1.2.3:4000", 200},
		{"other network", UanatacaSettings{Allow: allow}, "/webhooks/uanataca", "192.0.2.1:4000", 403},
		{"both, right", UanatacaSettings{Token: "s3cret", Allow: allow}, "/webhooks/uanataca/s3cret", "10.1.2.3:4000", 200},
		{"both, wrong network", UanatacaSettings{Token: "s3cret", Allow: allow}, "/webhooks/uanataca/s3cret", "10.2.0.1:4000", 403},
		{"neither configured", UanatacaSettings{}, "/webhooks/uanataca", "192.0.2.1:4000", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeTemporal{running: map[string]string{"46760": "wf-1"}}
			mux := http.NewServeMux()
			(&Ingress{Temporal: fake, Log: zerolog.Nop(), Uanataca: tt.settings}).Register(mux)
			r := post(tt.path, body)
			r.RemoteAddr = tt.from
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, r)
			if rec.Code != tt.want {
				t.Fatalf("answered %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if (tt.want == 200) != (len(fake.signals) == 1) {
				t.Fatalf("signals %v after answering %d", fake.signals, rec.Code)
			}
			if strings.Contains(rec.Body.String(), "s3cret") {
				t.Fatalf("the answer quotes the token: %s", rec.Body)
			}
		})
	}
}

// A request's workflow made known while a lookup for its pk is under way
// (the worker of this process created it) is not overwritten by the
// lookup's older answer (here a stale ended workflow with the same pk).
func TestRememberedWorkflowOutlivesAStaleLookup(t *testing.T) {
	fake := &slowTemporal{fakeTemporal: fakeTemporal{running: map[string]string{"new": "wf-new"}, ended: map[string]string{"5": "wf-old"}}, release: make(chan struct{})}
	in := &Ingress{Temporal: fake, Log: zerolog.Nop(), LookupAttempts: 1}
	mux := http.NewServeMux()
	in.Register(mux)
	first := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, post("/webhooks/uanataca", `{"status":"CREATED","request":5}`))
		first <- rec.Code
	}()
	time.Sleep(50 * time.Millisecond) // the lookup is under way
	in.Remember(contract.ProviderUanataca, "5", "wf-new")
	close(fake.release)
	<-first
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, post("/webhooks/uanataca", `{"status":"ENROLLREADY","request":5}`))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "wf-new") {
		t.Fatalf("the next webhook answered %d %s; want it delivered to the remembered workflow", rec.Code, rec.Body)
	}
}

// A webhook repeating a status already signalled costs no signal once the
// workflow has confirmed that status by a read; one it has not confirmed
// (a forged ISSUED it read as CREATED, then the genuine ISSUED) is
// signalled again.
func TestUanatacaIngressRepeatedStatuses(t *testing.T) {
	tests := []struct {
		name        string
		confirmed   string
		wantSignals int
		wantAnswer  string
	}{
		{"confirmed: the repeat is not signalled", "ISSUED", 1, `"status":"duplicate"`},
		{"not confirmed: signalled again", "CREATED", 2, `"status":"accepted"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeTemporal{running: map[string]string{"5": "wf-5"}, confirmed: map[string]string{"wf-5": tt.confirmed}}
			in := &Ingress{Temporal: fake, Log: zerolog.Nop(), LookupAttempts: 1}
			mux := http.NewServeMux()
			in.Register(mux)
			var last *httptest.ResponseRecorder
			for range 2 {
				last = httptest.NewRecorder()
				mux.ServeHTTP(last, post("/webhooks/uanataca", `{"status":"ISSUED","request":5}`))
				if last.Code != http.StatusOK {
					t.Fatalf("answered %d: %s", last.Code, last.Body)
				}
			}
			if len(fake.signals) != tt.wantSignals || !strings.Contains(last.Body.String(), tt.wantAnswer) || fake.queries != 1 {
				t.Fatalf("%d signals, %d status queries, last answer %s; want %d signals, one query, %s", len(fake.signals), fake.queries, last.Body, tt.wantSignals, tt.wantAnswer)
			}
		})
	}
}
