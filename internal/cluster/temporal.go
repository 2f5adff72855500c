package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/logging"
)

// Ports of the stack, from a base: PostgreSQL on the base, then the
// Temporal services, then the Web UI. The server stores its membership
// ports as PostgreSQL smallints, so they must stay below 32768.
type Ports struct{ Base int }

// maxPort is the highest port a Temporal service may listen on here.
const maxPort = 32767

func (p Ports) Postgres() int { return p.Base }
func (p Ports) Frontend() int { return p.Base + 1 }
func (p Ports) UI() int       { return p.Base + 48 }

// FrontendAddress is the Temporal frontend, for TEMPORAL_ADDRESS.
func (p Ports) FrontendAddress() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Frontend()))
}

// serverConfig is the Temporal server's configuration: the four services
// in one process, persistence and SQL visibility on PostgreSQL, four
// history shards (fixed once the database exists: enough for two cores).
var serverConfig = template.Must(template.New("cluster.yaml").Funcs(template.FuncMap{"add": func(a, b int) int { return a + b }}).Parse(`log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
    default:
      sql:
        pluginName: postgres12
        databaseName: temporal
        connectAddr: "127.0.0.1:{{.Postgres}}"
        connectProtocol: tcp
        user: postgres
        password: temporal
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    visibility:
      sql:
        pluginName: postgres12
        databaseName: temporal_visibility
        connectAddr: "127.0.0.1:{{.Postgres}}"
        connectProtocol: tcp
        user: postgres
        password: temporal
        maxConns: 10
        maxIdleConns: 10
        maxConnLifetime: 1h
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
  frontend:
    rpc: {grpcPort: {{.Frontend}}, membershipPort: {{add .Base 2}}, httpPort: {{add .Base 3}}, bindOnLocalHost: true}
  history:
    rpc: {grpcPort: {{add .Base 4}}, membershipPort: {{add .Base 5}}, bindOnLocalHost: true}
  matching:
    rpc: {grpcPort: {{add .Base 6}}, membershipPort: {{add .Base 7}}, bindOnLocalHost: true}
  worker:
    rpc: {grpcPort: {{add .Base 8}}, membershipPort: {{add .Base 9}}, bindOnLocalHost: true}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:{{.Frontend}}"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: "{{.DynamicConfig}}"
  pollInterval: 10s
`))

// dynamicConfig: search attributes are read fresh, so one registered a
// moment ago is usable at once; visibility queries may run at 100 per
// second, as on the dev server (the server's default, 10, throttles the
// ingress, which looks a Uanataca webhook's workflow up by query, into
// refusing webhooks under load; deploy/temporal's Helm values say the same).
const dynamicConfig = `system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
limit.maxIDLength:
  - value: 255
frontend.namespaceRPS.visibility:
  - value: 100
`

// uiConfig is the Web UI server's configuration.
var uiConfig = template.Must(template.New("ui.yaml").Parse(`temporalGrpcAddress: "127.0.0.1:{{.Frontend}}"
host: 127.0.0.1
port: {{.UI}}
enableUi: true
defaultNamespace: default
notifyOnNewVersion: false
codec:
  endpoint: "{{.CodecEndpoint}}"
cors:
  cookieInsecure: true
  allowOrigins: ["http://127.0.0.1:{{.UI}}", "http://localhost:{{.UI}}"]
`))

// writeConfig renders the server's and the UI's configuration under dir.
func writeConfig(dir string, ports Ports, codecEndpoint string) error {
	for _, sub := range []string{"config", "ui-config"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	dyn := filepath.Join(dir, "config", "dynamicconfig.yaml")
	if err := os.WriteFile(dyn, []byte(dynamicConfig), 0o644); err != nil {
		return err
	}
	data := map[string]any{
		"Base": ports.Base, "Postgres": ports.Postgres(), "Frontend": ports.Frontend(), "UI": ports.UI(),
		"DynamicConfig": dyn, "CodecEndpoint": codecEndpoint,
	}
	for path, t := range map[string]*template.Template{
		filepath.Join(dir, "config", "cluster.yaml"):    serverConfig,
		filepath.Join(dir, "ui-config", "cluster.yaml"): uiConfig,
	} {
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// setupSchema creates Temporal's two databases and brings their schemas to
// the server's version; every step may run again on an existing database.
func setupSchema(ctx context.Context, sqlTool string, ports Ports, output io.Writer) error {
	schemas, err := serverSchemas()
	if err != nil {
		return err
	}
	for db, versioned := range map[string]string{"temporal": "temporal", "temporal_visibility": "visibility"} {
		for _, args := range [][]string{
			{"create-database"},
			{"setup-schema", "-v", "0.0"},
			{"update-schema", "-d", filepath.Join(schemas, versioned, "versioned")},
		} {
			cmd := exec.CommandContext(ctx, sqlTool, append([]string{"--db", db}, args...)...)
			cmd.Env = append(os.Environ(), "SQL_PLUGIN=postgres12", "SQL_HOST=127.0.0.1", "SQL_PORT="+strconv.Itoa(ports.Postgres()),
				"SQL_USER=postgres", "SQL_PASSWORD=temporal")
			cmd.Stdout, cmd.Stderr = output, output
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("temporal-sql-tool --db %s %s: %w", db, strings.Join(args, " "), err)
			}
		}
	}
	return nil
}

// serverSchemas finds the PostgreSQL schemas of the server's module, which
// building the server downloaded into the module cache.
func serverSchemas() (string, error) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "go.temporal.io", "server@"+ServerVersion, "schema", "postgresql", "v12")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("the Temporal server's schemas are not in the module cache (%s): run `make cluster-tools`", dir)
	}
	return dir, nil
}

// ServerVersion is the Temporal server's module version, as the Makefile
// pins it.
const ServerVersion = "v1.29.1"

// bootstrap waits for the frontend, then makes the default namespace and
// certflow's search attributes exist. The namespace cache lags behind a new
// namespace, so registering the attributes is retried for a while.
func bootstrap(ctx context.Context, address string) error {
	c, err := dial(ctx, address)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	if _, missing := err.(*serviceerror.NamespaceNotFound); missing {
		_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: "default", WorkflowExecutionRetentionPeriod: durationpb.New(72 * time.Hour),
		})
	}
	if err != nil {
		return fmt.Errorf("the default namespace: %w", err)
	}
	attributes := map[string]enumspb.IndexedValueType{}
	for _, sa := range contract.SearchAttributes {
		name, _, _ := strings.Cut(sa, "=")
		attributes[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	for {
		_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: "default", SearchAttributes: attributes})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("registering certflow's search attributes: %w", err)
		case <-time.After(time.Second):
		}
	}
}

// dial connects to the frontend once it answers health checks.
func dial(ctx context.Context, address string) (client.Client, error) {
	for {
		c, err := client.Dial(client.Options{HostPort: address, Logger: logging.NewTemporal(zerolog.Nop())})
		if err == nil {
			if _, err = c.CheckHealth(ctx, &client.CheckHealthRequest{}); err == nil {
				return c, nil
			}
			c.Close()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the Temporal server at %s is not healthy: %w", address, err)
		case <-time.After(300 * time.Millisecond):
		}
	}
}
