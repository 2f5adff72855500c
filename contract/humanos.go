package contract

import "github.com/certflow/certflow/internal/provider/humanos"

// HumanosRequestName is the workflow type name of a Humanos request.
const HumanosRequestName = "HumanosRequest"

// HumanosRequestInput starts a Humanos request.
type HumanosRequestInput struct {
	// Request is the create call's body, field names as Humanos spells
	// them. Leave internalId empty: certflow sets it to the workflow ID, so
	// webhooks find their workflow.
	Request humanos.CreateRequest `json:"request"`
	// Timeout before certflow cancels the request (default "30d").
	Timeout Duration `json:"timeout,omitempty"`
	// PollInterval is the longest time between two reads in case webhooks
	// are lost (default "1h").
	PollInterval Duration `json:"poll_interval,omitempty"`
}

// HumanosWebhook is the signal the ingress sends for a Humanos webhook.
type HumanosWebhook struct {
	EventType    string `json:"eventType"`
	RequestID    string `json:"requestId,omitempty"`
	Contact      string `json:"contact,omitempty"`
	CredentialID string `json:"credentialId,omitempty"`
	// Action is accept or reject (credential events).
	Action string `json:"action,omitempty"`
	// Success is the KYC result (identity events).
	Success *bool  `json:"success,omitempty"`
	Date    string `json:"date,omitempty"`
}

// HumanosDecision is one subject's decision on one credential.
type HumanosDecision struct {
	Contact      string `json:"contact"`
	CredentialID string `json:"credential_id"`
	Credential   string `json:"credential,omitempty"`
	// Decision is accepted, rejected or undecided.
	Decision  string `json:"decision"`
	DecidedAt string `json:"decided_at,omitempty"`
}

// HumanosRequestResult is the request as it ended, decision by decision.
type HumanosRequestResult struct {
	ID        string            `json:"id"`
	Outcome   string            `json:"outcome"`
	Decisions []HumanosDecision `json:"decisions"`
}
