package universign_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/universign"
	"github.com/certflow/certflow/internal/sandbox"
	ussandbox "github.com/certflow/certflow/internal/sandbox/universign"
)

// seen is one request as the test server received it.
type seen struct {
	Method, Path, RawPath, ContentType, Accept, Authorization string
	Body                                                      string
}

// recorder answers every request with status and body and records it.
type recorder struct {
	status int
	body   string

	mu  sync.Mutex
	got []seen
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.got = append(rec.got, seen{
		Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(),
		ContentType: r.Header.Get("Content-Type"), Accept: r.Header.Get("Accept"),
		Authorization: r.Header.Get("Authorization"), Body: string(body),
	})
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.status)
	io.WriteString(w, rec.body)
}

func (rec *recorder) requests() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seen(nil), rec.got...)
}

// serve starts a recording server and a client for it; base is appended to
// the server's URL.
func serve(t *testing.T, base string, status int, body string) (*universign.Client, *recorder) {
	t.Helper()
	rec := &recorder{status: status, body: body}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := universign.New(universign.Config{BaseURL: srv.URL + base, APIKey: "test-key"})
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

const regJSON = `{"id": "reg_5X", "state": "open", "url": "https://apps.universign.com/registration/reg_5X?token=t"}`

var wantReg = universign.Registration{ID: "reg_5X", State: "open", URL: "https://apps.universign.com/registration/reg_5X?token=t"}

// wantAuth is HTTP basic with the API key as user and an empty password.
var wantAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte("test-key:"))

// TestWire checks what each call puts on the wire.
func TestWire(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		base     string
		call     func(*universign.Client) (any, error)
		method   string
		rawPath  string
		wantType string
		wantBody string
		want     any
	}{
		{
			name: "create",
			call: func(c *universign.Client) (any, error) {
				return c.CreateRegistration(ctx, universign.CreateRegistration{
					Applicant: "john@universign.com", Level: "qcp", RedirectURL: "https://www.myredirecturl.com",
					PhoneNumber: "+33612345678", PhoneNumberType: "prerequisite", Language: "en",
				})
			},
			method:   http.MethodPost,
			rawPath:  "/v1/registrations",
			wantType: "application/x-www-form-urlencoded",
			wantBody: "applicant=john%40universign.com&language=en&level=qcp&phone_number=%2B33612345678" +
				"&phone_number_type=prerequisite&redirect_url=https%3A%2F%2Fwww.myredirecturl.com&session_type=standalone",
			want: wantReg,
		},
		{
			name:    "get",
			call:    func(c *universign.Client) (any, error) { return c.GetRegistration(ctx, "reg_5X") },
			method:  http.MethodGet,
			rawPath: "/v1/registrations/reg_5X",
			want:    wantReg,
		},
		{
			name:    "cancel",
			call:    func(c *universign.Client) (any, error) { return nil, c.CancelRegistration(ctx, "reg_5X") },
			method:  http.MethodDelete,
			rawPath: "/v1/registrations/reg_5X",
		},
		{
			name:    "id is path-escaped",
			call:    func(c *universign.Client) (any, error) { return c.GetRegistration(ctx, "reg/5 X?") },
			method:  http.MethodGet,
			rawPath: "/v1/registrations/reg%2F5%20X%3F",
			want:    wantReg,
		},
		{
			name:    "base URL with a path and a trailing slash",
			base:    "/proxy/universign/",
			call:    func(c *universign.Client) (any, error) { return c.GetRegistration(ctx, "reg_5X") },
			method:  http.MethodGet,
			rawPath: "/proxy/universign/v1/registrations/reg_5X",
			want:    wantReg,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := serve(t, tt.base, http.StatusOK, regJSON)
			got, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			want := seen{Method: tt.method, RawPath: tt.rawPath, ContentType: tt.wantType, Accept: "application/json", Authorization: wantAuth, Body: tt.wantBody}
			r := reqs[0]
			r.Path = ""
			if r != want {
				t.Errorf("sent %#v\nwant %#v", r, want)
			}
		})
	}
}

// TestDefaultBaseURL: without BaseURL the client calls production.
func TestDefaultBaseURL(t *testing.T) {
	var got string
	c, err := universign.New(universign.Config{APIKey: "k", HTTPClient: &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		got = r.URL.String()
		return nil, errors.New("offline")
	})}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.GetRegistration(context.Background(), "reg_1")
	if got != "https://api.universign.com/v1/registrations/reg_1" {
		t.Errorf("called %s", got)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     universign.Config
		wantErr string
	}{
		{"no API key", universign.Config{}, "UNIVERSIGN_API_KEY"},
		{"relative base URL", universign.Config{APIKey: "k", BaseURL: "api.universign.com"}, "base URL"},
		{"base URL with a query", universign.Config{APIKey: "k", BaseURL: "https://api.universign.com/?x=1"}, "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := universign.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

// TestInvalidIDs: ids that would name another resource are refused before
// any call.
func TestInvalidIDs(t *testing.T) {
	c, rec := serve(t, "", http.StatusOK, regJSON)
	for _, id := range []string{"", ".", ".."} {
		if _, err := c.GetRegistration(context.Background(), id); err == nil {
			t.Errorf("GetRegistration(%q) succeeded", id)
		}
		if err := c.CancelRegistration(context.Background(), id); err == nil {
			t.Errorf("CancelRegistration(%q) succeeded", id)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestErrorMapping covers the inferred error body and its fallbacks.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   provider.Error
	}{
		{"code and description", 400, `{"error": "invalid_request", "error_description": "level must be lcp, qcp or qcpnqscd"}`,
			provider.Error{Code: "invalid_request", Message: "level must be lcp, qcp or qcpnqscd"}},
		{"code only", 403, `{"error": "forbidden"}`, provider.Error{Code: "forbidden", Message: "forbidden"}},
		{"another JSON shape", 500, `{"message": "boom"}`, provider.Error{Message: "Internal Server Error"}},
		{"HTML", 502, `<html><body><h1>Bad Gateway</h1></body></html>`, provider.Error{Message: "Bad Gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := serve(t, "", tt.status, tt.body)
			_, err := c.GetRegistration(context.Background(), "reg_1")
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err %v (%T) is not a *provider.Error", err, err)
			}
			want := tt.want
			want.Provider, want.Operation, want.StatusCode = "universign", "get_registration", tt.status
			if *pe != want {
				t.Errorf("got  %#v\nwant %#v", *pe, want)
			}
		})
	}
}

// TestUnreadableAnswers: a 2xx answer without id or state cannot be used.
func TestUnreadableAnswers(t *testing.T) {
	for _, body := range []string{`{"state": "open"}`, `{"id": "reg_1"}`, `{}`, `not JSON`, `{"id": 5}`} {
		c, _ := serve(t, "", http.StatusOK, body)
		_, err := c.CreateRegistration(context.Background(), universign.CreateRegistration{Applicant: "a@example.test", Level: "lcp"})
		if !errors.Is(err, provider.ErrUnreadableAnswer) {
			t.Errorf("%s: err = %v, want ErrUnreadableAnswer", body, err)
		}
		if err != nil && strings.Contains(err.Error(), "a@example.test") {
			t.Errorf("error quotes the applicant: %v", err)
		}
	}
}

// startEmulator serves the Universign sandbox and returns a client for it.
func startEmulator(t *testing.T, opts ussandbox.Options) (*universign.Client, *ussandbox.Server) {
	t.Helper()
	srv, err := ussandbox.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c, err := universign.New(universign.Config{BaseURL: srv.URL, APIKey: ussandbox.DefaultAPIKey, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func qcpRegistration() universign.CreateRegistration {
	return universign.CreateRegistration{
		Applicant: "applicant@example.test", Level: "qcp", RedirectURL: "https://app.example.test/done",
		Fullname: "Ann Example", FullnameType: "prerequisite", PhoneNumber: "+34600112233", Language: "es",
	}
}

// TestAgainstEmulator runs a registration's life through the client.
func TestAgainstEmulator(t *testing.T) {
	ctx := context.Background()
	c, srv := startEmulator(t, ussandbox.Options{})
	in := qcpRegistration()
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	reg, err := c.CreateRegistration(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if reg.State != universign.StateOpen || !strings.HasPrefix(reg.ID, "reg_") || !strings.HasSuffix(reg.URL, "/registration/"+reg.ID) {
		t.Errorf("created %+v", reg)
	}
	got, err := c.GetRegistration(ctx, reg.ID)
	if err != nil || got != reg {
		t.Errorf("get: %+v, %v; want %+v", got, err, reg)
	}
	if err := c.CancelRegistration(ctx, reg.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetRegistration(ctx, reg.ID); universign.OutcomeOf(got.State) != universign.OutcomeCanceled {
		t.Errorf("after cancel: %+v", got)
	}
	err = c.CancelRegistration(ctx, reg.ID)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusConflict || pe.Operation != "cancel_registration" || pe.Code != "conflict" {
		t.Errorf("second cancel: %v", err)
	}

	done, err := c.CreateRegistration(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Emulator.Complete(done.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetRegistration(ctx, done.ID); err != nil || universign.OutcomeOf(got.State) != universign.OutcomeCompleted {
		t.Errorf("after completion: %+v, %v", got, err)
	}

	if _, err := c.GetRegistration(ctx, "reg_unknown"); provider.StatusOf(err) != http.StatusNotFound {
		t.Errorf("unknown registration: %v", err)
	}

	bad := in
	bad.Level = "qualified"
	_, err = c.CreateRegistration(ctx, bad)
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusBadRequest || !strings.Contains(pe.Message, "level") {
		t.Errorf("invalid level: %v", err)
	}
	for _, personal := range []string{"applicant@", "Ann", "600112233"} {
		if strings.Contains(err.Error(), personal) {
			t.Errorf("error quotes %q: %v", personal, err)
		}
	}
	if st := srv.Emulator.Stats(); st.Creates != 2 || st.Cancels != 1 || st.Completed != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestWrongKey(t *testing.T) {
	_, srv := startEmulator(t, ussandbox.Options{})
	c, err := universign.New(universign.Config{BaseURL: srv.URL, APIKey: "not-the-key"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRegistration(context.Background(), qcpRegistration())
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusUnauthorized || pe.Code != "unauthorized" {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "not-the-key") {
		t.Errorf("error quotes the key: %v", err)
	}
	if st := srv.Emulator.Stats(); st.Creates != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestRateLimit(t *testing.T) {
	c, srv := startEmulator(t, ussandbox.Options{Seed: 1, Faults: sandbox.Faults{RateLimitRate: 1, RetryAfter: 3 * time.Second}})
	_, err := c.CreateRegistration(context.Background(), qcpRegistration())
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusTooManyRequests || pe.RetryAfter != 3*time.Second {
		t.Fatalf("err = %v", err)
	}
	if st := srv.Emulator.Stats(); st.Creates != 0 || st.FaultsInjected != 1 {
		t.Errorf("stats %+v", st)
	}
}

// A Universign error that echoes the applicant's data never carries it
// into the client's error, which reaches logs and workflow history.
func TestCreateErrorRedactsPersonalValues(t *testing.T) {
	c, _ := serve(t, "", http.StatusBadRequest, `{"error": "invalid_request", "error_description": "applicant zzmarker@example.test (Zzmarkerana Ruiz, +34600999999) is already registered"}`)
	_, err := c.CreateRegistration(context.Background(), universign.CreateRegistration{Applicant: "zzmarker@example.test", Level: "qcp",
		Fullname: "Zzmarkerana Ruiz", PhoneNumber: "+34600999999"})
	if err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("error = %v, want Universign's message", err)
	}
	for _, m := range []string{"Zzmarkerana", "zzmarker@example.test", "+34600999999"} {
		if strings.Contains(err.Error(), m) {
			t.Errorf("error %q quotes %q", err, m)
		}
	}
}
