package masstack_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/masstack"
	"github.com/certflow/certflow/internal/sandbox"
	msandbox "github.com/certflow/certflow/internal/sandbox/masstack"
)

// startEmulator serves the sandbox over a real socket, trusting a freshly
// generated service account, and returns a client of DefaultOrg configured
// the way the worker configures it: from the service-account file.
func startEmulator(t *testing.T, opts msandbox.Options) (*masstack.Client, *msandbox.Server) {
	t.Helper()
	srv, saPath := startSandbox(t, opts)
	return newClient(t, srv, saPath, msandbox.DefaultOrg), srv
}

func startSandbox(t *testing.T, opts msandbox.Options) (srv *msandbox.Server, saPath string) {
	t.Helper()
	saPath = filepath.Join(t.TempDir(), "service-account.json")
	if _, err := msandbox.GenerateServiceAccount(saPath, ""); err != nil {
		t.Fatal(err)
	}
	opts.AccountFiles = append(opts.AccountFiles, saPath)
	srv, err := msandbox.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, saPath
}

func newClient(t *testing.T, srv *msandbox.Server, saPath, org string) *masstack.Client {
	t.Helper()
	c, err := masstack.New(masstack.Config{
		BaseURL:            srv.URL,
		AuthURL:            srv.TokenURL,
		OrgID:              org,
		ServiceAccountFile: saPath,
		Timeout:            5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// documentNumber is a made-up NIF; tests check it never appears in errors.
const documentNumber = "12345678Z"

func identification(number string) masstack.CreateIdentification {
	return masstack.CreateIdentification{
		Name:              "Name",
		LastName:          "Surname",
		IdentityDocument:  masstack.IdentityDocument{DocumentNumber: number, DocumentType: "NIF", Country: "ES"},
		ConfigurationName: "MEDIUM",
		ExpiresIn:         "P7D",
		Scoring:           &masstack.Scoring{Provider: "INTERNAL"},
	}
}

func wantProviderError(t *testing.T, err error, op string, status int, code string) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want *provider.Error", err, err)
	}
	if pe.Provider != "masstack" || pe.Operation != op || pe.StatusCode != status || pe.Code != code || pe.Message == "" {
		t.Fatalf("error %+v, want masstack %s HTTP %d code %s with a message", *pe, op, status, code)
	}
	return pe
}

func TestCreateGetCancel(t *testing.T) {
	c, srv := startEmulator(t, msandbox.Options{})
	ctx := context.Background()

	created, err := c.CreateIdentification(ctx, identification(documentNumber))
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.Status != masstack.StatusPending || !strings.HasSuffix(created.URL, "/identify/"+created.ID) {
		t.Fatalf("created %+v", created)
	}
	expires, err := time.Parse(time.RFC3339, created.ExpiresAt)
	if err != nil || time.Until(expires) < 7*24*time.Hour-time.Minute || time.Until(expires) > 7*24*time.Hour {
		t.Fatalf("expires_at %q (%v), want in 7 days", created.ExpiresAt, err)
	}

	got, err := c.GetIdentification(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != created {
		t.Fatalf("got %+v, want %+v", got, created)
	}

	const reason = "the customer withdrew the application"
	if err := c.CancelIdentification(ctx, created.ID, reason); err != nil {
		t.Fatal(err)
	}
	if st := srv.Emulator.Stats(); st.Cancels != 1 || st.LastCancelReason != reason {
		t.Fatalf("emulator saw %d cancels, reason %q", st.Cancels, st.LastCancelReason)
	}
	got, err = c.GetIdentification(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if masstack.OutcomeOf(got.Status) != masstack.OutcomeCancelled {
		t.Fatalf("after cancel: %+v", got)
	}

	err = c.CancelIdentification(ctx, created.ID, reason)
	wantProviderError(t, err, "cancel_identification", http.StatusConflict, "CONFLICT")

	const unknown = "9b2f4c1e-0000-4000-8000-000000000000"
	_, err = c.GetIdentification(ctx, unknown)
	wantProviderError(t, err, "get_identification", http.StatusNotFound, "NOT_FOUND")
	err = c.CancelIdentification(ctx, unknown, reason)
	wantProviderError(t, err, "cancel_identification", http.StatusNotFound, "NOT_FOUND")

	if st := srv.Emulator.Stats(); st.TokensIssued != 1 || st.Unauthorized != 0 {
		t.Fatalf("stats %+v: want every call on one token", st)
	}
}

func TestIdentificationsEndByPolling(t *testing.T) {
	c, _ := startEmulator(t, msandbox.Options{
		StartAfter:           50 * time.Millisecond,
		CompleteAfter:        50 * time.Millisecond,
		RejectDocumentPrefix: "X",
	})
	ctx := context.Background()
	tests := []struct {
		number string
		want   masstack.Outcome
	}{
		{documentNumber, masstack.OutcomeCompleted},
		{"X1234567L", masstack.OutcomeRejected},
	}
	for _, tt := range tests {
		created, err := c.CreateIdentification(ctx, identification(tt.number))
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, err := c.GetIdentification(ctx, created.ID)
			if err != nil {
				t.Fatal(err)
			}
			if o := masstack.OutcomeOf(got.Status); o != masstack.OutcomePending {
				if o != tt.want {
					t.Fatalf("identification ended %s, want outcome %d", got.Status, tt.want)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("identification still %s", got.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestCreateIsValidatedBeforeAnyCall(t *testing.T) {
	c, srv := startEmulator(t, msandbox.Options{})
	bad := identification(documentNumber)
	bad.IdentityDocument.DocumentType = "DNI"
	bad.ExpiresIn = "P31D"
	_, err := c.CreateIdentification(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), "document_type") || !strings.Contains(err.Error(), "expires_in") {
		t.Fatalf("error %v, want both defects", err)
	}
	if strings.Contains(err.Error(), documentNumber) {
		t.Fatalf("error %q quotes the document number", err)
	}
	if st := srv.Emulator.Stats(); st.Creates != 0 || st.TokensIssued != 0 {
		t.Fatalf("stats %+v: an invalid identification reached MasStack", st)
	}
}

func TestUnknownOrg(t *testing.T) {
	srv, saPath := startSandbox(t, msandbox.Options{})
	c := newClient(t, srv, saPath, "no-such-tenant")
	_, err := c.CreateIdentification(context.Background(), identification(documentNumber))
	wantProviderError(t, err, "create_identification", http.StatusNotFound, "NOT_FOUND")
}

// TestTokenExpiresMidRun keeps calling across several token lifetimes: the
// client must replace each token before the API refuses it.
func TestTokenExpiresMidRun(t *testing.T) {
	c, srv := startEmulator(t, msandbox.Options{TokenTTL: time.Second})
	ctx := context.Background()
	created, err := c.CreateIdentification(ctx, identification(documentNumber))
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, err := c.GetIdentification(ctx, created.ID); err != nil {
			t.Fatal(err)
		}
	}
	// About one token per half second (the refresh margin is capped at half
	// a lifetime): none refused, and not one per call either.
	if st := srv.Emulator.Stats(); st.Unauthorized != 0 || st.TokensIssued < 3 || st.TokensIssued > 10 {
		t.Fatalf("stats %+v: want tokens refreshed before expiry, none refused", st)
	}
}

// TestTokenRevokedEarly has MasStack refuse a token before its announced
// expiry: one 401, a new token, and the call succeeds.
func TestTokenRevokedEarly(t *testing.T) {
	c, srv := startEmulator(t, msandbox.Options{})
	ctx := context.Background()
	created, err := c.CreateIdentification(ctx, identification(documentNumber))
	if err != nil {
		t.Fatal(err)
	}
	srv.Emulator.RevokeTokens()
	if _, err := c.GetIdentification(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.CancelIdentification(ctx, created.ID, "revoked-token test"); err != nil {
		t.Fatal(err)
	}
	if st := srv.Emulator.Stats(); st.Unauthorized != 1 || st.TokensIssued != 2 || st.Cancels != 1 {
		t.Fatalf("stats %+v: want one 401, then a second token used for the rest", st)
	}
}

func TestTokenEndpointOutage(t *testing.T) {
	c, srv := startEmulator(t, msandbox.Options{TokenOutage: true})
	ctx := context.Background()

	_, err := c.CreateIdentification(ctx, identification(documentNumber))
	wantProviderError(t, err, "token", http.StatusServiceUnavailable, "temporarily_unavailable")
	if !strings.Contains(err.Error(), "create_identification") {
		t.Fatalf("error %q does not name the call", err)
	}
	if st := srv.Emulator.Stats(); st.Creates != 0 {
		t.Fatalf("stats %+v: created without a token", st)
	}

	srv.Emulator.SetTokenOutage(false)
	created, err := c.CreateIdentification(ctx, identification(documentNumber))
	if err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	// An outage while a token is cached goes unnoticed.
	srv.Emulator.SetTokenOutage(true)
	if _, err := c.GetIdentification(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
}

func TestRateLimited(t *testing.T) {
	c, srv := startEmulator(t, msandbox.Options{Faults: sandbox.Faults{RateLimitRate: 1, RetryAfter: 3 * time.Second}})
	ctx := context.Background()
	_, err := c.CreateIdentification(ctx, identification(documentNumber))
	pe := wantProviderError(t, err, "create_identification", http.StatusTooManyRequests, "RESOURCE_EXHAUSTED")
	if pe.RetryAfter != 3*time.Second {
		t.Fatalf("RetryAfter %s, want 3s", pe.RetryAfter)
	}
	srv.Emulator.SetFaults(sandbox.Faults{})
	if _, err := c.CreateIdentification(ctx, identification(documentNumber)); err != nil {
		t.Fatal(err)
	}
	if st := srv.Emulator.Stats(); st.FaultsInjected != 1 || st.Creates != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// stubAPI is a MasStack stand-in for answers the emulator never gives: a
// token endpoint that always issues, and an API answering with api.
type stubAPI struct {
	srv               *httptest.Server
	tokenCalls        atomic.Int64
	apiCalls          atomic.Int64
	lastPath          atomic.Value
	lastAuthorization atomic.Value
}

func newStubAPI(t *testing.T, api http.HandlerFunc) (*masstack.Client, *stubAPI) {
	t.Helper()
	s := &stubAPI{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			n := s.tokenCalls.Add(1)
			fmt.Fprintf(w, `{"access_token":"token-%d","token_type":"bearer","expires_in":3600}`, n)
			return
		}
		s.apiCalls.Add(1)
		s.lastPath.Store(r.URL.EscapedPath())
		s.lastAuthorization.Store(r.Header.Get("Authorization"))
		api(w, r)
	}))
	t.Cleanup(s.srv.Close)
	saPath := filepath.Join(t.TempDir(), "sa.json")
	if _, err := msandbox.GenerateServiceAccount(saPath, s.srv.URL+"/oauth/token"); err != nil {
		t.Fatal(err)
	}
	// No AuthURL: the file's token_uri is used.
	c, err := masstack.New(masstack.Config{BaseURL: s.srv.URL + "/v1", OrgID: "yoigo", ServiceAccountFile: saPath})
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func TestPersistent401IsReturnedAfterOneRetry(t *testing.T) {
	c, stub := newStubAPI(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHENTICATED","message":"AuthZ validations have failed"},{"code":"OTHER","message":"ignored"}]}`)
	})
	_, err := c.GetIdentification(context.Background(), "id-1")
	pe := wantProviderError(t, err, "get_identification", http.StatusUnauthorized, "UNAUTHENTICATED")
	if pe.Message != "AuthZ validations have failed" {
		t.Fatalf("message %q, want the first error's", pe.Message)
	}
	if stub.apiCalls.Load() != 2 || stub.tokenCalls.Load() != 2 {
		t.Fatalf("%d API calls and %d token requests, want 2 and 2", stub.apiCalls.Load(), stub.tokenCalls.Load())
	}
	if got := stub.lastAuthorization.Load(); got != "Bearer token-2" {
		t.Fatalf("retry sent %v, want the new token", got)
	}
}

func TestAnswersNotUnderstood(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"no id", http.StatusOK, `{"status":"PENDING"}`},
		{"not JSON", http.StatusOK, `<html>ok</html>`},
		{"wrong shape", http.StatusOK, `{"id":["x"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newStubAPI(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			})
			_, err := c.CreateIdentification(context.Background(), identification(documentNumber))
			if !errors.Is(err, provider.ErrUnreadableAnswer) {
				t.Fatalf("error %v, want ErrUnreadableAnswer", err)
			}
		})
	}
}

func TestIdentificationIDIsOnePathSegment(t *testing.T) {
	c, stub := newStubAPI(t, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"id":"x","status":"PENDING"}`)
	})
	ctx := context.Background()
	if _, err := c.GetIdentification(ctx, "a/../b"); err != nil {
		t.Fatal(err)
	}
	if got, want := stub.lastPath.Load(), "/v1/orgs/yoigo/identifications/identity_document/a%2F..%2Fb"; got != want {
		t.Fatalf("path %v, want %s", got, want)
	}
	for _, id := range []string{"", ".", ".."} {
		if _, err := c.GetIdentification(ctx, id); err == nil {
			t.Fatalf("id %q accepted", id)
		}
	}
	if n := stub.apiCalls.Load(); n != 1 {
		t.Fatalf("%d API calls, want 1", n)
	}
}

func TestNewChecksConfig(t *testing.T) {
	dir := t.TempDir()
	withURI := filepath.Join(dir, "with-uri.json")
	if _, err := msandbox.GenerateServiceAccount(withURI, "https://auth.example.test/oauth/token"); err != nil {
		t.Fatal(err)
	}
	withoutURI := filepath.Join(dir, "without-uri.json")
	if _, err := msandbox.GenerateServiceAccount(withoutURI, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"private_key_id":"k"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := masstack.Config{OrgID: "yoigo", ServiceAccountFile: withURI}
	tests := []struct {
		name    string
		change  func(*masstack.Config)
		wantErr string // "" means New succeeds
	}{
		{"token endpoint from the file", func(*masstack.Config) {}, ""},
		{"token endpoint from the config", func(c *masstack.Config) {
			c.ServiceAccountFile, c.AuthURL = withoutURI, "https://auth.example.test/oauth/token"
		}, ""},
		{"no token endpoint", func(c *masstack.Config) { c.ServiceAccountFile = withoutURI }, "MASSTACK_AUTH_URL"},
		{"relative token endpoint", func(c *masstack.Config) { c.AuthURL = "/oauth/token" }, "MASSTACK_AUTH_URL"},
		{"no org", func(c *masstack.Config) { c.OrgID = " " }, "MASSTACK_ORG_ID"},
		{"no service account", func(c *masstack.Config) { c.ServiceAccountFile = "" }, "MASSTACK_SERVICE_ACCOUNT_FILE"},
		{"missing service account", func(c *masstack.Config) { c.ServiceAccountFile = filepath.Join(dir, "absent.json") }, "absent.json"},
		{"broken service account", func(c *masstack.Config) { c.ServiceAccountFile = filepath.Join(dir, "broken.json") }, "missing private_key, client_email"},
		{"base URL without scheme", func(c *masstack.Config) { c.BaseURL = "documents.masstack.com/v1" }, "MASSTACK_BASE_URL"},
		{"base URL with query", func(c *masstack.Config) { c.BaseURL = "https://documents.masstack.com/v1?x=1" }, "MASSTACK_BASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			_, err := masstack.New(cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// A MasStack error that echoes the person's data never carries it into
// the client's error, which reaches logs and workflow history.
func TestCreateErrorRedactsPersonalValues(t *testing.T) {
	c, _ := newStubAPI(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"errors": [{"code": "INVALID_DOCUMENT", "message": "document 99999999R of Zzmarkerana Marker does not match its type"}]}`)
	})
	_, err := c.CreateIdentification(context.Background(), masstack.CreateIdentification{Name: "Zzmarkerana", LastName: "Marker",
		IdentityDocument: masstack.IdentityDocument{DocumentNumber: "99999999R", DocumentType: "NIF"}})
	if err == nil || !strings.Contains(err.Error(), "does not match its type") {
		t.Fatalf("error = %v, want MasStack's message", err)
	}
	for _, m := range []string{"Zzmarkerana", "99999999R"} {
		if strings.Contains(err.Error(), m) {
			t.Errorf("error %q quotes %q", err, m)
		}
	}
}
