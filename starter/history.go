package starter

import (
	"context"
	"fmt"
	"os"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
)

const historyHelp = `
Export a workflow run's full event history as JSON, in the format
'temporal workflow show --output json' writes and the SDK's replayer reads
(worker.WorkflowReplayer.ReplayWorkflowHistoryFromJSONFile): replaying it
against changed workflow code shows whether the change would break runs
already in flight. A running workflow's history is exported up to now.

The history holds the workflow's input, which names a person: write it to
a file (-o, created readable by you only) rather than to a shared terminal
log, and keep it out of version control unless the input is test data.`

func (c *CLI) history(ctx context.Context, args []string) error {
	cmd := c.newCommand("history", "<workflow-id> [--run RUN] [-o file.json]", historyHelp)
	runID := cmd.fs.String("run", "", "the run to export (default: the latest run)")
	out := cmd.fs.String("o", "", "write the history to this file instead of stdout")
	id, err := cmd.parseID(args)
	if err != nil {
		return err
	}
	return c.withClient(func(tc client.Client) error {
		var h historypb.History
		it := tc.GetWorkflowHistory(ctx, id, *runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return fmt.Errorf("reading the history of workflow %s: %w", id, err)
			}
			h.Events = append(h.Events, e)
		}
		// Temporal's own JSON marshaller, as the temporal CLI uses: standard
		// protojson with payloads written in full.
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
		if err != nil {
			return fmt.Errorf("encoding the history of workflow %s: %w", id, err)
		}
		b = append(b, '\n')
		if *out == "" {
			_, err := c.Out.Write(b)
			return err
		}
		if err := os.WriteFile(*out, b, 0o600); err != nil {
			return fmt.Errorf("writing the history of workflow %s: %w", id, err)
		}
		fmt.Fprintf(c.Out, "wrote %d events of workflow %s to %s\n", len(h.Events), id, *out)
		return nil
	})
}
