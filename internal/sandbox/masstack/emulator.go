// Package masstack is an in-memory emulator of MasStack Documents'
// identifications with an identity document, with the AuthN token endpoint
// that exchanges a service account's signed assertion for an access token.
//
// MasStack is not reachable from build machines, so certflow's client is
// tested against this emulator over real HTTP. It is written from the
// provider notes (shared/providers/README.md, section 4) and imports nothing
// from internal/provider, so that a misreading of the API in the client shows
// up as a failing test instead of being mirrored here. What MasStack does not
// publish (statuses, response fields, error body, the cancel path) follows
// the same inferences the notes record.
//
// Beyond the API, the emulator simulates the person being identified
// (Options.StartAfter and CompleteAfter, or Complete and Reject) and the
// passing of time (expiry, Expire, RevokeTokens). Faults (latency, 5xx, 429,
// a create whose answer is lost) and a token endpoint outage can be
// injected at runtime to exercise retry paths.
//
// The emulator keeps no personal data: names and document numbers are read
// to validate a create and then dropped, and log lines carry methods, paths
// (which hold only the tenant and uuids) and statuses.
package masstack

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
)

// Identification statuses, as inferred in the provider notes.
const (
	StatusPending    = "PENDING"
	StatusInProgress = "IN_PROGRESS"
	StatusCompleted  = "COMPLETED"
	StatusRejected   = "REJECTED"
	StatusExpired    = "EXPIRED"
	StatusCancelled  = "CANCELLED"
)

// DefaultOrg is the tenant the emulator knows when Options.Orgs is empty,
// the one the provider notes use as example.
const DefaultOrg = "yoigo"

// DefaultTokenTTL is the lifetime of an access token when Options.TokenTTL
// is zero.
const DefaultTokenTTL = 5 * time.Minute

// Options configures an Emulator.
type Options struct {
	// Orgs are the tenants (org_id) the API knows; empty means DefaultOrg.
	Orgs []string
	// AccountFiles are service-account files (as GenerateServiceAccount
	// writes them) whose keys the token endpoint trusts, by their
	// private_key_id. Only the public half of each key is kept.
	AccountFiles []string
	// Audience is the aud an assertion must carry. Empty means the token
	// endpoint's own URL as the client reached it (scheme, Host header and
	// path), which is what a client configured with Server.TokenURL sends.
	Audience string
	// TokenTTL is the lifetime of the access tokens issued, in whole
	// seconds (at least one); zero means DefaultTokenTTL. Tests use a
	// second or two to see tokens expire.
	TokenTTL time.Duration
	// StartAfter, when > 0, moves a PENDING identification to IN_PROGRESS
	// after this delay, as if the person opened the link. With 0 only
	// Complete and Reject move it on.
	StartAfter time.Duration
	// CompleteAfter, when > 0, ends an IN_PROGRESS identification after
	// this delay: COMPLETED, or REJECTED if its document number starts
	// with RejectDocumentPrefix. With 0 it stays IN_PROGRESS.
	CompleteAfter time.Duration
	// RejectDocumentPrefix, when set, makes the identifications of
	// document numbers starting with it end REJECTED instead of COMPLETED,
	// so that a test or a demo picks its outcome with its input.
	RejectDocumentPrefix string
	// Faults is the initial fault injection on the API (not the token
	// endpoint); change it with SetFaults.
	Faults sandbox.Faults
	// TokenOutage makes the token endpoint answer 503; change it with
	// SetTokenOutage.
	TokenOutage bool
	// Seed seeds the fault-injection random source, so that a test run can
	// be replayed; 0 picks a random seed.
	Seed uint64
	// Log, when set, receives one line per call. Lines never carry bodies,
	// which hold personal data and credentials.
	Log io.Writer
}

// Stats counts what the emulator did, for tests to assert on.
type Stats struct {
	TokensIssued   int64 // access tokens issued
	TokensRejected int64 // token requests refused (bad grant or assertion)
	Creates        int64 // identifications created
	Cancels        int64 // identifications cancelled
	// LastCancelReason is the reason given with the last cancel.
	LastCancelReason string
	Unauthorized     int64 // API calls answered 401
	FaultsInjected   int64 // API calls answered with an injected 429 or 5xx
	AnswersLost      int64 // creates applied whose answer was dropped (Faults.LoseCreateAnswerRate, LoseNextCreateAnswers)
}

type counters struct {
	tokensIssued, tokensRejected, creates, cancels, unauthorized atomic.Int64
}

// Emulator is the emulated token endpoint and API; it is an http.Handler
// serving /oauth/token and /v1/. It is safe for concurrent use.
type Emulator struct {
	opts     Options
	orgs     map[string]bool
	accounts map[string]account // by private_key_id
	handler  http.Handler
	faults   *sandbox.FaultInjector
	log      *sandbox.Logger

	tokenOutage atomic.Bool

	mu               sync.Mutex
	closed           bool
	tokens           map[string]time.Time // access token → expiry
	idents           map[string]*identification
	lastCancelReason string

	stats counters
}

// identification is the emulator's record. It holds no personal data: the
// document number only decides reject, when the identification is created.
type identification struct {
	id        string
	org       string
	status    string
	url       string
	createdAt time.Time
	expiresAt time.Time
	reject    bool
	step      *time.Timer // pending StartAfter or CompleteAfter transition
	expiry    *time.Timer
}

// New returns an emulator configured by opts. It fails when a service
// account file cannot be read.
func New(opts Options) (*Emulator, error) {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	// expires_in is in whole seconds; a token living longer or shorter
	// than it announces would make clients misjudge it.
	opts.TokenTTL = max(opts.TokenTTL.Truncate(time.Second), time.Second)
	orgs := opts.Orgs
	if len(orgs) == 0 {
		orgs = []string{DefaultOrg}
	}
	e := &Emulator{
		opts:     opts,
		orgs:     map[string]bool{},
		accounts: map[string]account{},
		faults:   sandbox.NewFaultInjector(opts.Faults, opts.Seed),
		log:      sandbox.NewLogger(opts.Log, "masstack-sandbox: "),
		tokens:   map[string]time.Time{},
		idents:   map[string]*identification{},
	}
	for _, org := range orgs {
		e.orgs[org] = true
	}
	for _, path := range opts.AccountFiles {
		kid, a, err := loadAccount(path)
		if err != nil {
			return nil, err
		}
		e.accounts[kid] = a
	}
	e.tokenOutage.Store(opts.TokenOutage)
	e.handler = e.routes()
	return e, nil
}

// Close stops the pending automatic transitions and expiries. The handler
// keeps answering calls afterwards, but nothing changes by itself any more.
func (e *Emulator) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for _, it := range e.idents {
		it.stopTimers()
	}
}

// SetFaults replaces the faults injected on the API; it takes effect on the
// next call.
func (e *Emulator) SetFaults(f sandbox.Faults) { e.faults.Set(f) }

// LoseNextCreateAnswers makes the next n creates store the identification
// and then close the connection without answering.
func (e *Emulator) LoseNextCreateAnswers(n int) { e.faults.LoseNextCreateAnswers(n) }

// SetTokenOutage starts (true) or ends (false) a token endpoint outage:
// while it lasts the endpoint answers 503 and issues nothing.
func (e *Emulator) SetTokenOutage(down bool) { e.tokenOutage.Store(down) }

// RevokeTokens invalidates every access token issued so far, as an
// administrator revoking the service account's sessions would: the next
// API call with one of them is answered 401.
func (e *Emulator) RevokeTokens() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.tokens)
}

// Stats returns a snapshot of the counters.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	reason := e.lastCancelReason
	e.mu.Unlock()
	c := &e.stats
	return Stats{
		TokensIssued:     c.tokensIssued.Load(),
		TokensRejected:   c.tokensRejected.Load(),
		Creates:          c.creates.Load(),
		Cancels:          c.cancels.Load(),
		LastCancelReason: reason,
		Unauthorized:     c.unauthorized.Load(),
		FaultsInjected:   e.faults.Injected(),
		AnswersLost:      e.faults.AnswersLost(),
	}
}

// Status returns the status of identification id and whether it exists.
func (e *Emulator) Status(id string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	it := e.idents[id]
	if it == nil {
		return "", false
	}
	return it.status, true
}

// Complete simulates the person finishing the identification successfully
// now: PENDING or IN_PROGRESS → COMPLETED.
func (e *Emulator) Complete(id string) error { return e.finish(id, StatusCompleted) }

// Reject simulates the identification failing now (document not accepted,
// face not matching): PENDING or IN_PROGRESS → REJECTED.
func (e *Emulator) Reject(id string) error { return e.finish(id, StatusRejected) }

// Expire makes the identification's link expire now, without waiting for
// its expires_in: PENDING or IN_PROGRESS → EXPIRED.
func (e *Emulator) Expire(id string) error { return e.finish(id, StatusExpired) }

func (e *Emulator) finish(id, status string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	it := e.idents[id]
	if it == nil {
		return fmt.Errorf("masstack sandbox: identification %s does not exist", id)
	}
	if isFinal(it.status) {
		return fmt.Errorf("masstack sandbox: identification %s is already %s; it cannot become %s", id, it.status, status)
	}
	e.setStatusLocked(it, status)
	return nil
}

// isFinal tells whether an identification in status can change no more.
func isFinal(status string) bool {
	switch status {
	case StatusCompleted, StatusRejected, StatusExpired, StatusCancelled:
		return true
	}
	return false
}

// setStatusLocked moves it to status and schedules what follows: the
// CompleteAfter step after IN_PROGRESS, nothing after a final status. The
// caller holds e.mu.
func (e *Emulator) setStatusLocked(it *identification, status string) {
	it.status = status
	if it.step != nil {
		it.step.Stop()
		it.step = nil
	}
	if isFinal(status) {
		it.stopTimers()
		return
	}
	if e.closed {
		return
	}
	switch {
	case status == StatusPending && e.opts.StartAfter > 0:
		it.step = e.after(e.opts.StartAfter, it.id, StatusPending, StatusInProgress)
	case status == StatusInProgress && e.opts.CompleteAfter > 0:
		end := StatusCompleted
		if it.reject {
			end = StatusRejected
		}
		it.step = e.after(e.opts.CompleteAfter, it.id, StatusInProgress, end)
	}
}

// after schedules the move of identification id from → to; it does nothing
// if the identification has moved on meanwhile (cancelled, expired).
func (e *Emulator) after(d time.Duration, id, from, to string) *time.Timer {
	return time.AfterFunc(d, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		it := e.idents[id]
		if e.closed || it == nil || it.status != from {
			return
		}
		e.setStatusLocked(it, to)
	})
}

// expireAt schedules the expiry of identification id at its expires_at.
func (e *Emulator) expireAt(it *identification) {
	id := it.id
	it.expiry = time.AfterFunc(time.Until(it.expiresAt), func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		it := e.idents[id]
		if e.closed || it == nil || isFinal(it.status) {
			return
		}
		e.setStatusLocked(it, StatusExpired)
	})
}

func (it *identification) stopTimers() {
	for _, t := range []**time.Timer{&it.step, &it.expiry} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
}

// knownOrgs lists the tenants, for error messages that help fix a wrong
// org_id.
func (e *Emulator) knownOrgs() string {
	return strings.Join(slices.Sorted(maps.Keys(e.orgs)), ", ")
}
