package uanataca_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/uanataca"
	"github.com/certflow/certflow/internal/sandbox/devpki"
)

// seen is one request as the test server received it.
type seen struct {
	Method      string
	Path        string
	Query       string
	ContentType string
	Accept      string
	Body        []byte
}

// reply is the test server's canned answer.
type reply struct {
	Status int
	Header map[string]string
	Body   string
}

// recorder serves one canned reply per request, in order (the last one
// repeats), and records what it received.
type recorder struct {
	mu      sync.Mutex
	replies []reply
	got     []seen
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, seen{
		Method:      req.Method,
		Path:        req.URL.Path,
		Query:       req.URL.RawQuery,
		ContentType: req.Header.Get("Content-Type"),
		Accept:      req.Header.Get("Accept"),
		Body:        body,
	})
	rep := r.replies[min(len(r.got), len(r.replies))-1]
	r.mu.Unlock()
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.Status)
	io.WriteString(w, rep.Body)
}

func (r *recorder) requests() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slicesClone(r.got)
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

// serve starts a test server answering replies and a client for it. The
// base URL is given without its trailing slash, which New must add.
func serve(t *testing.T, replies ...reply) (*uanataca.Client, *recorder) {
	t.Helper()
	rec := &recorder{replies: replies}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := uanataca.New(uanataca.Config{BaseURL: srv.URL + "/api/v1", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, rec
}

const requestJSON = `{"pk": 11223, "given_name": "Name", "surname_1": "Surname1",
	"email": "mail@domain.com", "serial_number": "12345678A",
	"profile": "PFnubeAFCiudadano", "scratchcard": "5053311", "status": "CREATED",
	"registration_authority": 116, "certificate_set": []}`

func wantRequest(status string) uanataca.Request {
	return uanataca.Request{
		PK: 11223, Status: status, Profile: "PFnubeAFCiudadano",
		Scratchcard: "5053311", RegistrationAuthority: "116", Email: "mail@domain.com",
		CertificateSet: []uanataca.Certificate{},
	}
}

// TestCalls checks, for every method, what goes on the wire (method, path
// with its trailing slash, query, body, headers) and what comes back.
func TestCalls(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		reply     reply
		call      func(*uanataca.Client) (any, error)
		method    string
		path      string
		query     string
		wantBody  string // JSON, compared structurally; "" for no body
		wantValue any
	}{
		{
			name: "get first unused scratchcard",
			reply: reply{Status: 200, Body: `{"pk": 1193, "sn": "1256948",
				"secrets": "{\"erc\": \"6292998123\", \"pin\": \"08695572\"}", "registration_authority": 121}`},
			call: func(c *uanataca.Client) (any, error) {
				return c.GetFirstUnusedScratchcard(ctx, "121")
			},
			method:    http.MethodGet,
			path:      "/api/v1/scratchcards/get_first_unused/",
			wantBody:  `{"ra": "121"}`,
			wantValue: uanataca.Scratchcard{PK: 1193, SN: "1256948", RegistrationAuthority: "121"},
		},
		{
			name:  "is scratchcard used",
			reply: reply{Status: 200, Header: map[string]string{"Content-Type": "text/plain"}, Body: "true"},
			call: func(c *uanataca.Client) (any, error) {
				return c.IsScratchcardUsed(ctx, "1200948")
			},
			method:    http.MethodPost,
			path:      "/api/v1/scratchcards/isused/",
			wantBody:  `{"sn": "1200948"}`,
			wantValue: true,
		},
		{
			name:  "create request",
			reply: reply{Status: 201, Body: requestJSON},
			call: func(c *uanataca.Client) (any, error) {
				return c.CreateRequest(ctx, uanataca.CreateRequest{
					Profile: "PFnubeAFCiudadano", Scratchcard: "5053311", SecureElement: "2",
					RegistrationAuthority: "116", Email: "mail@domain.com", PaperlessMode: 1,
				})
			},
			method: http.MethodPost,
			path:   "/api/v1/requests/",
			wantBody: `{"profile": "PFnubeAFCiudadano", "scratchcard": "5053311", "secure_element": "2",
				"registration_authority": "116", "email": "mail@domain.com", "paperless_mode": 1}`,
			wantValue: wantRequest("CREATED"),
		},
		{
			name:  "get request",
			reply: reply{Status: 200, Body: requestJSON},
			call: func(c *uanataca.Client) (any, error) {
				return c.GetRequest(ctx, 11223)
			},
			method:    http.MethodGet,
			path:      "/api/v1/requests/11223/",
			wantValue: wantRequest("CREATED"),
		},
		{
			name:  "list requests by scratchcard",
			reply: reply{Status: 200, Body: `{"count": 1, "next": null, "previous": null, "results": [` + requestJSON + `]}`},
			call: func(c *uanataca.Client) (any, error) {
				return c.ListRequestsByScratchcard(ctx, "5053311")
			},
			method:    http.MethodGet,
			path:      "/api/v1/requests/",
			query:     "scratchcard=5053311",
			wantValue: []uanataca.Request{wantRequest("CREATED")},
		},
		{
			name:  "cancel request",
			reply: reply{Status: 200, Body: `{"status": "Request cancelled"}`},
			call: func(c *uanataca.Client) (any, error) {
				return nil, c.CancelRequest(ctx, 25139)
			},
			method: http.MethodDelete,
			path:   "/api/v1/requests/25139/cancel/",
		},
		{
			name:  "approve",
			reply: reply{Status: 200, Body: `{"secrets": {"puk": "06092551", "pin": "76293975"}, "request": ` + strings.Replace(requestJSON, "CREATED", "ENROLLREADY", 1) + `}`},
			call: func(c *uanataca.Client) (any, error) {
				return c.Approve(ctx, 11223, uanataca.Approval{Username: "1000279", Password: "3DPTm:N4", PIN: "23bYQq9a", RAOID: 123})
			},
			method:    http.MethodPost,
			path:      "/api/v1/requests/11223/pl_approve/",
			wantBody:  `{"username": "1000279", "password": "3DPTm:N4", "pin": "23bYQq9a", "rao_id": 123}`,
			wantValue: wantRequest("ENROLLREADY"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := serve(t, tt.reply)
			got, err := tt.call(c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if !reflect.DeepEqual(got, tt.wantValue) {
				t.Errorf("value = %#v, want %#v", got, tt.wantValue)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != tt.path || r.Query != tt.query {
				t.Errorf("sent %s %s?%s, want %s %s?%s", r.Method, r.Path, r.Query, tt.method, tt.path, tt.query)
			}
			// A call without a body declares no content type.
			wantType := "application/json"
			if tt.wantBody == "" {
				wantType = ""
			}
			if r.ContentType != wantType || r.Accept != "application/json" {
				t.Errorf("Content-Type %q, Accept %q; want %q and application/json", r.ContentType, r.Accept, wantType)
			}
			if tt.wantBody == "" {
				if len(r.Body) != 0 {
					t.Errorf("body = %s, want none", r.Body)
				}
				return
			}
			assertSameJSON(t, r.Body, tt.wantBody)
		})
	}
}

func assertSameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %s is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body = %s, want %s", got, want)
	}
}

// TestCreateRequestExtraFieldsAreFlat: profile fields without a struct
// field travel at the top level, next to the typed ones.
func TestCreateRequestExtraFieldsAreFlat(t *testing.T) {
	c, rec := serve(t, reply{Status: 201, Body: requestJSON})
	_, err := c.CreateRequest(context.Background(), uanataca.CreateRequest{
		Profile: "PFnubeAFCiudadano", Scratchcard: "5053311", RegistrationAuthority: "116", Email: "mail@domain.com",
		Extra: map[string]string{"organization_name": "ACME SL", "smartcard_sn": "00112233", "profile": "ignored"},
	})
	if err != nil {
		t.Fatal(err)
	}
	assertSameJSON(t, rec.requests()[0].Body, `{"profile": "PFnubeAFCiudadano", "scratchcard": "5053311",
		"registration_authority": "116", "email": "mail@domain.com",
		"organization_name": "ACME SL", "smartcard_sn": "00112233"}`)
}

// TestUploadDocument: the multipart form carries the type field and the
// file under "document" with its name and a content type the RA accepts.
func TestUploadDocument(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...)
	tests := []struct {
		name, filename, wantFilename, wantType string
	}{
		{"by extension", "idc_front.jpg", "idc_front.jpg", "image/jpeg"},
		{"sniffed", "front", "front", "image/png"},
		{"no name", "", "document_front", "image/png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := serve(t, reply{Status: 201, Body: `{"pk": 48312, "type": "document_front"}`})
			got, err := c.UploadDocument(context.Background(), 11223, uanataca.Document{
				Type: uanataca.DocumentFront, Filename: tt.filename, Content: png,
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := (uanataca.UploadedDocument{PK: 48312, Type: "document_front"}); got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
			r := rec.requests()[0]
			if r.Method != http.MethodPost || r.Path != "/api/v1/requests/11223/pl_upload_document/" {
				t.Errorf("sent %s %s", r.Method, r.Path)
			}
			mediaType, params, err := mime.ParseMediaType(r.ContentType)
			if err != nil || mediaType != "multipart/form-data" {
				t.Fatalf("Content-Type %q (%v), want multipart/form-data", r.ContentType, err)
			}
			if r.Accept != "application/json" {
				t.Errorf("Accept %q", r.Accept)
			}
			form, err := multipart.NewReader(strings.NewReader(string(r.Body)), params["boundary"]).ReadForm(1 << 20)
			if err != nil {
				t.Fatal(err)
			}
			if got := form.Value["type"]; len(got) != 1 || got[0] != "document_front" {
				t.Errorf("type field = %q", got)
			}
			files := form.File["document"]
			if len(files) != 1 {
				t.Fatalf("%d document files, want 1", len(files))
			}
			fh := files[0]
			if fh.Filename != tt.wantFilename || fh.Header.Get("Content-Type") != tt.wantType {
				t.Errorf("file %q %q, want %q %q", fh.Filename, fh.Header.Get("Content-Type"), tt.wantFilename, tt.wantType)
			}
			f, _ := fh.Open()
			content, _ := io.ReadAll(f)
			if string(content) != string(png) {
				t.Errorf("file content differs: %d bytes, want %d", len(content), len(png))
			}
		})
	}
}

// TestErrorMapping: every non-2xx answer becomes a *provider.Error whose
// fields come from the RA's body, its parser's detail, or the status. The
// generic part (excerpts of HTML pages, Retry-After dates) is tested with
// provider.HTTP.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name  string
		reply reply
		want  provider.Error
	}{
		{
			name:  "400 JSON parse error detail",
			reply: reply{Status: 400, Body: `{"detail": "JSON parse error - Expecting ',' delimiter: line 3 column 2 (char 30)"}`},
			want:  provider.Error{StatusCode: 400, Message: "JSON parse error - Expecting ',' delimiter: line 3 column 2 (char 30)"},
		},
		{
			name:  "400 field validation names the fields only",
			reply: reply{Status: 400, Body: `{"email": ["'mail@@x' is not a valid email"], "profile": ["required"]}`},
			want:  provider.Error{StatusCode: 400, Message: "Bad Request (fields: email, profile)"},
		},
		{
			name:  "404 no request",
			reply: reply{Status: 404, Body: `{"code": "400", "id": "cbdd2e84c0e7f107", "error": "No Request matches the given query."}`},
			want:  provider.Error{StatusCode: 404, Code: "400", ID: "cbdd2e84c0e7f107", Message: "No Request matches the given query."},
		},
		{
			name:  "404 empty body",
			reply: reply{Status: 404},
			want:  provider.Error{StatusCode: 404, Message: "Not Found"},
		},
		{
			name:  "412 invalid status",
			reply: reply{Status: 412, Body: `{"code": "412", "id": "478492eec17596d3", "error": "Invalid request status"}`},
			want:  provider.Error{StatusCode: 412, Code: "412", ID: "478492eec17596d3", Message: "Invalid request status"},
		},
		{
			name:  "429 throttled",
			reply: reply{Status: 429, Header: map[string]string{"Retry-After": "7"}, Body: `{"detail": "Request was throttled."}`},
			want:  provider.Error{StatusCode: 429, Message: "Request was throttled.", RetryAfter: 7 * time.Second},
		},
		{
			name:  "500 invalid scratchcard",
			reply: reply{Status: 500, Body: `{"code": "500", "id": "80a9e5709417bdc9", "error": "Invalid ScratchCard"}`},
			want:  provider.Error{StatusCode: 500, Code: "500", ID: "80a9e5709417bdc9", Message: "Invalid ScratchCard"},
		},
		{
			name:  "500 numeric code",
			reply: reply{Status: 500, Body: `{"code": 500, "id": "8e782cdcdb600a90", "error": "Invalid ScratchCard"}`},
			want:  provider.Error{StatusCode: 500, Code: "500", ID: "8e782cdcdb600a90", Message: "Invalid ScratchCard"},
		},
		{
			name: "502 HTML from a proxy",
			reply: reply{Status: 502, Header: map[string]string{"Content-Type": "text/html"},
				Body: "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"},
			want: provider.Error{StatusCode: 502, Message: "502 Bad Gateway nginx"},
		},
		{
			name:  "302 is not followed",
			reply: reply{Status: 302, Header: map[string]string{"Location": "https://elsewhere.example/"}},
			want:  provider.Error{StatusCode: 302, Message: "Found"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{replies: []reply{tt.reply}}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			// No HTTPClient: the client New builds must not follow redirects.
			c, err := uanataca.New(uanataca.Config{BaseURL: srv.URL + "/api/v1/"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.CreateRequest(context.Background(), uanataca.CreateRequest{Profile: "P", Scratchcard: "1", RegistrationAuthority: "1", Email: "a@b.c"})
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
			}
			want := tt.want
			want.Provider, want.Operation = "uanataca", "create_request"
			if *pe != want {
				t.Errorf("got  %#v\nwant %#v", *pe, want)
			}
			if strings.Contains(err.Error(), "mail@@x") {
				t.Errorf("error quotes a personal value: %v", err)
			}
			if n := len(rec.requests()); n != 1 {
				t.Errorf("%d requests sent, want 1", n)
			}
		})
	}
}

// TestEveryOperationMapsErrors: each method reports its own operation name.
func TestEveryOperationMapsErrors(t *testing.T) {
	ctx := context.Background()
	c, _ := serve(t, reply{Status: 500, Body: `{"code": "500", "id": "x", "error": "boom"}`})
	calls := map[string]func() error{
		"get_first_unused_scratchcard": func() error { _, err := c.GetFirstUnusedScratchcard(ctx, "1"); return err },
		"is_scratchcard_used":          func() error { _, err := c.IsScratchcardUsed(ctx, "1"); return err },
		"create_request":               func() error { _, err := c.CreateRequest(ctx, uanataca.CreateRequest{}); return err },
		"get_request":                  func() error { _, err := c.GetRequest(ctx, 1); return err },
		"list_requests_by_scratchcard": func() error { _, err := c.ListRequestsByScratchcard(ctx, "1"); return err },
		"cancel_request":               func() error { return c.CancelRequest(ctx, 1) },
		"upload_document": func() error {
			_, err := c.UploadDocument(ctx, 1, uanataca.Document{Type: "document_front"})
			return err
		},
		"approve": func() error { _, err := c.Approve(ctx, 1, uanataca.Approval{}); return err },
	}
	for op, call := range calls {
		var pe *provider.Error
		if err := call(); !errors.As(err, &pe) || pe.Operation != op || pe.Provider != "uanataca" || pe.Message != "boom" {
			t.Errorf("%s: got %v", op, err)
		}
	}
}

// TestFlexStrings: registration_authority and sn arrive as numbers or
// strings depending on the endpoint; both read the same.
func TestFlexStrings(t *testing.T) {
	for _, body := range []string{
		`{"pk": 1193, "sn": "1256948", "registration_authority": 121}`,
		`{"pk": 1193, "sn": 1256948, "registration_authority": "121"}`,
		`{"pk": 1193, "sn": 1256948, "registration_authority": 121}`,
	} {
		c, _ := serve(t, reply{Status: 200, Body: body})
		got, err := c.GetFirstUnusedScratchcard(context.Background(), "121")
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if want := (uanataca.Scratchcard{PK: 1193, SN: "1256948", RegistrationAuthority: "121"}); got != want {
			t.Errorf("%s: got %+v, want %+v", body, got, want)
		}
	}
	for _, body := range []string{
		`{"pk": 7, "status": "ISSUED", "scratchcard": "5051762", "registration_authority": 303}`,
		`{"pk": 7, "status": "ISSUED", "scratchcard": 5051762, "registration_authority": "303"}`,
	} {
		c, _ := serve(t, reply{Status: 200, Body: body})
		got, err := c.GetRequest(context.Background(), 7)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if got.Scratchcard != "5051762" || got.RegistrationAuthority != "303" || got.Status != uanataca.StatusIssued {
			t.Errorf("%s: got %+v", body, got)
		}
	}
}

// TestIsScratchcardUsedAnswers: the documented text/plain answer and the
// JSON forms a framework might produce instead.
func TestIsScratchcardUsedAnswers(t *testing.T) {
	tests := []struct {
		contentType, body string
		want              bool
		wantErr           bool
	}{
		{"text/plain", "true", true, false},
		{"text/plain", "false\n", false, false},
		{"text/plain", "True", true, false},
		{"application/json", "true", true, false},
		{"application/json", "false", false, false},
		{"application/json", `"true"`, true, false},
		{"text/plain", "maybe", false, true},
		{"text/plain", "", false, true},
	}
	for _, tt := range tests {
		c, _ := serve(t, reply{Status: 200, Header: map[string]string{"Content-Type": tt.contentType}, Body: tt.body})
		got, err := c.IsScratchcardUsed(context.Background(), "1200948")
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s %q: got %v, %v; want %v, error %v", tt.contentType, tt.body, got, err, tt.want, tt.wantErr)
		}
		if tt.wantErr && !errors.Is(err, provider.ErrUnreadableAnswer) {
			t.Errorf("%q: error %v is not ErrUnreadableAnswer", tt.body, err)
		}
	}
}

// TestUnreadableAnswers: a 2xx body the client cannot use, for this
// client's own checks, is reported with the operation, size and content
// type, and never with its content.
func TestUnreadableAnswers(t *testing.T) {
	const secret = "12345678A"
	tests := []struct {
		name string
		body string
		call func(*uanataca.Client) error
	}{
		{"flex string of an object", `{"pk": 1, "scratchcard": {"serial_number": "` + secret + `"}}`, func(c *uanataca.Client) error {
			_, err := c.GetRequest(context.Background(), 1)
			return err
		}},
		{"created without pk", `{"serial_number": "` + secret + `", "status": "CREATED"}`, func(c *uanataca.Client) error {
			_, err := c.CreateRequest(context.Background(), uanataca.CreateRequest{})
			return err
		}},
		{"approved without request", `{"secrets": {"pin": "` + secret + `"}}`, func(c *uanataca.Client) error {
			_, err := c.Approve(context.Background(), 1, uanataca.Approval{})
			return err
		}},
		{"truncated page", `{"count": 1, "results": [{"pk": 1, "serial_number": "` + secret, func(c *uanataca.Client) error {
			_, err := c.ListRequestsByScratchcard(context.Background(), "1")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := serve(t, reply{Status: 200, Body: tt.body})
			err := tt.call(c)
			if !errors.Is(err, provider.ErrUnreadableAnswer) {
				t.Fatalf("error %v is not ErrUnreadableAnswer", err)
			}
			msg := err.Error()
			if strings.Contains(msg, secret) || strings.Contains(msg, "234567") {
				t.Errorf("error quotes the body: %s", msg)
			}
			if !strings.Contains(msg, "not understood") || !strings.Contains(msg, fmt.Sprintf("%d bytes", len(tt.body))) || !strings.Contains(msg, "application/json") {
				t.Errorf("error lacks operation, size or content type: %s", msg)
			}
		})
	}
}

// TestListPagination: all pages are followed, only through this client's
// own endpoint, and results of another card are dropped.
func TestListPagination(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		if r.URL.Path != "/api/v1/requests/" || r.URL.Query().Get("scratchcard") != "5053311" {
			http.Error(w, "bad path", http.StatusTeapot)
			return
		}
		item := func(pk int, sc any) string {
			b, _ := json.Marshal(map[string]any{"pk": pk, "status": "CREATED", "scratchcard": sc, "given_name": "Name"})
			return string(b)
		}
		var page string
		switch r.URL.Query().Get("page") {
		case "":
			// next names an internal host, as the reference's example does.
			page = `{"count": 21, "next": "https://access.internal:13035/api/v1/requests/?page=2&scratchcard=5053311", "previous": null, "results": [` +
				item(1, "5053311") + "," + item(2, 5053311) + `]}`
		case "2":
			page = `{"count": 21, "next": "/api/v1/requests/?page=3&scratchcard=5053311", "previous": "x", "results": [` +
				item(3, "9999999") + "," + item(4, "5053311") + `]}`
		case "3":
			page = `{"count": 21, "next": null, "previous": "x", "results": [` + item(5, "5053311") + `]}`
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, page)
	}))
	defer srv.Close()
	c, err := uanataca.New(uanataca.Config{BaseURL: srv.URL + "/api/v1/", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ListRequestsByScratchcard(context.Background(), "5053311")
	if err != nil {
		t.Fatal(err)
	}
	var pks []int64
	for _, r := range got {
		pks = append(pks, r.PK)
	}
	if want := []int64{1, 2, 4, 5}; !reflect.DeepEqual(pks, want) {
		t.Errorf("pks = %v, want %v", pks, want)
	}
	wantQueries := []string{
		"/api/v1/requests/?scratchcard=5053311",
		"/api/v1/requests/?page=2&scratchcard=5053311",
		"/api/v1/requests/?page=3&scratchcard=5053311",
	}
	if !reflect.DeepEqual(queries, wantQueries) {
		t.Errorf("queries = %q, want %q", queries, wantQueries)
	}
}

// TestListPaginationLimits: an endless or looping list ends in an error
// rather than a hang.
func TestListPaginationLimits(t *testing.T) {
	t.Run("endless", func(t *testing.T) {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			next := fmt.Sprintf("/api/v1/requests/?page=%d&scratchcard=1", n+1)
			fmt.Fprintf(w, `{"count": 9999, "next": %q, "results": []}`, next)
		}))
		defer srv.Close()
		c, _ := uanataca.New(uanataca.Config{BaseURL: srv.URL + "/api/v1/", HTTPClient: srv.Client()})
		_, err := c.ListRequestsByScratchcard(context.Background(), "1")
		if err == nil || !strings.Contains(err.Error(), "more than 100 pages") {
			t.Errorf("err = %v", err)
		}
		if n := calls.Load(); n != 100 {
			t.Errorf("%d calls, want 100", n)
		}
	})
	t.Run("loop", func(t *testing.T) {
		c, rec := serve(t, reply{Status: 200, Body: `{"count": 30, "next": "/api/v1/requests/?scratchcard=1", "results": []}`})
		_, err := c.ListRequestsByScratchcard(context.Background(), "1")
		if !errors.Is(err, provider.ErrUnreadableAnswer) {
			t.Errorf("err = %v", err)
		}
		if n := len(rec.requests()); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
	t.Run("empty scratchcard", func(t *testing.T) {
		c, rec := serve(t, reply{Status: 200, Body: `{"count": 0, "next": null, "results": []}`})
		if _, err := c.ListRequestsByScratchcard(context.Background(), ""); err == nil {
			t.Error("want an error for an empty scratchcard")
		}
		if n := len(rec.requests()); n != 0 {
			t.Errorf("%d calls, want none", n)
		}
	})
}

// TestNewConfig covers the configuration errors an operator can make.
func TestNewConfig(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name    string
		cfg     uanataca.Config
		wantErr []string // substrings; none means success
	}{
		{"plain", uanataca.Config{BaseURL: "https://api.sandbox.uanataca.com/api/v1"}, nil},
		{"mutual TLS", uanataca.Config{BaseURL: "https://x/api/v1/", CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, CAFile: pki.CAFile}, nil},
		{"no base URL", uanataca.Config{}, []string{"base URL"}},
		{"relative base URL", uanataca.Config{BaseURL: "api/v1/"}, []string{"base URL"}},
		{"missing key file", uanataca.Config{BaseURL: "https://x/", CertFile: pki.ClientCertFile, KeyFile: missing}, []string{"UANATACA_KEY_FILE", missing}},
		{"missing cert file", uanataca.Config{BaseURL: "https://x/", CertFile: missing, KeyFile: pki.ClientKeyFile}, []string{"UANATACA_CERT_FILE", missing}},
		{"cert without key", uanataca.Config{BaseURL: "https://x/", CertFile: pki.ClientCertFile}, []string{"UANATACA_KEY_FILE"}},
		{"key without cert", uanataca.Config{BaseURL: "https://x/", KeyFile: pki.ClientKeyFile}, []string{"UANATACA_CERT_FILE"}},
		{"mismatched pair", uanataca.Config{BaseURL: "https://x/", CertFile: pki.ClientCertFile, KeyFile: pki.ServerKeyFile}, []string{"UANATACA_CERT_FILE", "UANATACA_KEY_FILE"}},
		{"missing CA file", uanataca.Config{BaseURL: "https://x/", CAFile: missing}, []string{"UANATACA_CA_FILE", missing}},
		{"CA file without PEM", uanataca.Config{BaseURL: "https://x/", CAFile: garbage}, []string{"UANATACA_CA_FILE", garbage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := uanataca.New(tt.cfg)
			if len(tt.wantErr) == 0 {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
}

// TestMutualTLS: the client presents its certificate and trusts the CA
// file; a client without a certificate fails the handshake.
func TestMutualTLS(t *testing.T) {
	pki := newTestPKI(t, t.TempDir())
	serverTLS, err := pki.ServerTLSConfig(true)
	if err != nil {
		t.Fatal(err)
	}

	peers := make(chan string, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peers <- r.TLS.PeerCertificates[0].Subject.CommonName
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, requestJSON)
	}))
	srv.TLS = serverTLS
	// The refused handshakes below are expected; keep them out of the output.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	// The server certificate names "localhost"; dial the test listener by
	// that name so hostname verification runs for real.
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/api/v1/"

	c, err := uanataca.New(uanataca.Config{BaseURL: base, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, CAFile: pki.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetRequest(context.Background(), 11223)
	if err != nil {
		t.Fatalf("GetRequest over mutual TLS: %v", err)
	}
	if peer := <-peers; got.PK != 11223 || peer != devpki.ClientCommonName {
		t.Errorf("got %+v from peer %q", got, peer)
	}

	anonymous, err := uanataca.New(uanataca.Config{BaseURL: base, CAFile: pki.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	_, err = anonymous.GetRequest(context.Background(), 11223)
	if err == nil || provider.StatusOf(err) != 0 {
		t.Fatalf("client without certificate: err = %v, want a handshake failure", err)
	}

	untrusting, err := uanataca.New(uanataca.Config{BaseURL: base, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile})
	if err != nil {
		t.Fatal(err)
	}
	_, err = untrusting.GetRequest(context.Background(), 11223)
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(err, &unknownAuthority) {
		t.Errorf("client without the CA file: err = %v, want x509.UnknownAuthorityError", err)
	}
}

// newTestPKI generates the dev PKI (CA, server and client certificates as
// PEM files) into dir.
func newTestPKI(t *testing.T, dir string) *devpki.PKI {
	t.Helper()
	pki, err := devpki.Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	return pki
}

// An RA error that echoes the applicant's data never carries it into the
// client's error, which reaches logs and workflow history.
func TestCreateErrorRedactsPersonalValues(t *testing.T) {
	c, _ := serve(t, reply{Status: http.StatusInternalServerError,
		Body: `{"code": "500", "error": "Invalid or missing parameters: given_name Zzmarkerana, email zzmarker@example.test, serial_number 99999999R"}`})
	_, err := c.CreateRequest(context.Background(), uanataca.CreateRequest{Profile: "PFnubeAFCiudadano", RegistrationAuthority: "121",
		GivenName: "Zzmarkerana", Email: "zzmarker@example.test", SerialNumber: "99999999R"})
	if err == nil || !strings.Contains(err.Error(), "Invalid or missing parameters") {
		t.Fatalf("error = %v, want the RA's message", err)
	}
	for _, m := range []string{"Zzmarkerana", "zzmarker@example.test", "99999999R"} {
		if strings.Contains(err.Error(), m) {
			t.Errorf("error %q quotes %q", err, m)
		}
	}
}
