package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/validate"
)

const (
	humanosDefaultTimeout = 30 * 24 * time.Hour
	humanosDefaultPoll    = time.Hour
	humanosMaxTimeout     = 366 * 24 * time.Hour
)

// humanosEventKey names the event a webhook announces, so a repeated
// delivery is counted once.
func humanosEventKey(h contract.HumanosWebhook) string {
	success := ""
	if h.Success != nil {
		success = map[bool]string{true: "ok", false: "failed"}[*h.Success]
	}
	return strings.Join([]string{h.EventType, h.Contact, h.CredentialID, h.Action, success, h.Date}, "|")
}

func validateHumanos(in contract.HumanosRequestInput) error {
	err := validate.Within("request", in.Request.Validate())
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
// one that the last read does not show triggers a read of the request, so
// the outcome is the same whatever the order, and repeats cost nothing. On
// its deadline or on cancellation it cancels the request at Humanos.
func HumanosRequest(ctx workflow.Context, input json.RawMessage) (*contract.HumanosRequestResult, error) {
	return execute(ctx, &humanosRequest{raw: input, subject: map[string]int{}, heard: map[string]bool{}})
}

// humanosRequest is one request's lifecycle.
type humanosRequest struct {
	handlers[contract.HumanosWebhook]
	// raw is the input as started, decoded into in by run.
	raw json.RawMessage
	in  contract.HumanosRequestInput
	// req is the request as created.
	req humanos.Request
	hu  *activities.Humanos
	// subject indexes the status query's subjects by contact.
	subject map[string]int
	// heard holds the webhook events already received, so a repeated
	// delivery counts once.
	heard map[string]bool
}

// setup also counts OTP failures as their webhooks arrive.
func (h *humanosRequest) setup(ctx workflow.Context) error {
	return h.register(ctx, contract.ProviderHumanos, h.heardWebhook)
}

func (h *humanosRequest) run(ctx workflow.Context) (*contract.HumanosRequestResult, error) {
	problems := checkInput(h.raw, &h.in, validateHumanos)
	deadline, err := h.t.begin(problems, h.in.Timeout.Or(humanosDefaultTimeout))
	if err != nil {
		return nil, err
	}
	info := workflow.GetInfo(ctx)
	h.in.Request.InternalID = info.WorkflowExecution.ID
	create := activities.CreateHumanosInput{Request: h.in.Request, IdempotencyKey: humanosIdempotencyKey(info)}
	if err := h.t.create(ctx, "Create the request at Humanos (once, by idempotency key)", h.hu.CreateHumanosRequest, create, &h.req); err != nil {
		return nil, err
	}
	h.t.ref(h.req.ID)
	h.listSubjects()

	every := h.in.PollInterval.Or(humanosDefaultPoll)
	req := request{
		provider: contract.ProviderHumanos, ref: "request " + h.req.ID, failType: contract.ErrTypeRejectedBySubject,
		deadline: deadline, firstPoll: every, pollEvery: every,
		poll: h.hu.AwaitHumanosRequest, read: h.hu.GetHumanosRequest, cancel: h.hu.CancelHumanosRequest,
		arg: activities.ObjectID{ID: h.req.ID},
	}
	final, verdict, end, err := newWait(h.t, h, req, h.hints, h.req).follow(ctx)
	if err != nil {
		return nil, err
	}
	return finish(h.t, req, verdict, end, humanosResult(h.req.ID, final, verdict))
}

func (h *humanosRequest) judge(r humanos.Request) activities.Verdict {
	return activities.JudgeHumanos(r)
}

func (h *humanosRequest) eventKey(w contract.HumanosWebhook) string { return humanosEventKey(w) }

// shows reports whether the request shows the decision or identity result
// a webhook announced. An OTP failure is nothing a read could show: it is
// counted on arrival and never read for.
func (h *humanosRequest) shows(r humanos.Request, w contract.HumanosWebhook) bool {
	switch w.EventType {
	case "otp.failed":
		return true
	case "identity":
		for _, s := range r.Subjects {
			if s.Contact == w.Contact {
				return s.IdentityStatus != "" && s.IdentityStatus != humanos.IdentityPending
			}
		}
	case "credential":
		for _, c := range r.Credentials {
			for _, d := range c.Decisions {
				if c.ID == w.CredentialID && d.Contact == w.Contact && d.Accepted == (w.Action == "accept") {
					return true
				}
			}
		}
	}
	return false
}

// listSubjects puts every subject's link and code in the status query.
func (h *humanosRequest) listSubjects() {
	for i, s := range h.req.Subjects {
		h.subject[s.Contact] = i
		h.t.s.Subjects = append(h.t.s.Subjects, contract.SubjectStatus{Contact: s.Contact, Link: s.Link, Code: s.Code})
	}
	h.t.touch()
}

// heardWebhook counts OTP failures, which only webhooks report, once per
// event however often it is delivered.
func (h *humanosRequest) heardWebhook(w contract.HumanosWebhook) {
	if h.heard[humanosEventKey(w)] {
		return
	}
	h.heard[humanosEventKey(w)] = true
	if i, ok := h.subject[w.Contact]; ok && w.EventType == "otp.failed" {
		h.t.s.Subjects[i].OTPFailures++
		h.t.touch()
	}
}

// observe copies each subject's identity status from a read.
func (h *humanosRequest) observe(r humanos.Request) {
	for _, s := range r.Subjects {
		if i, ok := h.subject[s.Contact]; ok {
			h.t.s.Subjects[i].IdentityStatus = s.IdentityStatus
		}
	}
	h.t.touch()
}

// humanosResult lists every subject's decision on every credential.
func humanosResult(id string, r humanos.Request, v activities.Verdict) *contract.HumanosRequestResult {
	res := &contract.HumanosRequestResult{ID: id, Outcome: v.Status, Decisions: []contract.HumanosDecision{}}
	for _, c := range r.Credentials {
		for _, s := range r.Subjects {
			d := contract.HumanosDecision{Contact: s.Contact, CredentialID: c.ID, Credential: c.Name, Decision: "undecided"}
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
