package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/logging"
	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/uanataca"
)

// scripted counts a fake provider's calls by operation and returns the
// errors a test scripted for them, in order. Fakes embed it.
type scripted struct {
	mu    sync.Mutex
	calls map[string]int
	errs  map[string][]error
	// down holds the error of an operation that fails until restored.
	down map[string]error
}

// call counts op and returns its next scripted error; the caller holds mu.
func (s *scripted) call(op string) error {
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[op]++
	if err := s.down[op]; err != nil {
		return err
	}
	if q := s.errs[op]; len(q) > 0 {
		s.errs[op] = q[1:]
		return q[0]
	}
	return nil
}

func (s *scripted) script(op string, errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errs == nil {
		s.errs = map[string][]error{}
	}
	s.errs[op] = append(s.errs[op], errs...)
}

// fail makes every call of op fail with err, until fail(op, nil).
func (s *scripted) fail(op string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down == nil {
		s.down = map[string]error{}
	}
	s.down[op] = err
}

func (s *scripted) count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// fakeRA is an in-memory RA for workflow tests: requests whose status the
// test moves, errors scripted per operation, and a count of every call.
type fakeRA struct {
	scripted
	requests map[int64]*uanataca.Request
	nextPK   int64
	nextCard int
	// lostAnswers makes that many creates store the request and then fail
	// as if the answer was lost on the way back.
	lostAnswers int
	allocations []activities.AllocateInput
	// reports are what the issuance told the allocator.
	reports []contract.CardReport
}

func newFakeRA() *fakeRA {
	return &fakeRA{requests: map[int64]*uanataca.Request{}, nextPK: 46760, nextCard: 1256948}
}

func (f *fakeRA) set(pk int64, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.requests[pk]
	r.Status = status
	if status == uanataca.StatusIssued {
		r.CertificateSet = []uanataca.Certificate{{Profile: r.Profile, SerialNumber: "48dc42f3763a49c4", Valid: "VALID"}}
	}
}

func (f *fakeRA) status(pk int64) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[pk].Status
}

// allocate stands in for the allocator's Update-with-Start: a fresh card
// each time, recording what was given back.
func (f *fakeRA) allocate(_ context.Context, in activities.AllocateInput) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("allocate"); err != nil {
		return "", err
	}
	f.allocations = append(f.allocations, in)
	f.nextCard++
	return fmt.Sprint(f.nextCard), nil
}

func (f *fakeRA) CreateRequest(_ context.Context, req uanataca.CreateRequest) (uanataca.Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("create"); err != nil {
		return uanataca.Request{}, err
	}
	f.nextPK++
	r := &uanataca.Request{PK: f.nextPK, Status: uanataca.StatusCreated, Profile: req.Profile, Email: req.Email,
		Scratchcard: uanataca.FlexString(req.Scratchcard), RegistrationAuthority: uanataca.FlexString(req.RegistrationAuthority)}
	f.requests[r.PK] = r
	if f.lostAnswers > 0 {
		f.lostAnswers--
		return uanataca.Request{}, errors.New("read tcp: i/o timeout")
	}
	return *r, nil
}

func (f *fakeRA) GetRequest(_ context.Context, pk int64) (uanataca.Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("get"); err != nil {
		return uanataca.Request{}, err
	}
	r, ok := f.requests[pk]
	if !ok {
		return uanataca.Request{}, &provider.Error{Provider: "uanataca", StatusCode: http.StatusNotFound}
	}
	return *r, nil
}

func (f *fakeRA) ListRequestsByScratchcard(_ context.Context, sn string) ([]uanataca.Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("list"); err != nil {
		return nil, err
	}
	var out []uanataca.Request
	for _, r := range f.requests {
		if string(r.Scratchcard) == sn {
			out = append(out, *r)
		}
	}
	return out, nil
}

func (f *fakeRA) CancelRequest(_ context.Context, pk int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cancel"); err != nil {
		return err
	}
	r := f.requests[pk]
	if uanataca.OutcomeOf(r.Status) == uanataca.OutcomeIssued {
		return &provider.Error{Provider: "uanataca", StatusCode: http.StatusPreconditionFailed}
	}
	r.Status = uanataca.StatusCancelled
	return nil
}

func (f *fakeRA) UploadDocument(_ context.Context, _ int64, doc uanataca.Document) (uanataca.UploadedDocument, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return uanataca.UploadedDocument{PK: 1, Type: doc.Type}, f.call("upload")
}

func (f *fakeRA) Approve(_ context.Context, pk int64, _ uanataca.Approval) (uanataca.Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("approve"); err != nil {
		return uanataca.Request{}, err
	}
	f.requests[pk].Status = uanataca.StatusEnrollReady
	return *f.requests[pk], nil
}

func validIssuance() contract.UanatacaIssuanceInput {
	return contract.UanatacaIssuanceInput{Request: uanataca.CreateRequest{
		Profile: "PFnubeAFCiudadano", ValidityTime: 365, SecureElement: "2", RegistrationAuthority: "121",
		IDDocumentType: "IDC", IDDocumentCountry: "ES", SerialNumber: "12345678A", GivenName: "Ana",
		Surname1: "Ruiz", Email: "ana@example.com", MobilePhoneNumber: "+34600112233",
	}}
}

// testEnv is a workflow test environment with quiet logs that records when
// each activity type started (attempts included).
type testEnv struct {
	*testsuite.TestWorkflowEnvironment
	started map[string][]time.Time
}

func newTestEnv() *testEnv {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(logging.NewTemporal(zerolog.Nop()))
	env := &testEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), started: map[string][]time.Time{}}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		env.started[info.ActivityType.Name] = append(env.started[info.ActivityType.Name], env.Now())
	})
	return env
}

// ExecuteWorkflow runs workflow by the name it is registered under, so
// the test suite does not hold the arguments' Go types against the
// function's: tests pass raw JSON (json.RawMessage), as any SDK sends
// it, and UanatacaIssuance takes a pointer to it.
func (e *testEnv) ExecuteWorkflow(workflow any, args ...any) {
	if _, named := workflow.(string); !named {
		name := runtime.FuncForPC(reflect.ValueOf(workflow).Pointer()).Name()
		workflow = name[strings.LastIndex(name, ".")+1:]
	}
	e.TestWorkflowEnvironment.ExecuteWorkflow(workflow, args...)
}

// result returns the completed workflow's result in out, or its error.
func (e *testEnv) result(t *testing.T, out any) error {
	t.Helper()
	if !e.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	return e.GetWorkflowResult(out)
}

// status queries the workflow's status.
func (e *testEnv) status(t *testing.T) contract.Status {
	t.Helper()
	v, err := e.QueryWorkflow(contract.QueryStatus)
	if err != nil {
		t.Fatalf("status query: %v", err)
	}
	var st contract.Status
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

type issuanceEnv struct {
	*testEnv
	ra *fakeRA
}

func newIssuanceEnv(t *testing.T, approval *uanataca.Approval) *issuanceEnv {
	env := &issuanceEnv{testEnv: newTestEnv(), ra: newFakeRA()}
	env.RegisterWorkflow(UanatacaIssuance)
	env.RegisterActivity(&activities.Uanataca{Client: env.ra, Approval: approval})
	env.RegisterActivityWithOptions(env.ra.allocate, activity.RegisterOptions{Name: "AllocateScratchcard"})
	env.OnSignalExternalWorkflow(mock.Anything, contract.AllocatorID("default-test-taskqueue", "121"), "", contract.SignalScratchcard, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			env.ra.mu.Lock()
			defer env.ra.mu.Unlock()
			env.ra.reports = append(env.ra.reports, arg.(contract.CardReport))
			return nil
		})
	return env
}

// at moves the RA's request to status after d, and signals a webhook hint
// when hint is set.
func (e *issuanceEnv) at(d time.Duration, status string, hint bool) {
	e.RegisterDelayedCallback(func() {
		e.ra.set(46761, status)
		if hint {
			e.SignalWorkflow(contract.SignalWebhook, contract.UanatacaWebhook{PK: 46761, Status: status})
		}
	}, d)
}

func (e *issuanceEnv) issuance(t *testing.T) (*contract.UanatacaIssuanceResult, error) {
	t.Helper()
	var res *contract.UanatacaIssuanceResult
	err := e.result(t, &res)
	return res, err
}

func errorType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}

func TestUanatacaIssuedThroughWebhooks(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	env.at(time.Minute, uanataca.StatusEnrollReady, true)
	env.RegisterDelayedCallback(func() {
		st := env.status(t)
		if st.Stage != contract.StageAwaiting || st.ProviderRef != "46761" || st.ProviderStatus != uanataca.StatusEnrollReady || st.Deadline.IsZero() {
			t.Errorf("status mid-wait = %+v", st)
		}
	}, 90*time.Second)
	env.at(2*time.Minute, uanataca.StatusIssued, true)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(validIssuance()))

	res, err := env.issuance(t)
	if err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if res.PK != 46761 || res.Status != uanataca.StatusIssued || len(res.CertificateSet) != 1 || res.Scratchcard != "1256949" {
		t.Fatalf("result = %+v", res)
	}
	if n := env.ra.count("cancel"); n != 0 {
		t.Fatalf("an issued request was cancelled %d times", n)
	}
}

func TestUanatacaDuplicateWebhooksAreReadOnce(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	env.at(time.Minute, uanataca.StatusEnrollReady, true)
	for i := range 4 {
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(contract.SignalWebhook, contract.UanatacaWebhook{PK: 46761, Status: uanataca.StatusEnrollReady})
		}, time.Minute+time.Duration(i+1)*time.Second)
	}
	env.at(2*time.Minute, uanataca.StatusIssued, true)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(validIssuance()))

	if _, err := env.issuance(t); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	// One read per distinct status hinted (ENROLLREADY, ISSUED), plus the
	// polling activity's first poll at start.
	if n := len(env.started["GetUanatacaRequest"]); n != 2 {
		t.Fatalf("GetUanatacaRequest ran %d times for 2 distinct webhooks and 4 duplicates, want 2", n)
	}
}

func TestUanatacaLostWebhookFoundByPolling(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	in := validIssuance()
	in.PollInterval = contract.Duration(time.Hour)
	env.at(150*time.Minute, uanataca.StatusIssued, false)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(in))

	res, err := env.issuance(t)
	if err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if res.Status != uanataca.StatusIssued {
		t.Fatalf("status = %s, want ISSUED", res.Status)
	}
	polls := env.started["AwaitUanatacaRequest"]
	if len(polls) != 4 || polls[3].Sub(polls[0]) != 3*time.Hour {
		t.Fatalf("polls at %v, want 4 an hour apart", polls)
	}
}

func TestUanatacaDeadlineCancelsAtProvider(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	in := validIssuance()
	in.Timeout = contract.Duration(3 * time.Hour)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(in))

	_, err := env.issuance(t)
	if errorType(err) != contract.ErrTypeDeadlineExceeded {
		t.Fatalf("error = %v, want %s", err, contract.ErrTypeDeadlineExceeded)
	}
	if env.ra.count("cancel") != 1 || env.ra.status(46761) != uanataca.StatusCancelled {
		t.Fatalf("request not cancelled at the RA: cancels=%d status=%s", env.ra.count("cancel"), env.ra.status(46761))
	}
}

func TestUanatacaWorkflowCancelledCancelsAtProvider(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(validIssuance()))

	_, err := env.issuance(t)
	var ce *temporal.CanceledError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a cancellation", err)
	}
	if env.ra.count("cancel") != 1 || env.ra.status(46761) != uanataca.StatusCancelled {
		t.Fatalf("request not cancelled at the RA: cancels=%d status=%s", env.ra.count("cancel"), env.ra.status(46761))
	}
}

func TestUanatacaCancelAfterIssuanceReportsIssued(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	in := validIssuance()
	in.Timeout = contract.Duration(3 * time.Hour)
	in.PollInterval = contract.Duration(24 * time.Hour) // the poll never sees ISSUED before the deadline
	env.at(2*time.Hour, uanataca.StatusIssued, false)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(in))

	res, err := env.issuance(t)
	if err != nil || res.Status != uanataca.StatusIssued {
		t.Fatalf("result = %+v, %v; want ISSUED reported after the cancel found it issued (412)", res, err)
	}
}

func TestUanatacaInvalidInputFailsWithoutCalls(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	in := validIssuance()
	in.Request.Email = "not-an-email"
	in.Request.ValidityTime = 7
	in.Documents = []uanataca.Document{{Type: "selfie"}}
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(in))

	_, err := env.issuance(t)
	if errorType(err) != contract.ErrTypeInvalidInput {
		t.Fatalf("error = %v, want %s", err, contract.ErrTypeInvalidInput)
	}
	for _, want := range []string{"email", "validity_time", "documents[0].type"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "not-an-email") {
		t.Errorf("error quotes the applicant's email: %q", err)
	}
	if len(env.ra.calls) != 0 {
		t.Fatalf("the RA was called on invalid input: %v", env.ra.calls)
	}
}

func TestUanatacaProviderErrors(t *testing.T) {
	unavailable := &provider.Error{Provider: "uanataca", Operation: "create_request", StatusCode: http.StatusServiceUnavailable}
	tests := []struct {
		name      string
		op        string
		errs      []error
		wantCalls int
		wantErr   string
		// wantGap is the least time between the first two attempts.
		wantGap time.Duration
	}{
		{name: "5xx retried", op: "create", errs: []error{unavailable, unavailable}, wantCalls: 3},
		{name: "transport error retried", op: "create", errs: []error{errors.New("dial tcp: connection refused")}, wantCalls: 2},
		{name: "4xx not retried", op: "create", errs: []error{&provider.Error{Provider: "uanataca", StatusCode: http.StatusBadRequest, Message: "Missing field"}},
			wantCalls: 1, wantErr: activities.ErrTypeBadRequest},
		{name: "401 not retried", op: "create", errs: []error{&provider.Error{Provider: "uanataca", StatusCode: http.StatusUnauthorized}},
			wantCalls: 1, wantErr: activities.ErrTypeUnauthorized},
		{name: "429 waits as told", op: "create", errs: []error{&provider.Error{Provider: "uanataca", StatusCode: http.StatusTooManyRequests, RetryAfter: 7 * time.Minute}},
			wantCalls: 2, wantGap: 7 * time.Minute},
	}
	activityOf := map[string]string{"create": "CreateUanatacaRequest"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newIssuanceEnv(t, nil)
			env.ra.script(tt.op, tt.errs...)
			env.at(time.Hour, uanataca.StatusIssued, true)
			env.ExecuteWorkflow(UanatacaIssuance, asJSON(validIssuance()))

			_, err := env.issuance(t)
			if got := errorType(err); got != tt.wantErr {
				t.Fatalf("error = %v (type %q), want type %q", err, got, tt.wantErr)
			}
			if n := env.ra.count(tt.op); n != tt.wantCalls {
				t.Fatalf("%s called %d times, want %d", tt.op, n, tt.wantCalls)
			}
			if tt.wantGap > 0 {
				at := env.started[activityOf[tt.op]]
				if len(at) < 2 || at[1].Sub(at[0]) < tt.wantGap {
					t.Fatalf("attempts at %v, want them at least %s apart", at, tt.wantGap)
				}
			}
		})
	}
}

func TestUanatacaTakenScratchcardIsReplaced(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	env.ra.script("create", &provider.Error{Provider: "uanataca", StatusCode: http.StatusInternalServerError, Code: "500", Message: "Invalid ScratchCard"})
	env.at(time.Hour, uanataca.StatusIssued, true)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(validIssuance()))

	res, err := env.issuance(t)
	if err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if env.ra.count("allocate") != 2 || res.Scratchcard != "1256950" {
		t.Fatalf("allocations=%d scratchcard=%s; want a second card after Invalid ScratchCard", env.ra.count("allocate"), res.Scratchcard)
	}
	if g := env.ra.allocations[1]; g.GivingSN != "1256949" || g.GivingOutcome != contract.CardTaken {
		t.Fatalf("second allocation %+v; want it to give back the taken card", g)
	}
	if len(env.ra.reports) != 1 || env.ra.reports[0] != (contract.CardReport{SN: "1256950", Holder: "default-test-workflow-id", Outcome: contract.CardUsed}) {
		t.Fatalf("reports to the allocator %+v; want the second card reported used", env.ra.reports)
	}
}

func TestUanatacaDocumentsUploadedAndApproved(t *testing.T) {
	env := newIssuanceEnv(t, &uanataca.Approval{Username: "rao", Password: "p", PIN: "1", RAOID: 7})
	in := validIssuance()
	in.Documents = []uanataca.Document{
		{Type: uanataca.DocumentFront, Filename: "front.jpg", Content: []byte("front")},
		{Type: uanataca.DocumentRear, Filename: "rear.jpg", Content: []byte("rear")},
	}
	env.at(time.Hour, uanataca.StatusIssued, true)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(in))

	res, err := env.issuance(t)
	if err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if env.ra.count("upload") != 2 || env.ra.count("approve") != 1 || !res.Approved {
		t.Fatalf("uploads=%d approvals=%d approved=%v", env.ra.count("upload"), env.ra.count("approve"), res.Approved)
	}

	// The status shows each document's type, size and SHA-256 to an
	// operator, never its content or file name.
	st := env.status(t)
	want := []contract.DocumentStatus{
		{Type: uanataca.DocumentFront, Size: 5, Uploaded: true},
		{Type: uanataca.DocumentRear, Size: 4, Uploaded: true},
	}
	for i, d := range in.Documents {
		sum := sha256.Sum256(d.Content)
		want[i].SHA256 = hex.EncodeToString(sum[:])
	}
	if !slices.Equal(st.Documents, want) {
		t.Fatalf("status documents %+v, want %+v", st.Documents, want)
	}
	shown, _ := json.Marshal(st)
	for _, secret := range []string{"front.jpg", "rear.jpg", base64.StdEncoding.EncodeToString([]byte("front"))} {
		if strings.Contains(string(shown), secret) {
			t.Errorf("the status shows %q: %s", secret, shown)
		}
	}
}

// Scans of real size are accepted (three of 5 MB, one of 10 MiB); one
// larger than 10 MiB, or more than 32 MiB in all, is refused by name.
func TestUanatacaDocumentLimits(t *testing.T) {
	doc := func(typ string, size int) uanataca.Document {
		return uanataca.Document{Type: typ, Filename: typ + ".jpg", Content: make([]byte, size)}
	}
	tests := []struct {
		name string
		docs []uanataca.Document
		want string // "" when accepted
	}{
		{"three scans of 5 MB", []uanataca.Document{doc("document_front", 5e6), doc("document_rear", 5e6), doc("document_owner", 5e6)}, ""},
		{"one of 10 MiB", []uanataca.Document{doc("document_front", 10<<20)}, ""},
		{"three of 10 MiB and a small extra", []uanataca.Document{doc("document_front", 10<<20), doc("document_rear", 10<<20), doc("document_owner", 10<<20), doc("extra_document", 1<<20)}, ""},
		{"one above 10 MiB", []uanataca.Document{doc("document_front", 1e6), doc("document_rear", 10<<20+1)}, "documents[1].content: 10485761 bytes"},
		{"more than 32 MiB in all", []uanataca.Document{doc("document_front", 10<<20), doc("document_rear", 10<<20), doc("document_owner", 10<<20), doc("extra_document", 3<<20)}, "documents: 34603008 bytes in all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validIssuance()
			in.Documents = tt.docs
			err := validateUanataca(in)
			if tt.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("error %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestUanatacaFailedUploadCancelsRequest(t *testing.T) {
	env := newIssuanceEnv(t, &uanataca.Approval{Username: "rao", Password: "p", PIN: "1", RAOID: 7})
	env.ra.script("upload", &provider.Error{Provider: "uanataca", StatusCode: http.StatusBadRequest, Message: "bad file"})
	in := validIssuance()
	in.Documents = []uanataca.Document{{Type: uanataca.DocumentFront, Filename: "front.jpg", Content: []byte("x")}}
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(in))

	_, err := env.issuance(t)
	if errorType(err) != activities.ErrTypeBadRequest {
		t.Fatalf("error = %v, want %s", err, activities.ErrTypeBadRequest)
	}
	if env.ra.status(46761) != uanataca.StatusCancelled {
		t.Fatalf("request left %s at the RA after the failure, want CANCELLED", env.ra.status(46761))
	}
}

func TestUanatacaCreateRetriedAfterLostAnswerMakesOneRequest(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	env.ra.lostAnswers = 1
	env.at(time.Hour, uanataca.StatusIssued, true)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(validIssuance()))

	res, err := env.issuance(t)
	if err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if len(env.ra.requests) != 1 || env.ra.count("create") != 1 || res.PK != 46761 {
		t.Fatalf("%d requests after %d creates (result pk %d); the retry must find the stored request, not create another",
			len(env.ra.requests), env.ra.count("create"), res.PK)
	}
}

func TestUanatacaCardUsedByAnotherApplicantIsNotAdopted(t *testing.T) {
	env := newIssuanceEnv(t, nil)
	// Another applicant's request already holds the card certflow will
	// reserve first.
	env.ra.requests[100] = &uanataca.Request{PK: 100, Status: uanataca.StatusCreated, Profile: "PFnubeAFCiudadano",
		Email: "someone.else@example.com", Scratchcard: "1256949", RegistrationAuthority: "121"}
	env.ra.script("create", &provider.Error{Provider: "uanataca", StatusCode: http.StatusInternalServerError, Message: "Invalid ScratchCard"})
	env.RegisterDelayedCallback(func() {
		env.ra.set(46761, uanataca.StatusIssued)
		env.SignalWorkflow(contract.SignalWebhook, contract.UanatacaWebhook{PK: 46761, Status: uanataca.StatusIssued})
	}, time.Hour)
	env.ExecuteWorkflow(UanatacaIssuance, asJSON(validIssuance()))

	res, err := env.issuance(t)
	if err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if res.PK == 100 || res.Scratchcard != "1256950" {
		t.Fatalf("result %+v: adopted another applicant's request instead of reserving a new card", res)
	}
}
