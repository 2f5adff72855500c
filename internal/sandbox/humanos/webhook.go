package humanos

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	provider "github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/sandbox"
)

// Webhook event types.
const (
	eventCredential = "credential"
	eventIdentity   = "identity"
	eventOTPFailed  = "otp.failed"
)

// v1Version is the api_version of the webhooks of a request created
// without an API-Version header: the notes do not say what Humanos sends
// then, and "v1" names the reference the request was made against.
const v1Version = "v1"

// riskScore is the identity decision's riskScore: low, as no simulated
// subject is a fraud (a failed KYC is a document that could not be
// verified, not a forgery).
const riskScore = 0.1

// event is a webhook body, as its JSON is sent (before any encryption).
type event struct {
	EventType    string `json:"eventType"`
	RequestID    string `json:"requestId"`
	InternalID   string `json:"internalId"`
	IssuerDID    string `json:"issuerDid"`
	User         user   `json:"user"`
	CredentialID string `json:"credentialId,omitempty"`
	Decision     any    `json:"decision,omitempty"`
	APIVersion   string `json:"api_version"`

	// label names the webhook in log lines, without personal data.
	label string
}

// user is the subject a webhook is about. Its internalId repeats the
// request's: the create call takes no per-subject internal id, and the
// request's is what certflow correlates on.
type user struct {
	Contact string `json:"contact"`
	subjectRef
	InternalID string `json:"internalId"`
}

// subjectRef is a subject's identifier under the name the API version
// gives it.
type subjectRef struct {
	DID string `json:"did,omitempty"`
	ID  string `json:"id,omitempty"`
}

// subjectIDVersion is the first API-Version whose subjects carry "id"
// instead of "did" (inferred: the notes only say newer versions rename it).
const subjectIDVersion = "2026-01-01"

// refFor names did as API version (a dated API-Version, or "" for v1)
// names it. Dates in YYYY-MM-DD order compare as strings.
func refFor(version, did string) subjectRef {
	if version >= subjectIDVersion {
		return subjectRef{ID: did}
	}
	return subjectRef{DID: did}
}

type credentialDecision struct {
	Action string `json:"action"`
	Date   string `json:"date"`
}

// identityDecision is the outcome of a KYC, in the identity webhook and in
// GET's subjects[].kyc.
type identityDecision struct {
	Success   bool    `json:"success"`
	IsFraud   bool    `json:"isFraud"`
	Date      string  `json:"date"`
	RiskScore float64 `json:"riskScore"`
	Message   string  `json:"message"`
	Outcome   string  `json:"outcome"`
}

// kycOutcome is the decision of s's finished identity verification.
func kycOutcome(s *subject) *identityDecision {
	d := &identityDecision{Success: true, Date: formatTime(s.identityAt), RiskScore: riskScore, Message: "Identity verified", Outcome: "APPROVED"}
	if s.identity == identityFailed {
		d.Success, d.Message, d.Outcome = false, "Identity could not be verified", "REJECTED"
	}
	return d
}

// event returns the webhook of a step of subject i (credentialID: "" when
// the step is not about a credential).
func (r *request) event(eventType string, i int, credentialID string, decision any) event {
	s := r.subjects[i]
	version := r.version
	if version == "" {
		version = v1Version
	}
	label := fmt.Sprintf("%s request=%s subject=%d", eventType, r.id, i+1)
	if credentialID != "" {
		label += " credential=" + credentialID
	}
	return event{
		EventType:    eventType,
		RequestID:    r.id,
		InternalID:   r.internalID,
		IssuerDID:    IssuerDID,
		User:         user{Contact: s.contact, subjectRef: refFor(r.version, s.did), InternalID: r.internalID},
		CredentialID: credentialID,
		Decision:     decision,
		APIVersion:   version,
		label:        label,
	}
}

// notifyLocked sends events, the webhooks of steps that happened together,
// as one batch: in order, or reversed with Options.OutOfOrder. The caller
// holds e.mu, so that webhook fates are drawn in the order the steps
// happened, and a seed replays them.
func (e *Emulator) notifyLocked(events []event) {
	if e.opts.WebhookURL == "" || len(events) == 0 {
		return
	}
	if e.opts.OutOfOrder {
		slices.Reverse(events)
	}
	batch := make([]sandbox.Webhook, 0, len(events))
	for _, ev := range events {
		body, err := e.webhookBody(ev)
		if err != nil {
			e.log.Printf("webhook %s not sent: %v", ev.label, err)
			continue
		}
		batch = append(batch, sandbox.Webhook{URL: e.opts.WebhookURL, Label: ev.label, Render: e.signed(body)})
	}
	e.webhooks.Send(batch...)
}

// webhookBody is the body of ev as sent: its JSON, or that JSON sealed in
// an {"iv","data","tag"} envelope when Options.Encryption is set. It is
// built once, so a retry or a duplicate carries the same envelope.
func (e *Emulator) webhookBody(ev event) ([]byte, error) {
	body, err := json.Marshal(ev)
	if err != nil || e.webhookKey == nil {
		return body, err
	}
	env, err := provider.Seal(e.webhookKey, body)
	if err != nil {
		return nil, err
	}
	return json.Marshal(env)
}

// signed renders body with a fresh x-timestamp and its x-signature at each
// attempt, so that a retry is not refused as stale.
func (e *Emulator) signed(body []byte) func(time.Time) ([]byte, http.Header, error) {
	return func(now time.Time) ([]byte, http.Header, error) {
		ts := provider.Timestamp(now)
		h := http.Header{}
		h.Set("X-Timestamp", ts)
		h.Set("X-Signature", provider.Sign(e.opts.WebhookSecret, ts, body))
		return body, h, nil
	}
}
