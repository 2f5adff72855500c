package workflows

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/uanataca"
)

// The tests in this file hold the lifecycle core's promises at the edges:
// a provider down for hours, a forged webhook, a cancel that finds nothing.

// A webhook arrives, then the RA's reads fail for ten hours: the re-read
// it triggers retries all that time. The deadline passing meanwhile is acted
// on at once: the request is cancelled at the deadline, not when the
// re-read gives up.
func TestDeadlineActedOnWhileReReadRetries(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	in := validIssuance()
	in.Timeout = contract.Duration(3 * time.Hour)
	in.PollInterval = contract.Duration(24 * time.Hour)
	env.RegisterDelayedCallback(func() {
		env.ra.fail("get", &provider.Error{Provider: "uanataca", Operation: "get_request", StatusCode: http.StatusServiceUnavailable})
		env.SignalWorkflow(contract.SignalWebhook, contract.UanatacaWebhook{PK: 46761, Status: uanataca.StatusEnrollReady})
	}, time.Hour)
	env.RegisterDelayedCallback(func() { env.ra.fail("get", nil) }, 10*time.Hour)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(in))

	env.wantCancelledAtDeadline(t, 3*time.Hour)
}

// wantCancelledAtDeadline checks that the issuance ended DeadlineExceeded
// and its request was cancelled at the RA when the deadline, d after the
// start, passed.
func (e *issuanceEnv) wantCancelledAtDeadline(t *testing.T, d time.Duration) {
	t.Helper()
	if _, err := e.issuance(t); errorType(err) != contract.ErrTypeDeadlineExceeded {
		t.Fatalf("error = %v, want %s", err, contract.ErrTypeDeadlineExceeded)
	}
	start := e.started["AllocateScratchcard"][0]
	cancels := e.started["CancelUanatacaRequest"]
	if len(cancels) == 0 || cancels[0].Sub(start) != d || e.ra.status(46761) != uanataca.StatusCancelled {
		t.Fatalf("cancel started at %v after the start, status %s; want at the %s deadline, CANCELLED", durationsSince(start, cancels), e.ra.status(46761), d)
	}
}

// The RA refuses every upload with 5xx for longer than the issuance may
// wait: the deadline still ends it, at the deadline, and the request is
// cancelled at the RA, instead of the upload retrying for a day.
func TestDeadlineActedOnWhileDocumentsRetry(t *testing.T) {
	env := newIssuanceEnv(t, &uanataca.Approval{Username: "rao", Password: "p", PIN: "1", RAOID: 7})
	in := validIssuance()
	in.Timeout = contract.Duration(3 * time.Hour)
	in.Documents = []uanataca.Document{{Type: uanataca.DocumentFront, Filename: "front.jpg", Content: []byte("front")}}
	env.ra.fail("upload", &provider.Error{Provider: "uanataca", Operation: "upload_document", StatusCode: http.StatusServiceUnavailable})
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(in))

	env.wantCancelledAtDeadline(t, 3*time.Hour)
}

// An issuance cancelled while its create is retrying skips the documents
// (no upload, no submitting_documents stage): the
// request, once created, is cancelled at once (as runs begun before the
// wait loop's redesign did, so their histories replay).
func TestCancelledDuringCreateSkipsTheDocuments(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(map[bool]string{false: "new run", true: "run begun before the redesign"}[old], func(t *testing.T) {
			env := newIssuanceEnv(t, &uanataca.Approval{Username: "rao", Password: "p", PIN: "1", RAOID: 7})
			if old {
				env.OnGetVersion(waitLoopChange, workflow.DefaultVersion, waitLoopRecords).Return(workflow.DefaultVersion)
			}
			in := validIssuance()
			in.Documents = []uanataca.Document{{Type: uanataca.DocumentFront, Filename: "front.jpg", Content: []byte("front")}}
			unavailable := &provider.Error{Provider: "uanataca", Operation: "create_request", StatusCode: http.StatusServiceUnavailable}
			env.ra.script("create", unavailable, unavailable, unavailable)
			env.RegisterDelayedCallback(env.CancelWorkflow, 2*time.Second)
			var stages []string
			env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
				if stage, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(contract.SearchStage); ok {
					stages = append(stages, stage)
				}
			}).Return(nil)
			env.ExecuteWorkflow(UanatacaIssuance, asJSON(in))

			var ce *temporal.CanceledError
			if _, err := env.issuance(t); !errors.As(err, &ce) {
				t.Fatalf("error = %v, want a cancellation", err)
			}
			if env.ra.count("upload") != 0 || env.ra.status(46761) != uanataca.StatusCancelled || slices.Contains(stages, contract.StageSubmittingDocuments) {
				t.Fatalf("%d uploads, status %s, stages %v; want no upload nor documents stage, CANCELLED", env.ra.count("upload"), env.ra.status(46761), stages)
			}
		})
	}
}

// A forged ISSUED webhook arrives while the request is CREATED; two hours
// later the request really is ISSUED and its genuine webhook arrives. The
// forged one must not hide it: the issuance completes on the genuine
// webhook, not on the next poll a day later.
func TestForgedHintDoesNotHideTheGenuineOne(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	in := validIssuance()
	in.PollInterval = contract.Duration(24 * time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(contract.SignalWebhook, contract.UanatacaWebhook{PK: 46761, Status: uanataca.StatusIssued})
	}, time.Minute)
	env.at(2*time.Hour, uanataca.StatusIssued, true)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(in))

	res, err := env.issuance(t)
	if err != nil || res.Status != uanataca.StatusIssued {
		t.Fatalf("result %+v, %v; want ISSUED", res, err)
	}
	start := env.started["AllocateScratchcard"][0]
	reads := env.started["GetUanatacaRequest"]
	if len(reads) != 2 || reads[1].Sub(start) != 2*time.Hour {
		t.Fatalf("reads at %v after the start, want one for the forged webhook and one at 2h for the genuine one", durationsSince(start, reads))
	}
	if polls := env.started["AwaitUanatacaRequest"]; len(polls) != 1 {
		t.Fatalf("%d polls, want only the first: the genuine webhook completes the issuance", len(polls))
	}
}

// The object disappears at the provider before the deadline: the cancel
// answers 404 and so does the read after it. "Gone" is a final state: the
// workflow ends on its deadline, reports GONE, and does not fail with
// "cancel it there by hand".
func TestCompensationThatFindsNothingReportsGone(t *testing.T) {
	notFound := func(p string) error {
		return &provider.Error{Provider: p, StatusCode: http.StatusNotFound, Message: "Not found"}
	}
	tests := []struct {
		name     string
		provider string
		start    func(t *testing.T) (*testEnv, *scripted, func())
	}{
		{"uanataca", "uanataca", func(t *testing.T) (*testEnv, *scripted, func()) {
			env := newIssuanceEnv(t, nil)
			in := validIssuance()
			in.Timeout, in.PollInterval = contract.Duration(3*time.Hour), contract.Duration(24*time.Hour)
			return env.testEnv, &env.ra.scripted, func() { env.ExecuteWorkflow(UanatacaIssuance, asJSON(in)) }
		}},
		{"universign", "universign", func(*testing.T) (*testEnv, *scripted, func()) {
			env, fake := newUniversignEnv()
			in := validRegistration()
			in.Timeout, in.PollInterval = contract.Duration(3*time.Hour), contract.Duration(24*time.Hour)
			return env, &fake.scripted, func() { env.ExecuteWorkflow(UniversignRegistration, asJSON(in)) }
		}},
		{"masstack", "masstack", func(*testing.T) (*testEnv, *scripted, func()) {
			env, fake := newMasStackEnv()
			in := validIdentification()
			in.Timeout, in.PollInterval = contract.Duration(3*time.Hour), contract.Duration(24*time.Hour)
			return env, &fake.scripted, func() { env.ExecuteWorkflow(MasStackIdentification, asJSON(in)) }
		}},
		{"humanos", "humanos", func(*testing.T) (*testEnv, *scripted, func()) {
			env, fake := newHumanosEnv()
			in := validHumanos()
			in.Timeout, in.PollInterval = contract.Duration(3*time.Hour), contract.Duration(24*time.Hour)
			return env, &fake.scripted, func() { env.ExecuteWorkflow(HumanosRequest, asJSON(in)) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, fake, execute := tt.start(t)
			// Between the last poll before the deadline and the deadline.
			env.RegisterDelayedCallback(func() {
				fake.script("get", notFound(tt.provider))
				fake.script("cancel", notFound(tt.provider))
			}, 170*time.Minute)
			execute()

			err := env.GetWorkflowError()
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeDeadlineExceeded {
				t.Fatalf("error = %v, want %s", err, contract.ErrTypeDeadlineExceeded)
			}
			var details map[string]any
			if derr := appErr.Details(&details); derr != nil || !hasValue(details, activities.StatusGone) {
				t.Fatalf("result details %v (%v), want the status %s", details, derr, activities.StatusGone)
			}
			if st := env.status(t); st.Stage != contract.StageExpired || st.ProviderStatus != activities.StatusGone {
				t.Fatalf("status %+v, want stage %s and provider status %s", st, contract.StageExpired, activities.StatusGone)
			}
		})
	}
}

func hasValue(m map[string]any, v string) bool {
	for _, got := range m {
		if got == v {
			return true
		}
	}
	return false
}

func durationsSince(start time.Time, at []time.Time) []time.Duration {
	var out []time.Duration
	for _, a := range at {
		out = append(out, a.Sub(start))
	}
	return out
}

// A run started before the wait loop's redesign (no version marker) keeps
// the blocking wait, so its history replays: it still completes through
// webhooks, and it still has the old loop's flaw that a forged hint hides
// the genuine one until the next poll.
func TestRunsStartedBeforeTheRedesignKeepTheBlockingWait(t *testing.T) {
	tests := []struct {
		name      string
		forged    bool
		wantReads int
		wantPolls int
	}{
		{"issued through webhooks", false, 2, 1},
		{"forged hint hides the genuine one", true, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newIssuanceEnv(t, nil)
			env.OnGetVersion(waitLoopChange, workflow.DefaultVersion, waitLoopRecords).Return(workflow.DefaultVersion)
			in := validIssuance()
			in.PollInterval = contract.Duration(24 * time.Hour)
			if tt.forged {
				env.RegisterDelayedCallback(func() {
					env.SignalWorkflow(contract.SignalWebhook, contract.UanatacaWebhook{PK: 46761, Status: uanataca.StatusIssued})
				}, time.Minute)
			} else {
				env.at(time.Minute, uanataca.StatusEnrollReady, true)
			}
			env.at(2*time.Hour, uanataca.StatusIssued, true)
			env.ExecuteWorkflow(UanatacaIssuance, asJSON(in))

			res, err := env.issuance(t)
			if err != nil || res.Status != uanataca.StatusIssued {
				t.Fatalf("result %+v, %v; want ISSUED", res, err)
			}
			reads, polls := len(env.started["GetUanatacaRequest"]), len(env.started["AwaitUanatacaRequest"])
			if reads != tt.wantReads || polls != tt.wantPolls {
				t.Fatalf("%d reads and %d polls, want %d and %d", reads, polls, tt.wantReads, tt.wantPolls)
			}
		})
	}
}
