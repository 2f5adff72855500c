// Package cluster runs certflow in its production shape on one machine:
// PostgreSQL, the Temporal server (its four services in one process) with
// persistence and SQL visibility on PostgreSQL, the Web UI, the provider
// emulators, and certflow's workers and webhook ingress as separate
// processes of the worker binary. `make cluster` runs it until Ctrl-C; the
// cluster end-to-end test restarts, kills and deploys its parts.
package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/logging"
	"github.com/certflow/certflow/internal/payloadstore"
)

// Options configure a Cluster.
type Options struct {
	// Dir holds the stack's state: configuration, logs, dev PKI.
	Dir string
	// PGDir holds PostgreSQL's data; empty means a folder under the system
	// temporary folder named for Dir (the postgres user must reach it,
	// and may not reach Dir).
	PGDir string
	// Bin holds temporal-server, temporal-sql-tool and, optionally,
	// temporal-ui (make cluster-tools); WorkerBin is certflow-worker.
	Bin, WorkerBin string
	Ports          Ports
	// Workers is how many worker processes poll (default 2).
	Workers int
	// CodecKeys encrypt every payload (CERTFLOW_CODEC_KEYS syntax).
	CodecKeys string
	// WorkerEnv is added to every worker process's environment (Worker
	// Versioning settings, for one).
	WorkerEnv []string
	// Emulators configure the provider emulators; their addresses and
	// the task queue are filled in.
	Emulators devstack.Options
}

// Cluster is a running stack.
type Cluster struct {
	opts     Options
	Postgres *Postgres
	Server   *Process
	// UI is nil when temporal-ui was not built.
	UI *Process
	// Emulators are the provider emulators, and Emulators.Config the
	// configuration the worker processes run with.
	Emulators *devstack.Stack
	Workers   []*Process
	Ingress   *Process
	// Client reaches the Temporal server, encrypting as the workers do.
	Client client.Client
	// Address is the Temporal frontend; UIURL the Web UI ("" without one).
	Address, UIURL string
}

// Start starts every part, each once the one it needs is up, and returns
// when the workers poll and the ingress answers.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	if opts.Ports.Base < 1024 || opts.Ports.Base+9 > maxPort {
		return nil, fmt.Errorf("base port %d: use 1024 to %d (the Temporal server keeps its ports in smallint columns)", opts.Ports.Base, maxPort-9)
	}
	if opts.PGDir == "" {
		abs, err := filepath.Abs(opts.Dir)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(abs))
		opts.PGDir = filepath.Join(os.TempDir(), "certflow-cluster-pg-"+hex.EncodeToString(sum[:4]))
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, Address: opts.Ports.FrontendAddress()}
	if err := c.startTemporal(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.startCertflow(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// startTemporal starts PostgreSQL, sets up the schemas, then starts the
// server, registers the namespace and search attributes, and starts the UI.
func (c *Cluster) startTemporal(ctx context.Context) error {
	pg, err := NewPostgres(c.opts.PGDir, c.opts.Ports.Postgres())
	if err != nil {
		return err
	}
	if err := pg.Start(ctx); err != nil {
		return err
	}
	c.Postgres = pg
	schemaLog, err := c.logFile("schema")
	if err != nil {
		return err
	}
	defer schemaLog.Close()
	if err := setupSchema(ctx, filepath.Join(c.opts.Bin, "temporal-sql-tool"), c.opts.Ports, schemaLog); err != nil {
		return err
	}
	codecEndpoint := "http://" + c.workerAddr(0) + "/codec"
	if err := writeConfig(c.opts.Dir, c.opts.Ports, codecEndpoint); err != nil {
		return err
	}
	if c.Server, err = c.process("temporal-server", filepath.Join(c.opts.Bin, "temporal-server"),
		[]string{"--root", c.opts.Dir, "--config", "config", "--env", "cluster", "--allow-no-auth", "start"}, nil); err != nil {
		return err
	}
	if err := c.Server.Start(); err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := bootstrap(bctx, c.Address); err != nil {
		return fmt.Errorf("%w; %s ends with:\n%s", err, c.LogPath("temporal-server"), c.logTail("temporal-server", 2000))
	}
	ui := filepath.Join(c.opts.Bin, "temporal-ui")
	if _, err := os.Stat(ui); err != nil {
		return nil
	}
	if c.UI, err = c.process("temporal-ui", ui, []string{"--root", c.opts.Dir, "--config", "ui-config", "--env", "cluster", "start"}, nil); err != nil {
		return err
	}
	c.UIURL = "http://localhost:" + strconv.Itoa(c.opts.Ports.UI())
	return c.UI.Start()
}

// startCertflow starts the emulators, then the ingress and the workers,
// each a process of the worker binary configured by environment.
func (c *Cluster) startCertflow(ctx context.Context) error {
	emu := c.opts.Emulators
	emu.TemporalAddress, emu.TaskQueue = c.Address, "certflow"
	emu.PKIDir = filepath.Join(c.opts.Dir, "pki")
	emu.UanatacaAddr, emu.UniversignAddr, emu.MasStackAddr, emu.HumanosAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	emu.CodecKeys, emu.WebUIURL = c.opts.CodecKeys, "http://localhost:"+strconv.Itoa(c.opts.Ports.UI())
	var err error
	if c.Emulators, err = devstack.StartEmulators(emu, c.ingressAddr()); err != nil {
		return err
	}
	cd, err := codec.FromKeys(c.opts.CodecKeys, "")
	if err != nil {
		return err
	}
	store, err := payloadstore.Open(c.Emulators.Config.PayloadStore)
	if err != nil {
		return err
	}
	opts := client.Options{HostPort: c.Address, Logger: logging.NewTemporal(zerolog.Nop())}
	if cd != nil {
		opts.DataConverter, opts.FailureConverter = cd.DataConverter(), cd.FailureConverter()
	}
	// The workers, started with the emulators' configuration, share this
	// store (a folder beside the PKI).
	store.Apply(&opts)
	if c.Client, err = client.Dial(opts); err != nil {
		return err
	}
	if c.Ingress, err = c.certflowProcess("ingress", c.opts.WorkerBin, config.ModeIngress, c.ingressAddr(), nil); err != nil {
		return err
	}
	for i := range c.opts.Workers {
		w, err := c.certflowProcess("worker-"+strconv.Itoa(i+1), c.opts.WorkerBin, config.ModeWorker, c.workerAddr(i), c.opts.WorkerEnv)
		if err != nil {
			return err
		}
		c.Workers = append(c.Workers, w)
	}
	for _, p := range append([]*Process{c.Ingress}, c.Workers...) {
		if err := p.Start(); err != nil {
			return err
		}
	}
	for i, w := range c.Workers {
		if err := WaitReady(ctx, w, c.workerAddr(i)); err != nil {
			return err
		}
	}
	return WaitReady(ctx, c.Ingress, c.ingressAddr())
}

// StartWorker starts one more worker process, of bin, with env added to
// the workers' (a later entry wins): a new build in a rolling deploy. It
// returns once the worker polls.
func (c *Cluster) StartWorker(ctx context.Context, name, bin string, env []string) (*Process, error) {
	addr := c.workerAddr(len(c.Workers))
	p, err := c.certflowProcess(name, bin, config.ModeWorker, addr, append(append([]string(nil), c.opts.WorkerEnv...), env...))
	if err != nil {
		return nil, err
	}
	c.Workers = append(c.Workers, p)
	if err := p.Start(); err != nil {
		return nil, err
	}
	return p, WaitReady(ctx, p, addr)
}

// certflowProcess is a process of the worker binary bin in mode, serving
// HTTP on addr, configured as the emulators require, with extra added.
func (c *Cluster) certflowProcess(name, bin, mode, addr string, extra []string) (*Process, error) {
	cfg := c.Emulators.Config
	cfg.Mode, cfg.HTTPAddr, cfg.ShutdownTimeout = mode, addr, 20*time.Second
	env := append(config.Environ(cfg), "TEMPORAL_ADDRESS="+c.Address)
	return c.process(name, bin, nil, append(env, extra...))
}

// process is a Process logging to its own file under Dir/logs.
func (c *Cluster) process(name, bin string, args, env []string) (*Process, error) {
	out, err := c.logFile(name)
	if err != nil {
		return nil, err
	}
	return &Process{Name: name, Bin: bin, Args: args, Env: env, Output: out}, nil
}

func (c *Cluster) logFile(name string) (*os.File, error) {
	return os.OpenFile(c.LogPath(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// logTail is the end of the named process's log.
func (c *Cluster) logTail(name string, n int) string {
	b, _ := os.ReadFile(c.LogPath(name))
	return string(b[max(0, len(b)-n):])
}

// LogPath is where the named process logs.
func (c *Cluster) LogPath(name string) string { return filepath.Join(c.opts.Dir, "logs", name+".log") }

// Ports of certflow's processes, after the Temporal ones.
func (c *Cluster) ingressAddr() string { return c.addr(20) }
func (c *Cluster) workerAddr(i int) string {
	return c.addr(21 + i)
}
func (c *Cluster) addr(offset int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.opts.Ports.Base+offset))
}

// IngressURL is the ingress's base URL; WorkerURL the i-th worker's.
func (c *Cluster) IngressURL() string     { return "http://" + c.ingressAddr() }
func (c *Cluster) WorkerURL(i int) string { return "http://" + c.workerAddr(i) }

// WaitReady waits until p answers /readyz on addr with 200, or exits.
func WaitReady(ctx context.Context, p *Process, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("%s exited at start: %v", p.Name, p.Err())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready on %s: %w", p.Name, addr, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop stops everything, in the reverse order of Start: the ingress and
// the workers drain first; PostgreSQL stops last.
func (c *Cluster) Stop() error {
	var errs []error
	for _, p := range append([]*Process{c.Ingress}, c.Workers...) {
		if p != nil {
			errs = append(errs, p.Stop(30*time.Second))
		}
	}
	if c.Client != nil {
		c.Client.Close()
	}
	if c.Emulators != nil {
		errs = append(errs, c.Emulators.Close())
	}
	for _, p := range []*Process{c.UI, c.Server} {
		if p != nil {
			errs = append(errs, p.Stop(15*time.Second))
		}
	}
	if c.Postgres != nil {
		errs = append(errs, c.Postgres.Stop(context.Background()))
	}
	return errors.Join(errs...)
}
