package humanos_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/validate"
)

const (
	testKey    = "hk_test_key"
	testSecret = "hs_test_secret"
	// testMillis is the fixed clock of every test client, so X-Timestamp is
	// known in advance.
	testMillis = "1700000000000"
)

var testNow = time.UnixMilli(1700000000000)

func fixedNow() time.Time { return testNow }

// seen is one request as the test server received it.
type seen struct {
	Method, RawPath, RawQuery                      string
	ContentType, Accept, Authorization, XTimestamp string
	APIVersion, IdempotencyKey                     string
	Body                                           string
	// SignatureErr is humanos.Verify's verdict on X-Signature over the raw
	// body received.
	SignatureErr error
}

// recorder answers every request with status, header and body, and records
// it.
type recorder struct {
	status int
	header http.Header
	body   string

	mu  sync.Mutex
	got []seen
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("X-Timestamp")
	rec.mu.Lock()
	rec.got = append(rec.got, seen{
		Method: r.Method, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"), Accept: r.Header.Get("Accept"),
		Authorization: r.Header.Get("Authorization"), XTimestamp: ts,
		APIVersion: r.Header.Get("API-Version"), IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Body:         string(body),
		SignatureErr: humanos.Verify(testSecret, ts, r.Header.Get("X-Signature"), body, testNow, time.Minute),
	})
	rec.mu.Unlock()
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.status)
	io.WriteString(w, rec.body)
}

func (rec *recorder) requests() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seen(nil), rec.got...)
}

// serve starts a recording server answering status and body, and a client
// for it with the fixed clock; edit adjusts the client's configuration.
func serve(t *testing.T, status int, body string, edit func(*humanos.Config)) (*humanos.Client, *recorder) {
	t.Helper()
	rec := &recorder{status: status, body: body, header: http.Header{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	cfg := humanos.Config{BaseURL: srv.URL, APIKey: testKey, SignatureSecret: testSecret, Now: fixedNow}
	if edit != nil {
		edit(&cfg)
	}
	c, err := humanos.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

const (
	contact = "user@example.com"
	phone   = "+351912345678"
	reqID   = "507f1f77bcf86cd799439011"
)

func newRequest() humanos.CreateRequest {
	return humanos.CreateRequest{Contacts: []string{contact}, GroupIDs: []string{"507f1f77bcf86cd799439012"}, InternalID: "wf-1"}
}

// createBody is newRequest as it must go on the wire.
const createBody = `{"contacts":["user@example.com"],"groupIds":["507f1f77bcf86cd799439012"],"internalId":"wf-1"}`

// createAnswer is the documented create answer: the older "did" shape.
const createAnswer = `{
  "credentials": [{"id": "507f1f77bcf86cd799439013", "resourceType": "DOCUMENT", "status": "PENDING", "name": "Identity Document", "internalId": "internal-12345"}],
  "id": "507f1f77bcf86cd799439011",
  "subjects": [{"contact": "user@example.com", "did": "did:via:humanos:user-abc123", "code": "123456", "link": "https://app.humanos.id/link/507f1f77bcf86cd799439011"}]
}`

var wantCreated = humanos.Request{
	ID:          reqID,
	Credentials: []humanos.Credential{{ID: "507f1f77bcf86cd799439013", ResourceType: "DOCUMENT", Status: humanos.CredentialPending, Name: "Identity Document", InternalID: "internal-12345"}},
	Subjects:    []humanos.Subject{{Contact: contact, ID: "did:via:humanos:user-abc123", Code: "123456", Link: "https://app.humanos.id/link/507f1f77bcf86cd799439011"}},
}

// TestWire checks what each call puts on the wire: method, path, query,
// body and every header, the signature verified as Humanos would.
func TestWire(t *testing.T) {
	ctx := context.Background()
	dated := func(c *humanos.Config) { c.APIVersion = "2026-03-03" }
	tests := []struct {
		name    string
		edit    func(*humanos.Config)
		call    func(*humanos.Client) (any, error)
		want    seen
		wantOut any
	}{
		{
			name:    "create with an idempotency key",
			call:    func(c *humanos.Client) (any, error) { return c.CreateRequest(ctx, newRequest(), "wf-1/create") },
			want:    seen{Method: http.MethodPost, RawPath: "/v1/request", ContentType: "application/json", IdempotencyKey: "wf-1/create", Body: createBody},
			wantOut: wantCreated,
		},
		{
			name:    "create without an idempotency key",
			call:    func(c *humanos.Client) (any, error) { return c.CreateRequest(ctx, newRequest(), "") },
			want:    seen{Method: http.MethodPost, RawPath: "/v1/request", ContentType: "application/json", Body: createBody},
			wantOut: wantCreated,
		},
		{
			name:    "get",
			call:    func(c *humanos.Client) (any, error) { return c.GetRequest(ctx, reqID) },
			want:    seen{Method: http.MethodGet, RawPath: "/v1/request/" + reqID},
			wantOut: wantCreated,
		},
		{
			name: "cancel",
			call: func(c *humanos.Client) (any, error) { return nil, c.CancelRequest(ctx, reqID) },
			want: seen{Method: http.MethodDelete, RawPath: "/v1/request/" + reqID},
		},
		{
			name: "resend to a phone, whose + must not become a space",
			call: func(c *humanos.Client) (any, error) { return nil, c.ResendOTP(ctx, reqID, phone) },
			want: seen{Method: http.MethodPatch, RawPath: "/v1/request/resend/" + reqID, RawQuery: "contact=%2B351912345678"},
		},
		{
			name: "resend to an email",
			call: func(c *humanos.Client) (any, error) { return nil, c.ResendOTP(ctx, reqID, contact) },
			want: seen{Method: http.MethodPatch, RawPath: "/v1/request/resend/" + reqID, RawQuery: "contact=user%40example.com"},
		},
		{
			name:    "id is path-escaped",
			call:    func(c *humanos.Client) (any, error) { return c.GetRequest(ctx, "a/../b c?d") },
			want:    seen{Method: http.MethodGet, RawPath: "/v1/request/a%2F..%2Fb%20c%3Fd"},
			wantOut: wantCreated,
		},
		{
			name:    "dated version: create drops /v1",
			edit:    dated,
			call:    func(c *humanos.Client) (any, error) { return c.CreateRequest(ctx, newRequest(), "k") },
			want:    seen{Method: http.MethodPost, RawPath: "/request", ContentType: "application/json", APIVersion: "2026-03-03", IdempotencyKey: "k", Body: createBody},
			wantOut: wantCreated,
		},
		{
			name:    "dated version: get drops /v1",
			edit:    dated,
			call:    func(c *humanos.Client) (any, error) { return c.GetRequest(ctx, reqID) },
			want:    seen{Method: http.MethodGet, RawPath: "/request/" + reqID, APIVersion: "2026-03-03"},
			wantOut: wantCreated,
		},
		{
			name: "dated version: cancel drops /v1",
			edit: dated,
			call: func(c *humanos.Client) (any, error) { return nil, c.CancelRequest(ctx, reqID) },
			want: seen{Method: http.MethodDelete, RawPath: "/request/" + reqID, APIVersion: "2026-03-03"},
		},
		{
			name: "dated version: resend drops /v1",
			edit: dated,
			call: func(c *humanos.Client) (any, error) { return nil, c.ResendOTP(ctx, reqID, phone) },
			want: seen{Method: http.MethodPatch, RawPath: "/request/resend/" + reqID, RawQuery: "contact=%2B351912345678", APIVersion: "2026-03-03"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := serve(t, http.StatusOK, createAnswer, tt.edit)
			out, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out, tt.wantOut) {
				t.Errorf("got  %#v\nwant %#v", out, tt.wantOut)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			want := tt.want
			want.Accept, want.Authorization, want.XTimestamp = "application/json", "Bearer "+testKey, testMillis
			if reqs[0] != want {
				t.Errorf("sent %#v\nwant %#v", reqs[0], want)
			}
		})
	}
}

// TestBaseURLWithPath: the request paths go below a base URL's own path,
// with or without its trailing slash.
func TestBaseURLWithPath(t *testing.T) {
	for _, suffix := range []string{"/proxy/humanos", "/proxy/humanos/"} {
		var got string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r.URL.EscapedPath()
		}))
		c, err := humanos.New(humanos.Config{BaseURL: srv.URL + suffix, APIKey: testKey, SignatureSecret: testSecret})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CancelRequest(context.Background(), reqID); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		if want := "/proxy/humanos/v1/request/" + reqID; got != want {
			t.Errorf("base %s: called %s, want %s", suffix, got, want)
		}
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestDefaultBaseURL: without BaseURL the client calls production.
func TestDefaultBaseURL(t *testing.T) {
	var got string
	c, err := humanos.New(humanos.Config{APIKey: testKey, SignatureSecret: testSecret, HTTPClient: &http.Client{
		Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			got = r.URL.String()
			return nil, errors.New("offline")
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.GetRequest(context.Background(), reqID)
	if want := "https://api.humanos.id/v1/request/" + reqID; got != want {
		t.Errorf("called %s, want %s", got, want)
	}
}

// TestSubjectShapes: the subject's id is read from either version's field.
func TestSubjectShapes(t *testing.T) {
	tests := []struct{ name, subject string }{
		{"older did", `{"contact": "user@example.com", "did": "did:via:humanos:u1", "link": "https://app.humanos.id/link/x", "identityStatus": "VERIFIED"}`},
		{"newer id", `{"contact": "user@example.com", "id": "did:via:humanos:u1", "link": "https://app.humanos.id/link/x", "identityStatus": "VERIFIED"}`},
	}
	want := []humanos.Subject{{Contact: contact, ID: "did:via:humanos:u1", Link: "https://app.humanos.id/link/x", IdentityStatus: humanos.IdentityVerified}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := serve(t, http.StatusOK, `{"id": "`+reqID+`", "canceledAt": "2026-03-03T10:00:00Z", "subjects": [`+tt.subject+`], "credentials": []}`, nil)
			got, err := c.GetRequest(context.Background(), reqID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Subjects, want) || got.CanceledAt != "2026-03-03T10:00:00Z" {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestNewConfig(t *testing.T) {
	valid := func(edit func(*humanos.Config)) humanos.Config {
		cfg := humanos.Config{APIKey: testKey, SignatureSecret: testSecret}
		edit(&cfg)
		return cfg
	}
	tests := []struct {
		name    string
		cfg     humanos.Config
		wantErr string
	}{
		{"no API key", valid(func(c *humanos.Config) { c.APIKey = "" }), "HUMANOS_API_KEY"},
		{"blank API key", valid(func(c *humanos.Config) { c.APIKey = " \n" }), "HUMANOS_API_KEY"},
		{"no signature secret", valid(func(c *humanos.Config) { c.SignatureSecret = "" }), "HUMANOS_SIGNATURE_SECRET"},
		{"version not a date", valid(func(c *humanos.Config) { c.APIVersion = "v2" }), "HUMANOS_API_VERSION"},
		{"version without zero padding", valid(func(c *humanos.Config) { c.APIVersion = "2026-3-3" }), "HUMANOS_API_VERSION"},
		{"relative base URL", valid(func(c *humanos.Config) { c.BaseURL = "api.humanos.id" }), "HUMANOS_BASE_URL"},
		{"base URL with a query", valid(func(c *humanos.Config) { c.BaseURL = "https://api.humanos.id/?x=1" }), "HUMANOS_BASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := humanos.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one naming %s", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
}

// TestRefusedBeforeAnyCall: ids that would name another resource, contacts
// that are no contact and invalid requests are refused without a call, and
// the refusal does not quote the person's data.
func TestRefusedBeforeAnyCall(t *testing.T) {
	ctx := context.Background()
	c, rec := serve(t, http.StatusOK, createAnswer, nil)
	for _, id := range []string{"", ".", ".."} {
		if _, err := c.GetRequest(ctx, id); err == nil {
			t.Errorf("GetRequest(%q) succeeded", id)
		}
		if err := c.CancelRequest(ctx, id); err == nil {
			t.Errorf("CancelRequest(%q) succeeded", id)
		}
		if err := c.ResendOTP(ctx, id, contact); err == nil {
			t.Errorf("ResendOTP(%q) succeeded", id)
		}
	}
	for _, bad := range []string{"", "Ann Example <ann@example.com>", "912345678"} {
		err := c.ResendOTP(ctx, reqID, bad)
		if err == nil {
			t.Errorf("ResendOTP to %q succeeded", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error quotes the contact: %v", err)
		}
	}
	r := newRequest()
	r.Contacts = []string{"ann.example.com"}
	_, err := c.CreateRequest(ctx, r, "k")
	var ve *validate.Error
	if !errors.As(err, &ve) {
		t.Errorf("invalid request: err = %v, want a *validate.Error", err)
	} else if strings.Contains(err.Error(), "ann.example") {
		t.Errorf("error quotes the contact: %v", err)
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestErrorMapping: error bodies are undocumented and read by the generic
// parser; Retry-After becomes RetryAfter, dates measured from Config.Now.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		want       provider.Error
	}{
		{"400 with a message", 400, "", `{"message": "API-Version is in the future"}`, provider.Error{Message: "API-Version is in the future"}},
		{"400 with a list of messages", 400, "", `{"statusCode": 400, "message": ["contacts must be an array"], "error": "Bad Request"}`, provider.Error{Message: "Bad Request"}},
		{"401", 401, "", `{"message": "Invalid signature"}`, provider.Error{Message: "Invalid signature"}},
		{"404", 404, "", `{"statusCode": 404, "message": "Request not found"}`, provider.Error{Message: "Request not found"}},
		{"409 without a body", 409, "", ``, provider.Error{Message: "Conflict"}},
		{"429 with delay-seconds", 429, "7", `{"message": "Too many requests"}`, provider.Error{Message: "Too many requests", RetryAfter: 7 * time.Second}},
		{"429 with an HTTP date", 429, testNow.Add(30 * time.Second).UTC().Format(http.TimeFormat), `{}`, provider.Error{Message: "Too Many Requests", RetryAfter: 30 * time.Second}},
		{"502 from a proxy", 502, "", `<html><body><h1>Bad Gateway</h1></body></html>`, provider.Error{Message: "Bad Gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := serve(t, tt.status, tt.body, nil)
			if tt.retryAfter != "" {
				rec.header.Set("Retry-After", tt.retryAfter)
			}
			_, err := c.CreateRequest(context.Background(), newRequest(), "k")
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err %v (%T) is not a *provider.Error", err, err)
			}
			want := tt.want
			want.Provider, want.Operation, want.StatusCode = "humanos", "create_request", tt.status
			if *pe != want {
				t.Errorf("got  %#v\nwant %#v", *pe, want)
			}
		})
	}
}

// TestOperationNames: each call's errors name its operation.
func TestOperationNames(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		op   string
		call func(*humanos.Client) error
	}{
		{"create_request", func(c *humanos.Client) error { _, err := c.CreateRequest(ctx, newRequest(), ""); return err }},
		{"get_request", func(c *humanos.Client) error { _, err := c.GetRequest(ctx, reqID); return err }},
		{"cancel_request", func(c *humanos.Client) error { return c.CancelRequest(ctx, reqID) }},
		{"resend_otp", func(c *humanos.Client) error { return c.ResendOTP(ctx, reqID, contact) }},
	}
	for _, tt := range tests {
		c, _ := serve(t, http.StatusNotFound, `{"message": "Request not found"}`, nil)
		var pe *provider.Error
		if err := tt.call(c); !errors.As(err, &pe) || pe.Operation != tt.op || pe.StatusCode != http.StatusNotFound {
			t.Errorf("%s: err = %v", tt.op, err)
		}
	}
}

// TestUnreadableAnswers: a 2xx create or get answer without a request id
// cannot be used, and the error does not quote the body.
func TestUnreadableAnswers(t *testing.T) {
	ctx := context.Background()
	bodies := []string{
		`{"subjects": [{"contact": "user@example.com", "did": "did:x"}], "credentials": []}`,
		`{}`, `null`, `not JSON`, `{"id": 5}`,
		`{"id": "507f1f77bcf86cd799439011", "subjects": [{"contact": 5}]}`,
	}
	calls := map[string]func(*humanos.Client) error{
		"create": func(c *humanos.Client) error { _, err := c.CreateRequest(ctx, newRequest(), "k"); return err },
		"get":    func(c *humanos.Client) error { _, err := c.GetRequest(ctx, reqID); return err },
	}
	for _, body := range bodies {
		for name, call := range calls {
			c, _ := serve(t, http.StatusCreated, body, nil)
			err := call(c)
			if !errors.Is(err, provider.ErrUnreadableAnswer) {
				t.Errorf("%s answering %s: err = %v, want ErrUnreadableAnswer", name, body, err)
			}
			if err != nil && strings.Contains(err.Error(), "user@") {
				t.Errorf("%s: error quotes the contact: %v", name, err)
			}
		}
	}
}

// TestTransportErrorsKeepTheContactOut: net/http quotes the URL in its
// errors, and a resend's URL carries the contact; the client's error must
// not, while still wrapping the cause.
func TestTransportErrorsKeepTheContactOut(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name string
		base string
		want func(error) bool
	}{
		{"timeout", hung.URL, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"connection refused", closed.URL, func(err error) bool { var op *net.OpError; return errors.As(err, &op) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := humanos.New(humanos.Config{BaseURL: tt.base, APIKey: testKey, SignatureSecret: testSecret, Timeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			for _, who := range []string{contact, phone} {
				err := c.ResendOTP(context.Background(), reqID, who)
				var ue *url.Error
				if err == nil || !tt.want(err) || !errors.As(err, &ue) {
					t.Fatalf("err = %v, want the transport error wrapped", err)
				}
				msg := err.Error()
				for _, trace := range []string{"contact", "user", "example", "912345678"} {
					if strings.Contains(msg, trace) {
						t.Errorf("error quotes %q: %s", trace, msg)
					}
				}
				if !strings.HasPrefix(msg, "humanos resend_otp: ") || !strings.Contains(msg, "/v1/request/resend/"+reqID) {
					t.Errorf("error %q does not say which call failed", msg)
				}
			}
		})
	}
}

// A Humanos error that echoes the subjects' contacts never carries them
// into the client's error, which reaches logs and workflow history.
func TestCreateErrorRedactsPersonalValues(t *testing.T) {
	c, _ := serve(t, http.StatusBadRequest, `{"message": "contacts zzmarker@example.test and +34600999999 cannot receive an OTP"}`, nil)
	req := newRequest()
	req.Contacts = []string{"zzmarker@example.test", "+34600999999"}
	_, err := c.CreateRequest(context.Background(), req, "key-1")
	if err == nil || !strings.Contains(err.Error(), "cannot receive an OTP") {
		t.Fatalf("error = %v, want Humanos's message", err)
	}
	for _, m := range []string{"zzmarker@example.test", "+34600999999"} {
		if strings.Contains(err.Error(), m) {
			t.Errorf("error %q quotes %q", err, m)
		}
	}
}
