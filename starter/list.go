package starter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
)

// stages are the lifecycle stages `list --stage` accepts, so a typo is an
// error rather than an empty list. They mirror workflows' Stage constants.
var stages = []string{
	contract.StageValidating, contract.StageReservingScratchcard, contract.StageCreating,
	contract.StageSubmittingDocuments, contract.StageAwaiting, contract.StageCancellingAtProvider,
	contract.StageCompleted, contract.StageFailed, contract.StageCancelled, contract.StageExpired,
}

var listHelp = `
List certflow's workflows, most recent first, from Temporal's visibility
store, which may lag a workflow by a second or so. Only certflow's workflow
types are listed:
  ` + workflowTypeNames() + `

The filters combine:
  --provider  the provider, one of ` + providerNames() + `
  --stage     the lifecycle stage (CertflowStage), one of
              ` + strings.Join(stages, ", ") + `
  --running   only running workflows; --closed only closed ones (any outcome)
  --ref       the provider's reference (CertflowProviderRef): Uanataca request
              pk, Universign registration id, MasStack identification id,
              Humanos request id

The table shows workflow ID, type, execution status, stage, provider
reference and start time (UTC), "-" for what a workflow has not recorded
yet. --json prints one JSON object per line with the fields of 'certflow
status' (workflow_id, run_id, type, execution_status, start_time,
close_time) plus provider, stage and provider_ref. Nothing else of a
workflow is printed: these search attributes hold no personal data by
design.`

// listEntry is one workflow as `certflow list` prints it. It carries only
// certflow's own search attributes, never the namespace's others, which
// may hold personal data.
type listEntry struct {
	execution
	Provider    string `json:"provider"`
	Stage       string `json:"stage,omitempty"`
	ProviderRef string `json:"provider_ref,omitempty"`
}

func (c *CLI) list(ctx context.Context, args []string) error {
	cmd := c.newCommand("list", "[--provider P] [--stage S] [--running|--closed] [--ref REF] [--limit N] [--json]", listHelp)
	fs := cmd.fs
	provider := fs.String("provider", "", "only this provider's workflows: "+providerNames())
	stage := fs.String("stage", "", "only workflows at this stage")
	running := fs.Bool("running", false, "only running workflows")
	closed := fs.Bool("closed", false, "only closed workflows")
	ref := fs.String("ref", "", "only the workflow of this provider reference")
	limit := fs.Int("limit", 50, "print at most this many workflows")
	asJSON := fs.Bool("json", false, "one JSON object per line instead of a table")
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	k, ok := kindOf(*provider)
	switch {
	case *provider != "" && (!ok || k.provider != *provider):
		return cmd.usagef("--provider %q: want one of %s", *provider, providerNames())
	case *stage != "" && !slices.Contains(stages, *stage):
		return cmd.usagef("--stage %q: want one of %s", *stage, strings.Join(stages, ", "))
	case *running && *closed:
		return cmd.usagef("--running and --closed exclude each other")
	case strings.ContainsAny(*ref, `"'\`):
		return cmd.usagef("--ref %q: a provider reference holds no quote or backslash", *ref)
	case *limit < 1:
		return cmd.usagef("--limit %d: want at least 1", *limit)
	}

	// Workflows are chosen by type, not by the CertflowProvider attribute:
	// a workflow records its attributes in its first workflow task, so one
	// that no worker has picked up (its type unregistered, its queue
	// unpolled) would be missing — the very one an operator looks for.
	_, types := kindNames()
	if *provider != "" {
		types = []string{k.workflowType}
	}
	where := []string{"WorkflowType IN (" + quoted(types...) + ")"}
	if *stage != "" {
		where = append(where, contract.SearchStage.GetName()+" = "+quoted(*stage))
	}
	if *ref != "" {
		where = append(where, contract.SearchProviderRef.GetName()+" = "+quoted(*ref))
	}
	switch {
	case *running:
		where = append(where, "ExecutionStatus = 'Running'")
	case *closed:
		where = append(where, "ExecutionStatus != 'Running'")
	}

	return c.withClient(func(tc client.Client) error {
		var entries []listEntry
		req := &workflowservice.ListWorkflowExecutionsRequest{Query: strings.Join(where, " AND "), PageSize: int32(min(*limit, 1000))}
		for len(entries) < *limit {
			resp, err := tc.ListWorkflow(ctx, req)
			if err != nil {
				return fmt.Errorf("listing workflows (%s): %w", req.Query, err)
			}
			for _, info := range resp.GetExecutions()[:min(len(resp.GetExecutions()), *limit-len(entries))] {
				wk, _ := kindOf(info.GetType().GetName())
				entries = append(entries, listEntry{
					execution: executionOf(info), Provider: wk.provider,
					Stage: keyword(info, contract.SearchStage), ProviderRef: keyword(info, contract.SearchProviderRef),
				})
			}
			if len(resp.GetNextPageToken()) == 0 {
				break
			}
			req.NextPageToken = resp.GetNextPageToken()
		}
		if *asJSON {
			enc := json.NewEncoder(c.Out)
			for _, e := range entries {
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
			return nil
		}
		return printTable(c.Out, entries)
	})
}

// printTable prints entries as aligned columns; "-" marks what a workflow
// has not recorded yet.
func printTable(w io.Writer, entries []listEntry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKFLOW ID\tTYPE\tSTATUS\tSTAGE\tPROVIDER REF\tSTART TIME")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.WorkflowID, e.Type, e.ExecutionStatus,
			orDash(e.Stage), orDash(e.ProviderRef), e.StartTime.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func workflowTypeNames() string {
	_, types := kindNames()
	return strings.Join(types, ", ")
}

// quoted writes values as the visibility query's string literals. Callers
// make sure no value holds a quote or a backslash, so none needs escaping.
func quoted(values ...string) string {
	return "'" + strings.Join(values, "', '") + "'"
}
