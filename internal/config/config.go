// Package config reads certflow's settings from the environment. The
// Temporal connection is not here: it comes from the SDK's own TEMPORAL_*
// variables (go.temporal.io/sdk/contrib/envconfig), so the worker, the
// starter, the temporal CLI and the Web UI share one set of settings.
package config

import (
	"fmt"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Log holds the logging settings shared by every certflow process.
type Log struct {
	Level  string `envconfig:"LOG_LEVEL" default:"info"`
	Format string `envconfig:"LOG_FORMAT" default:"json"`
}

// Common holds the settings the worker and the starter CLI share.
type Common struct {
	Log
	Codec
	PayloadStore
	// TaskQueue is the queue the worker polls and the starter starts on.
	TaskQueue string `envconfig:"CERTFLOW_TASK_QUEUE" default:"certflow"`
	// WebUIURL is the Temporal Web UI, used to print links to workflows.
	WebUIURL string `envconfig:"CERTFLOW_WEB_UI_URL" default:"http://localhost:8233"`
}

// Codec configures the encryption of every payload certflow hands
// Temporal (internal/codec). Without keys the worker refuses to start, and
// the CLI to start workflows, unless AllowPlaintext says to store payloads
// in clear.
type Codec struct {
	// Keys are "id:base64key" entries, comma-separated; the first
	// encrypts, the others (retired keys) still decrypt.
	Keys string `envconfig:"CERTFLOW_CODEC_KEYS"`
	// KeyFile holds more entries, one per line, after Keys'.
	KeyFile string `envconfig:"CERTFLOW_CODEC_KEY_FILE"`
	// UIOrigin is the Web UI's origin, the only one allowed to call the
	// codec server from a browser.
	UIOrigin string `envconfig:"CERTFLOW_CODEC_UI_ORIGIN" default:"http://localhost:8233"`
	// AuthToken, when set, must be presented to the codec server as
	// "Authorization: Bearer <token>".
	AuthToken string `envconfig:"CERTFLOW_CODEC_AUTH_TOKEN"`
	// AllowPlaintext lets payloads be stored in clear: without keys, the
	// worker and the CLI then run anyway; with keys, the worker still
	// accepts payloads written without them (while workflows started
	// before encryption still run), which it otherwise refuses.
	AllowPlaintext bool `envconfig:"CERTFLOW_ALLOW_PLAINTEXT"`
}

// Modes of the worker process, so the webhook ingress and the Temporal
// worker can be deployed and scaled apart.
const (
	ModeAll     = "all"     // poll the task queues and serve webhooks
	ModeWorker  = "worker"  // poll only (health and metrics still served)
	ModeIngress = "ingress" // serve webhooks only (no provider credentials needed)
)

// Worker is the worker process's configuration.
type Worker struct {
	Common
	// Mode is all, worker or ingress.
	Mode string `envconfig:"CERTFLOW_MODE" default:"all"`
	// HTTPAddr serves webhooks and health checks.
	HTTPAddr string `envconfig:"CERTFLOW_HTTP_ADDR" default:":8080"`
	// ShutdownTimeout bounds how long running activities may take to finish
	// after SIGTERM.
	ShutdownTimeout time.Duration `envconfig:"CERTFLOW_SHUTDOWN_TIMEOUT" default:"30s"`
	// WorkflowCacheSize is how many workflows the worker process keeps in
	// memory between their workflow tasks (the SDK's sticky cache, whose
	// own default is 10,000): a waiting workflow held there costs tens of
	// KB, one evicted is replayed from its history when it wakes.
	WorkflowCacheSize int `envconfig:"CERTFLOW_WORKFLOW_CACHE_SIZE" default:"2000"`
	// DeploymentName, when set, turns on Worker Versioning: the worker
	// polls as version BuildID of this Worker Deployment.
	DeploymentName string `envconfig:"CERTFLOW_DEPLOYMENT_NAME"`
	// BuildID names this build of the worker within its deployment;
	// empty means the one stamped into the binary at build time.
	BuildID    string `envconfig:"CERTFLOW_BUILD_ID"`
	Uanataca   Uanataca
	Universign Universign
	MasStack   MasStack
	Humanos    Humanos
}

// Humanos configures the Humanos client and the verification of its
// webhooks. Without an API key the worker does not run Humanos workflows.
type Humanos struct {
	BaseURL         string        `envconfig:"HUMANOS_BASE_URL" default:"https://api.humanos.id"`
	APIKey          string        `envconfig:"HUMANOS_API_KEY"`
	SignatureSecret string        `envconfig:"HUMANOS_SIGNATURE_SECRET"`
	APIVersion      string        `envconfig:"HUMANOS_API_VERSION"`
	Timeout         time.Duration `envconfig:"HUMANOS_TIMEOUT" default:"30s"`
	// Webhook verification and decryption.
	WebhookSecret           string        `envconfig:"HUMANOS_WEBHOOK_SECRET"`
	WebhookWindow           time.Duration `envconfig:"HUMANOS_WEBHOOK_WINDOW" default:"5m"`
	WebhookEncryptionSecret string        `envconfig:"HUMANOS_WEBHOOK_ENCRYPTION_SECRET"`
	WebhookEncryptionSalt   string        `envconfig:"HUMANOS_WEBHOOK_ENCRYPTION_SALT"`
	WebhookPBKDF2Iterations int           `envconfig:"HUMANOS_WEBHOOK_PBKDF2_ITERATIONS" default:"100000"`
	WebhookPBKDF2Digest     string        `envconfig:"HUMANOS_WEBHOOK_PBKDF2_DIGEST" default:"sha256"`
}

// Universign configures the Universign registrations client. Without an
// API key the worker does not run Universign workflows' activities.
type Universign struct {
	BaseURL string        `envconfig:"UNIVERSIGN_BASE_URL" default:"https://api.universign.com"`
	APIKey  string        `envconfig:"UNIVERSIGN_API_KEY"`
	Timeout time.Duration `envconfig:"UNIVERSIGN_TIMEOUT" default:"30s"`
}

// MasStack configures the MasStack Documents client and its
// service-account token flow. Without a service account the worker does
// not run MasStack workflows' activities.
type MasStack struct {
	BaseURL            string        `envconfig:"MASSTACK_BASE_URL" default:"https://documents.masstack.com/v1"`
	AuthURL            string        `envconfig:"MASSTACK_AUTH_URL"`
	Audience           string        `envconfig:"MASSTACK_AUDIENCE"`
	OrgID              string        `envconfig:"MASSTACK_ORG_ID"`
	ServiceAccountFile string        `envconfig:"MASSTACK_SERVICE_ACCOUNT_FILE"`
	Timeout            time.Duration `envconfig:"MASSTACK_TIMEOUT" default:"30s"`
}

// Enabled reports whether a MasStack service account is configured.
func (m MasStack) Enabled() bool { return m.ServiceAccountFile != "" }

// Uanataca configures the Uanataca RA client and the issuance activities.
type Uanataca struct {
	BaseURL  string        `envconfig:"UANATACA_BASE_URL" default:"https://api.sandbox.uanataca.com/api/v1/"`
	CertFile string        `envconfig:"UANATACA_CERT_FILE"`
	KeyFile  string        `envconfig:"UANATACA_KEY_FILE"`
	CAFile   string        `envconfig:"UANATACA_CA_FILE"`
	Timeout  time.Duration `envconfig:"UANATACA_TIMEOUT" default:"30s"`
	// WebhookURL, when set, is sent as each request's webhook_url. Leave it
	// empty in production, where Uanataca configures one URL per RA.
	WebhookURL string `envconfig:"UANATACA_WEBHOOK_URL"`
	// WebhookToken, when set, must end the webhook URL Uanataca calls
	// (/webhooks/uanataca/<token>): Uanataca signs nothing.
	WebhookToken string `envconfig:"UANATACA_WEBHOOK_TOKEN"`
	// WebhookAllow lists the networks (CIDR, comma-separated) Uanataca
	// webhooks may come from; empty allows any.
	WebhookAllow []string `envconfig:"UANATACA_WEBHOOK_ALLOW"`
	// RAO credentials for pl_approve. Without them certflow uploads the
	// documents and leaves approval to an operator in the RA's own tools.
	RAOUsername string `envconfig:"UANATACA_RAO_USERNAME"`
	RAOPassword string `envconfig:"UANATACA_RAO_PASSWORD"`
	RAOPIN      string `envconfig:"UANATACA_RAO_PIN"`
	RAOID       int    `envconfig:"UANATACA_RAO_ID"`
}

// ApprovalConfigured reports whether certflow may approve requests itself.
func (u Uanataca) ApprovalConfigured() bool {
	return u.RAOUsername != "" && u.RAOPassword != "" && u.RAOPIN != "" && u.RAOID != 0
}

// LoadWorker reads the worker's configuration from the environment.
func LoadWorker() (Worker, error) {
	var w Worker
	if err := envconfig.Process("", &w); err != nil {
		return w, fmt.Errorf("reading configuration from the environment: %w", err)
	}
	switch w.Mode {
	case ModeAll, ModeWorker, ModeIngress:
	default:
		return w, fmt.Errorf("CERTFLOW_MODE %q is not one of all, worker, ingress", w.Mode)
	}
	if (w.Uanataca.CertFile == "") != (w.Uanataca.KeyFile == "") {
		return w, fmt.Errorf("set both UANATACA_CERT_FILE and UANATACA_KEY_FILE for mutual TLS, or neither")
	}
	if w.Humanos.APIKey != "" && w.Humanos.SignatureSecret == "" {
		return w, fmt.Errorf("HUMANOS_API_KEY is set: also set HUMANOS_SIGNATURE_SECRET, the key's signature secret")
	}
	if w.MasStack.Enabled() && w.MasStack.OrgID == "" {
		return w, fmt.Errorf("MASSTACK_SERVICE_ACCOUNT_FILE is set: also set MASSTACK_ORG_ID (the tenant, e.g. yoigo)")
	}
	if w.Uanataca.RAOUsername != "" && !w.Uanataca.ApprovalConfigured() {
		return w, fmt.Errorf("UANATACA_RAO_USERNAME is set: also set UANATACA_RAO_PASSWORD, UANATACA_RAO_PIN and UANATACA_RAO_ID, or unset it to leave approval to an operator")
	}
	if err := w.PayloadStore.Check(); err != nil {
		return w, err
	}
	return w, nil
}

// LoadCommon reads the shared settings (for the starter CLI).
func LoadCommon() (Common, error) {
	var c Common
	if err := envconfig.Process("", &c); err != nil {
		return c, fmt.Errorf("reading configuration from the environment: %w", err)
	}
	return c, c.PayloadStore.Check()
}
