// Package starter is certflow's command-line interface for people and
// scripts: start an issuance, read its status, cancel it. cmd/certflow runs
// it. Exit codes: 0 success, 1 the operation or the workflow failed, 2 the
// command line was wrong.
package starter

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/workflows"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

const usage = `certflow — start and follow certflow workflows.

Usage:
  certflow start uanataca [-f input.json] [flags]     start a Uanataca certificate issuance
  certflow start universign [-f input.json] [flags]   start a Universign standalone registration
  certflow start masstack [-f input.json] [flags]     start a MasStack identity-document identification
  certflow start humanos [-f input.json] [flags]      start a Humanos request (OTP, KYC, consent)
  certflow status <workflow-id>                       print the workflow's state as JSON
  certflow cancel <workflow-id>                       cancel it (certflow cancels at the provider)

Run 'certflow start <kind> -h' for a kind's flags.
Temporal is reached with the TEMPORAL_* settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ...);
CERTFLOW_TASK_QUEUE and CERTFLOW_WEB_UI_URL must match the worker's.
`

// CLI runs one command. Dial connects to Temporal; it is called only by
// commands that need it, so usage errors never wait on a connection.
type CLI struct {
	Out, Err io.Writer
	Config   config.Common
	Dial     func() (client.Client, error)
	// Namespace names the namespace in Web UI links.
	Namespace string
}

// usageError is a wrong command line; it exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Run executes args (without the program name) and returns the exit code.
func (c *CLI) Run(ctx context.Context, args []string) int {
	err := c.run(ctx, args)
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(c.Err, "certflow: %v\n\n%s", err, usage)
		return ExitUsage
	default:
		fmt.Fprintf(c.Err, "certflow: %v\n", err)
		return ExitFailed
	}
}

func (c *CLI) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{"no command given"}
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "start":
		kinds := map[string]func(context.Context, []string) error{
			workflows.ProviderUanataca:   c.startUanataca,
			workflows.ProviderUniversign: c.startUniversign,
			workflows.ProviderMasStack:   c.startMasStack,
			workflows.ProviderHumanos:    c.startHumanos,
		}
		if len(rest) == 0 || kinds[rest[0]] == nil {
			return usageError{"start needs a workflow kind: uanataca, universign, masstack or humanos"}
		}
		return kinds[rest[0]](ctx, rest[1:])
	case "status":
		id, err := oneID(cmd, rest)
		if err != nil {
			return err
		}
		return c.status(ctx, id)
	case "cancel":
		id, err := oneID(cmd, rest)
		if err != nil {
			return err
		}
		return c.cancel(ctx, id)
	case "help", "-h", "--help":
		fmt.Fprint(c.Out, usage)
		return nil
	default:
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

func oneID(cmd string, args []string) (string, error) {
	if len(args) != 1 || args[0] == "" {
		return "", usageError{fmt.Sprintf("%s takes exactly one workflow ID", cmd)}
	}
	return args[0], nil
}

// uiLink is the Web UI page of a workflow.
func (c *CLI) uiLink(id string) string {
	ns := c.Namespace
	if ns == "" {
		ns = client.DefaultNamespace
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", strings.TrimSuffix(c.Config.WebUIURL, "/"), url.PathEscape(ns), url.PathEscape(id))
}

// start starts a workflow and prints where to follow it. With wait it
// blocks for the result and prints it as JSON.
func (c *CLI) start(ctx context.Context, id, workflowType, summary string, input any, wait bool, result any) error {
	tc, err := c.Dial()
	if err != nil {
		return err
	}
	defer tc.Close()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: c.Config.TaskQueue,
		// A failed issuance may be started again under its ID; a running
		// or successful one may not, so a retried start never duplicates.
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            summary,
	}, workflowType, input)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return fmt.Errorf("workflow %s already exists and is running or succeeded, so it was not started again; see `certflow status %s`", id, id)
	}
	if err != nil {
		return fmt.Errorf("starting %s %s: %w", workflowType, id, err)
	}
	fmt.Fprintf(c.Out, "workflow_id: %s\nrun_id: %s\nweb_ui: %s\n", run.GetID(), run.GetRunID(), c.uiLink(run.GetID()))
	if !wait {
		return nil
	}
	if err := run.Get(ctx, result); err != nil {
		return fmt.Errorf("workflow %s failed: %w", id, err)
	}
	return printJSON(c.Out, result)
}

// statusReport is what `certflow status` prints.
type statusReport struct {
	WorkflowID      string            `json:"workflow_id"`
	RunID           string            `json:"run_id"`
	Type            string            `json:"type"`
	ExecutionStatus string            `json:"execution_status"`
	StartTime       time.Time         `json:"start_time"`
	CloseTime       *time.Time        `json:"close_time,omitempty"`
	Status          *workflows.Status `json:"status,omitempty"`
	QueryError      string            `json:"query_error,omitempty"`
	Result          json.RawMessage   `json:"result,omitempty"`
	Failure         string            `json:"failure,omitempty"`
	WebUI           string            `json:"web_ui"`
}

func (c *CLI) status(ctx context.Context, id string) error {
	tc, err := c.Dial()
	if err != nil {
		return err
	}
	defer tc.Close()
	desc, err := tc.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return fmt.Errorf("reading workflow %s: %w", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	rep := statusReport{
		WorkflowID: id, RunID: info.GetExecution().GetRunId(), Type: info.GetType().GetName(),
		ExecutionStatus: info.GetStatus().String(),
		StartTime:       info.GetStartTime().AsTime(), WebUI: c.uiLink(id),
	}
	if info.GetCloseTime() != nil {
		t := info.GetCloseTime().AsTime()
		rep.CloseTime = &t
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if v, err := tc.QueryWorkflow(qctx, id, "", workflows.QueryStatus); err != nil {
		rep.QueryError = fmt.Sprintf("status query not answered (is a worker running on task queue %s?): %v", c.Config.TaskQueue, err)
	} else {
		var st workflows.Status
		if err := v.Get(&st); err == nil {
			rep.Status = &st
		}
	}
	if info.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		var res json.RawMessage
		if err := tc.GetWorkflow(ctx, id, rep.RunID).Get(ctx, &res); err != nil {
			rep.Failure = err.Error()
		} else {
			rep.Result = res
		}
	}
	return printJSON(c.Out, rep)
}

func (c *CLI) cancel(ctx context.Context, id string) error {
	tc, err := c.Dial()
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := tc.CancelWorkflow(ctx, id, ""); err != nil {
		return fmt.Errorf("cancelling workflow %s: %w", id, err)
	}
	fmt.Fprintf(c.Out, "cancellation requested for %s; the workflow cancels at the provider, then ends (see `certflow status %s`)\n", id, id)
	return nil
}

// newWorkflowID makes a workflow ID that carries no personal data.
func newWorkflowID(kind string) string { return kind + "-" + uuid.NewString() }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
