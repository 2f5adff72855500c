// Package starter is certflow's command-line interface for people and
// scripts: start an issuance, find it, read its status, cancel it, replay a
// lost webhook to it, export its history. cmd/certflow runs it. Exit codes
// are the Exit constants; every error is one line on stderr,
// "certflow: ...".
package starter

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/certflowclient"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/config"
)

// Exit codes, so a script can tell what happened without reading the
// message.
const (
	ExitOK = 0
	// ExitFailed: the operation or the workflow failed otherwise.
	ExitFailed = 1
	// ExitUsage: the command line or the configuration was wrong (a
	// command that sends data without a codec key, a start whose
	// documents need the payload store without one).
	ExitUsage = 2
	// ExitNotFound: no workflow has that ID.
	ExitNotFound = 3
	// ExitAlreadyEnded: cancel found the workflow already ended; nothing
	// was cancelled.
	ExitAlreadyEnded = 4
	// ExitInvalidInput: the workflow refused its input (InvalidInput).
	ExitInvalidInput = 5
	// ExitUnreachable: Temporal could not be reached.
	ExitUnreachable = 6
)

const usageText = `certflow — start, find and follow certflow workflows.

Usage:
  certflow start uanataca [-f input.json] [flags]     start a Uanataca certificate issuance
  certflow start universign [-f input.json] [flags]   start a Universign standalone registration
  certflow start masstack [-f input.json] [flags]     start a MasStack identity-document identification
  certflow start humanos [-f input.json] [flags]      start a Humanos request (OTP, KYC, consent)
  certflow status <workflow-id>                       print the workflow's state as JSON
  certflow list [--provider P] [--stage S] [--running|--closed] [--ref REF] [--limit N] [--json]
                                                      list certflow workflows, most recent first
  certflow cancel <workflow-id> [--reason TEXT]       cancel it (certflow cancels at the provider)
  certflow webhook <workflow-id> (-f payload.json | --status STATUS)
                                                      replay a provider webhook to it, as a hint
  certflow history <workflow-id> [--run RUN] [-o file.json]
                                                      export its history as JSON, for replay tests

Run 'certflow <command> -h' (for start, 'certflow start <kind> -h') for a
command's help and flags.

Exit codes: 0 success, 1 the operation or the workflow failed, 2 the command
line or the configuration was wrong (start without a codec key), 3 no workflow has that ID, 4 cancel found the workflow
already ended (nothing cancelled), 5 the workflow refused its input
(InvalidInput), 6 Temporal could not be reached. Errors are one line on
stderr, starting "certflow: ".

Temporal is reached with the TEMPORAL_* settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ...);
CERTFLOW_TASK_QUEUE and CERTFLOW_WEB_UI_URL must match the worker's.
`

// CLI runs one command. Dial connects to Temporal; it is called only by
// commands that need it, so usage errors never wait on a connection.
type CLI struct {
	Out, Err io.Writer
	Config   config.Common
	Dial     func() (client.Client, error)
	// Encrypted says Dial's client encrypts payloads (a codec key is
	// configured): without it, the commands that send data (start,
	// webhook, cancel --reason) refuse unless Config allows plaintext.
	Encrypted bool
	// Namespace is the namespace Dial connects to (default "default"). The
	// SDK's client does not expose it, yet Web UI links and the raw
	// WorkflowService requests (cancel with a reason) must name it.
	Namespace string
}

// kind is one provider's workflow, as the commands know it: the
// contract's entry and the commands' own per-provider parts.
type kind struct {
	provider, workflowType string
	start                  func(*CLI, context.Context, []string) error
	// hint returns a new value of the workflow's webhook signal type, to
	// check a payload before sending it: the workflow drops, with only a
	// log line, a signal it cannot decode.
	hint func() any
	// statusHint builds the webhook signal that announces status; ref is
	// the execution's CertflowProviderRef. Nil when the provider's webhooks
	// are events rather than statuses.
	statusHint func(ref, status string) (any, error)
}

// commands are the per-provider parts of the CLI, by provider.
var commands = map[string]struct {
	start      func(*CLI, context.Context, []string) error
	statusHint func(ref, status string) (any, error)
}{
	contract.ProviderUanataca:   {(*CLI).startUanataca, uanatacaStatusHint},
	contract.ProviderUniversign: {(*CLI).startUniversign, polledStatusHint},
	contract.ProviderMasStack:   {(*CLI).startMasStack, polledStatusHint},
	contract.ProviderHumanos:    {(*CLI).startHumanos, nil},
}

// kinds are certflow's provider workflows (contract.Workflows) with their
// commands. Other workflow types (the scratchcard allocators) are
// internal: no command lists or signals them.
var kinds = func() []kind {
	var ks []kind
	for _, w := range contract.Workflows {
		hintType := reflect.TypeOf(w.Hint)
		ks = append(ks, kind{
			provider: w.Provider, workflowType: w.Type,
			start:      commands[w.Provider].start,
			hint:       func() any { return reflect.New(hintType).Interface() },
			statusHint: commands[w.Provider].statusHint,
		})
	}
	return ks
}()

// kindOf finds the kind whose provider or workflow type is name (the two
// never collide).
func kindOf(name string) (kind, bool) {
	for _, k := range kinds {
		if k.provider == name || k.workflowType == name {
			return k, true
		}
	}
	return kind{}, false
}

// kindNames lists the kinds' providers and workflow types, for help,
// errors and queries.
func kindNames() (providers, types []string) {
	for _, k := range kinds {
		providers = append(providers, k.provider)
		types = append(types, k.workflowType)
	}
	return providers, types
}

// providerNames lists the providers as help and errors name them.
func providerNames() string {
	providers, _ := kindNames()
	return strings.Join(providers, ", ")
}

// Run executes args (without the program name) and returns the exit code.
// An error is printed on Err as exactly one line, "certflow: ...", even when
// a message from Temporal spans several, so a script can log or match it.
func (c *CLI) Run(ctx context.Context, args []string) int {
	err := c.explainNoKey(c.run(ctx, args))
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	fmt.Fprintf(c.Err, "certflow: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	return exitCode(err)
}

// exitCode is the exit code of a command's error.
func exitCode(err error) int {
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, new(usageError)), errors.Is(err, certflowclient.ErrInputTooLarge):
		return ExitUsage
	case errors.Is(err, certflowclient.ErrAlreadyEnded):
		return ExitAlreadyEnded
	case errors.As(err, new(*serviceerror.NotFound)):
		return ExitNotFound
	case errors.As(err, &appErr) && appErr.Type() == contract.ErrTypeInvalidInput:
		return ExitInvalidInput
	case errors.As(err, new(unreachableError)), errors.As(err, new(*serviceerror.Unavailable)):
		return ExitUnreachable
	}
	return ExitFailed
}

// unreachableError is a failure to connect to Temporal.
type unreachableError struct{ err error }

func (e unreachableError) Error() string {
	return "Temporal is not reachable (check TEMPORAL_ADDRESS and that the server runs): " + e.err.Error()
}

func (e unreachableError) Unwrap() error { return e.err }

func (c *CLI) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usage("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "start":
		name := ""
		if len(rest) > 0 {
			name, rest = rest[0], rest[1:]
		}
		if isHelp(name) {
			fmt.Fprint(c.Out, usageText)
			return nil
		}
		k, ok := kindOf(name)
		if !ok || k.provider != name {
			return usage("start needs a workflow kind: %s", providerNames())
		}
		return k.start(c, ctx, rest)
	case "status":
		return c.status(ctx, rest)
	case "list":
		return c.list(ctx, rest)
	case "cancel":
		return c.cancel(ctx, rest)
	case "webhook":
		return c.webhook(ctx, rest)
	case "history":
		return c.history(ctx, rest)
	default:
		if isHelp(cmd) {
			fmt.Fprint(c.Out, usageText)
			return nil
		}
		return usage("unknown command %q", cmd)
	}
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}

// namespace is the namespace Dial connects to.
func (c *CLI) namespace() string {
	if c.Namespace == "" {
		return client.DefaultNamespace
	}
	return c.Namespace
}

// uiLink is the Web UI page of a workflow.
func (c *CLI) uiLink(id string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", strings.TrimSuffix(c.Config.WebUIURL, "/"), url.PathEscape(c.namespace()), url.PathEscape(id))
}

// certflow is the typed client over tc, as this CLI is configured.
func (c *CLI) certflow(tc client.Client) *certflowclient.Client {
	return certflowclient.New(tc, certflowclient.Options{
		TaskQueue: c.Config.TaskQueue, Namespace: c.namespace(), Identity: identity(),
		PayloadStore: c.Config.PayloadStore.URL != "",
	})
}

// withClient dials Temporal, runs fn and closes the connection.
func (c *CLI) withClient(fn func(client.Client) error) error {
	tc, err := c.Dial()
	if err != nil {
		return unreachableError{err}
	}
	defer tc.Close()
	return fn(tc)
}

// describe reads a workflow's latest run.
func describe(ctx context.Context, tc client.Client, id string) (*workflowpb.WorkflowExecutionInfo, error) {
	desc, err := tc.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return nil, fmt.Errorf("reading workflow %s: %w", id, err)
	}
	return desc.GetWorkflowExecutionInfo(), nil
}

// execution is what every command prints of a workflow run, with the
// same JSON names in `status` and `list --json`.
type execution struct {
	WorkflowID      string     `json:"workflow_id"`
	RunID           string     `json:"run_id"`
	Type            string     `json:"type"`
	ExecutionStatus string     `json:"execution_status"`
	StartTime       time.Time  `json:"start_time"`
	CloseTime       *time.Time `json:"close_time,omitempty"`
}

func executionOf(info *workflowpb.WorkflowExecutionInfo) execution {
	e := execution{
		WorkflowID: info.GetExecution().GetWorkflowId(), RunID: info.GetExecution().GetRunId(),
		Type: info.GetType().GetName(), ExecutionStatus: info.GetStatus().String(),
		StartTime: info.GetStartTime().AsTime(),
	}
	if info.GetCloseTime() != nil {
		t := info.GetCloseTime().AsTime()
		e.CloseTime = &t
	}
	return e
}

// keyword reads one of certflow's Keyword search attributes of a run; ""
// when the workflow has not recorded it (yet).
func keyword(info *workflowpb.WorkflowExecutionInfo, key temporal.SearchAttributeKeyKeyword) string {
	var v string
	if p := info.GetSearchAttributes().GetIndexedFields()[key.GetName()]; p != nil {
		if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
			return ""
		}
	}
	return v
}

const statusHelp = `
Print the workflow's state as JSON: Temporal's view of its latest run
(execution_status Running, Completed, Failed, Canceled, Terminated, TimedOut),
certflow's status query (stage, provider reference and status, the link to
send the person, deadline) and, once closed, its result or failure. A
failure gives its type and message; a workflow that refused its input
(InvalidInput) also lists every refused field (invalid_fields) and what to
do. The status query needs a worker on the task queue; without one,
query_error says so and the rest is still printed.`

// statusReport is what `certflow status` prints.
type statusReport struct {
	execution
	Status     *contract.Status `json:"status,omitempty"`
	QueryError string           `json:"query_error,omitempty"`
	Result     json.RawMessage  `json:"result,omitempty"`
	Failure    *failureReport   `json:"failure,omitempty"`
	WebUI      string           `json:"web_ui"`
}

// failureReport is how a closed run failed: its error type (the
// contract's ErrType*, "Canceled", or "" for a failure certflow did not
// make) and message; for refused input, every field refused and why.
type failureReport struct {
	Type          string                  `json:"type,omitempty"`
	Message       string                  `json:"message"`
	InvalidFields []contract.InputProblem `json:"invalid_fields,omitempty"`
	Hint          string                  `json:"hint,omitempty"`
}

// invalidInputHint says what to do about a run that refused its input.
const invalidInputHint = "the workflow refused its input before calling any provider: fix the fields listed and start it again (its ID may be reused)"

func failureOf(err error) *failureReport {
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr):
		f := &failureReport{Type: appErr.Type(), Message: appErr.Message()}
		var problems contract.InputProblems
		if f.Type == contract.ErrTypeInvalidInput && appErr.Details(&problems) == nil {
			f.InvalidFields, f.Hint = problems.Problems, invalidInputHint
		}
		return f
	case temporal.IsCanceledError(err):
		return &failureReport{Type: "Canceled", Message: "the workflow was cancelled; the request was cancelled at the provider"}
	}
	return &failureReport{Message: err.Error()}
}

func (c *CLI) status(ctx context.Context, args []string) error {
	id, err := c.newCommand("status", "<workflow-id>", statusHelp).parseID(args)
	if err != nil {
		return err
	}
	return c.withClient(func(tc client.Client) error {
		info, err := describe(ctx, tc, id)
		if err != nil {
			return err
		}
		rep := statusReport{execution: executionOf(info), WebUI: c.uiLink(id)}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if st, err := certflowclient.Status(qctx, tc, id); err != nil {
			rep.QueryError = fmt.Sprintf("status query not answered (is a worker running on task queue %s?): %v", c.Config.TaskQueue, c.explainNoKey(err))
		} else {
			rep.Status = &st
		}
		if info.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			var res json.RawMessage
			if err := tc.GetWorkflow(ctx, id, rep.RunID).Get(ctx, &res); err != nil {
				rep.Failure = failureOf(c.explainNoKey(err))
			} else {
				rep.Result = res
			}
		}
		return printJSON(c.Out, rep)
	})
}

// newWorkflowID makes a workflow ID that carries no personal data.

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
