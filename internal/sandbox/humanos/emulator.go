// Package humanos is an in-memory emulator of Humanos requests: a request
// asks one or more subjects (by email or phone) to verify their contact by
// OTP, optionally their identity (KYC), and to accept or reject credentials;
// Humanos reports each step with a signed, optionally encrypted, webhook.
//
// The real API is not reachable from build machines, so certflow's client
// and webhook ingress are tested against this emulator over real HTTP. It
// follows the provider notes (shared/providers/README.md, section 3) and
// seeds 002 and 004. Unlike the other emulators it imports the provider
// package, for one reason: the request signature and the webhook signature
// and encryption must be exactly what the ingress verifies, so both sides
// use the same known-answer-tested primitives (Sign, Verify, Seal) instead
// of two copies that could drift; the request types only decode the create
// body. What Humanos does not publish (the error body, GET's kyc object,
// identity statuses, the api_version of v1 calls, the key derivation
// settings) is inferred and kept in one place each.
//
// Beyond the API, the emulator simulates the subjects, who decide after
// Options.DecideAfter (or through Decide); contact prefixes pick the
// outcome (reject, failed KYC, a failed OTP first), so a test or a demo
// chooses it with its input. Faults (latency, 5xx, 429, a create whose
// answer is lost, lost or duplicated webhooks) and out-of-order delivery exercise the client's retry paths and
// the ingress's tolerance.
//
// The emulator never logs personal data or keys: log lines carry methods,
// paths (which hold only request ids), statuses, request and credential ids
// and subjects by position, never contacts.
package humanos

import (
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	provider "github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/sandbox"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultAPIKey          = "dev-humanos-key"
	DefaultSignatureSecret = "dev-humanos-signing-secret"
	DefaultWebhookSecret   = "dev-humanos-webhook-secret"
	DefaultRejectPrefix    = "reject"
	DefaultKYCFailPrefix   = "kycfail"
	DefaultOTPFailPrefix   = "otpfail"
	// DefaultCreateLimit is the documented rate limit: creations per
	// minute per API key.
	DefaultCreateLimit = 60
)

// IssuerDID is the issuerDid of every webhook: the emulated issuer's.
const IssuerDID = "did:web:humanos.test"

// Options configures an Emulator.
type Options struct {
	// Keys maps each accepted API key to its signature secret; empty means
	// {DefaultAPIKey: DefaultSignatureSecret}.
	Keys map[string]string
	// WebhookURL receives every webhook; empty: none is sent.
	WebhookURL string
	// WebhookSecret signs webhooks (x-timestamp, x-signature); empty means
	// DefaultWebhookSecret.
	WebhookSecret string
	// Encryption, when set, sends webhook bodies encrypted as
	// {"iv","data","tag"} under the key it derives; the signature then
	// covers that envelope, as sent.
	Encryption *provider.KeyDerivation
	// DecideAfter, when > 0, has every subject of a request go through
	// its steps this long after the create: a failed OTP for OTPFailPrefix
	// contacts, identity verification at KYC security levels, then a
	// decision on each credential. With 0 only Decide moves a subject.
	DecideAfter time.Duration
	// RejectPrefix: contacts starting with it reject every credential
	// (default DefaultRejectPrefix); others accept.
	RejectPrefix string
	// KYCFailPrefix: contacts starting with it fail identity verification
	// and then decide nothing (default DefaultKYCFailPrefix). It has no
	// effect at the CONTACT level, which has no KYC.
	KYCFailPrefix string
	// OTPFailPrefix: contacts starting with it fail their OTP once (an
	// otp.failed webhook) before going on (default DefaultOTPFailPrefix).
	OTPFailPrefix string
	// CreateLimit is how many requests one API key may create per rolling
	// minute before a create is answered 429 (default DefaultCreateLimit).
	CreateLimit int
	// RetryAfter is announced by that 429; zero means the time until the
	// oldest creation leaves the window.
	RetryAfter time.Duration
	// OutOfOrder delivers the webhooks of one request that occur together
	// (one DecideAfter tick, or one Decide) in reverse order, so that a
	// receiver sees a decision before the identity verification or OTP
	// failure that preceded it.
	OutOfOrder bool
	// Faults is the initial fault injection on the API and the webhooks;
	// change it with SetFaults.
	Faults sandbox.Faults
	// Seed seeds the fault-injection random source, so that a test run can
	// be replayed; 0 picks a random seed.
	Seed uint64
	// Log, when set, receives one line per API call, state change and
	// webhook outcome.
	Log io.Writer
}

// Stats counts what the emulator did, for tests to assert on.
type Stats struct {
	Creates              int64 // requests created
	IdempotentReplays    int64 // creates answered with a stored response
	IdempotencyConflicts int64 // creates refused: Idempotency-Key reused with another body
	RateLimited          int64 // creates refused by CreateLimit (not injected faults)
	BadSignatures        int64 // calls refused: X-Signature missing or wrong
	StaleTimestamps      int64 // calls refused: X-Timestamp missing, malformed or out of the window
	Cancels              int64 // requests canceled
	Resends              int64 // OTPs resent
	WebhooksSent         int64 // webhook deliveries answered 2xx (a duplicate counts twice)
	WebhooksFailed       int64 // webhook deliveries given up after every attempt
	WebhooksDropped      int64 // webhooks not sent, by Faults.DropWebhookRate
	WebhooksDuplicated   int64 // webhooks sent twice, by Faults.DuplicateWebhookRate
	FaultsInjected       int64 // API calls answered with an injected 429 or 5xx
	AnswersLost          int64 // creates applied whose answer was dropped (Faults.LoseCreateAnswerRate, LoseNextCreateAnswers)
}

type counters struct {
	creates, replays, conflicts, rateLimited, badSignatures, staleTimestamps, cancels, resends atomic.Int64
}

// Identity statuses of a subject at a KYC security level: the provider
// package's inferred names, so that a rename reaches both sides.
const (
	identityPending  = provider.IdentityPending
	identityVerified = provider.IdentityVerified
	identityFailed   = provider.IdentityFailed
)

// kycLevels are the security levels that verify each subject's identity.
var kycLevels = []string{"ORGANIZATION_KYC", "HUMANOS_KYC", "HUMANOS_REVALIDATION"}

// Emulator is the emulated Humanos API; it is an http.Handler serving
// /v1/request and, with an API-Version header, /request. It is safe for
// concurrent use.
type Emulator struct {
	opts       Options
	webhookKey []byte // nil: webhooks are sent in clear
	log        *sandbox.Logger
	faults     *sandbox.FaultInjector
	webhooks   *sandbox.WebhookSender
	handler    http.Handler

	mu          sync.Mutex
	closed      bool
	requests    map[string]*request
	idempotency map[idempotencyKey]*storedCreate
	creations   map[string][]time.Time // per API key, within the last minute

	stats counters
}

type request struct {
	id, securityLevel, internalID string
	// version is the API-Version the request was created with ("": v1),
	// which shapes its webhooks.
	version     string
	createdAt   time.Time
	canceledAt  time.Time // zero while not canceled
	subjects    []*subject
	credentials []*credential
	timer       *time.Timer // the pending DecideAfter tick
}

type subject struct {
	contact, did, code, link string
	identity                 string // "" at the CONTACT level
	identityAt               time.Time
	otpFailed                bool // the one OTP failure of an OTPFailPrefix contact happened
}

type credential struct {
	id, name, status string
	decisions        []decision
}

type decision struct {
	contact  string
	accepted bool
	at       time.Time
}

// New returns an emulator configured by opts, or an error when
// opts.Encryption derives no key.
func New(opts Options) (*Emulator, error) {
	var key []byte
	if opts.Encryption != nil {
		var err error
		if key, err = opts.Encryption.Key(); err != nil {
			return nil, fmt.Errorf("humanos sandbox: %w", err)
		}
	}
	if len(opts.Keys) == 0 {
		opts.Keys = map[string]string{DefaultAPIKey: DefaultSignatureSecret}
	}
	defaultString(&opts.WebhookSecret, DefaultWebhookSecret)
	defaultString(&opts.RejectPrefix, DefaultRejectPrefix)
	defaultString(&opts.KYCFailPrefix, DefaultKYCFailPrefix)
	defaultString(&opts.OTPFailPrefix, DefaultOTPFailPrefix)
	if opts.CreateLimit <= 0 {
		opts.CreateLimit = DefaultCreateLimit
	}
	log := sandbox.NewLogger(opts.Log, "humanos-sandbox: ")
	faults := sandbox.NewFaultInjector(opts.Faults, opts.Seed)
	e := &Emulator{
		opts:        opts,
		webhookKey:  key,
		log:         log,
		faults:      faults,
		webhooks:    sandbox.NewWebhookSender(sandbox.WebhookOptions{Faults: faults, Log: log}),
		requests:    map[string]*request{},
		idempotency: map[idempotencyKey]*storedCreate{},
		creations:   map[string][]time.Time{},
	}
	e.handler = sandbox.API(http.HandlerFunc(e.serve), faults, writeError, log)
	return e, nil
}

func defaultString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// ServeHTTP serves the emulated API: the call's log line and injected
// faults (sandbox.API), then authentication, routing and the endpoint.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.handler.ServeHTTP(w, r)
}

// Close stops the simulated subjects and webhook deliveries, and waits for
// the deliveries to return. The handler keeps answering API calls
// afterwards, but requests no longer change on their own.
func (e *Emulator) Close() {
	e.mu.Lock()
	e.closed = true
	for _, r := range e.requests {
		r.stopTimer()
	}
	e.mu.Unlock()
	e.webhooks.Close()
}

// SetFaults replaces the injected faults; it takes effect on the next call
// or webhook.
func (e *Emulator) SetFaults(f sandbox.Faults) { e.faults.Set(f) }

// LoseNextCreateAnswers makes the next n creates store the request (and
// its Idempotency-Key's answer) and then close the connection without
// answering; a replay of a stored answer is never lost.
func (e *Emulator) LoseNextCreateAnswers(n int) { e.faults.LoseNextCreateAnswers(n) }

// Stats returns a snapshot of the counters.
func (e *Emulator) Stats() Stats {
	c := &e.stats
	w := e.webhooks.Stats()
	return Stats{
		Creates:              c.creates.Load(),
		IdempotentReplays:    c.replays.Load(),
		IdempotencyConflicts: c.conflicts.Load(),
		RateLimited:          c.rateLimited.Load(),
		BadSignatures:        c.badSignatures.Load(),
		StaleTimestamps:      c.staleTimestamps.Load(),
		Cancels:              c.cancels.Load(),
		Resends:              c.resends.Load(),
		WebhooksSent:         w.Sent,
		WebhooksFailed:       w.Failed,
		WebhooksDropped:      w.Dropped,
		WebhooksDuplicated:   w.Duplicated,
		FaultsInjected:       e.faults.Injected(),
		AnswersLost:          e.faults.AnswersLost(),
	}
}

// Request returns a snapshot of request id, as the client's types hold it
// (subjects' ids are their DIDs), and whether it exists.
func (e *Emulator) Request(id string) (provider.Request, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.requests[id]
	if r == nil {
		return provider.Request{}, false
	}
	snap := provider.Request{
		ID:            r.id,
		SecurityLevel: r.securityLevel,
		CreatedAt:     formatTime(r.createdAt),
		InternalID:    r.internalID,
	}
	if !r.canceledAt.IsZero() {
		snap.CanceledAt = formatTime(r.canceledAt)
	}
	for _, s := range r.subjects {
		snap.Subjects = append(snap.Subjects, provider.Subject{
			Contact: s.contact, ID: s.did, Code: s.code, Link: s.link, IdentityStatus: s.identity,
		})
	}
	for _, c := range r.credentials {
		pc := provider.Credential{ID: c.id, ResourceType: resourceType, Status: c.status, Name: c.name, InternalID: r.internalID}
		for _, d := range c.decisions {
			pc.Decisions = append(pc.Decisions, provider.Decision{Contact: d.contact, Accepted: d.accepted, DecidedAt: formatTime(d.at)})
		}
		snap.Credentials = append(snap.Credentials, pc)
	}
	return snap, true
}

// Decide has subject contact of request requestID accept or reject
// credential credentialID now, as if they did in the Humanos app. The
// subject first goes through the steps still ahead of it, as in the app: a
// failed OTP for an OTPFailPrefix contact, then identity verification at a
// KYC security level. When that verification fails (a KYCFailPrefix
// contact), Decide returns an error and the subject decides nothing.
func (e *Emulator) Decide(requestID, contact, credentialID string, accept bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.requests[requestID]
	if r == nil {
		return fmt.Errorf("humanos sandbox: request %s does not exist", requestID)
	}
	if !r.canceledAt.IsZero() {
		return fmt.Errorf("humanos sandbox: request %s is canceled", requestID)
	}
	// The errors name the subject by position or not at all: they may be
	// logged.
	i := r.subjectIndex(contact)
	if i < 0 {
		return fmt.Errorf("humanos sandbox: request %s has no subject with that contact", requestID)
	}
	c := r.credential(credentialID)
	if c == nil {
		return fmt.Errorf("humanos sandbox: request %s has no credential %s", requestID, credentialID)
	}
	if c.decidedBy(contact) {
		return fmt.Errorf("humanos sandbox: subject %d of request %s has already decided credential %s", i+1, requestID, credentialID)
	}
	var events []event
	now := time.Now()
	ready := e.prepareLocked(r, i, now, &events)
	if ready {
		e.decideLocked(r, i, c, accept, now, &events)
	}
	e.notifyLocked(events)
	if !ready {
		return fmt.Errorf("humanos sandbox: subject %d of request %s failed identity verification and decides nothing", i+1, requestID)
	}
	return nil
}

// tick is the DecideAfter timer of request id: every subject goes through
// its steps and decides every credential it has not decided yet.
func (e *Emulator) tick(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.requests[id]
	if e.closed || r == nil || !r.canceledAt.IsZero() {
		return
	}
	r.timer = nil
	var events []event
	now := time.Now()
	for i, s := range r.subjects {
		if !e.prepareLocked(r, i, now, &events) {
			continue
		}
		accept := !hasPrefix(s.contact, e.opts.RejectPrefix)
		for _, c := range r.credentials {
			if !c.decidedBy(s.contact) {
				e.decideLocked(r, i, c, accept, now, &events)
			}
		}
	}
	e.notifyLocked(events)
}

// prepareLocked takes subject i of r through what precedes its decisions —
// the one failed OTP of an OTPFailPrefix contact, then identity
// verification at a KYC level — appending the webhooks of each step to
// events, and reports whether the subject may decide. The caller holds
// e.mu.
func (e *Emulator) prepareLocked(r *request, i int, now time.Time, events *[]event) bool {
	s := r.subjects[i]
	if hasPrefix(s.contact, e.opts.OTPFailPrefix) && !s.otpFailed {
		s.otpFailed = true
		e.log.Printf("request %s subject %d failed an OTP", r.id, i+1)
		*events = append(*events, r.event(eventOTPFailed, i, "", nil))
	}
	switch s.identity {
	case identityPending:
		s.identityAt = now
		s.identity = identityVerified
		if hasPrefix(s.contact, e.opts.KYCFailPrefix) {
			s.identity = identityFailed
		}
		e.log.Printf("request %s subject %d identity %s", r.id, i+1, s.identity)
		*events = append(*events, r.event(eventIdentity, i, "", kycOutcome(s)))
		return s.identity == identityVerified
	case identityFailed:
		return false
	}
	return true
}

// decideLocked records subject i's decision on c and c's resulting status:
// REJECTED as soon as one subject rejects, APPROVED once every subject
// accepted. The caller holds e.mu.
func (e *Emulator) decideLocked(r *request, i int, c *credential, accept bool, now time.Time, events *[]event) {
	s := r.subjects[i]
	c.decisions = append(c.decisions, decision{contact: s.contact, accepted: accept, at: now})
	switch {
	case c.status != provider.CredentialPending:
	case !accept:
		c.status = provider.CredentialRejected
	case len(c.decisions) == len(r.subjects) && !slices.ContainsFunc(c.decisions, func(d decision) bool { return !d.accepted }):
		c.status = provider.CredentialApproved
	}
	action := map[bool]string{true: "accept", false: "reject"}[accept]
	e.log.Printf("request %s subject %d %ss credential %s (now %s)", r.id, i+1, action, c.id, c.status)
	*events = append(*events, r.event(eventCredential, i, c.id, credentialDecision{Action: action, Date: formatTime(now)}))
}

// subjectIndex returns the position of the subject with contact, or -1.
func (r *request) subjectIndex(contact string) int {
	return slices.IndexFunc(r.subjects, func(s *subject) bool { return s.contact == contact })
}

func (r *request) credential(id string) *credential {
	for _, c := range r.credentials {
		if c.id == id {
			return c
		}
	}
	return nil
}

func (r *request) stopTimer() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

func (c *credential) decidedBy(contact string) bool {
	return slices.ContainsFunc(c.decisions, func(d decision) bool { return d.contact == contact })
}

// hasPrefix matches a contact prefix regardless of case, as email
// addresses are usually compared.
func hasPrefix(contact, prefix string) bool {
	return strings.HasPrefix(strings.ToLower(contact), strings.ToLower(prefix))
}

// timeLayout renders every date the way Humanos' JavaScript backend does
// (Date.toISOString): RFC 3339 in UTC with milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// objectID returns a new 24-hex id, the shape of the MongoDB ObjectIds
// Humanos uses for requests and credentials.
func objectID() string { return sandbox.RandomHex(12) }

// otpCode returns a 6-digit OTP.
func otpCode() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000)) // never fails with crypto/rand.Reader
	return fmt.Sprintf("%06d", n)
}
