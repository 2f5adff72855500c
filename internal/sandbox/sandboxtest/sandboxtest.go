// Package sandboxtest holds the helpers the emulators' tests share (and a
// fake RA card pool, Cards, for the scratchcard tests): the
// emulators work in background goroutines (timers, webhook deliveries, the
// server's), so their tests read logs while they are written and wait for
// effects rather than sleep.
package sandboxtest

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a log destination (an emulator's Options.Log) that the
// emulator's goroutines may write while a test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset discards what was written, so that a test can look at the lines of
// its next step alone, even while a goroutine of the previous one still
// writes.
func (b *SyncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// timeout is how long Eventually waits: far beyond what any emulator delay
// in a test takes, so that only a real failure, not a slow machine (or the
// race detector), ends the wait.
const timeout = 5 * time.Second

// Eventually polls cond until it holds, and fails t with "timed out
// waiting for what" when it still does not after 5 seconds.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Do sends req with client and reads the answer in full, failing t when
// either fails: the answer's status and headers, and its body (closed).
func Do(t testing.TB, client *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err) // a *url.Error: it names the method and the URL
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", req.Method, req.URL.Path, err)
	}
	return resp, body
}

// NoAnswer sends req with client and fails t unless the exchange ends in a
// transport error, no HTTP answer at all: what a client sees when an
// emulator's create loses its answer (sandbox.FaultInjector.LoseAnswer).
func NoAnswer(t testing.TB, client *http.Client, req *http.Request) {
	t.Helper()
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("%s %s answered %d; want the connection closed without an answer", req.Method, req.URL.Path, resp.StatusCode)
	}
}
