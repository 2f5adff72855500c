package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of WebhookOptions. Providers do not document their own retry
// policy; a few attempts within seconds exercise a receiver's retry and
// deduplication paths without slowing tests down.
const (
	DefaultWebhookAttempts = 5
	DefaultWebhookBackoff  = 200 * time.Millisecond
	DefaultWebhookTimeout  = 5 * time.Second
)

// Webhook is one notification to POST.
type Webhook struct {
	URL string
	// Label names the webhook in log lines, e.g. "credential request=…":
	// ids only, never personal data, as the body is never logged.
	Label string
	// Render returns the body and the headers of one attempt (added to
	// Content-Type: application/json; keys in canonical form). It runs at
	// every attempt, so that a signature or a sent-at field carries the time
	// of that attempt, as a real sender's retries do.
	Render func(now time.Time) (body []byte, header http.Header, err error)
}

// WebhookOptions configures a WebhookSender; zero fields take the defaults.
type WebhookOptions struct {
	// Attempts is how many times a webhook is tried before it is given up.
	Attempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one.
	Backoff time.Duration
	// Client sends the webhooks; nil means a client with a 5s timeout.
	Client *http.Client
	// Faults draws each webhook's fate (dropped, duplicated); nil means
	// every webhook is sent once.
	Faults *FaultInjector
	Log    *Logger
}

// WebhookStats counts what a WebhookSender did.
type WebhookStats struct {
	Sent       int64 // deliveries answered 2xx (a duplicate counts twice)
	Failed     int64 // deliveries given up after every attempt
	Dropped    int64 // webhooks never sent, by Faults.DropWebhookRate
	Duplicated int64 // webhooks sent twice, by Faults.DuplicateWebhookRate
}

// WebhookSender delivers an emulator's webhooks in the background, so that
// neither API handlers nor simulated people ever wait on the receiver. A
// delivery is retried on connection errors and non-2xx answers with a
// doubling backoff. It is safe for concurrent use.
type WebhookSender struct {
	opts   WebhookOptions
	ctx    context.Context // cancelled by Close: stops deliveries and retries
	cancel context.CancelFunc

	mu         sync.Mutex // orders Send's wg.Go before Close's wg.Wait
	closed     bool
	deliveries sync.WaitGroup

	sent, failed, dropped, duplicated atomic.Int64
}

// NewWebhookSender returns a sender configured by opts.
func NewWebhookSender(opts WebhookOptions) *WebhookSender {
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultWebhookAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultWebhookBackoff
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: DefaultWebhookTimeout}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &WebhookSender{opts: opts, ctx: ctx, cancel: cancel}
}

// Send delivers batch in the background, one webhook after the other in
// the order given (a duplicate right after its original), each retried
// until it is acknowledged or given up before the next is tried. Keeping a
// batch in order lets an emulator choose the order a receiver sees, and
// reverse it to exercise out-of-order handling; separate batches are
// delivered concurrently. After Close, Send does nothing.
func (s *WebhookSender) Send(batch ...Webhook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	queue := make([]Webhook, 0, len(batch))
	for _, h := range batch {
		var drop, duplicate bool
		if s.opts.Faults != nil {
			drop, duplicate = s.opts.Faults.WebhookFate()
		}
		switch {
		case drop:
			s.dropped.Add(1)
			s.opts.Log.Printf("webhook %s dropped (injected fault)", h.Label)
			continue
		case duplicate:
			s.duplicated.Add(1)
			s.opts.Log.Printf("webhook %s will be sent twice (injected fault)", h.Label)
			queue = append(queue, h)
		}
		queue = append(queue, h)
	}
	if len(queue) == 0 {
		return
	}
	s.deliveries.Go(func() {
		for _, h := range queue {
			if !s.deliver(h) {
				return
			}
		}
	})
}

// Stats returns a snapshot of the counters.
func (s *WebhookSender) Stats() WebhookStats {
	return WebhookStats{
		Sent:       s.sent.Load(),
		Failed:     s.failed.Load(),
		Dropped:    s.dropped.Load(),
		Duplicated: s.duplicated.Load(),
	}
}

// Close stops deliveries and retries in progress and waits for them to
// return.
func (s *WebhookSender) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.deliveries.Wait()
}

// deliver sends h until it is acknowledged or attempts run out; it reports
// false when the sender was closed, so that the rest of the batch is not
// tried.
func (s *WebhookSender) deliver(h Webhook) bool {
	backoff := s.opts.Backoff
	for attempt := 1; ; attempt++ {
		err := s.post(h)
		switch {
		case s.ctx.Err() != nil:
			return false
		case err == nil:
			s.sent.Add(1)
			s.opts.Log.Printf("webhook %s delivered (attempt %d)", h.Label, attempt)
			return true
		case attempt >= s.opts.Attempts:
			s.failed.Add(1)
			s.opts.Log.Printf("webhook %s given up after %d attempts: %v", h.Label, attempt, err)
			return true
		}
		s.opts.Log.Printf("webhook %s attempt %d failed, retrying in %s: %v", h.Label, attempt, backoff, err)
		select {
		case <-s.ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func (s *WebhookSender) post(h Webhook) error {
	body, header, err := h.Render(time.Now())
	if err != nil {
		return fmt.Errorf("rendering the webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("bad webhook URL: %w", stripURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	maps.Copy(req.Header, header)
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return stripURL(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// stripURL drops the URL from a *url.Error: a webhook URL may carry a token
// or a caller-chosen path, which stay out of the logs.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
