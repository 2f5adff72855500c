package starter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/certflowclient"
	"github.com/certflow/certflow/contract"
)

// startCmd is one `certflow start <kind>` command. Its input is read from
// the -f file first and its flags are bound to the input's fields, so a
// flag overrides the file's field and an absent flag keeps it.
type startCmd struct {
	*command
	id   *string
	wait *bool
}

// newStart reads -f into input and declares the flags every start shares;
// help says what the kind starts, timeout and poll are the input's own
// fields.
func (c *CLI) newStart(kind, help string, args []string, input any, timeout, poll *contract.Duration, defaults string) (*startCmd, error) {
	if path := fileFlag(args); path != "" {
		if err := readJSON(path, input); err != nil {
			return nil, err
		}
	}
	cmd := c.newCommand("start "+kind, "[-f input.json] [flags]", help+`

The input is the workflow's JSON input (README, "Contract"): read from -f,
then each flag overrides its field. The command prints the workflow ID, run
ID and Web UI link; with --wait it waits for the outcome, prints the result
as JSON and exits 1 if the workflow failed.`)
	fs := cmd.fs
	fs.String("f", "", "JSON file with the workflow input (README, \"Contract\"); flags override its fields")
	s := &startCmd{
		command: cmd,
		id:      fs.String("id", "", "workflow ID (default "+kind+"-<uuid>); reuse your own business key to make starts idempotent — never put personal data in it"),
		wait:    fs.Bool("wait", false, "wait for the outcome and print the result as JSON"),
	}
	fs.Var(durationFlag{timeout}, "timeout", "how long before certflow cancels at the provider, e.g. 36h or 30d ("+defaults+")")
	fs.Var(durationFlag{poll}, "poll-interval", "longest time between two reads of the provider's state (default 1h)")
	return s, nil
}

// parse reads the command line; a start takes no argument.
func (s *startCmd) parse(args []string) error {
	_, err := s.command.parse(args, 0)
	return err
}

// launch starts the command's workflow through certflowclient — which
// holds the start options (a retried start never duplicates), the default
// ID and the summary — then prints where to follow it; with --wait it
// blocks for the result and prints it as JSON.
func launch[I, R any](ctx context.Context, c *CLI, s *startCmd, start func(*certflowclient.Client, context.Context, string, I) (certflowclient.Run[R], error), in I) error {
	if err := c.checkCanSend(); err != nil {
		return err
	}
	return c.withClient(func(tc client.Client) error {
		run, err := start(c.certflow(tc), ctx, *s.id, in)
		if errors.Is(err, certflowclient.ErrAlreadyStarted) {
			return fmt.Errorf("%w; see `certflow status %s`", err, *s.id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Out, "workflow_id: %s\nrun_id: %s\nweb_ui: %s\n", run.ID(), run.RunID(), c.uiLink(run.ID()))
		if !*s.wait {
			return nil
		}
		res, err := run.Result(ctx)
		if err != nil {
			return fmt.Errorf("workflow %s failed: %w", run.ID(), err)
		}
		return printJSON(c.Out, res)
	})
}

// durationFlag sets a workflow Duration from "36h" or "30d".
type durationFlag struct{ d *contract.Duration }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return ""
	}
	return fmt.Sprint(*f.d)
}

func (f durationFlag) Set(v string) error {
	d, err := contract.ParseDuration(v)
	if err != nil {
		return err
	}
	*f.d = contract.Duration(d)
	return nil
}

// multi is a repeatable flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// fileFlag finds the value of -f in args ("-f x", "-f=x", "--f x").
func fileFlag(args []string) string {
	for i, a := range args {
		switch {
		case a == "-f" || a == "--f":
			if i+1 < len(args) {
				return args[i+1]
			}
		case strings.HasPrefix(a, "-f="), strings.HasPrefix(a, "--f="):
			_, v, _ := strings.Cut(a, "=")
			return v
		case a == "--":
			return ""
		}
	}
	return ""
}

// readJSON decodes a JSON file strictly, naming the file in any error.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s is not a valid workflow input: %v", path, err)
	}
	return nil
}
