package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/provider/humanos"
)

// HumanosRequestName is the workflow type name of a Humanos request.
const HumanosRequestName = "HumanosRequest"

const (
	humanosDefaultTimeout = 30 * 24 * time.Hour
	humanosDefaultPoll    = time.Hour
	humanosMaxTimeout     = 366 * 24 * time.Hour
)

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

// key names the event a webhook announces, so a repeated delivery is
// applied once.
func (h HumanosWebhook) key() string {
	success := ""
	if h.Success != nil {
		success = map[bool]string{true: "ok", false: "failed"}[*h.Success]
	}
	return strings.Join([]string{h.EventType, h.Contact, h.CredentialID, h.Action, success, h.Date}, "|")
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

func (in HumanosRequestInput) validate() error {
	err := in.Request.Validate()
	if in.Request.InternalID != "" {
		err = errors.Join(err, errors.New("request.internalId: leave it empty; certflow sets it to the workflow ID"))
	}
	return validateInput(err, in.Timeout, in.PollInterval, humanosMaxTimeout)
}

// humanosIdempotencyKey derives the create call's Idempotency-Key from the
// workflow's identity: the same on every attempt and after worker
// restarts, different for a new run started under a failed one's ID.
func humanosIdempotencyKey(info *workflow.Info) string {
	sum := sha256.Sum256([]byte(info.WorkflowExecution.ID + "/" + info.FirstRunID + "/create-request"))
	return "certflow-" + hex.EncodeToString(sum[:16])
}

// HumanosRequest creates the request exactly once, exposes each subject's
// link and code through the status query at once, then follows the
// subjects' decisions until every credential is decided. Webhooks are hints:
// each new one triggers a read of the request, so the outcome is the same
// whatever the order, and repeats are applied once. On its deadline or on
// cancellation it cancels the request at Humanos.
func HumanosRequest(ctx workflow.Context, in HumanosRequestInput) (*HumanosRequestResult, error) {
	t, err := newTracker(ctx, ProviderHumanos)
	if err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		t.stage(StageFailed)
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	deadline := workflow.Now(ctx).Add(in.Timeout.or(humanosDefaultTimeout))
	t.deadline(deadline)

	info := workflow.GetInfo(ctx)
	in.Request.InternalID = info.WorkflowExecution.ID
	var hu *activities.Humanos
	t.stage(StageCreating)
	var req humanos.Request
	create := activities.CreateHumanosInput{Request: in.Request, IdempotencyKey: humanosIdempotencyKey(info)}
	if err := createOnce(ctx, "Create the request at Humanos (once, by idempotency key)", hu.CreateHumanosRequest, create, &req); err != nil {
		t.stage(StageFailed)
		return nil, err
	}
	t.ref(req.ID)
	subjects := newHumanosSubjects(t, req)

	final, err := follow(ctx, t, lifecycle[humanos.Request, HumanosWebhook]{
		provider: ProviderHumanos,
		ref:      "request " + req.ID,
		wait: func() wait[humanos.Request, HumanosWebhook] {
			w := pollingWait(t, polling[humanos.Request]{
				what:     "request " + req.ID + " at humanos",
				deadline: deadline,
				first:    in.PollInterval.or(humanosDefaultPoll),
				every:    in.PollInterval.or(humanosDefaultPoll),
				await:    hu.AwaitHumanosRequest,
				get:      hu.GetHumanosRequest,
				arg:      req.ID,
				final:    func(r humanos.Request) bool { return r.Outcome() != humanos.OutcomePending },
				status:   humanosStatus,
			}, HumanosWebhook.key)
			w.onHint = subjects.hint
			observe := w.observe
			w.observe = func(r humanos.Request) { observe(r); subjects.observe(r) }
			return w
		}(),
		cancel: func(ctx workflow.Context) (r humanos.Request, err error) {
			err = workflow.ExecuteActivity(ctx, hu.CancelHumanosRequest, req.ID).Get(ctx, &r)
			return r, err
		},
		judge:    judgeHumanos,
		failType: ErrTypeRejectedBySubject,
		details:  func(r humanos.Request) any { return humanosResult(r) },
	})
	if err != nil {
		return nil, err
	}
	return humanosResult(final), nil
}

// humanosStatus summarises a request's progress as the status query's
// provider_status: decided credentials over all, or the final outcome.
func humanosStatus(r humanos.Request) string {
	switch r.Outcome() {
	case humanos.OutcomeAccepted:
		return "ACCEPTED"
	case humanos.OutcomeRejected:
		return "REJECTED"
	case humanos.OutcomeKYCFailed:
		return "KYC_FAILED"
	case humanos.OutcomeCanceled:
		return "CANCELED"
	case humanos.OutcomeExpired:
		return "EXPIRED"
	}
	return "PENDING"
}

// judgeHumanos maps a request to its lifecycle outcome.
func judgeHumanos(r humanos.Request) (outcome, string) {
	switch r.Outcome() {
	case humanos.OutcomeAccepted:
		return outcomeSucceeded, humanosStatus(r)
	case humanos.OutcomeRejected, humanos.OutcomeKYCFailed:
		return outcomeFailedAtProvider, humanosStatus(r)
	case humanos.OutcomeCanceled:
		return outcomeCancelledAtProvider, humanosStatus(r)
	case humanos.OutcomeExpired:
		return outcomeExpiredAtProvider, humanosStatus(r)
	}
	return outcomePending, humanosStatus(r)
}

// humanosResult lists every subject's decision on every credential.
func humanosResult(r humanos.Request) *HumanosRequestResult {
	res := &HumanosRequestResult{ID: r.ID, Outcome: humanosStatus(r), Decisions: []HumanosDecision{}}
	for _, c := range r.Credentials {
		for _, s := range r.Subjects {
			d := HumanosDecision{Contact: s.Contact, CredentialID: c.ID, Credential: c.Name, Decision: "undecided"}
			for _, dec := range c.Decisions {
				if dec.Contact == s.Contact {
					d.Decision, d.DecidedAt = map[bool]string{true: "accepted", false: "rejected"}[dec.Accepted], dec.DecidedAt
				}
			}
			res.Decisions = append(res.Decisions, d)
		}
	}
	return res
}

// humanosSubjects keeps the status query's per-subject entries current.
type humanosSubjects struct {
	t     *tracker
	index map[string]int
}

func newHumanosSubjects(t *tracker, created humanos.Request) *humanosSubjects {
	h := &humanosSubjects{t: t, index: map[string]int{}}
	for i, s := range created.Subjects {
		h.index[s.Contact] = i
		t.s.Subjects = append(t.s.Subjects, SubjectStatus{Contact: s.Contact, Link: s.Link, Code: s.Code})
	}
	t.touch()
	return h
}

// hint counts OTP failures, which only webhooks report.
func (h *humanosSubjects) hint(w HumanosWebhook) {
	if i, ok := h.index[w.Contact]; ok && w.EventType == "otp.failed" {
		h.t.s.Subjects[i].OTPFailures++
		h.t.touch()
	}
}

// observe copies each subject's identity status from a read.
func (h *humanosSubjects) observe(r humanos.Request) {
	for _, s := range r.Subjects {
		if i, ok := h.index[s.Contact]; ok {
			h.t.s.Subjects[i].IdentityStatus = s.IdentityStatus
		}
	}
	h.t.touch()
}
