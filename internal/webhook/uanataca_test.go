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
	"testing"

	"github.com/rs/zerolog"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/certflow/certflow/contract"
)

// fakeTemporal finds workflows by the provider reference in the query and
// records signals.
type fakeTemporal struct {
	running   map[string]string // provider reference -> workflow ID
	provider  string            // default uanataca
	listErr   error
	signalErr error
	lists     int
	signals   []any
	signalled []string // workflow IDs
	// creating makes a workflow of the provider look mid-create.
	creating bool
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
	for pk, id := range f.running {
		provider := f.provider
		if provider == "" {
			provider = "uanataca"
		}
		if strings.Contains(req.GetQuery(), `CertflowProviderRef = "`+pk+`"`) && strings.Contains(req.GetQuery(), `CertflowProvider = "`+provider+`"`) {
			resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{Execution: &commonpb.WorkflowExecution{WorkflowId: id}})
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
		{name: "unknown request", body: legacy, fake: fakeTemporal{running: map[string]string{}}, wantStatus: 404, wantError: "no running workflow"},
		{name: "not findable yet while an issuance creates", body: legacy, fake: fakeTemporal{running: map[string]string{}, creating: true}, wantStatus: 503, wantError: "retry shortly"},
		{name: "Temporal unreachable", body: legacy, fake: fakeTemporal{listErr: errors.New("connection refused")}, wantStatus: 503, wantError: "unreachable"},
		{name: "workflow ended meanwhile", body: legacy, fake: fakeTemporal{running: map[string]string{"46760": "wf-1"}, signalErr: serviceerror.NewNotFound("gone")},
			wantStatus: 404, wantError: "no longer running"},
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

func TestUanatacaIngressRetriesLookup(t *testing.T) {
	fake := &fakeTemporal{running: map[string]string{}}
	in := &Ingress{Temporal: fake, Log: zerolog.Nop(), LookupAttempts: 4}
	mux := http.NewServeMux()
	in.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, post("/webhooks/uanataca", `{"status":"CREATED","request":5}`))
	if rec.Code != 404 || fake.lists != 4+1 { // four lookups, then one "is any creating?"
		t.Fatalf("status %d after %d list calls, want 404 after 4 lookups and the creating check", rec.Code, fake.lists)
	}
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
