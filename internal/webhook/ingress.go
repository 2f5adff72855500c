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
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/api/serviceerror"
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
	QueryWorkflowWithOptions(ctx context.Context, req *client.QueryWorkflowWithOptionsRequest) (*client.QueryWorkflowWithOptionsResponse, error)
}

var _ Temporal = client.Client(nil)

// Ingress serves the webhook endpoints.
type Ingress struct {
	Temporal Temporal
	Log      zerolog.Logger
	// LookupAttempts and LookupBackoff bound the search for the workflow a
	// webhook concerns while a workflow of its provider is creating a
	// request: the webhook may concern that request, whose reference the
	// workflow has not recorded yet.
	LookupAttempts int
	LookupBackoff  time.Duration
	// CorrelationCache is how many provider references the ingress
	// remembers the workflow of; 0 means DefaultCorrelationCache.
	CorrelationCache int
	refs             *correlation
	refsOnce         sync.Once
	// Uanataca authenticates Uanataca webhooks.
	Uanataca UanatacaSettings
	// Humanos verifies and decrypts Humanos webhooks.
	Humanos HumanosSettings
	// Now is the clock for timestamp windows; nil is time.Now.
	Now func() time.Time
}

func (in *Ingress) correlation() *correlation {
	in.refsOnce.Do(func() { in.refs = newCorrelation(in.CorrelationCache) })
	return in.refs
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

// deliver signals hint, which announces status ("" when its provider's
// webhooks are events, not statuses), to the running workflow of
// provider's reference ref and returns its ID, and whether the webhook
// only repeated a status the workflow has confirmed (then nothing is
// signalled). A workflow found ended by the signal is remembered as such,
// so the sender's next retry gets its final answer without a lookup.
func (in *Ingress) deliver(ctx context.Context, provider, ref, status string, hint any) (string, bool, error) {
	id, err := in.findRunning(ctx, provider, ref)
	if err != nil {
		return id, false, err
	}
	if in.repeats(ctx, provider, ref, status, id) {
		return id, true, nil
	}
	if err := in.signal(ctx, id, hint); err != nil {
		if isGone(err) {
			in.forget(provider, ref, id)
		}
		return id, false, err
	}
	if status != "" {
		in.correlation().signalled.Add(statusKey{provider, ref, status}, struct{}{})
	}
	return id, false, nil
}

// signal delivers hint to the workflow and maps Temporal's answer.
func (in *Ingress) signal(ctx context.Context, workflowID string, hint any) error {
	err := in.Temporal.SignalWorkflow(ctx, workflowID, "", contract.SignalWebhook, hint)
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		return nil
	case errors.As(err, &notFound):
		return ended(workflowID)
	default:
		return fail(http.StatusServiceUnavailable, "Temporal did not accept the signal; retry later")
	}
}

// respond writes the outcome as JSON: {"status":"accepted","workflow_id":..}
// or {"error": ...}.
func (in *Ingress) respond(w http.ResponseWriter, provider string, workflowID string, err error) {
	in.answer(w, provider, workflowID, accepted, err)
}

// The words a 200 says: accepted (signalled) or duplicate (a repeat of a
// status the workflow has confirmed; nothing signalled).
const (
	accepted  = "accepted"
	duplicate = "duplicate"
)

// answer is respond with the word a 200 says (accepted or duplicate).
func (in *Ingress) answer(w http.ResponseWriter, provider, workflowID, word string, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err == nil {
		count(context.Background(), provider, http.StatusOK, word == duplicate)
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": word, "workflow_id": workflowID})
		return
	}
	status := http.StatusInternalServerError
	var he *httpError
	if errors.As(err, &he) {
		status = he.status
	}
	count(context.Background(), provider, status, false)
	in.Log.Warn().Str("provider", provider).Int("status", status).Str("reason", err.Error()).Msg("webhook rejected")
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
