package starter

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// usageError is a wrong command line; it exits 2. help names the command
// that explains the right one, so the one-line error says where to look.
type usageError struct{ msg, help string }

func (e usageError) Error() string { return fmt.Sprintf("%s; see '%s'", e.msg, e.help) }

// usage is a wrong command line before any command was chosen.
func usage(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...), help: "certflow help"}
}

// command is one subcommand: its flags, its help and how its command line
// is read. Every command shares it so that all of them behave alike: -h
// prints the help on stdout and exits 0, a wrong flag or argument is one
// line on stderr and exits 2, and flags may follow the workflow ID
// (`certflow cancel <id> --reason "..."`), as operators type them.
type command struct {
	name     string // as typed after certflow: "cancel", "start uanataca"
	synopsis string // what follows the name in the help's usage line
	help     string // what the command does, printed by -h above the flags
	fs       *flag.FlagSet
	out      io.Writer
}

func (c *CLI) newCommand(name, synopsis, help string) *command {
	fs := flag.NewFlagSet("certflow "+name, flag.ContinueOnError)
	// The flag package would print its error and the whole flag list to
	// stderr; Run prints the error once, as the one line scripts read.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &command{name: name, synopsis: synopsis, help: help, fs: fs, out: c.Out}
}

// usagef is a usage error of this command.
func (cmd *command) usagef(format string, args ...any) error {
	return usageError{msg: cmd.name + ": " + fmt.Sprintf(format, args...), help: "certflow " + cmd.name + " -h"}
}

// parse reads args and returns the workflow IDs among them, of which the
// command takes exactly ids (0 or 1). After "--" everything is an argument,
// for IDs that begin with a dash.
func (cmd *command) parse(args []string, ids int) ([]string, error) {
	var pos []string
	for {
		err := cmd.fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			cmd.printHelp()
			return nil, err
		}
		if err != nil {
			return nil, cmd.usagef("%v", err)
		}
		rest := cmd.fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	switch {
	case ids == 0 && len(pos) > 0:
		return nil, cmd.usagef("unexpected argument %q", pos[0])
	case ids == 1 && (len(pos) != 1 || pos[0] == ""):
		return nil, cmd.usagef("takes exactly one workflow ID")
	}
	return pos, nil
}

// parseID reads the command line of a command about one workflow.
func (cmd *command) parseID(args []string) (string, error) {
	ids, err := cmd.parse(args, 1)
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// printHelp prints the usage line, the help and the flags.
func (cmd *command) printHelp() {
	fmt.Fprintf(cmd.out, "Usage: certflow %s %s\n\n%s\n", cmd.name, cmd.synopsis, strings.TrimSpace(cmd.help))
	var hasFlags bool
	cmd.fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if !hasFlags {
		return
	}
	fmt.Fprint(cmd.out, "\nFlags (-name or --name):\n")
	cmd.fs.SetOutput(cmd.out)
	cmd.fs.PrintDefaults()
	cmd.fs.SetOutput(io.Discard)
}
