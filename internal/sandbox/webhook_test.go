package sandbox_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/sandbox/sandboxtest"
)

// receiver records the webhooks it acknowledges and the X-Sent-At header
// of every attempt, and answers the first fail attempts 500.
type receiver struct {
	mu     sync.Mutex
	fail   int
	bodies []string
	stamps []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	rc.stamps = append(rc.stamps, r.Header.Get("X-Sent-At"))
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	rc.bodies = append(rc.bodies, string(body))
}

func (rc *receiver) received() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.bodies)
}

// hook is a webhook whose body is name and whose X-Sent-At header is the
// time of the attempt.
func hook(url, name string) sandbox.Webhook {
	return sandbox.Webhook{URL: url, Label: name, Render: func(now time.Time) ([]byte, http.Header, error) {
		return []byte(name), http.Header{"X-Sent-At": {strconv.FormatInt(now.UnixNano(), 10)}}, nil
	}}
}

func TestWebhookSenderOrderAndRetries(t *testing.T) {
	rc := &receiver{fail: 2}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var logs sandboxtest.SyncBuffer
	s := sandbox.NewWebhookSender(sandbox.WebhookOptions{Backoff: time.Millisecond, Log: sandbox.NewLogger(&logs, "")})
	defer s.Close()

	// The first webhook fails twice; the second waits for it, so the batch
	// arrives in order.
	s.Send(hook(srv.URL, "first"), hook(srv.URL, "second"))
	sandboxtest.Eventually(t, "both webhooks", func() bool { return s.Stats().Sent == 2 })
	if got := rc.received(); !slices.Equal(got, []string{"first", "second"}) {
		t.Errorf("received %v", got)
	}
	if st := s.Stats(); st != (sandbox.WebhookStats{Sent: 2}) {
		t.Errorf("stats %+v", st)
	}
	if out := logs.String(); !strings.Contains(out, "webhook first attempt 2 failed, retrying in 2ms: receiver answered HTTP 500") ||
		!strings.Contains(out, "webhook first delivered (attempt 3)") {
		t.Errorf("log:\n%s", out)
	}
}

func TestWebhookSenderRendersEachAttempt(t *testing.T) {
	rc := &receiver{fail: 1}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := sandbox.NewWebhookSender(sandbox.WebhookOptions{Backoff: time.Millisecond})
	defer s.Close()
	s.Send(hook(srv.URL, "x"))
	sandboxtest.Eventually(t, "the retry", func() bool { return s.Stats().Sent == 1 })
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.stamps) != 2 || rc.stamps[0] == rc.stamps[1] {
		t.Errorf("attempt stamps %v: want a fresh render per attempt", rc.stamps)
	}
}

func TestWebhookSenderGivesUp(t *testing.T) {
	rc := &receiver{fail: 1000}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var logs sandboxtest.SyncBuffer
	s := sandbox.NewWebhookSender(sandbox.WebhookOptions{Attempts: 3, Backoff: time.Millisecond, Log: sandbox.NewLogger(&logs, "")})
	defer s.Close()
	s.Send(hook(srv.URL, "lost"), hook(srv.URL, "next"))
	sandboxtest.Eventually(t, "both given up", func() bool { return s.Stats().Failed == 2 })
	if st := s.Stats(); st.Sent != 0 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(logs.String(), "webhook lost given up after 3 attempts") {
		t.Errorf("log:\n%s", logs.String())
	}

	// A connection error is retried too, and the URL stays out of the log.
	logs.Reset()
	s.Send(hook("http://127.0.0.1:1/secret-token", "refused"))
	sandboxtest.Eventually(t, "the refused webhook given up", func() bool { return s.Stats().Failed == 3 })
	if out := logs.String(); !strings.Contains(out, "webhook refused given up after 3 attempts: Post: ") || strings.Contains(out, "secret-token") {
		t.Errorf("log:\n%s", out)
	}
}

func TestWebhookSenderFaults(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	fi := sandbox.NewFaultInjector(sandbox.Faults{DuplicateWebhookRate: 1}, 1)
	s := sandbox.NewWebhookSender(sandbox.WebhookOptions{Faults: fi})
	defer s.Close()

	s.Send(hook(srv.URL, "a"), hook(srv.URL, "b"))
	sandboxtest.Eventually(t, "four deliveries", func() bool { return s.Stats().Sent == 4 })
	if got := rc.received(); !slices.Equal(got, []string{"a", "a", "b", "b"}) {
		t.Errorf("received %v", got)
	}

	fi.Set(sandbox.Faults{DropWebhookRate: 1})
	s.Send(hook(srv.URL, "c"))
	if st := s.Stats(); st != (sandbox.WebhookStats{Sent: 4, Dropped: 1, Duplicated: 2}) {
		t.Errorf("stats %+v", st)
	}
}

func TestWebhookSenderClose(t *testing.T) {
	rc := &receiver{fail: 1000}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := sandbox.NewWebhookSender(sandbox.WebhookOptions{Backoff: time.Hour})
	s.Send(hook(srv.URL, "retrying"))
	sandboxtest.Eventually(t, "the first attempt", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return rc.fail < 1000
	})
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the backoff")
	}
	s.Send(hook(srv.URL, "after close"))
	if st := s.Stats(); st != (sandbox.WebhookStats{}) {
		t.Errorf("stats %+v: a webhook in retry counts neither sent nor failed", st)
	}
}
