package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Status is what the status query answers, the same shape for every
// workflow type: where the lifecycle is and what the provider last said.
type Status struct {
	Provider string `json:"provider"`
	Stage    string `json:"stage"`
	// ProviderRef is the provider's identifier of the request (for
	// Uanataca, the request pk), once known.
	ProviderRef string `json:"provider_ref,omitempty"`
	// ProviderStatus is the provider's last status read by the workflow.
	ProviderStatus string `json:"provider_status,omitempty"`
	// ActionURL is the link to send the person (Universign's registration
	// session, MasStack's identification page), once known.
	ActionURL string `json:"action_url,omitempty"`
	// Subjects are the people of a multi-person request (Humanos): the
	// link and code to send each, and what is known of their progress.
	Subjects  []SubjectStatus `json:"subjects,omitempty"`
	Deadline  time.Time       `json:"deadline,omitzero"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// SubjectStatus is one person of a multi-person request.
type SubjectStatus struct {
	Contact        string `json:"contact"`
	Link           string `json:"link,omitempty"`
	Code           string `json:"code,omitempty"`
	IdentityStatus string `json:"identity_status,omitempty"`
	OTPFailures    int    `json:"otp_failures,omitempty"`
}

// tracker keeps a workflow's Status, answers the status query with it, and
// mirrors stage and provider reference into search attributes.
type tracker struct {
	ctx workflow.Context
	s   Status
}

// newTracker registers the status query and records the provider.
func newTracker(ctx workflow.Context, provider string) (*tracker, error) {
	t := &tracker{ctx: ctx, s: Status{Provider: provider, Stage: StageValidating, UpdatedAt: workflow.Now(ctx)}}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return t.s, nil }); err != nil {
		return nil, err
	}
	t.upsert(SearchProvider.ValueSet(provider), SearchStage.ValueSet(t.s.Stage))
	return t, nil
}

// upsert writes search attributes. It uses a disconnected context so that
// a cancelled workflow still records its last stages.
func (t *tracker) upsert(updates ...temporal.SearchAttributeUpdate) {
	ctx, _ := workflow.NewDisconnectedContext(t.ctx)
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(t.ctx).Warn("could not record search attributes", "error", err)
	}
}

func (t *tracker) touch() { t.s.UpdatedAt = workflow.Now(t.ctx) }

// stage moves the lifecycle to a new stage.
func (t *tracker) stage(stage string) {
	if t.s.Stage == stage {
		return
	}
	t.s.Stage = stage
	t.touch()
	t.upsert(SearchStage.ValueSet(stage))
}

// ref records the provider's reference, making the workflow findable by it
// (the webhook ingress looks Uanataca requests up this way).
func (t *tracker) ref(ref string) {
	t.s.ProviderRef = ref
	t.touch()
	t.upsert(SearchProviderRef.ValueSet(ref))
}

// providerStatus records the provider's last status.
func (t *tracker) providerStatus(status string) {
	if t.s.ProviderStatus != status {
		t.s.ProviderStatus = status
		t.touch()
	}
}

func (t *tracker) deadline(d time.Time) { t.s.Deadline = d }

// actionURL records the link the person must open.
func (t *tracker) actionURL(u string) {
	t.s.ActionURL = u
	t.touch()
}
