package uanataca

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
)

// Timestamp layouts of the two webhook formats.
const (
	legacyDateLayout = "2006-01-02T15:04:05.000000"
	eventSentLayout  = "20060102150405"
)

// webhook is one status change to notify, captured when it happened so that
// later changes do not leak into it.
type webhook struct {
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

// notifyLocked sends the webhook of r's change from prev to its current
// status as a batch of its own, delivered concurrently with the others:
// nothing documents that the RA orders its notifications, so a receiver
// must cope with a later status arriving first (or while an earlier one is
// still being retried). The caller holds e.mu, so that webhook fates are
// drawn in the order the changes happened and a seed replays them.
func (e *Emulator) notifyLocked(r *request, prev string) {
	target := r.webhookURL
	if target == "" {
		target = e.opts.WebhookURL
	}
	if target == "" {
		return
	}
	h := webhook{
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
	e.webhooks.Send(sandbox.Webhook{
		URL:   target,
		Label: fmt.Sprintf("request=%d status=%s", h.pk, h.status),
		// Rendered at each attempt, for the event format's sent_at; the RA
		// adds no header of its own.
		Render: func(now time.Time) ([]byte, http.Header, error) {
			body, err := h.body(now)
			return body, nil, err
		},
	})
}
