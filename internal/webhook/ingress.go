// Package webhook is certflow's ingress for provider webhooks: verify →
// parse → correlate → signal, one file per provider. It answers 2xx only
// after Temporal accepted the signal, so a sender that retries on errors
// never loses an event; the workflow treats every webhook as a hint and
// re-reads the provider before acting on it.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
)

// maxBody bounds a webhook body; provider webhooks are a few hundred bytes.
const maxBody = 64 << 10

// Temporal is the part of the Temporal client the ingress uses.
type Temporal interface {
	ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
}

var _ Temporal = client.Client(nil)

// Ingress serves the webhook endpoints.
type Ingress struct {
	Temporal Temporal
	Log      zerolog.Logger
	// LookupAttempts and LookupBackoff bound the search for the workflow a
	// webhook concerns: visibility is eventually consistent, and a webhook
	// can arrive before the workflow has recorded the provider reference.
	LookupAttempts int
	LookupBackoff  time.Duration
	// Uanataca authenticates Uanataca webhooks.
	Uanataca UanatacaSettings
	// Humanos verifies and decrypts Humanos webhooks.
	Humanos HumanosSettings
	// Now is the clock for timestamp windows; nil is time.Now.
	Now func() time.Time
}

func (in *Ingress) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

// Register adds the webhook routes to mux.
func (in *Ingress) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /webhooks/uanataca", in.uanataca)
	mux.HandleFunc("POST /webhooks/uanataca/{token}", in.uanataca)
	mux.HandleFunc("POST /webhooks/humanos", in.humanos)
}

// httpError is a failure with the status and message the sender gets.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = bounded(s)
		}
	}
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// bounded cuts a sender-supplied value quoted in an answer or a log line,
// so a hostile sender cannot make either arbitrarily large.
func bounded(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}

// readBody reads a JSON webhook body within maxBody. A body declared as
// anything but JSON is refused before it is read.
func readBody(r *http.Request) ([]byte, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, fail(http.StatusUnsupportedMediaType, "send the webhook as Content-Type: application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, fail(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxBody)
	}
	if err != nil {
		return nil, fail(http.StatusBadRequest, "could not read the body: %v", err)
	}
	return body, nil
}

// findRunning returns the ID of the running workflow of provider whose
// provider reference is ref, retrying while visibility catches up. When
// none is found it answers 503 (retry later) if a workflow of provider is
// still creating its request — the reference may be that request's, not
// yet recorded — and 404 (unknown) otherwise.
func (in *Ingress) findRunning(ctx context.Context, provider, ref string) (string, error) {
	query := fmt.Sprintf("%s = %q AND %s = %q AND ExecutionStatus = 'Running'",
		contract.SearchProvider.GetName(), provider, contract.SearchProviderRef.GetName(), ref)
	attempts := max(in.LookupAttempts, 1)
	for i := range attempts {
		execs, err := in.list(ctx, query)
		if err != nil {
			return "", err
		}
		if len(execs) > 0 {
			return execs[0].GetExecution().GetWorkflowId(), nil
		}
		if i < attempts-1 {
			select {
			case <-ctx.Done():
				return "", fail(http.StatusServiceUnavailable, "request cancelled")
			case <-time.After(in.LookupBackoff):
			}
		}
	}
	creating := fmt.Sprintf("%s = %q AND %s = %q AND ExecutionStatus = 'Running'",
		contract.SearchProvider.GetName(), provider, contract.SearchStage.GetName(), contract.StageCreating)
	execs, err := in.list(ctx, creating)
	if err != nil {
		return "", err
	}
	if len(execs) > 0 {
		return "", fail(http.StatusServiceUnavailable, "no workflow has recorded %s reference %s yet, but one is creating its request; retry shortly", provider, ref)
	}
	return "", fail(http.StatusNotFound, "no running workflow for %s reference %s", provider, ref)
}

// list runs a visibility query; Temporal unreachable is a 503.
func (in *Ingress) list(ctx context.Context, query string) ([]*workflowpb.WorkflowExecutionInfo, error) {
	resp, err := in.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 2})
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "Temporal is unreachable; retry later")
	}
	return resp.GetExecutions(), nil
}

// signal delivers hint to the workflow and maps Temporal's answer.
func (in *Ingress) signal(ctx context.Context, workflowID string, hint any) error {
	err := in.Temporal.SignalWorkflow(ctx, workflowID, "", contract.SignalWebhook, hint)
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		return nil
	case errors.As(err, &notFound):
		return fail(http.StatusNotFound, "workflow %s is no longer running", workflowID)
	default:
		return fail(http.StatusServiceUnavailable, "Temporal did not accept the signal; retry later")
	}
}

// respond writes the outcome as JSON: {"status":"accepted","workflow_id":..}
// or {"error": ...}.
func (in *Ingress) respond(w http.ResponseWriter, provider string, workflowID string, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err == nil {
		count(context.Background(), provider, http.StatusOK)
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "accepted", "workflow_id": workflowID})
		return
	}
	status := http.StatusInternalServerError
	var he *httpError
	if errors.As(err, &he) {
		status = he.status
	}
	count(context.Background(), provider, status)
	in.Log.Warn().Str("provider", provider).Int("status", status).Str("reason", err.Error()).Msg("webhook rejected")
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
