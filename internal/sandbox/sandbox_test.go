package sandbox_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/sandbox/devpki"
	"github.com/certflow/certflow/internal/sandbox/sandboxtest"
)

func TestFaultInjectorSet(t *testing.T) {
	fi := sandbox.NewFaultInjector(sandbox.Faults{ErrorRate: 2, RateLimitRate: -1, DropWebhookRate: 1.5, DuplicateWebhookRate: 0.25, LoseCreateAnswerRate: 3}, 1)
	want := sandbox.Faults{ErrorRate: 1, DropWebhookRate: 1, DuplicateWebhookRate: 0.25, LoseCreateAnswerRate: 1, RetryAfter: sandbox.DefaultRetryAfter}
	if got := fi.Get(); got != want {
		t.Errorf("Get() = %+v, want %+v", got, want)
	}
	fi.Set(sandbox.Faults{Latency: time.Millisecond, RetryAfter: 3 * time.Second})
	if got := fi.Get(); got != (sandbox.Faults{Latency: time.Millisecond, RetryAfter: 3 * time.Second}) {
		t.Errorf("after Set: %+v", got)
	}
}

func TestWebhookFate(t *testing.T) {
	for _, tc := range []struct {
		drop, dup          float64
		wantDrop, wantDups bool
	}{
		{0, 0, false, false},
		{1, 0, true, false},
		{0, 1, false, true},
	} {
		fi := sandbox.NewFaultInjector(sandbox.Faults{DropWebhookRate: tc.drop, DuplicateWebhookRate: tc.dup}, 0)
		for range 20 {
			if drop, dup := fi.WebhookFate(); drop != tc.wantDrop || dup != tc.wantDups {
				t.Fatalf("rates %v/%v: fate %v/%v", tc.drop, tc.dup, drop, dup)
			}
		}
	}

	// Half and half: the same seed replays the same fates, and both occur.
	fates := func(seed uint64) string {
		fi := sandbox.NewFaultInjector(sandbox.Faults{DropWebhookRate: 0.5, DuplicateWebhookRate: 0.5}, seed)
		var s strings.Builder
		for range 64 {
			drop, _ := fi.WebhookFate()
			fmt.Fprint(&s, map[bool]string{true: "d", false: "2"}[drop])
		}
		return s.String()
	}
	a, b := fates(42), fates(42)
	if a != b || !strings.Contains(a, "d") || !strings.Contains(a, "2") {
		t.Errorf("seeded fates %s and %s", a, b)
	}
}

// serveAPI serves next behind sandbox.API on a real socket and returns its
// URL, the injector and the log.
func serveAPI(t *testing.T, f sandbox.Faults, next http.Handler) (string, *sandbox.FaultInjector, *sandboxtest.SyncBuffer) {
	t.Helper()
	var logs sandboxtest.SyncBuffer
	fi := sandbox.NewFaultInjector(f, 7)
	writeError := func(w http.ResponseWriter, status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"own_format": %q}`, msg)
	}
	logger := sandbox.NewLogger(&logs, "test-sandbox: ")
	srv, err := sandbox.Serve("127.0.0.1:0", sandbox.API(next, fi, writeError, logger), nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.URL, fi, &logs
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestAPI(t *testing.T) {
	var calls atomic.Int32
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusCreated)
	})

	t.Run("no fault", func(t *testing.T) {
		calls.Store(0)
		url, fi, logs := serveAPI(t, sandbox.Faults{}, next)
		resp, _ := get(t, url+"/v1/things/42?email=someone@example.test")
		if resp.StatusCode != http.StatusCreated || calls.Load() != 1 || fi.Injected() != 0 {
			t.Errorf("status %d, %d calls, %d injected", resp.StatusCode, calls.Load(), fi.Injected())
		}
		out := logs.String()
		if !strings.Contains(out, "test-sandbox: ") || !strings.Contains(out, "GET /v1/things/42 -> 201") {
			t.Errorf("log line: %q", out)
		}
		if strings.Contains(out, "example.test") || strings.Contains(out, "email") {
			t.Errorf("log carries the query string: %q", out)
		}
	})

	t.Run("rate limited", func(t *testing.T) {
		calls.Store(0)
		url, fi, logs := serveAPI(t, sandbox.Faults{RateLimitRate: 1, RetryAfter: 2500 * time.Millisecond}, next)
		resp, body := get(t, url+"/v1/things")
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
			t.Errorf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if !strings.HasPrefix(body, `{"own_format": "Request was throttled.`) {
			t.Errorf("body %s is not in the provider's format", body)
		}
		if calls.Load() != 0 || fi.Injected() != 1 {
			t.Errorf("%d calls reached the handler, %d injected", calls.Load(), fi.Injected())
		}
		if !strings.Contains(logs.String(), "GET /v1/things -> 429") {
			t.Errorf("log: %q", logs.String())
		}
	})

	t.Run("server errors", func(t *testing.T) {
		calls.Store(0)
		url, fi, _ := serveAPI(t, sandbox.Faults{ErrorRate: 1}, next)
		seen := map[int]bool{}
		for range 30 {
			resp, body := get(t, url+"/v1/things")
			seen[resp.StatusCode] = true
			if !strings.Contains(body, "(injected fault)") {
				t.Errorf("body %s", body)
			}
		}
		if len(seen) != 3 || !seen[500] || !seen[502] || !seen[503] {
			t.Errorf("statuses %v, want 500, 502 and 503", seen)
		}
		if calls.Load() != 0 || fi.Injected() != 30 {
			t.Errorf("%d calls reached the handler, %d injected", calls.Load(), fi.Injected())
		}
	})

	t.Run("latency", func(t *testing.T) {
		url, fi, _ := serveAPI(t, sandbox.Faults{}, next)
		fi.Set(sandbox.Faults{Latency: 30 * time.Millisecond})
		begin := time.Now()
		if resp, _ := get(t, url); resp.StatusCode != http.StatusCreated {
			t.Errorf("status %d", resp.StatusCode)
		}
		if d := time.Since(begin); d < 30*time.Millisecond {
			t.Errorf("call took %s despite 30ms latency", d)
		}
	})
}

func TestServe(t *testing.T) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })

	t.Run("plain", func(t *testing.T) {
		srv, err := sandbox.Serve("127.0.0.1:0", hello, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") || strings.HasSuffix(srv.URL, "/") {
			t.Errorf("URL %s", srv.URL)
		}
		if _, body := get(t, srv.URL); body != "hello" {
			t.Errorf("body %q", body)
		}
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := http.Get(srv.URL); err == nil {
			t.Error("served after Close")
		}
	})

	t.Run("wildcard address is named localhost", func(t *testing.T) {
		srv, err := sandbox.Serve(":0", hello, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if !strings.HasPrefix(srv.URL, "http://localhost:") {
			t.Errorf("URL %s", srv.URL)
		}
	})

	t.Run("TLS, handshake errors to the log", func(t *testing.T) {
		pki, err := devpki.Generate(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		serverTLS, err := pki.ServerTLSConfig(true)
		if err != nil {
			t.Fatal(err)
		}
		var logs sandboxtest.SyncBuffer
		srv, err := sandbox.Serve("127.0.0.1:0", hello, serverTLS, sandbox.NewLogger(&logs, "test-sandbox: "))
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if !strings.HasPrefix(srv.URL, "https://") {
			t.Fatalf("URL %s", srv.URL)
		}
		clientTLS, err := pki.ClientTLSConfig()
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{TLSClientConfig: clientTLS}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()

		anonymous := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: clientTLS.RootCAs}}
		defer anonymous.CloseIdleConnections()
		if resp, err := (&http.Client{Transport: anonymous}).Get(srv.URL); err == nil {
			resp.Body.Close()
			t.Error("a client without certificate got an answer")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		for out := ""; !strings.HasPrefix(out, "test-sandbox: ") || !strings.Contains(out, "http: TLS handshake error"); out = logs.String() {
			if ctx.Err() != nil {
				t.Fatalf("handshake error not logged: %q", logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	t.Run("address in use", func(t *testing.T) {
		srv, err := sandbox.Serve("127.0.0.1:0", hello, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if _, err := sandbox.Serve(strings.TrimPrefix(srv.URL, "http://"), hello, nil, nil); err == nil || !strings.Contains(err.Error(), "listen on") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestNilLogger(t *testing.T) {
	if sandbox.NewLogger(nil, "x: ") != nil {
		t.Error("NewLogger(nil) is not nil")
	}
	var l *sandbox.Logger
	l.Printf("discarded %d", 1) // must not panic
}

// TestLoseAnswer serves a create endpoint that applies its change and then
// asks LoseAnswer: a lost answer is a transport error at the client after
// the change was applied, and the log says so without the path's query.
func TestLoseAnswer(t *testing.T) {
	var (
		applied atomic.Int32
		fi      atomic.Pointer[sandbox.FaultInjector]
	)
	create := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		applied.Add(1)
		if fi.Load().LoseAnswer(w) {
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	post := func(url string) error {
		resp, err := http.Post(url+"/v1/things?email=someone@example.test", "application/json", strings.NewReader(`{}`))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("status %d", resp.StatusCode)
			}
		}
		return err
	}

	t.Run("next n creates", func(t *testing.T) {
		applied.Store(0)
		url, injector, logs := serveAPI(t, sandbox.Faults{}, create)
		fi.Store(injector)
		injector.LoseNextCreateAnswers(2)
		for i := range 3 {
			err := post(url)
			if lost := i < 2; lost != (err != nil) {
				t.Fatalf("create %d: err %v, want lost %v", i+1, err, lost)
			}
		}
		if applied.Load() != 3 || injector.AnswersLost() != 2 || injector.Injected() != 0 {
			t.Errorf("%d applied, %d answers lost, %d injected before handling", applied.Load(), injector.AnswersLost(), injector.Injected())
		}
		// A lost answer's line is logged after its connection closed, so
		// possibly after the client moved on.
		sandboxtest.Eventually(t, "two lost answers and one 201 logged", func() bool {
			out := logs.String()
			return strings.Count(out, "POST /v1/things -> applied, connection closed without an answer (injected fault)") == 2 &&
				strings.Count(out, "POST /v1/things -> 201") == 1
		})
		out := logs.String()
		if strings.Contains(out, "example.test") {
			t.Errorf("log carries the query string: %q", out)
		}
	})

	t.Run("rate", func(t *testing.T) {
		for _, tc := range []struct {
			rate     float64
			wantLost int64
		}{{0, 0}, {1, 5}} {
			applied.Store(0)
			url, injector, _ := serveAPI(t, sandbox.Faults{LoseCreateAnswerRate: tc.rate}, create)
			fi.Store(injector)
			for range 5 {
				_ = post(url)
			}
			if applied.Load() != 5 || injector.AnswersLost() != tc.wantLost {
				t.Errorf("rate %v: %d applied, %d answers lost, want 5 and %d", tc.rate, applied.Load(), injector.AnswersLost(), tc.wantLost)
			}
		}
	})

	t.Run("a zero count ends the switch", func(t *testing.T) {
		url, injector, _ := serveAPI(t, sandbox.Faults{}, create)
		fi.Store(injector)
		injector.LoseNextCreateAnswers(3)
		injector.LoseNextCreateAnswers(0)
		if err := post(url); err != nil || injector.AnswersLost() != 0 {
			t.Errorf("err %v, %d answers lost", err, injector.AnswersLost())
		}
	})
}
