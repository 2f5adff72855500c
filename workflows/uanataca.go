package workflows

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/provider/uanataca"
)

// UanatacaIssuanceName is the workflow type name of a Uanataca certificate
// issuance.
const UanatacaIssuanceName = "UanatacaIssuance"

// Defaults and bounds of a Uanataca issuance.
const (
	uanatacaDefaultTimeout = 30 * 24 * time.Hour
	uanatacaDefaultPoll    = time.Hour
	uanatacaMaxTimeout     = 366 * 24 * time.Hour
	// uanatacaMaxDocuments bounds the documents' total size: they travel
	// in workflow history, whose payloads Temporal limits to 2 MB.
	uanatacaMaxDocuments = 1536 << 10
	// uanatacaCardAttempts bounds how often a card the RA refuses as used
	// (by a request made outside certflow) is replaced before the issuance
	// fails.
	uanatacaCardAttempts = 5
)

// UanatacaIssuanceInput starts a Uanataca issuance.
type UanatacaIssuanceInput struct {
	// Request is the RA's create-request body, field names as the RA spells
	// them. Leave scratchcard empty: certflow reserves one.
	Request uanataca.CreateRequest `json:"request"`
	// Documents to upload before approval (document_front and
	// document_rear at least, for approval by certflow).
	Documents []uanataca.Document `json:"documents,omitempty"`
	// Timeout is how long to wait for the applicant before cancelling the
	// request at Uanataca (default "30d").
	Timeout Duration `json:"timeout,omitempty"`
	// PollInterval is how often the RA is polled in case a webhook is lost
	// (default "1h").
	PollInterval Duration `json:"poll_interval,omitempty"`
}

// UanatacaIssuanceResult is the outcome of a successful issuance, and the
// details of a failed one.
type UanatacaIssuanceResult struct {
	PK                    int64                  `json:"pk"`
	Status                string                 `json:"status"`
	Profile               string                 `json:"profile"`
	RegistrationAuthority string                 `json:"registration_authority"`
	Scratchcard           string                 `json:"scratchcard"`
	CertificateSet        []uanataca.Certificate `json:"certificate_set"`
	// Approved says whether certflow approved the request itself.
	Approved bool `json:"approved"`
}

// UanatacaWebhook is the signal the ingress sends for a Uanataca webhook,
// normalised from either of the RA's webhook formats.
type UanatacaWebhook struct {
	PK                    int64  `json:"pk"`
	RegistrationAuthority string `json:"registration_authority,omitempty"`
	Status                string `json:"status,omitempty"`
	PreviousStatus        string `json:"previous_status,omitempty"`
	EventType             string `json:"event_type,omitempty"`
	Date                  string `json:"date,omitempty"`
}

// validate checks the input before any call, naming every wrong field.
func (in UanatacaIssuanceInput) validate() error {
	var problems []error
	if err := in.Request.Validate(); err != nil {
		problems = append(problems, err)
	}
	if in.Request.Scratchcard != "" {
		problems = append(problems, errors.New("request.scratchcard: leave it empty; certflow reserves a scratchcard"))
	}
	total := 0
	for i, d := range in.Documents {
		switch d.Type {
		case uanataca.DocumentFront, uanataca.DocumentRear, uanataca.DocumentOwner, uanataca.DocumentExtra:
		default:
			problems = append(problems, fmt.Errorf("documents[%d].type %q: use document_front, document_rear, document_owner or extra_document", i, d.Type))
		}
		if len(d.Content) == 0 || d.Filename == "" {
			problems = append(problems, fmt.Errorf("documents[%d]: give a filename and the file's content (base64)", i))
		}
		total += len(d.Content)
	}
	if total > uanatacaMaxDocuments {
		problems = append(problems, fmt.Errorf("documents: %d bytes in all, more than the %d allowed; send smaller scans", total, uanatacaMaxDocuments))
	}
	return validateInput(errors.Join(problems...), in.Timeout, in.PollInterval, uanatacaMaxTimeout)
}

// UanatacaIssuance reserves a scratchcard, creates the RA request, submits
// the documents and approves when configured, then waits for the applicant
// to generate the certificate. On the deadline, on cancellation, or on a
// failure after the request exists, it cancels the request at Uanataca, so
// no request is left behind unattended.
func UanatacaIssuance(ctx workflow.Context, in UanatacaIssuanceInput) (*UanatacaIssuanceResult, error) {
	t, err := newTracker(ctx, ProviderUanataca)
	if err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		t.stage(StageFailed)
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	deadline := workflow.Now(ctx).Add(in.Timeout.or(uanatacaDefaultTimeout))
	t.deadline(deadline)

	req, err := createUanatacaRequest(ctx, t, in.Request)
	if err != nil {
		t.stage(StageFailed)
		return nil, err
	}
	res := &UanatacaIssuanceResult{
		PK: req.PK, Profile: req.Profile, Scratchcard: string(req.Scratchcard),
		RegistrationAuthority: in.Request.RegistrationAuthority,
	}
	t.ref(strconv.FormatInt(req.PK, 10))
	t.providerStatus(req.Status)

	var ua *activities.Uanataca
	result := func(r uanataca.Request) *UanatacaIssuanceResult {
		res.Status, res.CertificateSet = r.Status, r.CertificateSet
		return res
	}
	final, err := follow(ctx, t, lifecycle[uanataca.Request, UanatacaWebhook]{
		provider: ProviderUanataca,
		ref:      fmt.Sprintf("request %d", req.PK),
		prepare: func(ctx workflow.Context) error {
			return submitUanatacaDocuments(ctx, t, in.Documents, res)
		},
		wait: pollingWait(t, polling[uanataca.Request]{
			what:     fmt.Sprintf("request %d at uanataca", req.PK),
			deadline: deadline,
			first:    in.PollInterval.or(uanatacaDefaultPoll),
			every:    in.PollInterval.or(uanatacaDefaultPoll),
			await:    ua.AwaitUanatacaRequest,
			get:      ua.GetUanatacaRequest,
			arg:      req.PK,
			final:    func(r uanataca.Request) bool { return uanataca.OutcomeOf(r.Status) != uanataca.OutcomePending },
			status:   func(r uanataca.Request) string { return r.Status },
		}, func(h UanatacaWebhook) string { return h.Status }),
		cancel: func(ctx workflow.Context) (r uanataca.Request, err error) {
			err = workflow.ExecuteActivity(ctx, ua.CancelUanatacaRequest, req.PK).Get(ctx, &r)
			return r, err
		},
		judge:    judgeUanataca,
		failType: ErrTypeVideoIDFailed,
		details:  func(r uanataca.Request) any { return result(r) },
	})
	if err != nil {
		return nil, err
	}
	return result(final), nil
}

// judgeUanataca maps a request status to its lifecycle outcome.
func judgeUanataca(r uanataca.Request) (outcome, string) {
	switch uanataca.OutcomeOf(r.Status) {
	case uanataca.OutcomeIssued:
		return outcomeSucceeded, r.Status
	case uanataca.OutcomeCancelled:
		return outcomeCancelledAtProvider, r.Status
	case uanataca.OutcomeVideoFailed:
		return outcomeFailedAtProvider, r.Status
	}
	return outcomePending, r.Status
}

// createUanatacaRequest gets a card from the RA's allocator and creates
// the request with it. A card the RA refuses as used by somebody else (a
// request made outside certflow) is given back as taken with the next
// allocation. The allocator hears what became of the card in the end.
func createUanatacaRequest(ctx workflow.Context, t *tracker, body uanataca.CreateRequest) (uanataca.Request, error) {
	var ua *activities.Uanataca
	var sc *activities.Scratchcards
	info := workflow.GetInfo(ctx)
	ra := body.RegistrationAuthority
	var lastErr error
	var giving string
	for attempt := range uanatacaCardAttempts {
		t.stage(StageReservingScratchard)
		alloc := activities.AllocateInput{
			RA: ra, Holder: info.WorkflowExecution.ID,
			UpdateID:    fmt.Sprintf("%s/%s/%d", info.WorkflowExecution.ID, info.FirstRunID, attempt),
			AllocatorID: AllocatorID(info.TaskQueueName, ra), AllocatorType: ScratchcardAllocatorName, UpdateName: UpdateAllocate,
		}
		if giving != "" {
			alloc.GivingSN, alloc.GivingOutcome = giving, CardTaken
		}
		var sn string
		if err := workflow.ExecuteActivity(summarize(withCalls(ctx), "Get a scratchcard of RA "+ra+" from its allocator"), sc.AllocateScratchcard, alloc).Get(ctx, &sn); err != nil {
			return uanataca.Request{}, err
		}
		t.stage(StageCreating)
		body.Scratchcard = sn
		var req uanataca.Request
		lastErr = createOnce(ctx, "Create the request at Uanataca with scratchcard "+sn, ua.CreateUanatacaRequest, body, &req)
		var appErr *temporal.ApplicationError
		if errors.As(lastErr, &appErr) && appErr.Type() == activities.ErrTypeScratchcardUsed {
			workflow.GetLogger(ctx).Warn("scratchcard taken outside certflow; asking for another", "scratchcard", sn)
			giving = sn
			continue
		}
		outcome := CardUsed
		if lastErr != nil {
			outcome = CardReleased
		}
		reportCard(ctx, ra, CardReport{SN: sn, Holder: info.WorkflowExecution.ID, Outcome: outcome})
		return req, lastErr
	}
	reportCard(ctx, ra, CardReport{SN: giving, Holder: info.WorkflowExecution.ID, Outcome: CardTaken})
	return uanataca.Request{}, lastErr
}

// reportCard tells the RA's allocator what became of a card. It survives
// the workflow's cancellation; if it is lost anyway, the allocator's lease
// expiry asks the RA.
func reportCard(ctx workflow.Context, ra string, r CardReport) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	id := AllocatorID(workflow.GetInfo(ctx).TaskQueueName, ra)
	if err := workflow.SignalExternalWorkflow(dctx, id, "", SignalScratchcard, r).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("could not tell the scratchcard allocator; its lease will expire", "scratchcard", r.SN, "error", err)
	}
}

// submitUanatacaDocuments uploads the documents and asks for approval.
func submitUanatacaDocuments(ctx workflow.Context, t *tracker, docs []uanataca.Document, res *UanatacaIssuanceResult) error {
	if len(docs) == 0 {
		return nil
	}
	var ua *activities.Uanataca
	t.stage(StageSubmittingDocuments)
	for _, d := range docs {
		if err := workflow.ExecuteActivity(summarize(withCalls(ctx), "Upload "+d.Type), ua.UploadUanatacaDocument, res.PK, d).Get(ctx, nil); err != nil {
			return err
		}
	}
	var approval activities.ApproveResult
	if err := workflow.ExecuteActivity(summarize(withCalls(ctx), "Approve the request (RAO)"), ua.ApproveUanatacaRequest, res.PK).Get(ctx, &approval); err != nil {
		return err
	}
	res.Approved = approval.Approved
	if approval.Approved {
		t.providerStatus(approval.Request.Status)
	}
	return nil
}
