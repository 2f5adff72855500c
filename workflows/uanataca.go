package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/uanataca"
	"github.com/certflow/certflow/internal/validate"
)

// Defaults and bounds of a Uanataca issuance.
const (
	uanatacaDefaultTimeout = 30 * 24 * time.Hour
	uanatacaDefaultPoll    = time.Hour
	uanatacaMaxTimeout     = 366 * 24 * time.Hour
	// uanatacaMaxDocument and uanatacaMaxDocuments bound the scans, one
	// and all together: a phone photo or a scanned PDF of an identity
	// document is 1 to 6 MB, so 10 MiB leaves room for a high-resolution
	// scan, and 32 MiB in all holds front, rear and selfie at that size
	// with an extra document beside them. They no longer travel in
	// history: the input (about 4/3 of this once base64-encoded and
	// encrypted) and each upload's argument go to the payload store
	// (internal/payloadstore), history keeping a reference of a few
	// hundred bytes each. The RA documents no limit of its own (its
	// emulator takes 32 MiB an upload); a 413 from it fails the upload
	// at once (ProviderBadRequest).
	uanatacaMaxDocument  = 10 << 20
	uanatacaMaxDocuments = 32 << 20
	// uanatacaCardAttempts bounds how often a card the RA refuses as used
	// (by a request made outside certflow) is replaced before the issuance
	// fails.
	uanatacaCardAttempts = 5
)

// validateUanataca checks the input before any call, naming every wrong
// field.
func validateUanataca(in contract.UanatacaIssuanceInput) error {
	var problems []error
	if err := in.Request.Validate(); err != nil {
		problems = append(problems, validate.Within("request", err))
	}
	if in.Request.Scratchcard != "" {
		problems = append(problems, errors.New("request.scratchcard: leave it empty; certflow reserves a scratchcard"))
	}
	total := 0
	for i, d := range in.Documents {
		switch d.Type {
		case uanataca.DocumentFront, uanataca.DocumentRear, uanataca.DocumentOwner, uanataca.DocumentExtra:
		default:
			problems = append(problems, fmt.Errorf("documents[%d].type: %q is not a document type; use document_front, document_rear, document_owner or extra_document", i, d.Type))
		}
		if len(d.Content) == 0 || d.Filename == "" {
			problems = append(problems, fmt.Errorf("documents[%d]: give a filename and the file's content (base64)", i))
		}
		if len(d.Content) > uanatacaMaxDocument {
			problems = append(problems, fmt.Errorf("documents[%d].content: %d bytes, more than the %d allowed for a document; send a smaller scan", i, len(d.Content), uanatacaMaxDocument))
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
//
// Its input is a pointer, unlike the other lifecycles', so the issuance
// can let go of it: the SDK keeps the argument for the workflow's life,
// and with document scans it weighs about 4/3 of theirs (20 MiB for three
// of 5 MiB) in the worker's memory for as long as the workflow is cached
// — weeks of waiting, thousands of workflows.
func UanatacaIssuance(ctx workflow.Context, input *json.RawMessage) (*contract.UanatacaIssuanceResult, error) {
	return execute(ctx, &uanatacaIssuance{raw: input})
}

// uanatacaIssuance is one issuance's lifecycle.
type uanatacaIssuance struct {
	handlers[contract.UanatacaWebhook]
	// raw is the input as started (nil when none), decoded into in by
	// run, which then empties it.
	raw *json.RawMessage
	in  contract.UanatacaIssuanceInput
	// res is the result as far as it is known: the request as created,
	// then whether certflow approved it.
	res *contract.UanatacaIssuanceResult
	ua  *activities.Uanataca
}

func (u *uanatacaIssuance) setup(ctx workflow.Context) error {
	return u.register(ctx, contract.ProviderUanataca, nil)
}

func (u *uanatacaIssuance) run(ctx workflow.Context) (*contract.UanatacaIssuanceResult, error) {
	var problems error
	withoutDeadlockDetection(ctx, func() {
		var raw json.RawMessage
		if u.raw != nil {
			raw = *u.raw
		}
		problems = checkInput(raw, &u.in, validateUanataca)
		if problems == nil {
			u.t.documents(u.in.Documents)
		}
	})
	// The raw input holds the documents once more, and the SDK holds it
	// for the workflow's life: empty it (see UanatacaIssuance).
	if u.raw != nil {
		*u.raw = nil
	}
	deadline, err := u.t.begin(problems, u.in.Timeout.Or(uanatacaDefaultTimeout))
	if err != nil {
		return nil, err
	}
	created, err := u.create(ctx)
	if err != nil {
		u.t.stage(contract.StageFailed)
		return nil, err
	}
	u.res = &contract.UanatacaIssuanceResult{
		PK: created.PK, Profile: created.Profile, Scratchcard: string(created.Scratchcard),
		RegistrationAuthority: u.in.Request.RegistrationAuthority,
	}
	u.t.ref(strconv.FormatInt(created.PK, 10))

	every := u.in.PollInterval.Or(uanatacaDefaultPoll)
	req := request{
		provider: contract.ProviderUanataca, ref: fmt.Sprintf("request %d", created.PK), failType: contract.ErrTypeVideoIdentificationFailed,
		deadline: deadline, firstPoll: every, pollEvery: every,
		poll: u.ua.AwaitUanatacaRequest, read: u.ua.GetUanatacaRequest, cancel: u.ua.CancelUanatacaRequest,
		arg: activities.RequestPK{PK: created.PK},
	}
	w := newWait(u.t, u, req, u.hints, created)
	if ctx.Err() == nil {
		err := u.submitDocumentsBy(ctx, deadline)
		// Uploaded or given up: the scans are not needed any more, and the
		// wait that follows may last weeks.
		u.in.Documents = nil
		if err != nil {
			w.abandon(ctx)
			return nil, err
		}
	}
	// A cancellation during the documents, or a deadline that passed
	// meanwhile, is seen by follow, which cancels the request at the RA.
	final, verdict, end, err := w.follow(ctx)
	if err != nil {
		return nil, err
	}
	u.res.Status, u.res.CertificateSet = verdict.Status, final.CertificateSet
	return finish(u.t, req, verdict, end, u.res)
}

func (u *uanatacaIssuance) judge(r uanataca.Request) activities.Verdict {
	return activities.JudgeUanataca(r)
}

// eventKey names a webhook by the status it announces.
func (u *uanatacaIssuance) eventKey(h contract.UanatacaWebhook) string { return h.Status }

func (u *uanatacaIssuance) shows(r uanataca.Request, h contract.UanatacaWebhook) bool {
	return showsStatus(r.Status, h.Status)
}

// create gets a card from the RA's allocator and creates the request with
// it. A card the RA refuses as used by somebody else (a request made
// outside certflow) is given back as taken with the next allocation. The
// allocator hears what became of the card in the end.
func (u *uanatacaIssuance) create(ctx workflow.Context) (uanataca.Request, error) {
	var sc *activities.Scratchcards
	t, body := u.t, u.in.Request
	info := workflow.GetInfo(ctx)
	ra := body.RegistrationAuthority
	var lastErr error
	var giving string
	for attempt := range uanatacaCardAttempts {
		t.stage(contract.StageReservingScratchcard)
		alloc := activities.AllocateInput{
			RA: ra, Holder: info.WorkflowExecution.ID,
			UpdateID:    fmt.Sprintf("%s/%s/%d", info.WorkflowExecution.ID, info.FirstRunID, attempt),
			AllocatorID: contract.AllocatorID(info.TaskQueueName, ra),
		}
		if giving != "" {
			alloc.GivingSN, alloc.GivingOutcome = giving, contract.CardTaken
		}
		var sn string
		if err := workflow.ExecuteActivity(summarize(withCalls(ctx), "Get a scratchcard of RA "+ra+" from its allocator"), sc.AllocateScratchcard, alloc).Get(ctx, &sn); err != nil {
			return uanataca.Request{}, err
		}
		t.stage(contract.StageCreating)
		body.Scratchcard = sn
		var req uanataca.Request
		lastErr = createUninterrupted(ctx, "Create the request at Uanataca with scratchcard "+sn, u.ua.CreateUanatacaRequest, body, &req)
		var appErr *temporal.ApplicationError
		if errors.As(lastErr, &appErr) && appErr.Type() == activities.ErrTypeScratchcardUnavailable {
			workflow.GetLogger(ctx).Warn("scratchcard taken outside certflow; asking for another", "scratchcard", sn)
			giving = sn
			continue
		}
		outcome := contract.CardUsed
		if lastErr != nil {
			outcome = contract.CardReleased
		}
		reportCard(ctx, ra, contract.CardReport{SN: sn, Holder: info.WorkflowExecution.ID, Outcome: outcome})
		return req, lastErr
	}
	reportCard(ctx, ra, contract.CardReport{SN: giving, Holder: info.WorkflowExecution.ID, Outcome: contract.CardTaken})
	return uanataca.Request{}, lastErr
}

// reportCard tells the RA's allocator what became of a card. It survives
// the workflow's cancellation; if it is lost anyway, the allocator keeps
// the lease until this workflow has closed, then asks the RA whether the
// card was used.
func reportCard(ctx workflow.Context, ra string, r contract.CardReport) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	id := contract.AllocatorID(workflow.GetInfo(ctx).TaskQueueName, ra)
	if err := workflow.SignalExternalWorkflow(dctx, id, "", contract.SignalScratchcard, r).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("could not tell the scratchcard allocator; it will ask the RA about the card once this workflow has closed", "scratchcard", r.SN, "error", err)
	}
}

// submitDocumentsBy submits the documents, but no longer than until the
// deadline: the calls retry through outages for up to a day, and the
// deadline must be acted on whatever they do. It returns only a failure
// that ends the issuance: not the workflow's cancellation, nor the
// deadline passing (follow acts on both). Runs begun before
// waitLoopChange submit without the deadline, as they did.
func (u *uanatacaIssuance) submitDocumentsBy(ctx workflow.Context, deadline time.Time) error {
	if len(u.in.Documents) == 0 {
		return nil
	}
	if u.hints.blocking {
		if err := u.submitDocuments(ctx); !isCancellation(ctx, err) {
			return err
		}
		return nil
	}
	docsCtx, stop := workflow.WithCancel(ctx)
	defer stop()
	passed := false
	deadlineTimer := workflow.NewTimer(docsCtx, deadline.Sub(workflow.Now(ctx)))
	workflow.Go(docsCtx, func(c workflow.Context) {
		if deadlineTimer.Get(c, nil) == nil {
			passed = true
			stop()
		}
	})
	if err := u.submitDocuments(docsCtx); err != nil && !passed && !isCancellation(ctx, err) {
		return err
	}
	return nil
}

// submitDocuments uploads the documents and asks for approval.
func (u *uanatacaIssuance) submitDocuments(ctx workflow.Context) error {
	u.t.stage(contract.StageSubmittingDocuments)
	for i, d := range u.in.Documents {
		if err := workflow.ExecuteActivity(summarize(withCalls(ctx), "Upload "+d.Type), u.ua.UploadUanatacaDocument, activities.RequestPK{PK: u.res.PK}, d).Get(ctx, nil); err != nil {
			return err
		}
		u.t.documentUploaded(i)
	}
	var approval activities.ApproveResult
	if err := workflow.ExecuteActivity(summarize(withCalls(ctx), "Approve the request (RAO)"), u.ua.ApproveUanatacaRequest, activities.RequestPK{PK: u.res.PK}).Get(ctx, &approval); err != nil {
		return err
	}
	u.res.Approved = approval.Approved
	if approval.Approved {
		u.t.providerStatus(approval.Request.Status)
	}
	return nil
}
