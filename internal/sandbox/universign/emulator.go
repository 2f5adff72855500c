// Package universign is an in-memory emulator of Universign's standalone
// registrations API (create, read, cancel a certificate registration
// session for a future signer).
//
// The real API is not reachable from build machines, so certflow's client is
// tested against this emulator over real HTTP. It is written from the
// public documentation and the provider notes only — it imports nothing
// from internal/provider, and keeps its own copy of the documented
// enumerations — so that a misreading of the API in the client shows up as
// a failing test instead of being mirrored here. What the documentation
// leaves open is inferred the way the provider notes (section 2) infer it:
// GET and DELETE /v1/registrations/{id}, the states completed, canceled,
// failed and expired, and the {"error", "error_description"} body.
//
// Beyond the API, the emulator simulates the applicant, who completes an
// open registration (Options.CompleteAfter or Complete), and the 7-day
// lifetime of a session (Options.ExpireAfter or Expire). Faults (latency,
// 5xx, 429, a create whose answer is lost) can be injected at runtime to
// exercise retry paths.
//
// The emulator never logs personal data or API keys: log lines carry
// methods, paths (which hold only registration ids), statuses and ids.
package universign

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
)

// Registration states; only open is documented, the others are inferred.
const (
	StateOpen      = "open"
	StateCompleted = "completed"
	StateCanceled  = "canceled"
	StateFailed    = "failed"
	StateExpired   = "expired"
)

// Defaults applied by New to zero Options fields.
const (
	// DefaultAPIKey is the key the emulator accepts when Options.APIKeys is
	// empty.
	DefaultAPIKey = "dev-universign-key"
	// DefaultExpireAfter is the documented lifetime of a registration
	// session.
	DefaultExpireAfter = 7 * 24 * time.Hour
)

// Options configures an Emulator. The zero value accepts DefaultAPIKey,
// expires sessions after 7 days and never completes one on its own.
type Options struct {
	// APIKeys are the accepted API keys; empty means [DefaultAPIKey].
	APIKeys []string
	// CompleteAfter, when > 0, completes an open registration after this
	// delay, as if the applicant finished the session. With 0, only
	// Complete does.
	CompleteAfter time.Duration
	// ExpireAfter is how long a registration stays open before it expires
	// (default DefaultExpireAfter).
	ExpireAfter time.Duration
	// Faults is the initial fault injection; change it with SetFaults.
	// Webhook rates do not apply: Universign sends no registration webhook.
	Faults sandbox.Faults
	// Seed seeds the fault-injection random source, so that a test run can
	// be replayed; 0 picks a random seed.
	Seed uint64
	// Log, when set, receives one line per API call and per state change.
	Log io.Writer
}

// Stats counts what the emulator did, for tests to assert on.
type Stats struct {
	Creates        int64 // registrations created
	Cancels        int64 // open → canceled
	Completed      int64 // open → completed, by timer or Complete
	Failed         int64 // open → failed, by Fail
	Expired        int64 // open → expired, by timer or Expire
	FaultsInjected int64 // API calls answered with an injected 429 or 5xx
	AnswersLost    int64 // creates applied whose answer was dropped (Faults.LoseCreateAnswerRate, LoseNextCreateAnswers)
}

type counters struct {
	creates, cancels, completed, failed, expired atomic.Int64
}

// Emulator is the emulated registrations API; it is an http.Handler
// serving /v1/registrations. It is safe for concurrent use.
type Emulator struct {
	opts    Options
	keys    [][]byte
	log     *sandbox.Logger
	faults  *sandbox.FaultInjector
	handler http.Handler

	mu            sync.Mutex
	closed        bool
	registrations map[string]*registration

	stats counters
}

// registration is one session. url is built when it is created, from the
// host the API was called on, so the link points at the emulator in use.
type registration struct {
	id, state, url string
	timers         []*time.Timer // pending completion and expiry
}

// New returns an emulator configured by opts.
func New(opts Options) *Emulator {
	if len(opts.APIKeys) == 0 {
		opts.APIKeys = []string{DefaultAPIKey}
	}
	if opts.ExpireAfter <= 0 {
		opts.ExpireAfter = DefaultExpireAfter
	}
	e := &Emulator{
		opts:          opts,
		log:           sandbox.NewLogger(opts.Log, "universign-sandbox: "),
		faults:        sandbox.NewFaultInjector(opts.Faults, opts.Seed),
		registrations: map[string]*registration{},
	}
	for _, k := range opts.APIKeys {
		e.keys = append(e.keys, []byte(k))
	}
	e.handler = sandbox.API(http.HandlerFunc(e.serve), e.faults, writeError, e.log)
	return e
}

// ServeHTTP serves the emulated API: the call's log line and injected
// faults (sandbox.API), then authentication, routing and the endpoint.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.handler.ServeHTTP(w, r)
}

// Close stops pending completions and expiries. The handler keeps
// answering API calls afterwards, but registrations no longer change on
// their own.
func (e *Emulator) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for _, reg := range e.registrations {
		stopTimers(reg)
	}
}

// SetFaults replaces the injected faults; it takes effect on the next call.
func (e *Emulator) SetFaults(f sandbox.Faults) { e.faults.Set(f) }

// LoseNextCreateAnswers makes the next n creates register the session and
// then close the connection without answering.
func (e *Emulator) LoseNextCreateAnswers(n int) { e.faults.LoseNextCreateAnswers(n) }

// Stats returns a snapshot of the counters.
func (e *Emulator) Stats() Stats {
	c := &e.stats
	return Stats{
		Creates:        c.creates.Load(),
		Cancels:        c.cancels.Load(),
		Completed:      c.completed.Load(),
		Failed:         c.failed.Load(),
		Expired:        c.expired.Load(),
		FaultsInjected: e.faults.Injected(),
		AnswersLost:    e.faults.AnswersLost(),
	}
}

// State returns the state of registration id and whether it exists.
func (e *Emulator) State(id string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	reg := e.registrations[id]
	if reg == nil {
		return "", false
	}
	return reg.state, true
}

// Complete simulates the applicant finishing registration id now.
func (e *Emulator) Complete(id string) error { return e.end(id, StateCompleted, "Complete") }

// Fail simulates registration id failing now (e.g. the applicant's
// identity could not be verified).
func (e *Emulator) Fail(id string) error { return e.end(id, StateFailed, "Fail") }

// Expire makes registration id expire now, without waiting ExpireAfter.
func (e *Emulator) Expire(id string) error { return e.end(id, StateExpired, "Expire") }

// end moves an open registration to the final state to, by the named cause.
func (e *Emulator) end(id, to, cause string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	reg := e.registrations[id]
	if reg == nil {
		return fmt.Errorf("universign sandbox: registration %s does not exist", id)
	}
	if reg.state != StateOpen {
		return fmt.Errorf("universign sandbox: registration %s is %s; %s needs it open", id, reg.state, cause)
	}
	e.endLocked(reg, to, cause)
	return nil
}

// endLocked moves reg from open to the final state to: counters, timers and
// the log line. The caller holds e.mu and has checked reg is open.
func (e *Emulator) endLocked(reg *registration, to, cause string) {
	reg.state = to
	stopTimers(reg)
	switch to {
	case StateCompleted:
		e.stats.completed.Add(1)
	case StateCanceled:
		e.stats.cancels.Add(1)
	case StateFailed:
		e.stats.failed.Add(1)
	case StateExpired:
		e.stats.expired.Add(1)
	}
	e.log.Printf("registration %s open -> %s (%s)", reg.id, to, cause)
}

// addLocked stores a new open registration and schedules its completion
// and expiry. The caller holds e.mu.
func (e *Emulator) addLocked(host string) *registration {
	id := "reg_" + rand.Text()
	reg := &registration{id: id, state: StateOpen, url: "https://" + host + "/registration/" + id}
	e.registrations[id] = reg
	e.stats.creates.Add(1)
	if !e.closed {
		if e.opts.CompleteAfter > 0 {
			reg.timers = append(reg.timers, e.after(e.opts.CompleteAfter, id, StateCompleted, "applicant"))
		}
		reg.timers = append(reg.timers, e.after(e.opts.ExpireAfter, id, StateExpired, "session lifetime"))
	}
	return reg
}

// after schedules the end of registration id; it does nothing if the
// registration has ended (canceled, completed) in the meantime.
func (e *Emulator) after(d time.Duration, id, to, cause string) *time.Timer {
	return time.AfterFunc(d, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		reg := e.registrations[id]
		if e.closed || reg == nil || reg.state != StateOpen {
			return
		}
		e.endLocked(reg, to, cause)
	})
}

func stopTimers(reg *registration) {
	for _, t := range reg.timers {
		t.Stop()
	}
	reg.timers = nil
}
