// Package contract is what other services and certflow's own callers
// (the CLI, the webhook ingress, certflowclient, the JSON schemas) rely on:
// workflow type names, the task queue, signal, query and update names,
// search attributes, stages, failure types, and every workflow's input,
// result, status and webhook hint types. It holds no logic and does no I/O,
// so importing it never pulls in the workflows.
package contract

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Names other services rely on. They are part of certflow's external
// contract (README, "Workflows"): never rename one.
const (
	// DefaultTaskQueue is the task queue the worker polls unless
	// CERTFLOW_TASK_QUEUE says otherwise.
	DefaultTaskQueue = "certflow"
	// SignalWebhook carries a provider webhook, normalised, to the workflow
	// it concerns. A webhook is a hint: the workflow re-reads the provider.
	SignalWebhook = "webhook"
	// SignalCancelReason carries a CancelRequest: why the cancellation
	// requested next is made. Temporal's cancel request cannot reach
	// workflow code with a reason, so the reason comes first, by this
	// signal (encrypted like every payload); the workflow gives it to the
	// provider when its API records one (MasStack) and shows it in its
	// status. certflowclient.Cancel sends both.
	SignalCancelReason = "cancel-reason"
	// QueryStatus answers a Status on every workflow type.
	QueryStatus = "status"
)

// CancelRequest is the SignalCancelReason signal.
type CancelRequest struct {
	Reason string `json:"reason" jsonschema:"maxLength=500"`
}

// MaxCancelReason bounds a cancellation's reason, in characters: MasStack
// records it, and so does the status query.
const MaxCancelReason = 500

// Provider names, as stored in the CertflowProvider search attribute.
const (
	ProviderUanataca   = "uanataca"
	ProviderUniversign = "universign"
	ProviderMasStack   = "masstack"
	ProviderHumanos    = "humanos"
)

// Search attributes every workflow keeps current, so operators and the
// webhook ingress can find workflows by provider reference and stage. None
// ever holds personal data. They must be registered on the namespace
// (SearchAttributes lists them; `make dev` does it for the dev server).
var (
	SearchProvider    = temporal.NewSearchAttributeKeyKeyword("CertflowProvider")
	SearchProviderRef = temporal.NewSearchAttributeKeyKeyword("CertflowProviderRef")
	SearchStage       = temporal.NewSearchAttributeKeyKeyword("CertflowStage")
)

// SearchAttributes lists the custom search attributes and their types, in
// the `name=Type` form the temporal CLI takes.
var SearchAttributes = []string{
	SearchProvider.GetName() + "=Keyword",
	SearchProviderRef.GetName() + "=Keyword",
	SearchStage.GetName() + "=Keyword",
}

// Stages of a lifecycle, as reported by the status query and the
// CertflowStage search attribute.
const (
	StageValidating           = "validating"
	StageReservingScratchcard = "reserving_scratchcard"
	StageCreating             = "creating"
	StageSubmittingDocuments  = "submitting_documents"
	StageAwaiting             = "awaiting_outcome"
	StageCancellingAtProvider = "cancelling_at_provider"
	StageCompleted            = "completed"
	StageFailed               = "failed"
	StageCancelled            = "cancelled"
	StageExpired              = "expired"
)

// Error types of the failures certflow workflows end with; callers match on
// them. Activity error types are in package activities.
const (
	ErrTypeInvalidInput               = "InvalidInput"
	ErrTypeDeadlineExceeded           = "DeadlineExceeded"
	ErrTypeRequestCancelledAtProvider = "RequestCancelledAtProvider"
	ErrTypeExpiredAtProvider          = "ExpiredAtProvider"
	// Failures at the provider, by lifecycle.
	ErrTypeVideoIdentificationFailed = "VideoIdentificationFailed"
	ErrTypeRegistrationFailed        = "RegistrationFailed"
	ErrTypeIdentificationRejected    = "IdentificationRejected"
	ErrTypeRejectedBySubject         = "RejectedBySubject"
)

// InputProblems are the details of an InvalidInput failure: every field the
// workflow refused and why, so a caller (or `certflow status`) can name the
// fields to fix without parsing the message. The problem describes a
// personal value, never quotes it.
type InputProblems struct {
	Problems []InputProblem `json:"problems"`
}

// InputProblem is one refused field: its path in the input
// ("request.email", "documents[1].type") and what is wrong with it.
type InputProblem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// Duration is a time span in workflow inputs. It reads and writes as a
// string in Go's syntax ("90m", "36h") or as whole days ("30d"), so services
// in any language can write it; a bare number is read as seconds.
type Duration time.Duration

// MarshalJSON writes the duration in Go's syntax.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts "36h", "30d" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err := json.Unmarshal(b, &secs); err != nil {
			return fmt.Errorf("duration must be a string like \"36h\" or \"30d\", or a number of seconds: got %s", b)
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := ParseDuration(s)
	*d = Duration(v)
	return err
}

// ParseDuration reads Go's duration syntax, or whole days as "30d".
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %q: want whole days like \"30d\" or Go syntax like \"36h\"", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want Go syntax like \"36h\" or whole days like \"30d\"", s)
	}
	return v, nil
}

// Or returns d, or def when d is zero (not given).
func (d Duration) Or(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// StatusHint is the webhook signal of providers that send no webhook of
// their own: anything (an operator, a future webhook) may signal that the
// status may have changed, which triggers one authoritative read.
type StatusHint struct {
	Status string `json:"status,omitempty"`
}

// Workflow is one of certflow's provider workflows as its callers know it.
type Workflow struct {
	// Provider is the provider's name: the CertflowProvider search
	// attribute and the CLI's kind.
	Provider string
	// Type is the workflow type name.
	Type string
	// Input, Result and Hint are zero values of what the workflow is
	// started with, returns, and is signalled (SignalWebhook).
	Input, Result, Hint any
}

// Workflows lists certflow's provider workflows: the one list of providers
// that the CLI, the JSON schemas, the dev stack and the docs read.
var Workflows = []Workflow{
	{ProviderUanataca, UanatacaIssuanceName, UanatacaIssuanceInput{}, UanatacaIssuanceResult{}, UanatacaWebhook{}},
	{ProviderUniversign, UniversignRegistrationName, UniversignRegistrationInput{}, UniversignRegistrationResult{}, StatusHint{}},
	{ProviderMasStack, MasStackIdentificationName, MasStackIdentificationInput{}, MasStackIdentificationResult{}, StatusHint{}},
	{ProviderHumanos, HumanosRequestName, HumanosRequestInput{}, HumanosRequestResult{}, HumanosWebhook{}},
}
