package workflows

import (
	"encoding/json"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/masstack"
	"github.com/certflow/certflow/internal/validate"
)

const (
	masstackDefaultPoll = time.Hour
	// masstackExpiryMargin is added to the identification's own validity
	// for the default deadline, so MasStack's expiry normally comes first.
	masstackExpiryMargin = time.Hour
	masstackMaxTimeout   = masstack.MaxExpiresIn + 24*time.Hour
	// masstackDefaultReason is recorded at MasStack when certflow cancels.
	masstackDefaultReason = "abandoned: the certflow workflow was cancelled or passed its deadline"
)

func validateMasStack(in contract.MasStackIdentificationInput) error {
	return validateInput(validate.Within("identification", in.Identification.Validate()), in.Timeout, in.PollInterval, masstackMaxTimeout)
}

// masstackTimeout is how long the workflow waits before cancelling: the
// given timeout, or the identification's own validity plus a margin.
func masstackTimeout(in contract.MasStackIdentificationInput) time.Duration {
	validity := masstack.MaxExpiresIn
	if v, err := masstack.ParseISODuration(in.Identification.ExpiresIn); err == nil && in.Identification.ExpiresIn != "" {
		validity = v
	}
	return in.Timeout.Or(validity + masstackExpiryMargin)
}

// MasStackIdentification creates an identification, exposes the person's
// link through the status query (action_url), and follows it to its final
// status. On its deadline or on cancellation it cancels the identification
// at MasStack with a reason; a cancel answered 409 (already final) or 404
// (already gone) is not a failure: the final status is reported.
func MasStackIdentification(ctx workflow.Context, input json.RawMessage) (*contract.MasStackIdentificationResult, error) {
	return execute(ctx, &masstackIdentification{raw: input})
}

// masstackIdentification is one identification's lifecycle.
type masstackIdentification struct {
	handlers[contract.StatusHint]
	// raw is the input as started, decoded into in by run.
	raw json.RawMessage
	in  contract.MasStackIdentificationInput
	// idn is the identification as created.
	idn masstack.Identification
	ms  *activities.MasStack
}

func (m *masstackIdentification) setup(ctx workflow.Context) error {
	return m.register(ctx, contract.ProviderMasStack, nil)
}

func (m *masstackIdentification) run(ctx workflow.Context) (*contract.MasStackIdentificationResult, error) {
	problems := checkInput(m.raw, &m.in, validateMasStack)
	deadline, err := m.t.begin(problems, masstackTimeout(m.in))
	if err != nil {
		return nil, err
	}
	if err := m.t.create(ctx, "Create the identification at MasStack", m.ms.CreateMasStackIdentification, m.in.Identification, &m.idn); err != nil {
		return nil, err
	}
	m.t.ref(m.idn.ID)
	m.t.actionURL(m.idn.URL)

	req := request{
		provider: contract.ProviderMasStack, ref: "identification " + m.idn.ID, failType: contract.ErrTypeIdentificationRejected,
		deadline: deadline, firstPoll: firstPoll, pollEvery: m.in.PollInterval.Or(masstackDefaultPoll),
		poll: m.ms.AwaitMasStackIdentification, read: m.ms.GetMasStackIdentification, cancel: m.ms.CancelMasStackIdentification,
		arg: activities.ObjectID{ID: m.idn.ID}, cancelArg: m.cancelInput,
	}
	_, verdict, end, err := newWait(m.t, m, req, m.hints, m.idn).follow(ctx)
	if err != nil {
		return nil, err
	}
	return finish(m.t, req, verdict, end, &contract.MasStackIdentificationResult{ID: m.idn.ID, Status: verdict.Status, URL: m.idn.URL})
}

// cancelInput is the cancel call's input: the canceller's reason, else the
// input's, else certflow's default.
func (m *masstackIdentification) cancelInput(reason string) any {
	for _, r := range []string{reason, m.in.CancelReason} {
		if r != "" {
			return activities.CancelIdentificationInput{ID: m.idn.ID, Reason: r}
		}
	}
	return activities.CancelIdentificationInput{ID: m.idn.ID, Reason: masstackDefaultReason}
}

func (m *masstackIdentification) judge(s masstack.Identification) activities.Verdict {
	return activities.JudgeMasStack(s)
}

// eventKey names a hint by the status it announces.
func (m *masstackIdentification) eventKey(h contract.StatusHint) string { return h.Status }

func (m *masstackIdentification) shows(s masstack.Identification, h contract.StatusHint) bool {
	return showsStatus(s.Status, h.Status)
}
