// Package certflowclient starts and follows certflow workflows from other Go
// services, over a Temporal client the service owns.
//
// It is the one place certflow's start options live, so the certflow CLI and
// every other caller start workflows the same way: a retried start never
// duplicates a provider request, and neither workflow IDs nor the summaries
// operators read in the Web UI carry personal data. Services in other
// languages follow the same contract through the JSON Schemas in contract/.
package certflowclient

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/codec"
)

// ErrAlreadyStarted is matched (errors.Is) by the error of a start whose
// workflow ID is running or has succeeded. Such a start is refused so that a
// retried start never creates a second provider request; the caller follows
// the existing workflow by its ID instead. An ID whose workflow failed, was
// cancelled or timed out may be started again.
var ErrAlreadyStarted = errors.New("certflow workflow ID already running or succeeded")

// Options configure a Client.
type Options struct {
	// TaskQueue is the task queue the certflow worker polls (its
	// CERTFLOW_TASK_QUEUE); empty means contract.DefaultTaskQueue.
	TaskQueue string
	// Namespace is the namespace the Temporal client connects to (empty:
	// "default"). The SDK's client does not expose it, yet a cancel with a
	// reason is a raw request that must name it.
	Namespace string
	// Identity names the caller in the history events it causes (a
	// cancellation's requester); empty: the SDK's default, pid@host.
	Identity string
	// PayloadStore says the Temporal client keeps large payloads in
	// certflow's payload store (its client.Options.ExternalStorage is
	// PayloadStore's). Without it, an input larger than Temporal takes
	// in history (Uanataca document scans of real size) is refused
	// before it is sent, with ErrInputTooLarge.
	PayloadStore bool
}

// Client starts certflow workflows and acts on them. It does not own the
// Temporal client: closing that stays with the caller, who may share it with
// its own workflows.
type Client struct {
	temporal client.Client
	opts     Options
}

// New returns a Client that starts workflows through c.
func New(c client.Client, opts Options) *Client {
	if opts.TaskQueue == "" {
		opts.TaskQueue = contract.DefaultTaskQueue
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	return &Client{temporal: c, opts: opts}
}

// Run is a started certflow workflow whose result decodes into R.
type Run[R any] struct {
	run client.WorkflowRun
}

// ID is the workflow ID: what Status, Cancel and SendWebhookHint take.
func (r Run[R]) ID() string { return r.run.GetID() }

// RunID identifies this run among the runs started under the same ID (a
// failed workflow's ID may be started again).
func (r Run[R]) RunID() string { return r.run.GetRunID() }

// Result waits for the workflow to end and returns its result. Lifecycles
// last days, so give ctx the patience the caller has; an expired ctx stops
// the wait, not the workflow.
//
// A failure is a *temporal.ApplicationError (errors.As) whose Type names it
// (workflows.ErrType*, or a provider error's type: README, "Contract"); when
// the provider ended the request, its details hold an R as the provider left
// it (Details(&r)). A workflow cancelled with Cancel ends in a
// *temporal.CanceledError.
func (r Run[R]) Result(ctx context.Context) (R, error) {
	var res R
	if err := r.run.Get(ctx, &res); err != nil {
		var zero R
		return zero, err
	}
	return res, nil
}

// StartUanatacaIssuance starts a Uanataca certificate issuance.
//
// id is the workflow ID. Pass a business key of your own (never personal
// data) to make the start idempotent: while a workflow under that ID runs or
// after it succeeded, the start fails with ErrAlreadyStarted. An empty id
// gets "uanataca-<uuid>". The same holds for every Start method.
func (c *Client) StartUanatacaIssuance(ctx context.Context, id string, in contract.UanatacaIssuanceInput) (Run[contract.UanatacaIssuanceResult], error) {
	return start[contract.UanatacaIssuanceResult](ctx, c, contract.ProviderUanataca, contract.UanatacaIssuanceName, id, uanatacaSummary(in), in)
}

// StartUniversignRegistration starts a Universign standalone registration;
// the link to send the person is in Status's ActionURL once it exists.
func (c *Client) StartUniversignRegistration(ctx context.Context, id string, in contract.UniversignRegistrationInput) (Run[contract.UniversignRegistrationResult], error) {
	return start[contract.UniversignRegistrationResult](ctx, c, contract.ProviderUniversign, contract.UniversignRegistrationName, id, universignSummary(in), in)
}

// StartMasStackIdentification starts a MasStack identity-document
// identification; the person's link is in Status's ActionURL once it exists.
func (c *Client) StartMasStackIdentification(ctx context.Context, id string, in contract.MasStackIdentificationInput) (Run[contract.MasStackIdentificationResult], error) {
	return start[contract.MasStackIdentificationResult](ctx, c, contract.ProviderMasStack, contract.MasStackIdentificationName, id, masStackSummary(in), in)
}

// StartHumanosRequest starts a Humanos request; each subject's link and code
// are in Status's Subjects once the request exists.
func (c *Client) StartHumanosRequest(ctx context.Context, id string, in contract.HumanosRequestInput) (Run[contract.HumanosRequestResult], error) {
	return start[contract.HumanosRequestResult](ctx, c, contract.ProviderHumanos, contract.HumanosRequestName, id, humanosSummary(in), in)
}

// start starts workflowType under id, or under "<kind>-<uuid>" when id is
// empty, and maps Temporal's refusal of a taken ID to ErrAlreadyStarted,
// and of an input too large for history to ErrInputTooLarge.
func start[R any](ctx context.Context, c *Client, kind, workflowType, id, summary string, in any) (Run[R], error) {
	if id == "" {
		id = kind + "-" + uuid.NewString()
	}
	if !c.opts.PayloadStore {
		if err := fitsInHistory(in); err != nil {
			return Run[R]{}, fmt.Errorf("starting %s %s: %w", workflowType, id, err)
		}
	}
	opts := startOptions(id, c.opts.TaskQueue, summary)
	if documentBytes(in) > 1<<20 {
		opts.WorkflowTaskTimeout = documentsTaskTimeout
	}
	run, err := c.temporal.ExecuteWorkflow(ctx, opts, workflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return Run[R]{}, fmt.Errorf("%w: %s was not started again: %w", ErrAlreadyStarted, id, err)
	}
	if err != nil {
		return Run[R]{}, fmt.Errorf("starting %s %s: %w", workflowType, id, tooLarge(err, in))
	}
	return Run[R]{run: run}, nil
}

// startOptions are the options of every certflow start.
func startOptions(id, taskQueue, summary string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: taskQueue,
		// A failed workflow may be started again under its ID; a running
		// or successful one may not, so a retried start never duplicates a
		// provider request. Without the error, a start of a running ID
		// would silently return the running workflow, and the caller could
		// not tell its input was ignored.
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            summary,
	}
}

// Status answers workflow id's status query: its stage, the provider's
// reference and status, and the link to send the person. It takes a bare
// Temporal client because reading needs no task queue, so tools that only
// read (the CLI's status command, dashboards) need no Client.
//
// A certflow worker answers the query, of a running or a closed workflow:
// with no worker polling, the call waits until ctx ends, so give ctx a
// deadline.
func Status(ctx context.Context, c client.Client, id string) (contract.Status, error) {
	var st contract.Status
	v, err := c.QueryWorkflow(ctx, id, "", contract.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("querying the status of workflow %s: %w", id, err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("reading the status of workflow %s: %w", id, err)
	}
	return st, nil
}

// ErrAlreadyEnded is matched (errors.Is) by Cancel's error when the
// workflow had already ended: nothing was cancelled, and the error (an
// *EndedError) says how it ended.
var ErrAlreadyEnded = errors.New("certflow workflow already ended")

// EndedError is Cancel's answer for a workflow that had already ended.
type EndedError struct {
	ID string
	// Status is the run's execution status (Completed, Failed, Canceled,
	// Terminated, TimedOut) and Stage its last CertflowStage.
	Status, Stage string
}

func (e *EndedError) Error() string {
	return fmt.Sprintf("workflow %s had already ended (%s, stage %s): nothing was cancelled", e.ID, e.Status, e.Stage)
}

// Is makes errors.Is(err, ErrAlreadyEnded) hold.
func (e *EndedError) Is(target error) bool { return target == ErrAlreadyEnded }

// Cancel asks workflow id's latest run to cancel. certflow then cancels the
// request at the provider and the workflow ends Canceled, or with the
// provider's outcome if that was already final. reason, when given (at
// most contract.MaxCancelReason characters), is signalled to the workflow
// first (contract.SignalCancelReason, encrypted like every payload): the
// workflow records it at the provider where its API takes one (MasStack)
// and shows it in its status (cancel_reason). Cancel returns once Temporal has
// recorded the request, before any of that: follow the end with
// Run.Result or Status.
func (c *Client) Cancel(ctx context.Context, id, reason string) error {
	if n := utf8.RuneCountInString(reason); n > contract.MaxCancelReason {
		return fmt.Errorf("the reason is %d characters, more than the %d allowed: shorten it", n, contract.MaxCancelReason)
	}
	desc, err := c.temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return fmt.Errorf("reading workflow %s: %w", id, err)
	}
	if info := desc.GetWorkflowExecutionInfo(); info.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		ended := &EndedError{ID: id, Status: info.GetStatus().String()}
		if p := info.GetSearchAttributes().GetIndexedFields()[contract.SearchStage.GetName()]; p != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &ended.Stage)
		}
		return ended
	}
	cancel := &workflowservice.RequestCancelWorkflowExecutionRequest{
		Namespace:         c.opts.Namespace,
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: id},
		Identity:          c.opts.Identity,
	}
	if reason != "" {
		// The reason goes first, by signal, so the workflow has it when
		// it acts on the cancellation; in the cancel request itself it
		// would be stored in clear and never reach the workflow.
		if err := c.temporal.SignalWorkflow(ctx, id, "", contract.SignalCancelReason, contract.CancelRequest{Reason: reason}); err != nil {
			return fmt.Errorf("giving workflow %s the reason to cancel: %w", id, err)
		}
		cancel.Reason = "reason given in the " + contract.SignalCancelReason + " signal"
	}
	// client.CancelWorkflow sends no identity of the caller's choosing:
	// the request is sent as the SDK sends it, with the identity.
	if _, err := c.temporal.WorkflowService().RequestCancelWorkflowExecution(ctx, cancel); err != nil {
		return fmt.Errorf("cancelling workflow %s: %w", id, err)
	}
	return nil
}

// SendWebhookHint tells workflow id that its provider's state may have
// changed: hint is a contract.UanatacaWebhook, a contract.HumanosWebhook,
// or for the polled providers (Universign, MasStack) a contract.StatusHint.
// It is only a hint: the workflow re-reads the provider and trusts only what
// it reads, so a stale, forged or repeated hint does no harm.
func (c *Client) SendWebhookHint(ctx context.Context, id string, hint any) error {
	if err := c.temporal.SignalWorkflow(ctx, id, "", contract.SignalWebhook, hint); err != nil {
		return fmt.Errorf("signalling workflow %s: %w", id, err)
	}
	return nil
}

// Encryption returns the data and failure converters certflow's workers
// use, for the client.Options of the Temporal client a service passes to
// New: keys in CERTFLOW_CODEC_KEYS syntax ("id:base64key", comma-separated,
// the first current). Without them the service's inputs would be stored in
// clear and its results unreadable. Empty keys return nils (no encryption).
func Encryption(keys string) (converter.DataConverter, converter.FailureConverter, error) {
	cd, err := codec.FromKeys(keys, "")
	if err != nil || cd == nil {
		return nil, nil, err
	}
	return cd.DataConverter(), cd.FailureConverter(), nil
}
