// Command certflow-sandbox runs the Uanataca RA API emulator as a process, so
// that a certflow worker can be run and debugged end to end on a machine that
// cannot reach Uanataca.
//
// By default it serves https://127.0.0.1:8443/api/v1/ with mutual TLS, like
// the real API, using a throwaway PKI kept in .dev/pki (created on first run):
// point the worker's Uanataca client at the printed URL with .dev/pki/ca.pem
// as trusted CA and .dev/pki/client.pem / client-key.pem as its certificate.
// For example:
//
//	go run ./cmd/certflow-sandbox -ra 121=100 -webhook-url http://127.0.0.1:8080/webhooks/uanataca
//	curl --cacert .dev/pki/ca.pem --cert .dev/pki/client.pem --key .dev/pki/client-key.pem \
//	    -X GET -H 'Content-Type: application/json' -d '{"ra": "121"}' \
//	    https://127.0.0.1:8443/api/v1/scratchcards/get_first_unused/
//
// Requests created through the API are approved after -auto-approve (as if a
// RAO did it in the RA's web UI) and issued -issue-after later (as if the
// applicant completed the self-service page); 0 disables either step. Every
// status change is POSTed to the request's webhook_url or to -webhook-url.
// The fault flags make the sandbox slow, failing, rate-limiting or lossy, to
// watch the worker's retries; -lose-create-answers stores a share of creates
// and then closes the connection without answering, to watch a create whose
// answer was lost be found rather than repeated.
//
// Every flag can also be set through an environment variable named SANDBOX_
// and the flag name in upper case with dashes as underscores (-issue-after:
// SANDBOX_ISSUE_AFTER); a flag on the command line wins. The process prints
// one line with the base URL once it listens, logs each call and webhook
// (without personal data) to stderr unless -quiet, and exits cleanly on
// SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/certflow/certflow/internal/sandbox/devpki"
	"github.com/certflow/certflow/internal/sandbox/uanataca"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2) // the flag package has printed the problem and the usage
	case err != nil:
		fmt.Fprintln(os.Stderr, "certflow-sandbox:", err)
		os.Exit(1)
	}
}

// errUsage reports a command line the flag package rejected.
var errUsage = errors.New("bad command line")

// raPools is the -ra flag: "id=cards" pairs, repeatable or comma-separated.
type raPools map[string]int

func (p raPools) String() string {
	parts := make([]string, 0, len(p))
	for id, n := range p {
		parts = append(parts, fmt.Sprintf("%s=%d", id, n))
	}
	return strings.Join(parts, ",")
}

func (p raPools) Set(v string) error {
	for item := range strings.SplitSeq(v, ",") {
		id, count, ok := strings.Cut(strings.TrimSpace(item), "=")
		n, err := strconv.Atoi(count)
		if _, idErr := strconv.ParseUint(id, 10, 63); !ok || err != nil || idErr != nil || n < 0 {
			return fmt.Errorf("%q is not RA=CARDS, e.g. 121=1000 (RA id and card count are non-negative integers)", item)
		}
		p[id] += n
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("certflow-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr         = fs.String("addr", "127.0.0.1:8443", "`host:port` to listen on")
		pkiDir       = fs.String("pki-dir", ".dev/pki", "directory of the dev PKI, created or renewed as needed")
		plain        = fs.Bool("plain", false, "serve plain HTTP instead of TLS (needs -require-client-cert=false)")
		requireCert  = fs.Bool("require-client-cert", true, "demand a client certificate from the dev CA, like the real API")
		autoApprove  = fs.Duration("auto-approve", 2*time.Second, "approve CREATED requests after this delay, as a RAO would (0: only pl_approve)")
		issueAfter   = fs.Duration("issue-after", 5*time.Second, "issue ENROLLREADY requests after this delay, as the applicant would (0: never)")
		webhookURL   = fs.String("webhook-url", "", "receive status webhooks of requests created without webhook_url")
		format       = fs.String("webhook-format", uanataca.WebhookLegacy, "webhook body: legacy or event")
		attempts     = fs.Int("webhook-attempts", uanataca.DefaultWebhookAttempts, "tries per webhook before giving up")
		backoff      = fs.Duration("webhook-backoff", uanataca.DefaultWebhookBackoff, "wait after a failed webhook try, doubled each time")
		latency      = fs.Duration("latency", 0, "delay added to every API call")
		errorRate    = fs.Float64("error-rate", 0, "share (0..1) of API calls answered 500/502/503")
		rateLimit    = fs.Float64("rate-limit-rate", 0, "share (0..1) of API calls answered 429")
		retryAfter   = fs.Duration("retry-after", uanataca.DefaultRetryAfter, "Retry-After announced by 429 answers")
		dropHooks    = fs.Float64("drop-webhooks", 0, "share (0..1) of webhooks never sent")
		dupHooks     = fs.Float64("duplicate-webhooks", 0, "share (0..1) of webhooks sent twice")
		loseAnswers  = fs.Float64("lose-create-answers", 0, "share (0..1) of creates stored and then answered by closing the connection (a lost answer)")
		seed         = fs.Uint64("seed", 0, "seed of the fault dice, to replay a run (0: random)")
		raoUser      = fs.String("rao-username", uanataca.DefaultRAO.Username, "RAO username pl_approve accepts")
		raoPassword  = fs.String("rao-password", uanataca.DefaultRAO.Password, "RAO password pl_approve accepts")
		raoPIN       = fs.String("rao-pin", uanataca.DefaultRAO.PIN, "RAO PIN pl_approve accepts")
		raoID        = fs.String("rao-id", uanataca.DefaultRAO.RAOID, "RAO id pl_approve accepts")
		quiet        = fs.Bool("quiet", false, "do not log calls and webhooks to stderr")
		ras          = raPools{}
		defaultPools = "121=1000"
	)
	fs.Var(ras, "ra", "scratchcard pool as `RA=CARDS`; repeatable or comma-separated (default "+defaultPools+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: all settings are flags, see -h", fs.Arg(0))
	}
	if err := applyEnv(fs); err != nil {
		return err
	}
	if len(ras) == 0 {
		_ = ras.Set(defaultPools)
	}
	for name, v := range map[string]float64{"error-rate": *errorRate, "rate-limit-rate": *rateLimit, "drop-webhooks": *dropHooks, "duplicate-webhooks": *dupHooks, "lose-create-answers": *loseAnswers} {
		if v < 0 || v > 1 {
			return fmt.Errorf("-%s %v: want a share between 0 and 1", name, v)
		}
	}
	if *errorRate+*rateLimit > 1 || *dropHooks+*dupHooks > 1 {
		return errors.New("-error-rate plus -rate-limit-rate, and -drop-webhooks plus -duplicate-webhooks, must each stay within 1")
	}
	if *format != uanataca.WebhookLegacy && *format != uanataca.WebhookEvent {
		return fmt.Errorf("-webhook-format %q: want %s or %s", *format, uanataca.WebhookLegacy, uanataca.WebhookEvent)
	}
	if *plain && *requireCert {
		return errors.New("-plain cannot check client certificates: add -require-client-cert=false, or drop -plain")
	}

	var pki *devpki.PKI
	if !*plain {
		var err error
		if pki, err = devpki.LoadOrGenerate(*pkiDir); err != nil {
			return err
		}
	}
	var logTo io.Writer
	if !*quiet {
		logTo = stderr
	}
	srv, err := uanataca.Start(*addr, uanataca.Options{
		RAs:               ras,
		RAO:               uanataca.RAOCredentials{Username: *raoUser, Password: *raoPassword, PIN: *raoPIN, RAOID: *raoID},
		AutoApproveAfter:  *autoApprove,
		IssueAfter:        *issueAfter,
		WebhookURL:        *webhookURL,
		WebhookFormat:     *format,
		WebhookAttempts:   *attempts,
		WebhookBackoff:    *backoff,
		RequireClientCert: *requireCert,
		Faults: uanataca.Faults{
			Latency:              *latency,
			ErrorRate:            *errorRate,
			RateLimitRate:        *rateLimit,
			RetryAfter:           *retryAfter,
			DropWebhookRate:      *dropHooks,
			DuplicateWebhookRate: *dupHooks,
			LoseCreateAnswerRate: *loseAnswers,
		},
		Seed: *seed,
		Log:  logTo,
	}, pki)
	if err != nil {
		return err
	}
	if pki != nil {
		fmt.Fprintf(stdout, "certflow-sandbox: Uanataca RA API at %s (CA %s, client certificate %s, key %s)\n",
			srv.URL, pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile)
	} else {
		fmt.Fprintf(stdout, "certflow-sandbox: Uanataca RA API at %s\n", srv.URL)
	}
	<-ctx.Done()
	return srv.Close()
}

// applyEnv sets every flag not given on the command line from its
// SANDBOX_* environment variable, so containers and scripts can configure
// the sandbox without rebuilding its command line.
func applyEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "SANDBOX_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok || given[f.Name] || err != nil {
			return
		}
		if setErr := fs.Set(f.Name, v); setErr != nil {
			err = fmt.Errorf("%s=%q: %w", name, v, setErr)
		}
	})
	return err
}
