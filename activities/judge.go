package activities

import (
	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/provider/masstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	"github.com/certflow/certflow/internal/provider/universign"
)

// Outcome is what a provider's state means for the lifecycle waiting on
// it, the same words for every provider.
type Outcome string

const (
	// OutcomePending: not final; keep waiting.
	OutcomePending Outcome = "pending"
	// OutcomeSucceeded: the provider did what was asked.
	OutcomeSucceeded Outcome = "succeeded"
	// OutcomeFailed: the provider ended it unsuccessfully (rejected, a
	// failed identification).
	OutcomeFailed Outcome = "failed"
	// OutcomeCancelled: cancelled at the provider.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeExpired: the provider's own validity ran out.
	OutcomeExpired Outcome = "expired"
	// OutcomeGone: the provider no longer knows the object (it answers 404
	// to a read): nothing is left there to follow or cancel.
	OutcomeGone Outcome = "gone"
)

// StatusGone is the provider status certflow reports for an object the
// provider no longer knows; no provider uses the word itself.
const StatusGone = "GONE"

// Verdict is a provider state judged: its outcome and the provider's own
// status text for it.
type Verdict struct {
	Outcome Outcome `json:"outcome"`
	Status  string  `json:"status"`
}

// Final reports whether the verdict ends the wait.
func (v Verdict) Final() bool { return v.Outcome != OutcomePending }

// Gone is the verdict on an object the provider no longer knows.
var Gone = Verdict{Outcome: OutcomeGone, Status: StatusGone}

// The judges below are the one place per provider that says what a state
// means: the polling activities end on a final verdict and the workflows
// conclude from the same one, so "final" cannot differ between the two.

// JudgeUanataca judges an RA request by its status.
func JudgeUanataca(r uanataca.Request) Verdict {
	return Verdict{Status: r.Status, Outcome: map[uanataca.Outcome]Outcome{
		uanataca.OutcomeIssued:      OutcomeSucceeded,
		uanataca.OutcomeCancelled:   OutcomeCancelled,
		uanataca.OutcomeVideoFailed: OutcomeFailed,
	}[uanataca.OutcomeOf(r.Status)].orPending()}
}

// JudgeUniversign judges a registration by its state.
func JudgeUniversign(r universign.Registration) Verdict {
	return Verdict{Status: r.State, Outcome: map[universign.Outcome]Outcome{
		universign.OutcomeCompleted: OutcomeSucceeded,
		universign.OutcomeCanceled:  OutcomeCancelled,
		universign.OutcomeFailed:    OutcomeFailed,
		universign.OutcomeExpired:   OutcomeExpired,
	}[universign.OutcomeOf(r.State)].orPending()}
}

// JudgeMasStack judges an identification by its status.
func JudgeMasStack(r masstack.Identification) Verdict {
	return Verdict{Status: r.Status, Outcome: map[masstack.Outcome]Outcome{
		masstack.OutcomeCompleted: OutcomeSucceeded,
		masstack.OutcomeCancelled: OutcomeCancelled,
		masstack.OutcomeRejected:  OutcomeFailed,
		masstack.OutcomeExpired:   OutcomeExpired,
	}[masstack.OutcomeOf(r.Status)].orPending()}
}

// JudgeHumanos judges a request by every subject's decisions; its status
// text is certflow's summary (Humanos has no request-level status).
func JudgeHumanos(r humanos.Request) Verdict {
	switch r.Outcome() {
	case humanos.OutcomeAccepted:
		return Verdict{OutcomeSucceeded, "ACCEPTED"}
	case humanos.OutcomeRejected:
		return Verdict{OutcomeFailed, "REJECTED"}
	case humanos.OutcomeKYCFailed:
		return Verdict{OutcomeFailed, "KYC_FAILED"}
	case humanos.OutcomeCanceled:
		return Verdict{OutcomeCancelled, "CANCELED"}
	case humanos.OutcomeExpired:
		return Verdict{OutcomeExpired, "EXPIRED"}
	}
	return Verdict{OutcomePending, "PENDING"}
}

// orPending reads a missing map entry (a pending provider outcome) as
// pending.
func (o Outcome) orPending() Outcome {
	if o == "" {
		return OutcomePending
	}
	return o
}
