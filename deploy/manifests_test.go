package deploy

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	tenv "go.temporal.io/sdk/contrib/envconfig"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/internal/metrics"
	"github.com/certflow/certflow/worker"
)

// TestManifests decodes kubernetes/certflow.yaml into the Kubernetes API
// types and checks it against the worker, so that a manifest no cluster
// in CI ever applies still cannot drift from the code it deploys.
func TestManifests(t *testing.T) {
	c := newChecker(t)
	for _, p := range c.problems(read(t, "kubernetes/certflow.yaml")) {
		t.Error(p)
	}
}

// TestChecksCatch breaks the manifests one way at a time and expects a
// problem naming the break: a check that cannot fail checks nothing.
func TestChecksCatch(t *testing.T) {
	c := newChecker(t)
	text := read(t, "kubernetes/certflow.yaml")
	tests := []struct{ name, old, new, want string }{
		{"misspelt field", "containerPort: 8080", "containerPrt: 8080", `unknown field "containerPrt"`},
		{"unknown kind", "kind: Service", "kind: Servic", `unknown kind "v1" "Servic"`},
		{"misspelt ConfigMap variable", "CERTFLOW_TASK_QUEUE:", "CERTFLOW_TASKQUEUE:", "sets CERTFLOW_TASKQUEUE,"},
		{"misspelt env variable", "{name: UANATACA_KEY_FILE,", "{name: UANATACA_KEYFILE,", "sets UANATACA_KEYFILE,"},
		{"misspelt Secret variable", "--from-literal=HUMANOS_WEBHOOK_SECRET=", "--from-literal=HUMANOS_WEBHOOK_SECRT=", "sets HUMANOS_WEBHOOK_SECRT,"},
		{"missing ConfigMap", "configMapRef: {name: certflow}", "configMapRef: {name: certflow-settings}", "ConfigMap certflow-settings"},
		{"undocumented Secret", "secretName: certflow-uanataca", "secretName: certflow-ua", "Secret certflow-ua"},
		{"file outside the mounts", "mountPath: /secrets/uanataca", "mountPath: /secrets/ua", "UANATACA_CERT_FILE"},
		{"probe not on HTTP", "httpGet: {path: /healthz, port: http}", "tcpSocket: {port: http}", "not an httpGet probe"},
		{"probe on a path not served", "path: /readyz", "path: /ready", "GET /ready is not served"},
		{"probe on an undeclared port", "path: /healthz, port: http", "path: /healthz, port: health", "port health is not declared"},
		{"metrics on a path not served", "prometheus.io/path: /metrics", "prometheus.io/path: /metric", "GET /metric is not served"},
		{"port the worker does not listen on", "containerPort: 8080", "containerPort: 9090", "listens on 8080"},
		{"Service selecting no pods", "selector: {app: certflow, role: ingress}", "selector: {app: certflow, role: ingres}", "selects no Deployment"},
		{"Service to an undeclared port", "targetPort: http", "targetPort: https", "targetPort https"},
		{"invalid mode", "{name: CERTFLOW_MODE, value: ingress}", "{name: CERTFLOW_MODE, value: ingres}", `CERTFLOW_MODE "ingres"`},
		{"worker without versioning", "{name: CERTFLOW_DEPLOYMENT_NAME, value: certflow}", "{name: LOG_LEVEL, value: info}", "without CERTFLOW_DEPLOYMENT_NAME"},
		{"build ID not the tag", `{name: CERTFLOW_BUILD_ID, value: "1.0.0"}`, `{name: CERTFLOW_BUILD_ID, value: "1.0.1"}`, `CERTFLOW_BUILD_ID "1.0.1" is not the image tag "1.0.0"`},
		{"untagged image", "image: certflow:1.0.0", "image: certflow:latest", "no release tag"},
		{"build ID on the ingress", "LOG_FORMAT: json", "LOG_FORMAT: json\n  CERTFLOW_BUILD_ID: 1.0.0", "polls no task queue"},
		{"worker selector without the build ID", `{app: certflow, role: worker, build: "1.0.0"}`, "{app: certflow, role: worker}", "selector does not carry its build ID"},
		{"selector not matching the pods", `labels: {app: certflow, role: worker, build: "1.0.0"}`, `labels: {app: certflow, role: worker, build: "1.0.1"}`, "does not match its pod template"},
		{"two images", "image: certflow:1.0.0\n          env:\n            - {name: CERTFLOW_MODE, value: ingress}", "image: certflow:1.0.1\n          env:\n            - {name: CERTFLOW_MODE, value: ingress}", "different images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(text, tt.old) {
				t.Fatalf("the manifests no longer hold %q: update this case", tt.old)
			}
			found := c.problems(strings.ReplaceAll(text, tt.old, tt.new))
			for _, p := range found {
				if strings.Contains(p, tt.want) {
					return
				}
			}
			t.Errorf("no problem says %q; found %q", tt.want, found)
		})
	}
}

// TestTemporalHelmValues checks the values for the Temporal Helm chart.
// The chart publishes no schema for its values, so this checks only that
// the keys certflow relies on are there, with the values it needs, and
// agree with the manifests; only helm can render the rest.
func TestTemporalHelmValues(t *testing.T) {
	var v struct {
		Server struct {
			Config struct {
				Persistence struct {
					DefaultStore, VisibilityStore string
					NumHistoryShards              int
					Datastores                    map[string]struct {
						SQL *struct{ PluginName, DatabaseName, ConnectAddr string }
					}
				}
				Namespaces struct {
					Create    bool
					Namespace []struct{ Name string }
				}
			}
			DynamicConfig map[string][]struct{ Value any }
		}
	}
	if err := yaml.Unmarshal([]byte(read(t, "temporal/values.postgresql.yaml")), &v); err != nil {
		t.Fatal(err)
	}
	p := v.Server.Config.Persistence
	if p.NumHistoryShards <= 0 {
		t.Error("numHistoryShards is not set")
	}
	// The chart's schema job picks each schema by the store's name.
	if p.DefaultStore != "default" || p.VisibilityStore != "visibility" {
		t.Errorf("stores %q and %q: the chart's schema job knows only default and visibility", p.DefaultStore, p.VisibilityStore)
	}
	databases := map[string]bool{}
	for _, store := range []string{p.DefaultStore, p.VisibilityStore} {
		sql := p.Datastores[store].SQL
		if sql == nil || sql.PluginName != "postgres12" {
			t.Fatalf("store %q is not a PostgreSQL (postgres12) datastore", store)
		}
		if _, _, err := net.SplitHostPort(sql.ConnectAddr); err != nil {
			t.Errorf("store %q: connectAddr %q is not host:port (the schema job needs the port): %v", store, sql.ConnectAddr, err)
		}
		databases[sql.DatabaseName] = true
	}
	if len(databases) != 2 {
		t.Errorf("the default and visibility stores share a database: %v", databases)
	}

	// The namespace certflow's workers use is the one the chart creates.
	m, problems := decode(read(t, "kubernetes/certflow.yaml"))
	if len(problems) > 0 || len(m.configMaps) != 1 {
		t.Fatalf("want the manifests' one ConfigMap: %v", problems)
	}
	ns := m.configMaps[0].Data["TEMPORAL_NAMESPACE"]
	created := false
	for _, n := range v.Server.Config.Namespaces.Namespace {
		created = created || n.Name == ns
	}
	if !v.Server.Config.Namespaces.Create || !created {
		t.Errorf("the chart does not create namespace %q, the manifests' TEMPORAL_NAMESPACE", ns)
	}

	// Dynamic config certflow needs: the visibility rate the dev server
	// allows (the ingress's lookups), and the features it uses.
	value := func(key string) any {
		if entries := v.Server.DynamicConfig[key]; len(entries) == 1 {
			return entries[0].Value
		}
		return nil
	}
	if rps, _ := value("frontend.namespaceRPS.visibility").(float64); rps < 100 {
		t.Errorf("frontend.namespaceRPS.visibility = %v, want at least 100", rps)
	}
	for _, key := range []string{"system.enableDeploymentVersions", "frontend.workerVersioningWorkflowAPIs",
		"frontend.enableUpdateWorkflowExecution", "frontend.enableExecuteMultiOperation"} {
		if value(key) != true {
			t.Errorf("dynamic config %s = %v, want true", key, value(key))
		}
	}
}

// manifests are the objects of the file, by kind.
type manifests struct {
	configMaps  []*corev1.ConfigMap
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	// secrets are the Secrets the file's comments tell how to create
	// (the file holds none, so no secret value is in it), with the names
	// of their --from-literal keys.
	secrets map[string][]string
}

// decode decodes every document of text into the Kubernetes type of its
// apiVersion and kind, refusing unknown fields (a misspelt field would
// otherwise be dropped without a word) and unknown kinds (which no check
// below would look at).
func decode(text string) (manifests, []string) {
	m := manifests{secrets: documentedSecrets(text)}
	kinds := map[string]func([]byte) error{
		"v1 ConfigMap":       strictly(&m.configMaps),
		"v1 Service":         strictly(&m.services),
		"apps/v1 Deployment": strictly(&m.deployments),
	}
	var problems []string
	for i, doc := range regexp.MustCompile(`(?m)^---$`).Split(text, -1) {
		var meta metav1.TypeMeta
		err := yaml.Unmarshal([]byte(doc), &meta)
		if err == nil {
			into, known := kinds[meta.APIVersion+" "+meta.Kind]
			if !known {
				into = func([]byte) error { return fmt.Errorf("unknown kind %q %q", meta.APIVersion, meta.Kind) }
			}
			err = into([]byte(doc))
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("document %d: %v", i+1, err))
		}
	}
	return m, problems
}

// strictly decodes a document into a new T, refusing unknown fields, and
// appends it to list.
func strictly[T any](list *[]*T) func([]byte) error {
	return func(doc []byte) error {
		obj := new(T)
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return err
		}
		*list = append(*list, obj)
		return nil
	}
}

var (
	createSecret = regexp.MustCompile(`kubectl create secret generic ([a-z0-9.-]+)`)
	fromLiteral  = regexp.MustCompile(`--from-literal=([^=\s]+)=`)
)

// documentedSecrets reads the kubectl create secret commands in text's
// comments, continued lines included.
func documentedSecrets(text string) map[string][]string {
	secrets := map[string][]string{}
	current := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "#") {
			current = ""
			continue
		}
		if m := createSecret.FindStringSubmatch(line); m != nil {
			current = m[1]
			secrets[current] = nil
		}
		if current == "" {
			continue
		}
		for _, m := range fromLiteral.FindAllStringSubmatch(line, -1) {
			secrets[current] = append(secrets[current], m[1])
		}
		if !strings.HasSuffix(line, `\`) {
			current = ""
		}
	}
	return secrets
}

// checker checks manifests against what the worker reads and serves.
type checker struct {
	// defaults holds every variable the binaries read, with its default.
	defaults map[string]string
	// image is the environment the Dockerfile's final stage sets.
	image map[string]string
	// served records, by mode and path, whether the worker answers GET.
	served map[string]bool
	// handlers are the worker's real HTTP handlers, by mode.
	handlers map[string]http.Handler
}

func newChecker(t *testing.T) *checker {
	c := &checker{defaults: variables(t), image: map[string]string{}, served: map[string]bool{}, handlers: map[string]http.Handler{}}
	dockerfile := read(t, "Dockerfile")
	for _, line := range strings.Split(dockerfile[strings.LastIndex(dockerfile, "\nFROM "):], "\n") {
		if rest, ok := strings.CutPrefix(line, "ENV "); ok {
			for _, pair := range strings.Fields(rest) {
				name, value, _ := strings.Cut(pair, "=")
				c.image[name] = value
			}
		}
	}

	// The handlers are built as the worker builds them, with a client
	// that never connects (/readyz then answers 503, which is served).
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	m, err := metrics.New(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cd, err := codec.FromKeys("k1:"+base64.StdEncoding.EncodeToString(make([]byte, 32)), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{config.ModeAll, config.ModeWorker, config.ModeIngress} {
		cfg, err := config.LoadWorker()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Mode = mode
		w, err := worker.New(cfg, tc, zerolog.Nop(), m, cd, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.handlers[mode] = w.Handler()
	}
	return c
}

// variables returns every environment variable certflow-worker reads,
// with its default: the envconfig tags of config.Worker (nested structs
// walked) and the names the Temporal SDK's envconfig looks up, recorded
// as it loads with an empty environment.
func variables(t *testing.T) map[string]string {
	vars := map[string]string{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if name, ok := f.Tag.Lookup("envconfig"); ok {
				vars[name] = f.Tag.Get("default")
			} else if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[config.Worker]())

	// No config file of the developer's may answer instead.
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	if _, err := tenv.LoadClientConfigProfile(tenv.LoadClientConfigProfileOptions{EnvLookup: recorder(vars)}); err != nil {
		t.Fatal(err)
	}
	return vars
}

// recorder is an empty environment that records the names looked up.
type recorder map[string]string

func (r recorder) Environ() []string { return nil }

func (r recorder) LookupEnv(name string) (string, bool) {
	r[name] = ""
	return "", false
}

// reads reports whether certflow-worker reads name.
func (c *checker) reads(name string) bool {
	_, ok := c.defaults[name]
	// The SDK reads gRPC headers by prefix, from the whole environment.
	return ok || strings.HasPrefix(name, "TEMPORAL_GRPC_META_")
}

// serves reports whether the worker in mode answers GET path: with
// anything but 404 or 405.
func (c *checker) serves(mode, path string) bool {
	key := mode + " " + path
	if served, ok := c.served[key]; ok {
		return served
	}
	rec := httptest.NewRecorder()
	c.handlers[mode].ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	c.served[key] = rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed
	return c.served[key]
}

// problems decodes text and returns what every check finds wrong.
func (c *checker) problems(text string) []string {
	m, problems := decode(text)
	if len(problems) > 0 {
		return problems
	}
	for _, check := range []func(manifests) []string{c.environment, c.ports, c.versioning} {
		problems = append(problems, check(m)...)
	}
	return problems
}

// container is one container of a Deployment with the environment it
// gets, as far as the file tells: the image's, overridden by envFrom's
// ConfigMaps, overridden by env (a Secret's values are unknown).
type container struct {
	corev1.Container
	deployment *appsv1.Deployment
	env        map[string]string
}

func (c container) String() string {
	return fmt.Sprintf("Deployment %s, container %s", c.deployment.Name, c.Name)
}

// value is the variable's value in the container, or else its default.
func (c *checker) value(ctr container, name string) string {
	if v, ok := ctr.env[name]; ok {
		return v
	}
	return c.defaults[name]
}

func (c *checker) containers(m manifests) []container {
	var all []container
	for _, d := range m.deployments {
		for _, ctr := range d.Spec.Template.Spec.Containers {
			env := maps.Clone(c.image)
			for _, from := range ctr.EnvFrom {
				if cm := m.configMap(from.ConfigMapRef); cm != nil {
					maps.Copy(env, cm.Data)
				}
			}
			for _, e := range ctr.Env {
				env[e.Name] = e.Value
			}
			all = append(all, container{ctr, d, env})
		}
	}
	return all
}

// environment checks that every variable the manifests, the Secrets they
// document and the image set is one certflow-worker reads (a misspelt
// name would be ignored, its default used), that each ConfigMap and
// Secret they refer to is in the file or documented, and that every file
// a variable names is inside one of the container's mounts.
func (c *checker) environment(m manifests) []string {
	var problems []string
	unread := func(where, name string) {
		if !c.reads(name) {
			problems = append(problems, fmt.Sprintf("%s sets %s, which certflow-worker does not read", where, name))
		}
	}
	for name := range c.image {
		unread("the Dockerfile", name)
	}
	for _, cm := range m.configMaps {
		for name := range cm.Data {
			unread("ConfigMap "+cm.Name, name)
		}
	}
	for secret, names := range m.secrets {
		for _, name := range names {
			unread("the documented Secret "+secret, name)
		}
	}
	documented := func(where, secret string) {
		if _, ok := m.secrets[secret]; !ok {
			problems = append(problems, fmt.Sprintf("%s uses Secret %s, which no comment tells how to create", where, secret))
		}
	}
	for _, ctr := range c.containers(m) {
		for _, e := range ctr.Env {
			unread(ctr.String(), e.Name)
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				documented(ctr.String(), e.ValueFrom.SecretKeyRef.Name)
			}
		}
		for _, from := range ctr.EnvFrom {
			if from.SecretRef != nil {
				documented(ctr.String(), from.SecretRef.Name)
			}
			if ref := from.ConfigMapRef; ref != nil && m.configMap(ref) == nil {
				problems = append(problems, fmt.Sprintf("%s uses ConfigMap %s, which is not in the file", ctr, ref.Name))
			}
		}
		for name, value := range ctr.env {
			if (strings.HasSuffix(name, "_FILE") || strings.HasSuffix(name, "_PATH")) && value != "" && !mounted(ctr.Container, value) {
				problems = append(problems, fmt.Sprintf("%s: %s=%s is in none of its volume mounts", ctr, name, value))
			}
		}
	}
	for _, d := range m.deployments {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil {
				documented("Deployment "+d.Name, v.Secret.SecretName)
			}
		}
	}
	return problems
}

// configMap is the ConfigMap ref names, nil if ref is nil or names none
// in the file.
func (m manifests) configMap(ref *corev1.ConfigMapEnvSource) *corev1.ConfigMap {
	for _, cm := range m.configMaps {
		if ref != nil && cm.Name == ref.Name {
			return cm
		}
	}
	return nil
}

func mounted(ctr corev1.Container, path string) bool {
	for _, mount := range ctr.VolumeMounts {
		if strings.HasPrefix(path, strings.TrimSuffix(mount.MountPath, "/")+"/") {
			return true
		}
	}
	return false
}

// ports checks that every declared container port is the one the worker
// listens on (CERTFLOW_HTTP_ADDR), that every probe and the Prometheus
// annotations ask a declared port for a path the worker serves in the
// container's mode, that each Deployment selects its own pods, and that
// every Service selects Deployments whose containers declare its target
// ports.
func (c *checker) ports(m manifests) []string {
	var problems []string
	for _, ctr := range c.containers(m) {
		addr := c.value(ctr, "CERTFLOW_HTTP_ADDR")
		_, listen, err := net.SplitHostPort(addr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: CERTFLOW_HTTP_ADDR %q: %v", ctr, addr, err))
		}
		for _, p := range ctr.Ports {
			if strconv.Itoa(int(p.ContainerPort)) != listen {
				problems = append(problems, fmt.Sprintf("%s declares port %d, but the worker listens on %s (CERTFLOW_HTTP_ADDR)", ctr, p.ContainerPort, listen))
			}
		}
		mode := c.value(ctr, "CERTFLOW_MODE")
		if c.handlers[mode] == nil {
			continue // versioning says the mode is wrong
		}
		get := func(what, path string, port intstr.IntOrString) {
			if !declares(ctr.Container, port) {
				problems = append(problems, fmt.Sprintf("%s: %s: port %s is not declared", ctr, what, port.String()))
			}
			if !c.serves(mode, path) {
				problems = append(problems, fmt.Sprintf("%s: %s: GET %s is not served in mode %s", ctr, what, path, mode))
			}
		}
		probes := map[string]*corev1.Probe{"livenessProbe": ctr.LivenessProbe, "readinessProbe": ctr.ReadinessProbe, "startupProbe": ctr.StartupProbe}
		for what, probe := range probes {
			switch {
			case probe == nil:
			case probe.HTTPGet == nil:
				problems = append(problems, fmt.Sprintf("%s: %s is not an httpGet probe on the worker's /healthz or /readyz", ctr, what))
			default:
				get(what, probe.HTTPGet.Path, probe.HTTPGet.Port)
			}
		}
		if a := ctr.deployment.Spec.Template.Annotations; a["prometheus.io/scrape"] == "true" {
			get("Prometheus annotations", a["prometheus.io/path"], intstr.Parse(a["prometheus.io/port"]))
		}
	}
	for _, d := range m.deployments {
		if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			problems = append(problems, fmt.Sprintf("Deployment %s: its selector does not match its pod template's labels", d.Name))
		}
	}
	for _, s := range m.services {
		selected := 0
		for _, d := range m.deployments {
			if !selects(s.Spec.Selector, d.Spec.Template.Labels) {
				continue
			}
			selected++
			for _, p := range s.Spec.Ports {
				target := p.TargetPort
				if target == (intstr.IntOrString{}) {
					target = intstr.FromInt32(p.Port)
				}
				if !declaresAny(d.Spec.Template.Spec.Containers, target) {
					problems = append(problems, fmt.Sprintf("Service %s: targetPort %s is not a port of Deployment %s", s.Name, target.String(), d.Name))
				}
			}
		}
		if selected == 0 {
			problems = append(problems, fmt.Sprintf("Service %s selects no Deployment's pods", s.Name))
		}
	}
	return problems
}

// declares reports whether ctr declares port, by name or number.
func declares(ctr corev1.Container, port intstr.IntOrString) bool {
	for _, p := range ctr.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return true
		}
	}
	return false
}

func declaresAny(ctrs []corev1.Container, port intstr.IntOrString) bool {
	for _, ctr := range ctrs {
		if declares(ctr, port) {
			return true
		}
	}
	return false
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// versioning checks each container's CERTFLOW_MODE, and Worker
// Versioning: a container that polls task queues names its Worker
// Deployment and has its image tag as build ID, so a release cannot ship
// a new build under an old version, and its Deployment selects by build
// ID, so a new build runs beside the old one; the ingress, which polls
// nothing, sets neither. Every Deployment runs one image, released
// together.
func (c *checker) versioning(m manifests) []string {
	var problems []string
	images := map[string]bool{}
	for _, ctr := range c.containers(m) {
		images[ctr.Image] = true
		switch mode := c.value(ctr, "CERTFLOW_MODE"); mode {
		case config.ModeAll, config.ModeWorker:
			if ctr.env["CERTFLOW_DEPLOYMENT_NAME"] == "" {
				problems = append(problems, fmt.Sprintf("%s polls task queues without CERTFLOW_DEPLOYMENT_NAME: Worker Versioning is off", ctr))
			}
			tag := imageTag(ctr.Image)
			if tag == "" || tag == "latest" {
				problems = append(problems, fmt.Sprintf("%s: image %s has no release tag to be its build ID", ctr, ctr.Image))
			}
			id := ctr.env["CERTFLOW_BUILD_ID"]
			if id != tag {
				problems = append(problems, fmt.Sprintf("%s: CERTFLOW_BUILD_ID %q is not the image tag %q", ctr, id, tag))
			}
			if !slices.Contains(slices.Collect(maps.Values(ctr.deployment.Spec.Selector.MatchLabels)), id) {
				problems = append(problems, fmt.Sprintf("Deployment %s: its selector does not carry its build ID %q, so a release would replace the workers of runs pinned to the old build", ctr.deployment.Name, id))
			}
		case config.ModeIngress:
			for _, name := range []string{"CERTFLOW_DEPLOYMENT_NAME", "CERTFLOW_BUILD_ID"} {
				if _, set := ctr.env[name]; set {
					problems = append(problems, fmt.Sprintf("%s sets %s, but the ingress polls no task queue", ctr, name))
				}
			}
		default:
			problems = append(problems, fmt.Sprintf("%s: CERTFLOW_MODE %q is not %s, %s or %s", ctr, mode, config.ModeAll, config.ModeWorker, config.ModeIngress))
		}
	}
	if len(images) > 1 {
		problems = append(problems, fmt.Sprintf("the Deployments run different images %v: the worker and the ingress are released together", images))
	}
	return problems
}

// imageTag is the tag of an image reference, "" if it has none.
func imageTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, _ := strings.Cut(name, ":")
	return tag
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
