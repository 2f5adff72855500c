package workflows

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/humanos"
)

// fakeHumanos holds one request with two subjects and two credentials.
type fakeHumanos struct {
	scripted
	req  *humanos.Request
	keys []string
}

func (f *fakeHumanos) CreateRequest(_ context.Context, r humanos.CreateRequest, key string) (humanos.Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, key)
	if err := f.call("create"); err != nil {
		return humanos.Request{}, err
	}
	if f.req == nil {
		f.req = &humanos.Request{ID: "507f1f77bcf86cd799439011", InternalID: r.InternalID,
			Credentials: []humanos.Credential{{ID: "c1", Status: humanos.CredentialPending, Name: "consent"}, {ID: "c2", Status: humanos.CredentialPending, Name: "contract"}}}
		for i, c := range r.Contacts {
			f.req.Subjects = append(f.req.Subjects, humanos.Subject{Contact: c, ID: "did:via:humanos:" + c, Code: "12345" + string(rune('0'+i)), Link: "https://app.humanos.test/link/" + c})
		}
	}
	return *f.req, nil
}

func (f *fakeHumanos) GetRequest(_ context.Context, _ string) (humanos.Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("get"); err != nil {
		return humanos.Request{}, err
	}
	r := *f.req
	r.Credentials = append([]humanos.Credential(nil), f.req.Credentials...)
	for i := range r.Credentials {
		r.Credentials[i].Decisions = append([]humanos.Decision(nil), f.req.Credentials[i].Decisions...)
	}
	r.Subjects = append([]humanos.Subject(nil), f.req.Subjects...)
	return r, nil
}

func (f *fakeHumanos) CancelRequest(_ context.Context, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cancel"); err != nil {
		return err
	}
	if f.req.CanceledAt != "" {
		return &provider.Error{Provider: "humanos", StatusCode: http.StatusConflict}
	}
	f.req.CanceledAt = "2026-11-22T10:00:00Z"
	return nil
}

// decide records contact's decision on credential.
func (f *fakeHumanos) decide(contact, credential string, accept bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.req.Credentials {
		if f.req.Credentials[i].ID == credential {
			f.req.Credentials[i].Decisions = append(f.req.Credentials[i].Decisions, humanos.Decision{Contact: contact, Accepted: accept, DecidedAt: "2026-11-22T10:00:00Z"})
		}
	}
}

func (f *fakeHumanos) identity(contact, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.req.Subjects {
		if f.req.Subjects[i].Contact == contact {
			f.req.Subjects[i].IdentityStatus = status
		}
	}
}

const (
	ana = "ana@example.com"
	rui = "+351912345678"
)

func newHumanosEnv() (*testEnv, *fakeHumanos) {
	env, fake := newTestEnv(), &fakeHumanos{}
	env.RegisterWorkflow(HumanosRequest)
	env.RegisterActivity(&activities.Humanos{Client: fake})
	return env, fake
}

func validHumanos() contract.HumanosRequestInput {
	return contract.HumanosRequestInput{Request: humanos.CreateRequest{
		Contacts: []string{ana, rui}, SecurityLevel: "HUMANOS_KYC", ResourcesIDs: []string{"r1", "r2"},
	}}
}

// webhook sends a credential hint after recording the decision.
func webhook(env *testEnv, fake *fakeHumanos, at time.Duration, contact, credential string, accept bool) {
	env.RegisterDelayedCallback(func() {
		fake.decide(contact, credential, accept)
		action := map[bool]string{true: "accept", false: "reject"}[accept]
		env.SignalWorkflow(contract.SignalWebhook, contract.HumanosWebhook{EventType: "credential", Contact: contact, CredentialID: credential, Action: action, Date: at.String()})
	}, at)
}

func humanosOutcome(t *testing.T, env *testEnv) (*contract.HumanosRequestResult, error) {
	t.Helper()
	var res *contract.HumanosRequestResult
	err := env.result(t, &res)
	return res, err
}

func TestHumanosAllAccepted(t *testing.T) {
	env, fake := newHumanosEnv()
	env.RegisterDelayedCallback(func() {
		st := env.status(t)
		if len(st.Subjects) != 2 || st.Subjects[0].Link == "" || st.Subjects[0].Code == "" || st.ProviderRef != "507f1f77bcf86cd799439011" {
			t.Errorf("status right after creation = %+v; want each subject's link and code", st)
		}
	}, time.Second)
	webhook(env, fake, time.Minute, ana, "c1", true)
	webhook(env, fake, 2*time.Minute, ana, "c2", true)
	webhook(env, fake, 3*time.Minute, rui, "c1", true)
	webhook(env, fake, 4*time.Minute, rui, "c2", true)
	env.ExecuteWorkflow(HumanosRequest, asJSON(validHumanos()))

	res, err := humanosOutcome(t, env)
	if err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if res.Outcome != "ACCEPTED" || len(res.Decisions) != 4 {
		t.Fatalf("result %+v", res)
	}
	for _, d := range res.Decisions {
		if d.Decision != "accepted" || d.DecidedAt == "" {
			t.Errorf("decision %+v, want accepted with a time", d)
		}
	}
	if len(fake.keys) != 1 || !strings.HasPrefix(fake.keys[0], "certflow-") || len(fake.keys[0]) != len("certflow-")+32 {
		t.Fatalf("idempotency keys %q", fake.keys)
	}
}

func TestHumanosOneRejectedWaitsForEveryDecision(t *testing.T) {
	env, fake := newHumanosEnv()
	webhook(env, fake, time.Minute, ana, "c1", false)
	// Still pending: the other decisions are awaited.
	env.RegisterDelayedCallback(func() {
		if st := env.status(t); st.Stage != contract.StageAwaiting {
			t.Errorf("stage after one rejection = %s, want still awaiting the other decisions", st.Stage)
		}
	}, 90*time.Second)
	webhook(env, fake, 2*time.Minute, ana, "c2", true)
	webhook(env, fake, 3*time.Minute, rui, "c1", true)
	webhook(env, fake, 4*time.Minute, rui, "c2", true)
	env.ExecuteWorkflow(HumanosRequest, asJSON(validHumanos()))

	_, err := humanosOutcome(t, env)
	if errorType(err) != contract.ErrTypeRejectedBySubject {
		t.Fatalf("error = %v, want %s", err, contract.ErrTypeRejectedBySubject)
	}
	if fake.count("cancel") != 0 {
		t.Fatal("a decided request must not be cancelled")
	}
}

func TestHumanosKYCFailureEndsTheRequest(t *testing.T) {
	env, fake := newHumanosEnv()
	env.RegisterDelayedCallback(func() {
		fake.identity(rui, humanos.IdentityFailed)
		failed := false
		env.SignalWorkflow(contract.SignalWebhook, contract.HumanosWebhook{EventType: "identity", Contact: rui, Success: &failed, Date: "t1"})
	}, time.Minute)
	env.ExecuteWorkflow(HumanosRequest, asJSON(validHumanos()))

	_, err := humanosOutcome(t, env)
	if errorType(err) != contract.ErrTypeRejectedBySubject || !strings.Contains(err.Error(), "KYC_FAILED") {
		t.Fatalf("error = %v, want %s naming KYC_FAILED", err, contract.ErrTypeRejectedBySubject)
	}
}

func TestHumanosDuplicateAndOutOfOrderWebhooks(t *testing.T) {
	env, fake := newHumanosEnv()
	// All four decisions happen at once; their webhooks arrive late, in
	// reverse order, each three times, and with an OTP failure mixed in.
	env.RegisterDelayedCallback(func() {
		fake.decide(ana, "c1", true)
		fake.decide(ana, "c2", true)
		fake.decide(rui, "c1", true)
	}, time.Minute)
	hints := []contract.HumanosWebhook{
		{EventType: "credential", Contact: rui, CredentialID: "c1", Action: "accept", Date: "d3"},
		{EventType: "otp.failed", Contact: rui, Date: "o1"},
		{EventType: "credential", Contact: ana, CredentialID: "c2", Action: "accept", Date: "d2"},
		{EventType: "credential", Contact: ana, CredentialID: "c1", Action: "accept", Date: "d1"},
	}
	for i, h := range hints {
		for r := range 3 {
			env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalWebhook, h) }, 2*time.Minute+time.Duration(i*3+r)*time.Second)
		}
	}
	env.RegisterDelayedCallback(func() {
		st := env.status(t)
		if st.Subjects[1].OTPFailures != 1 || st.Stage != contract.StageAwaiting {
			t.Errorf("status = %+v; want one OTP failure counted once and still awaiting", st)
		}
	}, 3*time.Minute)
	webhook(env, fake, 4*time.Minute, rui, "c2", true)
	env.ExecuteWorkflow(HumanosRequest, asJSON(validHumanos()))

	res, err := humanosOutcome(t, env)
	if err != nil || res.Outcome != "ACCEPTED" {
		t.Fatalf("result %+v, %v; want ACCEPTED whatever the order", res, err)
	}
	// A read only for a hint the last read does not show: the first read
	// shows the three decisions made at once, so their other deliveries
	// cost nothing; an OTP failure is nothing to read; the last decision
	// costs one read.
	if n := len(env.started["GetHumanosRequest"]); n != 2 {
		t.Fatalf("GetHumanosRequest ran %d times for 13 deliveries of 5 events, want 2", n)
	}
}

func TestHumanosDeadlineCancelsAtProvider(t *testing.T) {
	env, fake := newHumanosEnv()
	in := validHumanos()
	in.Timeout = contract.Duration(6 * time.Hour)
	webhook(env, fake, time.Minute, ana, "c1", true)
	env.ExecuteWorkflow(HumanosRequest, asJSON(in))

	_, err := humanosOutcome(t, env)
	if errorType(err) != contract.ErrTypeDeadlineExceeded || fake.count("cancel") != 1 || fake.req.CanceledAt == "" {
		t.Fatalf("error = %v, cancels %d; want %s and the request cancelled at Humanos", err, fake.count("cancel"), contract.ErrTypeDeadlineExceeded)
	}
}

func TestHumanosInvalidInputFailsWithoutCalls(t *testing.T) {
	env, fake := newHumanosEnv()
	in := contract.HumanosRequestInput{Request: humanos.CreateRequest{Contacts: []string{"ana"}, InternalID: "mine"}}
	env.ExecuteWorkflow(HumanosRequest, asJSON(in))

	_, err := humanosOutcome(t, env)
	if errorType(err) != contract.ErrTypeInvalidInput {
		t.Fatalf("error = %v, want %s", err, contract.ErrTypeInvalidInput)
	}
	for _, want := range []string{"contacts[0]", "credentials", "internalId"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if len(fake.calls) != 0 {
		t.Fatalf("Humanos was called on invalid input: %v", fake.calls)
	}
}

func TestHumanosIdempotencyKeyIsStable(t *testing.T) {
	env, fake := newHumanosEnv()
	// The first create's answer is lost; the retry must send the same key.
	fake.script("create", &provider.Error{Provider: "humanos", StatusCode: http.StatusServiceUnavailable})
	webhook(env, fake, time.Minute, ana, "c1", true)
	webhook(env, fake, time.Minute, ana, "c2", true)
	webhook(env, fake, time.Minute, rui, "c1", true)
	webhook(env, fake, time.Minute, rui, "c2", true)
	env.ExecuteWorkflow(HumanosRequest, asJSON(validHumanos()))

	if _, err := humanosOutcome(t, env); err != nil {
		t.Fatal(err)
	}
	if fake.count("create") != 2 || len(fake.keys) != 2 || fake.keys[0] != fake.keys[1] {
		t.Fatalf("creates %d with keys %q; want the retry to send the first attempt's key", fake.count("create"), fake.keys)
	}
}
