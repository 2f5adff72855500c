// Package sandbox is what every provider emulator shares: fault injection
// (latency, 429, 5xx, creates whose answer is lost, lost or duplicated
// webhooks), the per-call log line,
// webhook delivery, the plumbing of answers and request bodies, and
// serving over a real socket. Each emulator under it (uanataca,
// universign, ...) keeps only its provider's API and error body; retry
// paths are then exercised the same way against every provider.
//
// Nothing here logs a query string or a body: both carry the personal data
// of the people the requests are about.
package sandbox

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRetryAfter is the delay 429 answers announce when
// Faults.RetryAfter is zero.
const DefaultRetryAfter = time.Second

// Faults describes injected misbehaviour. Rates are probabilities in 0..1
// (out-of-range values are clamped); ErrorRate and RateLimitRate are drawn
// from the same roll, so together they should not exceed 1, and so are
// DropWebhookRate and DuplicateWebhookRate. LoseCreateAnswerRate has its
// own roll, taken only when it is above 0, so that adding it leaves the
// other faults of a seed unchanged.
type Faults struct {
	// Latency is added to every API call.
	Latency time.Duration
	// ErrorRate is the share of API calls answered 500, 502 or 503 before
	// any state change.
	ErrorRate float64
	// RateLimitRate is the share of API calls answered 429 with a
	// Retry-After header, before any state change.
	RateLimitRate float64
	// RetryAfter is the delay announced by 429 answers (whole seconds,
	// rounded up; default 1s).
	RetryAfter time.Duration
	// DropWebhookRate is the share of webhooks never sent.
	DropWebhookRate float64
	// DuplicateWebhookRate is the share of webhooks sent twice.
	DuplicateWebhookRate float64
	// LoseCreateAnswerRate is the share of creates (each emulator's create
	// endpoint) that take effect and then lose their answer: the
	// connection is closed without a response, so the client sees a
	// transport error and cannot tell whether the object was created. See
	// FaultInjector.LoseAnswer; FaultInjector.LoseNextCreateAnswers is the
	// deterministic form.
	LoseCreateAnswerRate float64
}

// FaultInjector draws the faults of each API call and webhook from a seeded
// source, so that a failing test run can be replayed with its seed. It is
// safe for concurrent use.
type FaultInjector struct {
	mu       sync.Mutex
	faults   Faults
	rng      *rand.Rand
	loseNext int // creates still to lose their answer, by LoseNextCreateAnswers
	injected atomic.Int64
	lost     atomic.Int64
}

// NewFaultInjector returns an injector of f; seed 0 picks a random seed.
func NewFaultInjector(f Faults, seed uint64) *FaultInjector {
	if seed == 0 {
		seed = rand.Uint64()
	}
	fi := &FaultInjector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	fi.Set(f)
	return fi
}

// Set replaces the faults, clamping rates into 0..1 and defaulting
// RetryAfter; it takes effect on the next call.
func (fi *FaultInjector) Set(f Faults) {
	clamp := func(v float64) float64 { return min(max(v, 0), 1) }
	f.ErrorRate = clamp(f.ErrorRate)
	f.RateLimitRate = clamp(f.RateLimitRate)
	f.DropWebhookRate = clamp(f.DropWebhookRate)
	f.DuplicateWebhookRate = clamp(f.DuplicateWebhookRate)
	f.LoseCreateAnswerRate = clamp(f.LoseCreateAnswerRate)
	if f.RetryAfter <= 0 {
		f.RetryAfter = DefaultRetryAfter
	}
	fi.mu.Lock()
	fi.faults = f
	fi.mu.Unlock()
}

// Get returns the faults in effect, as Set normalised them.
func (fi *FaultInjector) Get() Faults {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.faults
}

// Injected counts the API calls answered with an injected 429 or 5xx.
func (fi *FaultInjector) Injected() int64 { return fi.injected.Load() }

// LoseNextCreateAnswers makes the next n creates lose their answer,
// whatever LoseCreateAnswerRate says (n <= 0 ends a pending count): the
// deterministic form of the fault, for tests that need "the first create
// is applied and its answer never arrives".
func (fi *FaultInjector) LoseNextCreateAnswers(n int) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.loseNext = max(n, 0)
}

// AnswersLost counts the creates that took effect and whose answer
// LoseAnswer dropped.
func (fi *FaultInjector) AnswersLost() int64 { return fi.lost.Load() }

// LoseAnswer is called by an emulator's create endpoint once the create
// has taken effect (the object is stored, its webhooks are on their way)
// and before it answers. When this create draws the lost-answer fault
// (LoseNextCreateAnswers, else LoseCreateAnswerRate), LoseAnswer takes
// over the connection and closes it without writing a byte, and returns
// true: the endpoint must then write nothing. The client gets a transport
// error (EOF or a reset connection), the ambiguous outcome of a real
// provider whose answer is lost on the way back: the create happened, the
// caller cannot know it. Otherwise it returns false and the endpoint
// answers as usual.
func (fi *FaultInjector) LoseAnswer(w http.ResponseWriter) bool {
	if !fi.drawLoseAnswer() {
		return false
	}
	fi.lost.Add(1)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// No connection to take (HTTP/2, a test's recorder): abort the
		// response, which the server turns into a closed connection or a
		// reset stream, still without an answer.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
	return true
}

// drawLoseAnswer decides whether one create loses its answer.
func (fi *FaultInjector) drawLoseAnswer() bool {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.loseNext > 0 {
		fi.loseNext--
		return true
	}
	return fi.faults.LoseCreateAnswerRate > 0 && fi.rng.Float64() < fi.faults.LoseCreateAnswerRate
}

// apiFault draws the fault of one API call: the latency to add and the
// status to answer instead of handling the call (0: handle it).
func (fi *FaultInjector) apiFault() (latency time.Duration, status int, retryAfter time.Duration) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := fi.faults
	switch u := fi.rng.Float64(); {
	case u < f.ErrorRate:
		status = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[fi.rng.IntN(3)]
	case u < f.ErrorRate+f.RateLimitRate:
		status = http.StatusTooManyRequests
	}
	return f.Latency, status, f.RetryAfter
}

// WebhookFate draws what happens to one webhook: never sent (drop), sent
// twice (duplicate), or, when both are false, sent once.
func (fi *FaultInjector) WebhookFate() (drop, duplicate bool) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	switch u := fi.rng.Float64(); {
	case u < fi.faults.DropWebhookRate:
		return true, false
	case u < fi.faults.DropWebhookRate+fi.faults.DuplicateWebhookRate:
		return false, true
	}
	return false, false
}

// Logger is an emulator's log. A nil *Logger discards, so an emulator
// without Options.Log needs no checks at each line.
type Logger struct{ l *log.Logger }

// NewLogger returns a logger writing to w, each line starting with prefix
// (e.g. "uanataca-sandbox: ") and a timestamp, or nil when w is nil.
func NewLogger(w io.Writer, prefix string) *Logger {
	if w == nil {
		return nil
	}
	return &Logger{l: log.New(w, prefix, log.LstdFlags|log.Lmicroseconds)}
}

// Printf logs one line. The caller keeps personal data out of it.
func (l *Logger) Printf(format string, args ...any) {
	if l != nil {
		l.l.Printf(format, args...)
	}
}

// std is l as a standard logger for http.Server.ErrorLog.
func (l *Logger) std() *log.Logger {
	if l == nil {
		return log.New(io.Discard, "", 0)
	}
	return l.l
}

// API wraps an emulator's handler: it logs each call (method, path, status,
// duration — never the query string or the body), applies the latency, and
// answers an injected 429 (with Retry-After) or 500/502/503 before next
// runs, so an injected fault never changes state, as a real rate limiter or
// failing gateway in front of the provider would not. (The one fault after
// the state changed, a create's lost answer, is the create endpoint's to
// draw: see LoseAnswer.) writeError writes the body in the provider's own
// error format.
func API(next http.Handler, fi *FaultInjector, writeError ErrorWriter, logger *Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			took := time.Since(start).Round(time.Microsecond)
			if rec.hijacked {
				logger.Printf("%s %s -> applied, connection closed without an answer (injected fault) (%s)", r.Method, r.URL.Path, took)
				return
			}
			logger.Printf("%s %s -> %d (%s)", r.Method, r.URL.Path, rec.status, took)
		}()
		latency, fault, retryAfter := fi.apiFault()
		if latency > 0 {
			select {
			case <-time.After(latency):
			case <-r.Context().Done():
				return
			}
		}
		switch fault {
		case 0:
			next.ServeHTTP(rec, r)
		case http.StatusTooManyRequests:
			fi.injected.Add(1)
			secs := int(math.Ceil(retryAfter.Seconds()))
			rec.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(rec, fault, fmt.Sprintf("Request was throttled. Expected available in %d seconds.", secs))
		default:
			fi.injected.Add(1)
			writeError(rec, fault, http.StatusText(fault)+" (injected fault)")
		}
	})
}

// statusRecorder remembers the status written, or that the connection
// was taken over to be closed without an answer, for the log line.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Hijack hands over the connection of the writer it wraps (see LoseAnswer).
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	s.hijacked = err == nil
	return conn, rw, err
}

// Server is a handler listening on a socket.
type Server struct {
	// URL is scheme://host:port, e.g. https://127.0.0.1:8443.
	URL string

	srv  *http.Server
	done chan struct{}
}

// Serve listens on addr ("127.0.0.1:0" picks a free port) and serves h,
// over TLS when tlsCfg is not nil. Server errors such as rejected TLS
// handshakes (a client without a certificate, expected in tests) go to
// logger, not to stderr.
func Serve(addr string, h http.Handler, tlsCfg *tls.Config, logger *Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	scheme := "http"
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "https"
	}
	s := &Server{
		URL: scheme + "://" + urlHost(ln.Addr()),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          logger.std(),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// urlHost renders a listener address for a URL. A wildcard address becomes
// localhost, which the devpki server certificate covers.
func urlHost(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// Close stops listening and drops open connections.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}
