package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/internal/logging"
	"github.com/certflow/certflow/internal/metrics"
	"github.com/certflow/certflow/internal/payloadstore"
	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/sandbox/devpki"
	husandbox "github.com/certflow/certflow/internal/sandbox/humanos"
	mssandbox "github.com/certflow/certflow/internal/sandbox/masstack"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
	ussandbox "github.com/certflow/certflow/internal/sandbox/universign"
	"github.com/certflow/certflow/worker"
)

// Options configures a Stack: provider emulators and a worker wired to
// them, on an already running Temporal.
type Options struct {
	// TemporalAddress is the Temporal frontend (host:port).
	TemporalAddress string
	// TaskQueue the worker polls; empty means the default.
	TaskQueue string
	// PKIDir holds the dev PKI (created when missing).
	PKIDir string
	// UanatacaAddr, UniversignAddr, MasStackAddr and HTTPAddr are where the
	// emulators and the worker's HTTP server listen ("127.0.0.1:0" picks a
	// free port).
	UanatacaAddr, UniversignAddr, MasStackAddr, HumanosAddr, HTTPAddr string
	// Uanataca configures its emulator. Its WebhookURL is set to the
	// worker's ingress when empty, like the one URL Uanataca configures per
	// RA in production.
	Uanataca uasandbox.Options
	// Universign and MasStack configure theirs. MasStack's service account
	// is generated in PKIDir and trusted by its emulator.
	Universign ussandbox.Options
	MasStack   mssandbox.Options
	// Humanos configures its emulator; its webhooks go to the worker's
	// ingress, signed and encrypted with the dev secrets below.
	Humanos husandbox.Options
	// WebUIURL is printed in links, and is the origin the codec server
	// serves.
	WebUIURL string
	// CodecKeys, when set (CERTFLOW_CODEC_KEYS syntax), encrypts every
	// payload and serves the codec server on the worker's /codec/.
	CodecKeys string
	// AllowPlaintext is CERTFLOW_ALLOW_PLAINTEXT: without CodecKeys the
	// stack starts only with it.
	AllowPlaintext bool
	// PayloadStore is where the worker and the stack's client keep
	// payloads too big for history (CERTFLOW_PAYLOAD_STORE). Its URL
	// empty means a file store in the folder "payloads" beside PKIDir
	// (.dev/payloads for make dev), so the dev stack takes document scans
	// of real size as production does.
	PayloadStore config.PayloadStore
	// Log receives the worker's logs.
	Log zerolog.Logger
}

// Simulated returns Options whose emulators carry every request through
// on their own, their simulated people finishing after d (RA 121 holds
// 1000 scratchcards), as make dev and make cluster run them.
func Simulated(d time.Duration) Options {
	return Options{
		Uanataca:   uasandbox.Options{RAs: map[string]int{"121": 1000}, IssueAfter: d},
		Universign: ussandbox.Options{CompleteAfter: d},
		MasStack:   mssandbox.Options{StartAfter: d / 2, CompleteAfter: d},
		Humanos:    husandbox.Options{DecideAfter: d},
	}
}

// Stack is a running set of emulators and a worker.
type Stack struct {
	Client  client.Client
	Metrics *metrics.Metrics
	// PayloadStore is the store of Client and of the worker.
	PayloadStore *payloadstore.Store
	Uanataca     *uasandbox.Server
	Universign   *ussandbox.Server
	MasStack     *mssandbox.Server
	Humanos      *husandbox.Server
	// WebhookURL is the worker's Uanataca webhook endpoint.
	WebhookURL string
	// Config is the worker's configuration, as the worker runs it.
	Config config.Worker
	stop   context.CancelFunc
	done   chan error
	closed sync.Once
	err    error
}

// Start starts the emulators, then the worker, and returns once the worker
// polls its task queue.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	httpListener, err := net.Listen("tcp", opts.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("worker HTTP on %s: %w", opts.HTTPAddr, err)
	}
	s, err := StartEmulators(opts, httpListener.Addr().String())
	if err != nil {
		httpListener.Close()
		return nil, err
	}
	if s.Metrics, err = metrics.New(opts.Log); err != nil {
		s.Close()
		httpListener.Close()
		return nil, err
	}
	cd, err := codec.FromKeys(opts.CodecKeys, "")
	if err != nil {
		s.Close()
		httpListener.Close()
		return nil, err
	}
	if s.PayloadStore, err = payloadstore.Open(s.Config.PayloadStore); err != nil {
		s.Close()
		httpListener.Close()
		return nil, err
	}
	clientOpts := client.Options{HostPort: opts.TemporalAddress, Logger: logging.NewTemporal(opts.Log), MetricsHandler: s.Metrics.Temporal}
	worker.ConfigureClient(&clientOpts, worker.ClientCodec(s.Config.Codec, cd), s.PayloadStore)
	s.Client, err = client.Dial(clientOpts)
	if err != nil {
		s.Close()
		httpListener.Close()
		return nil, fmt.Errorf("connecting to Temporal at %s: %w", opts.TemporalAddress, err)
	}
	w, err := worker.New(s.Config, s.Client, opts.Log, s.Metrics, cd, s.PayloadStore)
	if err != nil {
		s.Close()
		httpListener.Close()
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go func() { s.done <- w.Run(runCtx, httpListener) }()
	return s, nil
}

// StartEmulators starts the four emulators, their webhooks sent to a
// worker (or ingress) serving HTTP on workerAddr, and returns them with
// the worker configuration that uses them (s.Config; HTTPAddr is
// workerAddr). The returned Stack runs no worker and has no Client: the
// caller runs the worker, in this process (Start) or in others.
func StartEmulators(opts Options, workerAddr string) (*Stack, error) {
	pki, err := devpki.LoadOrGenerate(opts.PKIDir)
	if err != nil {
		return nil, fmt.Errorf("dev PKI in %s: %w", opts.PKIDir, err)
	}
	s := &Stack{WebhookURL: "http://" + workerAddr + "/webhooks/uanataca", done: make(chan error, 1)}
	uaOpts := opts.Uanataca
	if uaOpts.WebhookURL == "" {
		// The RA is given the URL with the dev token, as production RAs
		// would be.
		uaOpts.WebhookURL = s.WebhookURL + "/" + devUanatacaWebhookToken
	}
	uaOpts.RequireClientCert = true
	if uaOpts.FirstRequestPK == 0 {
		// Each stack of a process its own pks, as the RA never reuses one:
		// stacks sharing a Temporal (the end-to-end tests) must not find
		// each other's closed workflows by pk.
		uaOpts.FirstRequestPK = 46000 + (stacks.Add(1)-1)*100_000
	}
	if s.Uanataca, err = uasandbox.Start(opts.UanatacaAddr, uaOpts, pki); err != nil {
		return nil, err
	}
	rao := uaOpts.RAO
	if rao == (uasandbox.RAOCredentials{}) {
		rao = uasandbox.DefaultRAO
	}
	raoID, _ := strconv.Atoi(rao.RAOID)
	taskQueue := opts.TaskQueue
	if taskQueue == "" {
		taskQueue = "certflow"
	}
	s.Config = config.Worker{
		Common:          config.Common{Log: config.Log{Level: "info", Format: "json"}, TaskQueue: taskQueue, WebUIURL: opts.WebUIURL},
		Mode:            config.ModeAll,
		HTTPAddr:        workerAddr,
		ShutdownTimeout: 5 * time.Second,
		Uanataca: config.Uanataca{
			BaseURL: s.Uanataca.URL, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, CAFile: pki.CAFile,
			Timeout: 10 * time.Second, WebhookToken: devUanatacaWebhookToken, RAOUsername: rao.Username, RAOPassword: rao.Password, RAOPIN: rao.PIN, RAOID: raoID,
		},
	}
	s.Config.Codec = config.Codec{Keys: opts.CodecKeys, UIOrigin: opts.WebUIURL, AllowPlaintext: opts.AllowPlaintext}
	s.Config.PayloadStore = opts.PayloadStore
	if s.Config.PayloadStore.URL == "" {
		dir, err := filepath.Abs(filepath.Join(filepath.Dir(opts.PKIDir), payloadstore.DevDirName))
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Config.PayloadStore.URL = (&url.URL{Scheme: "file", Path: dir}).String()
	}
	if err := s.startPolledEmulators(opts); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// startPolledEmulators starts the Universign and MasStack emulators and
// points the worker's configuration at them.
func (s *Stack) startPolledEmulators(opts Options) error {
	var err error
	usOpts := opts.Universign
	if len(usOpts.APIKeys) == 0 {
		usOpts.APIKeys = []string{ussandbox.DefaultAPIKey}
	}
	if s.Universign, err = ussandbox.Start(opts.UniversignAddr, usOpts); err != nil {
		return err
	}
	s.Config.Universign = config.Universign{BaseURL: s.Universign.URL, APIKey: usOpts.APIKeys[0], Timeout: 10 * time.Second}

	account := filepath.Join(opts.PKIDir, "masstack-service-account.json")
	if _, err := mssandbox.GenerateServiceAccount(account, ""); err != nil {
		return fmt.Errorf("MasStack dev service account: %w", err)
	}
	msOpts := opts.MasStack
	msOpts.AccountFiles = append(msOpts.AccountFiles, account)
	if s.MasStack, err = mssandbox.Start(opts.MasStackAddr, msOpts); err != nil {
		return err
	}
	s.Config.MasStack = config.MasStack{
		BaseURL: s.MasStack.URL, AuthURL: s.MasStack.TokenURL, OrgID: mssandbox.DefaultOrg,
		ServiceAccountFile: account, Timeout: 10 * time.Second,
	}

	s.Config.Humanos = devHumanos
	huOpts := opts.Humanos
	huOpts.WebhookURL = strings.TrimSuffix(s.WebhookURL, "uanataca") + "humanos"
	huOpts.WebhookSecret = devHumanos.WebhookSecret
	huOpts.Encryption = &humanos.KeyDerivation{
		Secret: devHumanos.WebhookEncryptionSecret, Salt: devHumanos.WebhookEncryptionSalt,
		Iterations: devHumanos.WebhookPBKDF2Iterations, Digest: devHumanos.WebhookPBKDF2Digest,
	}
	if s.Humanos, err = husandbox.Start(opts.HumanosAddr, huOpts); err != nil {
		return err
	}
	s.Config.Humanos.BaseURL = s.Humanos.URL
	return nil
}

// stacks counts the stacks this process has started.
var stacks atomic.Int64

// devUanatacaWebhookToken ends the Uanataca webhook URL in the dev stack.
const devUanatacaWebhookToken = "dev-uanataca-webhook-token"

// devHumanos is the worker's Humanos configuration against the emulator:
// its default key and secrets, and encrypted webhooks, so the dev stack and
// the end-to-end tests verify and decrypt every Humanos webhook.
var devHumanos = config.Humanos{
	APIKey: husandbox.DefaultAPIKey, SignatureSecret: husandbox.DefaultSignatureSecret, Timeout: 10 * time.Second,
	WebhookSecret: husandbox.DefaultWebhookSecret, WebhookWindow: 5 * time.Minute,
	WebhookEncryptionSecret: "dev-humanos-encryption-secret", WebhookEncryptionSalt: "dev-humanos-salt",
	WebhookPBKDF2Iterations: 10000, WebhookPBKDF2Digest: "sha256",
}

// Close stops the worker (letting running activities finish), then the
// emulators, then the Temporal client. It may be called more than once.
func (s *Stack) Close() error {
	s.closed.Do(func() { s.err = s.close() })
	return s.err
}

func (s *Stack) close() error {
	var errs []error
	if s.stop != nil {
		s.stop()
		errs = append(errs, <-s.done)
	}
	if s.Uanataca != nil {
		errs = append(errs, s.Uanataca.Close())
	}
	if s.Universign != nil {
		errs = append(errs, s.Universign.Close())
	}
	if s.MasStack != nil {
		errs = append(errs, s.MasStack.Close())
	}
	if s.Humanos != nil {
		errs = append(errs, s.Humanos.Close())
	}
	if s.Client != nil {
		s.Client.Close()
	}
	return errors.Join(errs...)
}
