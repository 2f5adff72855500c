// Package worker is the certflow process: it connects to Temporal, builds
// the provider clients, registers every workflow and activity on the task
// queue, and serves HTTP (webhooks, health). cmd/certflow-worker runs it;
// the dev stack and the end-to-end tests run the same code in-process.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	tenv "go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/internal/logging"
	"github.com/certflow/certflow/internal/metrics"
	"github.com/certflow/certflow/internal/payloadstore"
	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/provider/masstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	"github.com/certflow/certflow/internal/provider/universign"
	"github.com/certflow/certflow/internal/webhook"
	"github.com/certflow/certflow/workflows"
)

// ErrNoCodecKey refuses to run a worker that would store applicants'
// personal data in Temporal in clear.
var ErrNoCodecKey = errors.New("no codec key: applicants' names, emails, phones and document numbers would be stored in Temporal in clear. " +
	"Set CERTFLOW_CODEC_KEYS or CERTFLOW_CODEC_KEY_FILE (README, \"Data protection\"; generate a key with `openssl rand -base64 32`), " +
	"or CERTFLOW_ALLOW_PLAINTEXT=true to store them in clear")

// CheckCodec refuses a configuration without codec key (cd nil) unless
// it allows plaintext. New checks it; a process checks it first, before
// it connects to anything.
func CheckCodec(cfg config.Codec, cd *codec.Codec) error {
	if cd == nil && !cfg.AllowPlaintext {
		return ErrNoCodecKey
	}
	return nil
}

// ClientCodec is the codec of a worker's Temporal client: Strict, so a
// payload written without the key is refused, unless the configuration
// allows plaintext.
func ClientCodec(cfg config.Codec, cd *codec.Codec) *codec.Codec {
	if cfg.AllowPlaintext {
		return cd
	}
	return cd.Strict()
}

// Dial connects to Temporal with the SDK's standard TEMPORAL_* settings
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
// or a TEMPORAL_PROFILE of the CLI's config file), logging through log,
// recording the SDK's metrics into m when m is not nil, encrypting
// payloads and failures with cd when cd is not nil, and keeping payloads
// of at least the store's threshold in store when store is not nil (the
// SDK stores what the codec encrypted: the store holds ciphertext).
func Dial(log zerolog.Logger, m *metrics.Metrics, cd *codec.Codec, store *payloadstore.Store) (client.Client, error) {
	opts, err := tenv.LoadDefaultClientOptions()
	if err != nil {
		return nil, fmt.Errorf("reading the TEMPORAL_* settings: %w", err)
	}
	opts.Logger = logging.NewTemporal(log)
	if m != nil {
		opts.MetricsHandler = m.Temporal
	}
	ConfigureClient(&opts, cd, store)
	c, err := client.Dial(opts)
	if err != nil {
		addr := opts.HostPort
		if addr == "" {
			addr = client.DefaultHostPort
		}
		return nil, fmt.Errorf("connecting to Temporal at %s (set TEMPORAL_ADDRESS): %w", addr, err)
	}
	return c, nil
}

// ConfigureClient sets what a Temporal client running or starting
// certflow's workflows needs in opts: cd's converters (nil: the SDK's
// own, in clear), and store (nil: none). Data conversion does not count
// towards the SDK's deadlock detection: encrypting and decrypting a
// Uanataca issuance's document scans, tens of MB, may take longer than
// the second it allows workflow code between two yields.
func ConfigureClient(opts *client.Options, cd *codec.Codec, store *payloadstore.Store) {
	opts.DataConverter = converter.GetDefaultDataConverter()
	if cd != nil {
		opts.DataConverter, opts.FailureConverter = cd.DataConverter(), cd.FailureConverter()
	}
	opts.DataConverter = workflow.DataConverterWithoutDeadlockDetection(opts.DataConverter)
	store.Apply(opts)
}

// Worker is a configured certflow worker, not yet running.
type Worker struct {
	cfg    config.Worker
	log    zerolog.Logger
	client client.Client
	// polling is true between the workers' start and stop (readyz).
	polling atomic.Bool
	// workers poll the task queue and the allocators' own queue.
	workers []sdkworker.Worker
	http    *http.Server
}

// New builds the provider clients and registers everything on the task
// queues; it serves webhooks, /healthz, /readyz, m on /metrics and, with
// cd, the codec server on /codec/ (which, with store, also serves
// /codec/download: a stored payload, on demand). c — built with the same
// store (Dial), since its workers store and retrieve through it — and m
// stay owned by the caller. Uanataca is always registered; Universign,
// MasStack and Humanos only when their credentials are set, so a team that
// uses one provider configures only that one.
func New(cfg config.Worker, c client.Client, log zerolog.Logger, m *metrics.Metrics, cd *codec.Codec, store *payloadstore.Store) (*Worker, error) {
	if err := CheckCodec(cfg.Codec, cd); err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, log: log, client: c}
	var ingress *webhook.Ingress
	if cfg.Mode != config.ModeWorker {
		var err error
		if ingress, err = ingressFor(cfg, c, log); err != nil {
			return nil, err
		}
	}
	if cfg.Mode != config.ModeIngress {
		deployment, err := deploymentOptions(cfg)
		if err != nil {
			return nil, err
		}
		opts := sdkworker.Options{WorkerStopTimeout: cfg.ShutdownTimeout, DeploymentOptions: deployment}
		queue := sdkworker.New(c, cfg.TaskQueue, opts)
		allocators := sdkworker.New(c, activities.AllocatorTaskQueue(cfg.TaskQueue), opts)
		if err := register(queue, allocators, cfg, c, log, ingress); err != nil {
			return nil, err
		}
		w.workers = []sdkworker.Worker{queue, allocators}
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /readyz", w.ready)
	if cd != nil {
		h, err := codec.Handler(cd, store.ExternalStorage(), cfg.Codec.UIOrigin, cfg.Codec.AuthToken)
		if err != nil {
			return nil, err
		}
		mux.Handle("/codec/", h)
	} else {
		log.Warn().Msg("CERTFLOW_ALLOW_PLAINTEXT is set and no codec key is: applicants' personal data is stored in Temporal in clear")
	}
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	if ingress != nil {
		ingress.Register(mux)
	}
	w.http = &http.Server{
		Addr: cfg.HTTPAddr, Handler: mux,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second,
	}
	return w, nil
}

// ingressFor builds the webhook ingress from the configuration.
func ingressFor(cfg config.Worker, c client.Client, log zerolog.Logger) (*webhook.Ingress, error) {
	humanosWebhooks, err := humanosWebhookSettings(cfg.Humanos)
	if err != nil {
		return nil, err
	}
	ua := webhook.UanatacaSettings{Token: cfg.Uanataca.WebhookToken}
	for _, cidr := range cfg.Uanataca.WebhookAllow {
		p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
		if err != nil {
			return nil, fmt.Errorf("UANATACA_WEBHOOK_ALLOW: %q is not a network like 192.0.2.0/24: %w", cidr, err)
		}
		ua.Allow = append(ua.Allow, p)
	}
	return &webhook.Ingress{
		Temporal: c, Log: log, LookupAttempts: 10, LookupBackoff: 300 * time.Millisecond,
		Uanataca: ua, Humanos: humanosWebhooks,
	}, nil
}

// register builds each configured provider's client and puts its
// workflows and activities on w. When the ingress runs in this process
// (ingress not nil), each Uanataca request created is made known to it, so
// the request's first webhook costs no lookup either.
func register(w, allocators sdkworker.Registry, cfg config.Worker, c client.Client, log zerolog.Logger, ingress *webhook.Ingress) error {
	ua, err := uanataca.New(uanataca.Config{
		BaseURL: cfg.Uanataca.BaseURL, CertFile: cfg.Uanataca.CertFile, KeyFile: cfg.Uanataca.KeyFile,
		CAFile: cfg.Uanataca.CAFile, Timeout: cfg.Uanataca.Timeout,
	})
	if err != nil {
		return err
	}
	uaActs := &activities.Uanataca{Client: ua, WebhookURL: cfg.Uanataca.WebhookURL}
	if ingress != nil {
		uaActs.Created = func(workflowID string, pk int64) {
			ingress.Remember(contract.ProviderUanataca, strconv.FormatInt(pk, 10), workflowID)
		}
	}
	if cfg.Uanataca.ApprovalConfigured() {
		uaActs.Approval = &uanataca.Approval{
			Username: cfg.Uanataca.RAOUsername, Password: cfg.Uanataca.RAOPassword,
			PIN: cfg.Uanataca.RAOPIN, RAOID: cfg.Uanataca.RAOID,
		}
	}
	w.RegisterActivity(uaActs)
	registerLifecycle(w, contract.ProviderUanataca)
	scratchcards := &activities.Scratchcards{Client: ua, Temporal: c}
	w.RegisterActivity(scratchcards)
	allocators.RegisterActivity(scratchcards)
	allocators.RegisterWorkflowWithOptions(workflows.ScratchcardAllocator, workflow.RegisterOptions{
		Name: contract.ScratchcardAllocatorName, VersioningBehavior: allocatorVersioning,
	})

	if cfg.Universign.APIKey == "" {
		log.Info().Msg("Universign disabled: set UNIVERSIGN_API_KEY to run UniversignRegistration workflows")
	} else {
		us, err := universign.New(universign.Config{BaseURL: cfg.Universign.BaseURL, APIKey: cfg.Universign.APIKey, Timeout: cfg.Universign.Timeout})
		if err != nil {
			return err
		}
		w.RegisterActivity(&activities.Universign{Client: us})
		registerLifecycle(w, contract.ProviderUniversign)
	}

	if !cfg.MasStack.Enabled() {
		log.Info().Msg("MasStack disabled: set MASSTACK_SERVICE_ACCOUNT_FILE and MASSTACK_ORG_ID to run MasStackIdentification workflows")
	} else {
		ms, err := masstack.New(masstack.Config{
			BaseURL: cfg.MasStack.BaseURL, AuthURL: cfg.MasStack.AuthURL, Audience: cfg.MasStack.Audience,
			OrgID: cfg.MasStack.OrgID, ServiceAccountFile: cfg.MasStack.ServiceAccountFile, Timeout: cfg.MasStack.Timeout,
		})
		if err != nil {
			return err
		}
		w.RegisterActivity(&activities.MasStack{Client: ms})
		registerLifecycle(w, contract.ProviderMasStack)
	}

	if cfg.Humanos.APIKey == "" {
		log.Info().Msg("Humanos disabled: set HUMANOS_API_KEY and HUMANOS_SIGNATURE_SECRET to run HumanosRequest workflows")
	} else {
		hu, err := humanos.New(humanos.Config{
			BaseURL: cfg.Humanos.BaseURL, APIKey: cfg.Humanos.APIKey, SignatureSecret: cfg.Humanos.SignatureSecret,
			APIVersion: cfg.Humanos.APIVersion, Timeout: cfg.Humanos.Timeout,
		})
		if err != nil {
			return err
		}
		w.RegisterActivity(&activities.Humanos{Client: hu})
		registerLifecycle(w, contract.ProviderHumanos)
	}
	return nil
}

// registerLifecycle registers provider's workflow (contract.Workflows) on
// w under its contract name.
func registerLifecycle(w sdkworker.Registry, provider string) {
	for _, wf := range contract.Workflows {
		if wf.Provider == provider {
			w.RegisterWorkflowWithOptions(workflows.Lifecycles[wf.Type], workflow.RegisterOptions{Name: wf.Type, VersioningBehavior: lifecycleVersioning})
		}
	}
}

// humanosWebhookSettings derives the ingress's Humanos verification and,
// when an encryption secret is set, the decryption key.
func humanosWebhookSettings(h config.Humanos) (webhook.HumanosSettings, error) {
	s := webhook.HumanosSettings{Secret: h.WebhookSecret, Window: h.WebhookWindow}
	if h.WebhookEncryptionSecret == "" {
		return s, nil
	}
	key, err := humanos.KeyDerivation{
		Secret: h.WebhookEncryptionSecret, Salt: h.WebhookEncryptionSalt,
		Iterations: h.WebhookPBKDF2Iterations, Digest: h.WebhookPBKDF2Digest,
	}.Key()
	if err != nil {
		return s, fmt.Errorf("HUMANOS_WEBHOOK_ENCRYPTION_*: %w", err)
	}
	s.Key = key
	return s, nil
}

// ready answers GET /readyz: 200 when Temporal answers and (unless this
// process only serves webhooks) the workers are polling; 503 with the
// problems otherwise, so a load balancer or Kubernetes stops routing to it.
func (w *Worker) ready(rw http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []string
	if _, err := w.client.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		problems = append(problems, "Temporal is unreachable")
	}
	if len(w.workers) > 0 && !w.polling.Load() {
		problems = append(problems, "the worker is not polling its task queues")
	}
	rw.Header().Set("Content-Type", "application/json")
	if len(problems) > 0 {
		rw.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(rw).Encode(map[string]any{"status": "not ready", "problems": problems})
		return
	}
	_ = json.NewEncoder(rw).Encode(map[string]any{"status": "ready", "mode": w.cfg.Mode})
}

// Handler serves the worker's HTTP endpoints (for tests).
func (w *Worker) Handler() http.Handler { return w.http.Handler }

// Run polls the task queue and serves HTTP until ctx is done, then stops
// polling, lets running activities finish within the shutdown timeout, and
// returns. listener may be nil to listen on the configured address.
func (w *Worker) Run(ctx context.Context, listener net.Listener) error {
	if listener == nil {
		var err error
		if listener, err = net.Listen("tcp", w.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listening on CERTFLOW_HTTP_ADDR %s: %w", w.cfg.HTTPAddr, err)
		}
	}
	for i, worker := range w.workers {
		if err := worker.Start(); err != nil {
			for _, started := range w.workers[:i] {
				started.Stop()
			}
			listener.Close()
			return fmt.Errorf("starting the worker on task queue %s: %w", w.cfg.TaskQueue, err)
		}
	}
	w.polling.Store(len(w.workers) > 0)
	served := make(chan error, 1)
	go func() { served <- w.http.Serve(listener) }()
	w.log.Info().Str("mode", w.cfg.Mode).Str("task_queue", w.cfg.TaskQueue).Str("http", listener.Addr().String()).Msg("certflow worker started")

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("HTTP server stopped: %w", err)
	}
	w.log.Info().Msg("certflow worker stopping")
	w.polling.Store(false)
	shutdown, cancel := context.WithTimeout(context.Background(), w.cfg.ShutdownTimeout)
	defer cancel()
	if herr := w.http.Shutdown(shutdown); herr != nil && !errors.Is(herr, http.ErrServerClosed) {
		w.log.Warn().Err(herr).Msg("HTTP server did not stop cleanly")
	}
	for _, worker := range w.workers {
		worker.Stop()
	}
	w.log.Info().Msg("certflow worker stopped")
	return err
}
