package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Postgres is a PostgreSQL server of its own, on a loopback port, with its
// data in Dir. It runs as the postgres user when this process is root
// (PostgreSQL refuses to run as root), else as the current user.
type Postgres struct {
	// Dir holds the data (Dir/data), the socket and the log. The postgres
	// user must be able to reach it: not under /root.
	Dir  string
	Port int
	bin  string
}

// NewPostgres finds Debian's PostgreSQL server (the newest under
// /usr/lib/postgresql, as `apt-get install postgresql` puts it).
func NewPostgres(dir string, port int) (*Postgres, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		return nil, errors.New("PostgreSQL is not installed: run `make postgres` (apt-get install postgresql, as root)")
	}
	sort.Slice(bins, func(i, j int) bool { return version(bins[i]) < version(bins[j]) })
	return &Postgres{Dir: dir, Port: port, bin: filepath.Dir(bins[len(bins)-1])}, nil
}

// version is the major version in a /usr/lib/postgresql/<n>/bin path.
func version(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func (p *Postgres) data() string { return filepath.Join(p.Dir, "data") }

// Start creates the database cluster when it does not exist yet, then
// starts the server and waits until it accepts connections.
func (p *Postgres) Start(ctx context.Context) error {
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return err
	}
	if err := p.own(p.Dir); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(p.data(), "PG_VERSION")); err != nil {
		// Trust on loopback only: the server listens on 127.0.0.1 alone.
		if err := p.run(ctx, "initdb", "-D", p.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
			return err
		}
	}
	// Temporal's four services each open pools: above the default 100.
	return p.run(ctx, "pg_ctl", "-D", p.data(), "-l", filepath.Join(p.Dir, "postgres.log"), "-w", "start",
		"-o", fmt.Sprintf("-p %d -h 127.0.0.1 -k %s -c max_connections=300", p.Port, p.Dir))
}

// Stop stops the server at once, as a shutdown or a crash would, rolling
// back open transactions.
func (p *Postgres) Stop(ctx context.Context) error {
	return p.run(ctx, "pg_ctl", "-D", p.data(), "-m", "fast", "-w", "stop")
}

// Restart stops the server and starts it again.
func (p *Postgres) Restart(ctx context.Context) error {
	if err := p.Stop(ctx); err != nil {
		return err
	}
	return p.Start(ctx)
}

// run runs one of PostgreSQL's programs as the user that owns the data,
// from / (the postgres user cannot read root's working directory).
func (p *Postgres) run(ctx context.Context, program string, args ...string) error {
	path := filepath.Join(p.bin, program)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", program, strings.Join(args, " "), err, out)
	}
	return nil
}

// own gives dir to the postgres user when running as root.
func (p *Postgres) own(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("the postgres user (made by Debian's postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}
