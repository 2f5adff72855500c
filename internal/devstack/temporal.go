// Package devstack starts the parts of certflow's development stack that
// are not Go code in this module: the Temporal dev server, built from its Go
// module into .tools/bin by `make temporal`. `make dev`, `make demo` and the
// end-to-end tests all start it through here, so they run it the same way.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/logging"
)

// TemporalOptions configures a dev server.
type TemporalOptions struct {
	// Bin is the temporal CLI; empty means TemporalBinary().
	Bin string
	// Port is the gRPC port; 0 picks a free one.
	Port int
	// UIPort serves the Web UI; 0 runs headless.
	UIPort int
	// DBFile keeps state across restarts; empty keeps it in memory.
	DBFile string
	// Output receives the server's own logs; nil discards them.
	Output io.Writer
	// UICodecEndpoint points the Web UI at a codec server, so it shows
	// encrypted payloads in clear.
	UICodecEndpoint string
}

// Temporal is a running dev server.
type Temporal struct {
	// Address is host:port of the frontend, for TEMPORAL_ADDRESS.
	Address string
	// UIURL is the Web UI's base URL, or empty when headless.
	UIURL string
	cmd   *exec.Cmd
	done  chan error
}

// TemporalBinary returns the temporal CLI to run: $CERTFLOW_TEMPORAL_BIN,
// or .tools/bin/temporal at the root of this module.
func TemporalBinary() (string, error) {
	if bin := os.Getenv("CERTFLOW_TEMPORAL_BIN"); bin != "" {
		return bin, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			bin := filepath.Join(dir, ".tools", "bin", "temporal")
			if _, err := os.Stat(bin); err != nil {
				return "", fmt.Errorf("the Temporal dev server is not built at %s: run `make temporal` (or set CERTFLOW_TEMPORAL_BIN)", bin)
			}
			return bin, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the certflow module root to locate .tools/bin/temporal; set CERTFLOW_TEMPORAL_BIN")
		}
		dir = parent
	}
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartTemporal starts a dev server with certflow's search attributes
// registered, and returns once it answers health checks.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	bin := opts.Bin
	if bin == "" {
		var err error
		if bin, err = TemporalBinary(); err != nil {
			return nil, err
		}
	}
	port := opts.Port
	if port == 0 {
		var err error
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port),
		"--log-level", "warn", "--namespace", "default"}
	// Register certflow's search attributes on a new database only: on a
	// restart they exist already, and registering them again may map them
	// to other columns, hiding the values already stored.
	if _, err := os.Stat(opts.DBFile); opts.DBFile == "" || err != nil {
		for _, sa := range contract.SearchAttributes {
			args = append(args, "--search-attribute", sa)
		}
	}
	t := &Temporal{Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan error, 1)}
	if opts.UIPort == 0 {
		args = append(args, "--headless")
	} else {
		args = append(args, "--ui-ip", "127.0.0.1", "--ui-port", strconv.Itoa(opts.UIPort))
		t.UIURL = fmt.Sprintf("http://localhost:%d", opts.UIPort)
	}
	if opts.UICodecEndpoint != "" {
		args = append(args, "--ui-codec-endpoint", opts.UICodecEndpoint)
	}
	if opts.DBFile != "" {
		args = append(args, "--db-filename", opts.DBFile)
	}
	t.cmd = exec.Command(bin, args...)
	t.cmd.Stdout, t.cmd.Stderr = opts.Output, opts.Output
	// Its own process group, so Ctrl-C in a terminal reaches certflow-dev
	// first and the server is stopped in order rather than killed.
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the Temporal dev server (%s): %w", bin, err)
	}
	go func() { t.done <- t.cmd.Wait() }()
	if err := t.waitHealthy(ctx, time.Minute); err != nil {
		_ = t.Stop()
		return nil, err
	}
	return t, nil
}

func (t *Temporal) waitHealthy(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		c, err := client.Dial(client.Options{HostPort: t.Address, Logger: logging.NewTemporal(zerolog.Nop())})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case exitErr := <-t.done:
			return fmt.Errorf("the Temporal dev server exited at start (%v); is port %s free?", exitErr, t.Address)
		case <-ctx.Done():
			return fmt.Errorf("the Temporal dev server did not become healthy at %s within %s: %w", t.Address, limit, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop asks the server to stop and waits for it, killing it after 15s.
func (t *Temporal) Stop() error {
	if t.cmd.Process == nil {
		return nil
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.done:
	case <-time.After(15 * time.Second):
		_ = t.cmd.Process.Kill()
		<-t.done
	}
	return nil
}
