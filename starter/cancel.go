package starter

import (
	"context"
	"fmt"
	"os"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
)

const cancelHelp = `
Cancel the workflow's latest run. certflow then cancels the request at the
provider (Uanataca, Universign, MasStack, Humanos) and the workflow ends
Canceled; follow it with 'certflow status <workflow-id>'. The command
returns once Temporal accepted the request, before the provider answered.

--reason (at most 500 characters) reaches the workflow before the
cancellation: certflow records it at the provider where the API takes one
(MasStack's cancel) and in the workflow's status (cancel_reason), encrypted
like every payload.`

// rpcTimeout bounds a raw WorkflowService call, as the SDK's client
// methods bound theirs: without it an unresponsive frontend would hang the
// command.
const rpcTimeout = 10 * time.Second

func (c *CLI) cancel(ctx context.Context, args []string) error {
	cmd := c.newCommand("cancel", "<workflow-id> [--reason TEXT]", cancelHelp)
	reason := cmd.fs.String("reason", "", "why the workflow is cancelled, recorded in its history")
	id, err := cmd.parseID(args)
	if err != nil {
		return err
	}
	if n := utf8.RuneCountInString(*reason); n > contract.MaxCancelReason {
		return usage("--reason is %d characters, more than the %d allowed", n, contract.MaxCancelReason)
	}
	if *reason != "" {
		if err := c.checkCanSend(); err != nil {
			return err
		}
	}
	return c.withClient(func(tc client.Client) error {
		ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		defer cancel()
		if err := c.certflow(tc).Cancel(ctx, id, *reason); err != nil {
			return err
		}
		fmt.Fprintf(c.Out, "cancellation requested for %s", id)
		if *reason != "" {
			fmt.Fprintf(c.Out, " (reason: %q)", *reason)
		}
		fmt.Fprintf(c.Out, "; the workflow cancels at the provider, then ends (see `certflow status %s`)\n", id)
		return nil
	})
}

// identity names the requester in the history event, as the SDK's own
// requests name their client, so a cancellation is traced to the machine
// it came from.
func identity() string {
	host, _ := os.Hostname()
	return "certflow-cli@" + host
}
