package activities

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/provider/masstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	"github.com/certflow/certflow/internal/provider/universign"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/sandbox/devpki"
	husandbox "github.com/certflow/certflow/internal/sandbox/humanos"
	mssandbox "github.com/certflow/certflow/internal/sandbox/masstack"
	"github.com/certflow/certflow/internal/sandbox/sandboxtest"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
	ussandbox "github.com/certflow/certflow/internal/sandbox/universign"
)

// Personal data the creates below carry; no log line may quote any of it.
const (
	personalEmail    = "ann.applicant@example.test"
	personalDocument = "12345678Z"
	personalPhone    = "+34611223344"
)

// emulatedCreate is one provider's emulator over a real socket, with the create
// activity under test.
type emulatedCreate struct {
	activity any       // the create activity, a method value
	arg      any       // its argument
	emulator faultable // the provider's emulator
	// stats returns the objects the emulator created and the creates whose
	// answer it dropped.
	stats func() (objects, lost int64)
	// uanataca is the activities' struct, for Uanataca only.
	uanataca *Uanataca
}

// faultable is what every emulator offers to inject faults.
type faultable interface {
	LoseNextCreateAnswers(n int)
	SetFaults(sandbox.Faults)
}

// must returns v, or fails t with err: must(call())(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func startUniversignEmulator(t *testing.T) emulatedCreate {
	srv := must(ussandbox.Start("127.0.0.1:0", ussandbox.Options{}))(t)
	t.Cleanup(func() { _ = srv.Close() })
	c := must(universign.New(universign.Config{BaseURL: srv.URL, APIKey: ussandbox.DefaultAPIKey, Timeout: 5 * time.Second}))(t)
	e := srv.Emulator
	return emulatedCreate{
		activity: (&Universign{Client: c}).CreateUniversignRegistration,
		arg:      universign.CreateRegistration{Applicant: personalEmail, Level: "qcp", PhoneNumber: personalPhone, Language: "en"},
		emulator: e,
		stats:    func() (int64, int64) { st := e.Stats(); return st.Creates, st.AnswersLost },
	}
}

func startMasStackEmulator(t *testing.T) emulatedCreate {
	account := filepath.Join(t.TempDir(), "sa.json")
	must(mssandbox.GenerateServiceAccount(account, ""))(t)
	srv := must(mssandbox.Start("127.0.0.1:0", mssandbox.Options{AccountFiles: []string{account}}))(t)
	t.Cleanup(func() { srv.Close() })
	c := must(masstack.New(masstack.Config{
		BaseURL: srv.URL, AuthURL: srv.TokenURL, OrgID: mssandbox.DefaultOrg, ServiceAccountFile: account, Timeout: 5 * time.Second,
	}))(t)
	e := srv.Emulator
	return emulatedCreate{
		activity: (&MasStack{Client: c}).CreateMasStackIdentification,
		arg: masstack.CreateIdentification{
			Name: "Ann", LastName: "Applicant", ExpiresIn: "P7D",
			IdentityDocument: masstack.IdentityDocument{DocumentNumber: personalDocument, DocumentType: "NIF", Country: "ES"},
		},
		emulator: e,
		stats:    func() (int64, int64) { st := e.Stats(); return st.Creates, st.AnswersLost },
	}
}

func startHumanosEmulator(t *testing.T) emulatedCreate {
	srv := must(husandbox.Start("127.0.0.1:0", husandbox.Options{}))(t)
	t.Cleanup(func() { _ = srv.Close() })
	c := must(humanos.New(humanos.Config{
		BaseURL: srv.URL, APIKey: husandbox.DefaultAPIKey, SignatureSecret: husandbox.DefaultSignatureSecret, Timeout: 5 * time.Second,
	}))(t)
	e := srv.Emulator
	return emulatedCreate{
		activity: (&Humanos{Client: c}).CreateHumanosRequest,
		arg: CreateHumanosInput{
			Request:        humanos.CreateRequest{Contacts: []string{personalEmail, personalPhone}, GroupIDs: []string{"507f1f77bcf86cd799439012"}},
			IdempotencyKey: "certflow-0123456789abcdef",
		},
		emulator: e,
		stats:    func() (int64, int64) { st := e.Stats(); return st.Creates, st.AnswersLost },
	}
}

func startUanatacaEmulator(t *testing.T) emulatedCreate {
	pki := must(devpki.Generate(t.TempDir()))(t)
	srv := must(uasandbox.Start("127.0.0.1:0", uasandbox.Options{RAs: map[string]int{"121": 5}, RequireClientCert: true}, pki))(t)
	t.Cleanup(func() { srv.Close() })
	c := must(uanataca.New(uanataca.Config{
		BaseURL: srv.URL, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, CAFile: pki.CAFile, Timeout: 5 * time.Second,
	}))(t)
	card := must(c.GetFirstUnusedScratchcard(context.Background(), "121"))(t)
	e := srv.Emulator
	acts := &Uanataca{Client: c}
	return emulatedCreate{
		uanataca: acts,
		activity: acts.CreateUanatacaRequest,
		arg: uanataca.CreateRequest{
			Profile: "PFnubeAFCiudadano", ValidityTime: 730, Scratchcard: string(card.SN), SecureElement: "2",
			RegistrationAuthority: "121", CountryName: "ES", SerialNumber: personalDocument, IDDocumentCountry: "ES",
			IDDocumentType: "IDC", GivenName: "Ann", Surname1: "Applicant", Email: personalEmail,
			MobilePhoneNumber: personalPhone, PaperlessMode: 1,
		},
		emulator: e,
		stats:    func() (int64, int64) { st := e.Stats(); return st.Creates, st.AnswersLost },
	}
}

// capturedMetrics is a Temporal metrics handler that keeps the counters it is
// given, by name and provider tag.
type capturedMetrics struct {
	client.MetricsHandler
	mu   *sync.Mutex
	tags map[string]string
	seen map[string]int64
}

func newCapturedMetrics() *capturedMetrics {
	return &capturedMetrics{MetricsHandler: client.MetricsNopHandler, mu: &sync.Mutex{}, seen: map[string]int64{}}
}

func (c *capturedMetrics) WithTags(tags map[string]string) client.MetricsHandler {
	merged := map[string]string{}
	for k, v := range c.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &capturedMetrics{MetricsHandler: c.MetricsHandler, mu: c.mu, tags: merged, seen: c.seen}
}

func (c *capturedMetrics) Counter(name string) client.MetricsCounter {
	key := name + "{provider=" + c.tags["provider"] + "}"
	return capturedCounter(func(n int64) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.seen[key] += n
	})
}

func (c *capturedMetrics) get(key string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[key]
}

type capturedCounter func(int64)

func (f capturedCounter) Inc(n int64) { f(n) }

// activityRetrier runs one activity's attempts the way Temporal does: each attempt
// in a fresh activity environment, given the heartbeat details the attempt
// before it last recorded. The SDK's log (warnings and up) goes to logs and
// its metrics to metrics.
type activityRetrier struct {
	t       *testing.T
	logs    sandboxtest.SyncBuffer
	metrics *capturedMetrics
	// last holds the details the last attempt recorded; nil: none yet.
	last *createInDoubt
	// firstOfLast is what the last attempt recorded first: what Temporal
	// would hold had its worker died after that heartbeat.
	firstOfLast *createInDoubt
}

func newActivityRetrier(t *testing.T) *activityRetrier {
	return &activityRetrier{t: t, metrics: newCapturedMetrics()}
}

// attempt runs the activity once with details (nil: none) and returns its
// error.
func (r *activityRetrier) attempt(fn, arg any, details *createInDoubt) error {
	r.t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(&r.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	suite.SetMetricsHandler(r.metrics)
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(fn)
	if details != nil {
		env.SetHeartbeatDetails(*details)
	}
	var mu sync.Mutex
	r.last, r.firstOfLast = nil, nil
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) {
		var got createInDoubt
		if err := d.Get(&got); err != nil {
			r.t.Errorf("heartbeat details: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if r.firstOfLast == nil {
			r.firstOfLast = &got
		}
		r.last = &got
	})
	_, err := env.ExecuteActivity(fn, arg)
	return err
}

// retry runs attempts until one succeeds (at most max), each given the
// details of the one before, and returns every attempt's error.
func (r *activityRetrier) retry(fn, arg any, max int) []error {
	r.t.Helper()
	var errs []error
	var details *createInDoubt
	for range max {
		err := r.attempt(fn, arg, details)
		errs = append(errs, err)
		if err == nil {
			break
		}
		details = r.last
	}
	return errs
}

// orphanReports counts the possible-orphan warnings logged and checks none
// quotes personal data.
func (r *activityRetrier) orphanReports() int {
	r.t.Helper()
	out := r.logs.String()
	for _, personal := range []string{personalEmail, personalDocument, personalPhone, "Applicant"} {
		if strings.Contains(out, personal) {
			r.t.Errorf("log quotes personal data %q:\n%s", personal, out)
		}
	}
	return strings.Count(out, "Possible orphan at the provider")
}

// TestLostCreateAnswer drops the answer of the first create at each
// provider's emulator (the create is applied, the connection closed
// without a response), lets the activity be retried as Temporal would, and
// counts the objects at the emulator. Uanataca (look-up by scratchcard) and
// Humanos (Idempotency-Key) end with exactly one; Universign and MasStack,
// whose APIs offer neither, end with two (the orphan is the residual risk)
// and the orphan is reported exactly once: a warning with when it was sent
// and by when it expires, and certflow_create_possible_orphans.
func TestLostCreateAnswer(t *testing.T) {
	for _, tc := range []struct {
		name        string
		start       func(*testing.T) emulatedCreate
		wantObjects int64
		wantOrphans int64
	}{
		{"uanataca", startUanatacaEmulator, 1, 0},
		{"humanos", startHumanosEmulator, 1, 0},
		{"universign", startUniversignEmulator, 2, 1},
		{"masstack", startMasStackEmulator, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.start(t)
			p.emulator.LoseNextCreateAnswers(1)
			r := newActivityRetrier(t)
			errs := r.retry(p.activity, p.arg, 3)
			if len(errs) != 2 || errs[0] == nil || errs[1] != nil {
				t.Fatalf("attempts' errors %v, want the first to fail (answer lost) and the retry to succeed", errs)
			}
			if objects, lost := p.stats(); lost != 1 || objects != tc.wantObjects {
				t.Errorf("%d answers lost, %d objects at the emulator; want 1 and %d", lost, objects, tc.wantObjects)
			}
			if got := r.metrics.get(possibleOrphanMetric + "{provider=" + tc.name + "}"); got != tc.wantOrphans {
				t.Errorf("%s = %d, want %d", possibleOrphanMetric, got, tc.wantOrphans)
			}
			if got := r.orphanReports(); int64(got) != tc.wantOrphans {
				t.Errorf("%d possible-orphan warnings, want %d:\n%s", got, tc.wantOrphans, r.logs.String())
			}
		})
	}
}

// TestPossibleOrphanReport checks what the report says and when it is
// made, at the two providers whose creates cannot be looked up: when the
// attempt itself learns its create is in doubt, when only the next attempt
// can (the worker died after sending), and never for a create the provider
// refused or that never left.
func TestPossibleOrphanReport(t *testing.T) {
	for _, tc := range []struct {
		name     string
		start    func(*testing.T) emulatedCreate
		lifetime time.Duration
	}{
		{"universign", startUniversignEmulator, 7 * 24 * time.Hour},
		{"masstack", startMasStackEmulator, 7 * 24 * time.Hour}, // the create's expires_in, P7D
	} {
		metric := possibleOrphanMetric + "{provider=" + tc.name + "}"
		t.Run(tc.name+"/answer lost", func(t *testing.T) {
			p := tc.start(t)
			p.emulator.LoseNextCreateAnswers(1)
			r := newActivityRetrier(t)
			before := time.Now().UTC()
			if err := r.attempt(p.activity, p.arg, nil); err == nil {
				t.Fatal("the attempt whose answer was lost succeeded")
			}
			if r.firstOfLast == nil || r.firstOfLast.SentAt.Before(before.Truncate(time.Second)) {
				t.Fatalf("first heartbeat %+v, want the time the create was sent", r.firstOfLast)
			}
			if r.last == nil || !r.last.SentAt.IsZero() {
				t.Errorf("last heartbeat %+v, want it cleared once reported", r.last)
			}
			sentAt := r.firstOfLast.SentAt
			out := r.logs.String()
			for _, want := range []string{
				"provider=" + tc.name,
				"sent_at=" + sentAt.Format(time.RFC3339),
				"expires_by=" + sentAt.Add(tc.lifetime).Format(time.RFC3339),
			} {
				if !strings.Contains(out, want) {
					t.Errorf("warning lacks %q:\n%s", want, out)
				}
			}
			if r.orphanReports() != 1 || r.metrics.get(metric) != 1 {
				t.Errorf("%d warnings, metric %d; want 1 each", r.orphanReports(), r.metrics.get(metric))
			}
		})
		t.Run(tc.name+"/worker died after sending", func(t *testing.T) {
			p := tc.start(t)
			r := newActivityRetrier(t)
			sentAt := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
			// What Temporal holds when the worker died after the attempt's
			// first heartbeat: the next attempt is given it.
			if err := r.attempt(p.activity, p.arg, &createInDoubt{SentAt: sentAt}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.logs.String(), "sent_at="+sentAt.Format(time.RFC3339)) || r.metrics.get(metric) != 1 {
				t.Errorf("metric %d, log:\n%s", r.metrics.get(metric), r.logs.String())
			}
			if objects, _ := p.stats(); objects != 1 {
				t.Errorf("%d objects", objects)
			}
		})
		t.Run(tc.name+"/refused", func(t *testing.T) {
			p := tc.start(t)
			p.emulator.SetFaults(sandbox.Faults{RateLimitRate: 1})
			r := newActivityRetrier(t)
			if err := r.attempt(p.activity, p.arg, nil); err == nil {
				t.Fatal("a create answered 429 succeeded")
			}
			p.emulator.SetFaults(sandbox.Faults{})
			if err := r.attempt(p.activity, p.arg, r.last); err != nil {
				t.Fatal(err)
			}
			if objects, _ := p.stats(); r.orphanReports() != 0 || r.metrics.get(metric) != 0 || objects != 1 {
				t.Errorf("%d warnings, metric %d, %d objects; want 0, 0, 1", r.orphanReports(), r.metrics.get(metric), objects)
			}
		})
	}
	t.Run("universign/nothing sent", func(t *testing.T) {
		// A port nobody listens on: the create never leaves.
		a := &Universign{Client: must(universign.New(universign.Config{BaseURL: "http://127.0.0.1:1", APIKey: "k", Timeout: time.Second}))(t)}
		r := newActivityRetrier(t)
		if err := r.attempt(a.CreateUniversignRegistration, universign.CreateRegistration{Applicant: personalEmail, Level: "qcp"}, nil); err == nil {
			t.Fatal("a create to a closed port succeeded")
		}
		if r.last == nil || !r.last.SentAt.IsZero() || r.orphanReports() != 0 {
			t.Errorf("last heartbeat %+v, %d warnings; want it cleared and none", r.last, r.orphanReports())
		}
	})
}

// The create activity tells Created of the request it made, or found after
// its answer was lost, with its workflow's ID: the webhook ingress of the
// same process then knows the pk's workflow before any webhook.
func TestCreatedRequestIsAnnounced(t *testing.T) {
	p := startUanatacaEmulator(t)
	p.emulator.LoseNextCreateAnswers(1)
	type announcement struct {
		workflowID string
		pk         int64
	}
	var announced []announcement
	p.uanataca.Created = func(workflowID string, pk int64) { announced = append(announced, announcement{workflowID, pk}) }
	r := newActivityRetrier(t)
	if errs := r.retry(p.activity, p.arg, 3); len(errs) != 2 || errs[1] != nil {
		t.Fatalf("attempts' errors %v, want the lost answer, then the request found", errs)
	}
	if len(announced) != 1 || announced[0].workflowID == "" || announced[0].pk == 0 {
		t.Fatalf("announced %+v; want the one request, with its workflow ID and pk", announced)
	}
	if objects, _ := p.stats(); objects != 1 {
		t.Fatalf("%d requests at the RA, want the one announced", objects)
	}
}
