// Package uanataca is an in-memory emulator of the Uanataca RA API (the
// classic workflow: scratchcards, requests, document upload, RAO approval,
// cancellation and status webhooks).
//
// The real API is not reachable from build machines, so certflow's client is
// tested against this emulator over real HTTP. It is written from the public
// guide and swagger only — it imports nothing from internal/provider — so that
// a misreading of the API in the client shows up as a failing test instead of
// being mirrored here. Where the real API is awkward the emulator is awkward
// too: get_first_unused reserves nothing (two callers racing get the same
// card, and the second create fails with 500 "Invalid ScratchCard"), paths
// work with and without the trailing slash, and errors use the RA's
// {"code","id","error"} body.
//
// Beyond the API, the emulator simulates the people involved: a RAO who
// approves requests in the RA's web UI (Options.AutoApproveAfter or Approve)
// and an applicant who completes the self-service generation page
// (Options.IssueAfter or Complete). Faults (latency, 5xx, 429, a create
// whose answer is lost, lost or duplicated webhooks) can be injected at
// runtime to exercise retry paths.
//
// The emulator never logs personal data: log lines carry methods, paths
// (which hold only numeric ids), statuses and request pks.
package uanataca

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
)

// Request statuses used by the emulated classic workflow.
const (
	StatusCreated      = "CREATED"
	StatusVideoPending = "VIDEOPENDING"
	StatusEnrollReady  = "ENROLLREADY"
	StatusIssued       = "ISSUED"
	StatusRenewed      = "RENEWED"
	StatusCancelled    = "CANCELLED"
)

// Webhook formats, see Options.WebhookFormat.
const (
	WebhookLegacy = "legacy"
	WebhookEvent  = "event"
)

// Defaults applied to zero Options fields: the shared webhook sender's and
// fault injector's, as Uanataca documents no retry policy of its own.
const (
	DefaultWebhookAttempts = sandbox.DefaultWebhookAttempts
	DefaultWebhookBackoff  = sandbox.DefaultWebhookBackoff
	DefaultRetryAfter      = sandbox.DefaultRetryAfter
)

// First ids handed out, in the ranges of the guide's examples so that logs
// and test failures look like the real thing.
const (
	firstCardPK    = 1000
	firstCardSN    = 1200000
	firstRequestPK = 46000
	firstDocPK     = 48000
)

// RAOCredentials are the cloud-certificate credentials of the Registration
// Authority Officer that pl_approve accepts.
type RAOCredentials struct {
	Username string
	Password string
	PIN      string
	RAOID    string
}

// DefaultRAO is the RAO the emulator accepts when Options.RAO is zero; the
// values are the guide's pl_approve example.
var DefaultRAO = RAOCredentials{Username: "1000279", Password: "3DPTm:N4", PIN: "23bYQq9a", RAOID: "123"}

// Options configures an Emulator. The zero value is a usable emulator with no
// RA, no automatic transitions and no webhooks.
type Options struct {
	// RAs maps an RA id (decimal, as the RA's pk) to the number of
	// scratchcards in its pool. Serial numbers are sequential within each
	// RA and unique across RAs.
	RAs map[string]int
	// RAO is the officer pl_approve accepts; zero means DefaultRAO.
	RAO RAOCredentials
	// AutoApproveAfter, when > 0, moves a CREATED request to ENROLLREADY
	// after this delay, as if a RAO approved it in the RA's web UI (which
	// needs no documents uploaded through the API).
	AutoApproveAfter time.Duration
	// FirstRequestPK is the pk of the first request created (default
	// 46000). The RA's pks are unique for good; emulators that share one
	// Temporal (the end-to-end tests) start apart, as the RA never reuses
	// a pk.
	FirstRequestPK int64
	// IssueAfter, when > 0, moves an ENROLLREADY request to ISSUED after
	// this delay, as if the applicant completed the self-service page. With
	// 0, only Complete issues.
	IssueAfter time.Duration
	// CreateAnswerDelay holds a create's answer back this long after the
	// request is stored and its webhooks sent, so webhooks reach the caller
	// before it knows the pk (the race certflow's ingress must survive).
	CreateAnswerDelay time.Duration
	// WebhookURL receives status-change webhooks of requests created
	// without their own webhook_url. Empty: such requests send none.
	WebhookURL string
	// WebhookFormat is WebhookLegacy (default) or WebhookEvent.
	WebhookFormat string
	// WebhookAttempts is how many times a webhook is tried before it is
	// given up (default 5); Uanataca does not document its own policy.
	WebhookAttempts int
	// WebhookBackoff is the wait after the first failed attempt, doubled
	// after each further one (default 200ms).
	WebhookBackoff time.Duration
	// WebhookClient sends webhooks; nil means a client with a 5s timeout.
	WebhookClient *http.Client
	// RequireClientCert answers 401 to any call that did not arrive over
	// TLS with a verified client certificate. The TLS listener enforces
	// this already (see Start); the check here also covers a plain
	// listener, so tests can exercise the rejection without TLS.
	RequireClientCert bool
	// Faults is the initial fault injection; change it with SetFaults.
	Faults Faults
	// Seed seeds the fault-injection random source, so that a test run can
	// be replayed; 0 picks a random seed.
	Seed uint64
	// Log, when set, receives one line per API call and per webhook
	// outcome. Lines never carry request bodies or query strings, which
	// hold personal data.
	Log io.Writer
}

// Faults describes injected misbehaviour (sandbox.Faults, shared by every
// emulator). The alias lets callers configure this emulator from this
// package alone: Options{Faults: Faults{...}}.
type Faults = sandbox.Faults

// Stats counts what the emulator did, for tests to assert on.
type Stats struct {
	Creates            int64 // requests created (201)
	InvalidScratchcard int64 // creates refused with 500 "Invalid ScratchCard"
	Approvals          int64 // CREATED → ENROLLREADY, by API, Approve or timer
	Issued             int64 // ENROLLREADY → ISSUED
	Cancels            int64 // requests cancelled
	WebhooksSent       int64 // webhook deliveries answered 2xx (a duplicate counts twice)
	WebhooksFailed     int64 // webhook deliveries given up after all attempts
	WebhooksDropped    int64 // webhooks not sent because of DropWebhookRate
	WebhooksDuplicated int64 // webhooks sent twice because of DuplicateWebhookRate
	FaultsInjected     int64 // API calls answered with an injected 429 or 5xx
	AnswersLost        int64 // creates applied whose answer was dropped (Faults.LoseCreateAnswerRate, LoseNextCreateAnswers)
}

type counters struct {
	creates, invalidScratchcard, approvals, issued, cancels atomic.Int64
}

// Emulator is the emulated RA API; it is an http.Handler serving /api/v1/.
// It is safe for concurrent use.
type Emulator struct {
	opts     Options
	log      *sandbox.Logger
	faults   *sandbox.FaultInjector
	webhooks *sandbox.WebhookSender
	handler  http.Handler // the API behind sandbox.API's logging and faults

	mu          sync.Mutex
	closed      bool
	ras         map[int64]*raPool
	cards       map[string]*scratchcard // by sn
	cardList    []*scratchcard          // by pk
	requests    map[int64]*request
	requestList []*request // by pk
	nextCardPK  int64
	nextCardSN  int64
	nextReqPK   int64
	nextDocPK   int64
	ca          *issuer // created on first issuance

	stats counters
}

type raPool struct {
	cards []*scratchcard // by sn
	next  int            // cards before next are all used
}

// firstUnused returns the lowest card not used by a request, or nil.
func (p *raPool) firstUnused() *scratchcard {
	for p.next < len(p.cards) && p.cards[p.next].usedBy != 0 {
		p.next++
	}
	if p.next == len(p.cards) {
		return nil
	}
	return p.cards[p.next]
}

type scratchcard struct {
	PK      int64  `json:"pk"`
	SN      string `json:"sn"`
	Secrets string `json:"secrets"` // a JSON object encoded as a string, as the RA sends it
	RA      int64  `json:"registration_authority"`
	usedBy  int64  // request pk, 0 while unused
}

type request struct {
	pk          int64
	status      string
	fields      map[string]json.RawMessage // everything submitted, as submitted
	profile     string
	scratchcard string
	ra          int64
	email       string
	webhookURL  string
	docs        map[string]int // uploaded documents by type
	uploads     []Upload       // every upload, in order
	certs       []certificate
	timer       *time.Timer // pending automatic transition
}

// New returns an emulator configured by opts. It panics when opts names an
// RA whose id is not a decimal number or an unknown WebhookFormat: both are
// programming errors in a test or a flag parser, not runtime conditions.
func New(opts Options) *Emulator {
	switch opts.WebhookFormat {
	case "":
		opts.WebhookFormat = WebhookLegacy
	case WebhookLegacy, WebhookEvent:
	default:
		panic(fmt.Sprintf("uanataca: unknown WebhookFormat %q; use %q or %q", opts.WebhookFormat, WebhookLegacy, WebhookEvent))
	}
	if opts.RAO == (RAOCredentials{}) {
		opts.RAO = DefaultRAO
	}
	log := sandbox.NewLogger(opts.Log, "uanataca-sandbox: ")
	faults := sandbox.NewFaultInjector(opts.Faults, opts.Seed)
	e := &Emulator{
		opts:       opts,
		ras:        map[int64]*raPool{},
		cards:      map[string]*scratchcard{},
		requests:   map[int64]*request{},
		nextCardPK: firstCardPK,
		nextCardSN: firstCardSN,
		nextReqPK:  cmp.Or(opts.FirstRequestPK, firstRequestPK),
		nextDocPK:  firstDocPK,
		log:        log,
		faults:     faults,
		webhooks: sandbox.NewWebhookSender(sandbox.WebhookOptions{
			Attempts: opts.WebhookAttempts,
			Backoff:  opts.WebhookBackoff,
			Client:   opts.WebhookClient,
			Faults:   faults,
			Log:      log,
		}),
	}
	e.handler = sandbox.API(http.HandlerFunc(e.serve), faults, writeError, log)
	// Sorted, so that serial numbers do not depend on map order.
	for _, id := range slices.Sorted(maps.Keys(opts.RAs)) {
		e.AddRA(id, opts.RAs[id])
	}
	return e
}

// Close stops pending automatic transitions and webhook deliveries and waits
// for the delivery goroutines to return. The handler keeps answering API
// calls afterwards, but no longer schedules transitions or sends webhooks.
func (e *Emulator) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	for _, r := range e.requestList {
		if r.timer != nil {
			r.timer.Stop()
			r.timer = nil
		}
	}
	e.mu.Unlock()
	e.webhooks.Close()
}

// AddRA adds cards scratchcards to RA ra's pool, creating the RA if needed.
// It panics if ra is not a decimal number (the RA's pk) or cards < 0.
func (e *Emulator) AddRA(ra string, cards int) {
	id, err := strconv.ParseInt(ra, 10, 64)
	if err != nil || id <= 0 {
		panic(fmt.Sprintf("uanataca: RA id %q is not a positive decimal number (the RA's pk, e.g. \"121\")", ra))
	}
	if cards < 0 {
		panic(fmt.Sprintf("uanataca: RA %s: negative scratchcard count %d", ra, cards))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	pool := e.ras[id]
	if pool == nil {
		pool = &raPool{}
		e.ras[id] = pool
	}
	for range cards {
		c := &scratchcard{
			PK:      e.nextCardPK,
			SN:      strconv.FormatInt(e.nextCardSN, 10),
			Secrets: newSecrets(),
			RA:      id,
		}
		e.nextCardPK++
		e.nextCardSN++
		pool.cards = append(pool.cards, c)
		e.cards[c.SN] = c
		e.cardList = append(e.cardList, c)
	}
}

// newSecrets returns a card's secrets in the RA's format: a JSON object
// serialised with Python's separators, itself carried as a string.
func newSecrets() string {
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rand.IntN(10))
		}
		return string(b)
	}
	// The real codes mix letters, digits and punctuation; quotes and
	// backslashes are left out so the %q below is valid JSON.
	const codeChars = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789_,.:!"
	code := make([]byte, 8)
	for i := range code {
		code[i] = codeChars[rand.IntN(len(codeChars))]
	}
	return fmt.Sprintf(`{"erc": %q, "enrollment_code": %q, "pin": %q, "puk": %q}`,
		digits(10), code, digits(8), digits(8))
}

// SetFaults replaces the injected faults; it takes effect on the next call.
func (e *Emulator) SetFaults(f Faults) { e.faults.Set(f) }

// LoseNextCreateAnswers makes the next n creates store the request (its
// card used, its webhooks sent) and then close the connection without
// answering.
func (e *Emulator) LoseNextCreateAnswers(n int) { e.faults.LoseNextCreateAnswers(n) }

// Stats returns a snapshot of the counters.
func (e *Emulator) Stats() Stats {
	c := &e.stats
	w := e.webhooks.Stats()
	return Stats{
		Creates:            c.creates.Load(),
		InvalidScratchcard: c.invalidScratchcard.Load(),
		Approvals:          c.approvals.Load(),
		Issued:             c.issued.Load(),
		Cancels:            c.cancels.Load(),
		WebhooksSent:       w.Sent,
		WebhooksFailed:     w.Failed,
		WebhooksDropped:    w.Dropped,
		WebhooksDuplicated: w.Duplicated,
		FaultsInjected:     e.faults.Injected(),
		AnswersLost:        e.faults.AnswersLost(),
	}
}

// Status returns the status of request pk and whether it exists.
func (e *Emulator) Status(pk int64) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.requests[pk]
	if r == nil {
		return "", false
	}
	return r.status, true
}

// Upload is a document the emulator received with pl_upload_document:
// its type, size and SHA-256; the content itself is not kept.
type Upload struct {
	Type   string
	Size   int64
	SHA256 string
}

// Uploads returns the documents uploaded to request pk, in order.
func (e *Emulator) Uploads(pk int64) []Upload {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.requests[pk]; r != nil {
		return slices.Clone(r.uploads)
	}
	return nil
}

// Approve simulates a RAO approving request pk in the RA's web UI:
// CREATED → ENROLLREADY, without the document check of pl_approve.
func (e *Emulator) Approve(pk int64) error {
	return e.force(pk, StatusCreated, StatusEnrollReady)
}

// Complete simulates the applicant finishing the self-service generation
// page now: ENROLLREADY → ISSUED, with a certificate in certificate_set.
func (e *Emulator) Complete(pk int64) error {
	return e.force(pk, StatusEnrollReady, StatusIssued)
}

func (e *Emulator) force(pk int64, from, to string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.requests[pk]
	if r == nil {
		return fmt.Errorf("uanataca sandbox: request %d does not exist", pk)
	}
	if r.status != from {
		return fmt.Errorf("uanataca sandbox: request %d is %s; moving it to %s needs %s", pk, r.status, to, from)
	}
	return e.advanceLocked(r, to)
}

// advanceLocked moves r to status to, issuing its certificate first when to
// is ISSUED. The caller holds e.mu.
func (e *Emulator) advanceLocked(r *request, to string) error {
	if to == StatusIssued {
		if e.ca == nil {
			ca, err := newIssuer()
			if err != nil {
				return fmt.Errorf("uanataca sandbox: create the emulated issuing CA: %w", err)
			}
			e.ca = ca
		}
		cert, err := e.ca.issue(r)
		if err != nil {
			return fmt.Errorf("uanataca sandbox: issue certificate for request %d: %w", r.pk, err)
		}
		r.certs = append(r.certs, cert)
	}
	e.setStatusLocked(r, to)
	return nil
}

// setStatusLocked records a status change: counters, the next automatic
// transition and the webhook. A new request has status "" before its first
// call. The caller holds e.mu.
func (e *Emulator) setStatusLocked(r *request, status string) {
	prev := r.status
	r.status = status
	switch status {
	case StatusEnrollReady:
		e.stats.approvals.Add(1)
	case StatusIssued:
		e.stats.issued.Add(1)
	case StatusCancelled:
		e.stats.cancels.Add(1)
	}
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if e.closed {
		return
	}
	switch {
	case status == StatusCreated && e.opts.AutoApproveAfter > 0:
		r.timer = e.after(e.opts.AutoApproveAfter, r.pk, StatusCreated, StatusEnrollReady)
	case status == StatusEnrollReady && e.opts.IssueAfter > 0:
		r.timer = e.after(e.opts.IssueAfter, r.pk, StatusEnrollReady, StatusIssued)
	}
	e.notifyLocked(r, prev)
}

// after schedules the transition from → to of request pk; it does nothing
// if the request has moved on (approved by API, cancelled) in the meantime.
func (e *Emulator) after(d time.Duration, pk int64, from, to string) *time.Timer {
	return time.AfterFunc(d, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		r := e.requests[pk]
		if e.closed || r == nil || r.status != from {
			return
		}
		if err := e.advanceLocked(r, to); err != nil {
			e.log.Printf("request %d stays %s: %v", pk, from, err)
		}
	})
}

// knownRAsLocked lists the RA ids, for error messages that help fix a wrong
// id. The caller holds e.mu.
func (e *Emulator) knownRAsLocked() string {
	ids := slices.Sorted(maps.Keys(e.ras))
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(names, ", ")
}
