package uanataca

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Timestamp layouts of the two webhook formats.
const (
	legacyDateLayout = "2006-01-02T15:04:05.000000"
	eventSentLayout  = "20060102150405"
)

// webhook is one status change to notify, captured when it happened so that
// later changes do not leak into it.
type webhook struct {
	url         string
	format      string
	pk          int64
	ra          int64
	status      string
	prev        string
	profile     string
	scratchcard string
	at          time.Time
	certs       []certificate
}

// eventTypes maps a status to the newer format's event_type.
var eventTypes = map[string]string{
	StatusCreated:      "REQUEST_CREATED",
	StatusVideoPending: "REQUEST_CREATED",
	StatusEnrollReady:  "REQUEST_APPROVED",
	StatusIssued:       "REQUEST_ENROLLED",
	StatusCancelled:    "REQUEST_CANCELED",
}

// body renders the webhook at send time (the event format's sent_at is the
// time of sending, not of the change).
func (h webhook) body(now time.Time) ([]byte, error) {
	if h.format == WebhookEvent {
		type cert struct {
			Status       string `json:"status"`
			SerialNumber string `json:"serial_number"`
			ValidFrom    string `json:"valid_from"`
			ValidTo      string `json:"valid_to"`
		}
		certs := make([]cert, 0, len(h.certs))
		for _, c := range h.certs {
			certs = append(certs, cert{c.Valid, c.SerialNumber, c.ValidFrom, c.ValidTo})
		}
		return json.Marshal(map[string]any{
			"event_type": eventTypes[h.status],
			"sent_at":    now.UTC().Format(eventSentLayout),
			"request": map[string]any{
				"pk":                     h.pk,
				"status":                 h.status,
				"profile":                h.profile,
				"registration_authority": h.ra,
				"scratchcard":            h.scratchcard,
			},
			"certificates": certs,
		})
	}
	var prev *string // null for the first status, as there was none
	if h.prev != "" {
		prev = &h.prev
	}
	return json.Marshal(map[string]any{
		"status":                 h.status,
		"date":                   h.at.UTC().Format(legacyDateLayout),
		"previous_status":        prev,
		"request":                h.pk,
		"registration_authority": h.ra,
	})
}

// notifyLocked queues the webhook of r's change from prev to its current
// status. Delivery runs in its own goroutine so that API handlers never wait
// on the receiver. The caller holds e.mu and has checked !e.closed, which
// keeps deliveries.Add from racing Close's Wait.
func (e *Emulator) notifyLocked(r *request, prev string) {
	target := r.webhookURL
	if target == "" {
		target = e.opts.WebhookURL
	}
	if target == "" {
		return
	}
	h := webhook{
		url:         target,
		format:      e.opts.WebhookFormat,
		pk:          r.pk,
		ra:          r.ra,
		status:      r.status,
		prev:        prev,
		profile:     r.profile,
		scratchcard: r.scratchcard,
		at:          time.Now(),
		certs:       r.certs,
	}
	copies := 1
	switch drop, duplicate := e.faults.WebhookFate(); {
	case drop:
		copies = 0
		e.stats.webhooksDropped.Add(1)
		e.log.Printf("webhook request=%d status=%s dropped (injected fault)", h.pk, h.status)
	case duplicate:
		copies = 2
		e.stats.webhooksDups.Add(1)
		e.log.Printf("webhook request=%d status=%s will be sent twice (injected fault)", h.pk, h.status)
	}
	for range copies {
		e.deliveries.Go(func() { e.deliver(h) })
	}
}

// deliver sends h, retrying failures with a doubling backoff until it is
// acknowledged, attempts run out or the emulator closes.
func (e *Emulator) deliver(h webhook) {
	backoff := e.opts.WebhookBackoff
	for attempt := 1; ; attempt++ {
		err := e.post(h)
		if err == nil {
			e.stats.webhooksSent.Add(1)
			e.log.Printf("webhook request=%d status=%s delivered (attempt %d)", h.pk, h.status, attempt)
			return
		}
		if e.ctx.Err() != nil {
			return
		}
		if attempt >= e.opts.WebhookAttempts {
			e.stats.webhooksFailed.Add(1)
			e.log.Printf("webhook request=%d status=%s given up after %d attempts: %v", h.pk, h.status, attempt, err)
			return
		}
		e.log.Printf("webhook request=%d status=%s attempt %d failed, retrying in %s: %v", h.pk, h.status, attempt, backoff, err)
		select {
		case <-e.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func (e *Emulator) post(h webhook) error {
	body, err := h.body(time.Now())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("bad webhook URL: %w", stripURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.opts.WebhookClient.Do(req)
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

// stripURL drops the URL from a *url.Error: a demo webhook_url is supplied by
// the API caller and may carry anything, so it stays out of the logs.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
