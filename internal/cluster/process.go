package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is one program of the stack run as its own OS process — the
// Temporal server, the Web UI, a certflow worker or ingress — so it can be
// stopped, killed and started again as a deploy or a crash would.
type Process struct {
	Name string
	Bin  string
	Args []string
	// Env is added to this process's environment.
	Env []string
	// Output receives the process's stdout and stderr.
	Output io.Writer
	cmd    *exec.Cmd
	// exited is closed when the process has exited, with err its exit.
	exited chan struct{}
	err    error
}

// Start starts the process. It gets its own process group, so a Ctrl-C in
// the terminal reaches the stack first, which stops everything in order.
func (p *Process) Start() error {
	if p.Running() {
		return fmt.Errorf("%s is already running", p.Name)
	}
	p.cmd = exec.Command(p.Bin, p.Args...)
	p.cmd.Env = append(os.Environ(), p.Env...)
	p.cmd.Stdout, p.cmd.Stderr = p.Output, p.Output
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s (%s): %w", p.Name, p.Bin, err)
	}
	exited, cmd := make(chan struct{}), p.cmd
	p.exited = exited
	go func() {
		p.err = cmd.Wait()
		close(exited)
	}()
	return nil
}

// Running reports whether the process was started and has not exited.
func (p *Process) Running() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Pid is the running process's id; 0 before it starts.
func (p *Process) Pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited is closed when the process exits; Err then says how.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the process's exit: nil when it exited 0. Read it once Exited is
// closed.
func (p *Process) Err() error { return exitError(p.Name, p.err) }

// Stop sends SIGTERM and waits up to grace for the process to drain and
// exit, then kills it. The error is the exit's when it was not clean.
func (p *Process) Stop(grace time.Duration) error {
	if !p.Running() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		var exit *exec.ExitError
		if errors.As(p.err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM {
			return nil // a program without a handler ends by the signal itself
		}
		return p.Err()
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %s after SIGTERM: killed", p.Name, grace)
	}
}

// Kill ends the process with SIGKILL, as a crash or an evicted pod would:
// nothing is drained.
func (p *Process) Kill() {
	if !p.Running() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func exitError(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s exited: %w", name, err)
}
