package provider_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/provider"
)

// received is one request as the test server saw it.
type received struct {
	method, path, contentType, accept, auth string
	body                                    []byte
}

// serve starts a server answering every call with status, header and body,
// and returns its URL and what it received.
func serve(t *testing.T, status int, header map[string]string, body string) (*url.URL, <-chan received) {
	t.Helper()
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		got <- received{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Accept"), r.Header.Get("Authorization"), data}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL + "/v1/things")
	if err != nil {
		t.Fatal(err)
	}
	return u, got
}

// TestDo: what goes on the wire for each kind of body, and that Prepare
// sees exactly the bytes sent.
func TestDo(t *testing.T) {
	jsonBody, err := provider.JSONBody(map[string]string{"ra": "121"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		method   string
		body     *provider.Body
		wantType string
		wantBody string
	}{
		{"no body", http.MethodGet, nil, "", ""},
		{"JSON", http.MethodPost, jsonBody, "application/json", `{"ra":"121"}`},
		{"form", http.MethodPost, provider.FormBody(url.Values{"level": {"qcp"}, "applicant": {"a@b.example"}}), "application/x-www-form-urlencoded", "applicant=a%40b.example&level=qcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, got := serve(t, http.StatusOK, map[string]string{"Content-Type": "application/json"}, `{"id": "x"}`)
			var prepared []byte
			h := &provider.HTTP{Provider: "test", Prepare: func(req *http.Request, body []byte) error {
				prepared = body
				req.Header.Set("Authorization", "Bearer k")
				return nil
			}}
			ans, err := h.Do(context.Background(), "op", tt.method, u, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			r := <-got
			if r.method != tt.method || r.path != "/v1/things" || r.contentType != tt.wantType || r.accept != "application/json" || r.auth != "Bearer k" {
				t.Errorf("sent %+v", r)
			}
			if string(r.body) != tt.wantBody || string(prepared) != tt.wantBody {
				t.Errorf("body sent %q, prepared %q; want %q", r.body, prepared, tt.wantBody)
			}
			want := provider.Answer{Provider: "test", Op: "op", Status: 200, ContentType: "application/json", Body: []byte(`{"id": "x"}`)}
			if ans.Provider != want.Provider || ans.Op != want.Op || ans.Status != want.Status || ans.ContentType != want.ContentType || !bytes.Equal(ans.Body, want.Body) {
				t.Errorf("answer %+v", ans)
			}
			var v struct{ ID string }
			if err := ans.Decode(&v); err != nil || v.ID != "x" {
				t.Errorf("Decode: %+v, %v", v, err)
			}
		})
	}
}

// TestPrepareError: a failing Prepare stops the call before anything is
// sent, and its error keeps its cause.
func TestPrepareError(t *testing.T) {
	u, got := serve(t, http.StatusOK, nil, "")
	cause := errors.New("no token")
	h := &provider.HTTP{Provider: "test", Prepare: func(*http.Request, []byte) error { return cause }}
	_, err := h.Do(context.Background(), "op", http.MethodGet, u, nil)
	if !errors.Is(err, cause) || err.Error() != "test op: no token" {
		t.Errorf("err = %v", err)
	}
	if len(got) != 0 {
		t.Error("a request was sent")
	}
}

// TestErrorMapping: the generic parser, the fallbacks that apply after any
// parser, and Retry-After.
func TestErrorMapping(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		parse  func(*provider.Error, []byte)
		want   provider.Error
	}{
		{name: "message", status: 400, body: `{"message": "bad level", "error": "invalid_request"}`,
			want: provider.Error{Message: "bad level"}},
		{name: "error", status: 400, body: `{"error": "invalid_request", "detail": "x"}`,
			want: provider.Error{Message: "invalid_request"}},
		{name: "detail", status: 400, body: `{"detail": " Not found. "}`,
			want: provider.Error{Message: "Not found."}},
		{name: "error_description", status: 401, body: `{"error_description": "bad key"}`,
			want: provider.Error{Message: "bad key"}},
		{name: "numeric message", status: 400, body: `{"error": 42}`,
			want: provider.Error{Message: "42"}},
		{name: "unknown JSON object", status: 400, body: `{"email": ["bad"]}`,
			want: provider.Error{Message: "Bad Request"}},
		{name: "JSON array", status: 500, body: `["boom"]`,
			want: provider.Error{Message: "Internal Server Error"}},
		{name: "empty", status: 404,
			want: provider.Error{Message: "Not Found"}},
		{name: "HTML from a proxy", status: 502, header: map[string]string{"Content-Type": "text/html"},
			body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
			want: provider.Error{Message: "502 Bad Gateway 502 Bad Gateway nginx"}},
		{name: "long plain text is cut", status: 503, body: "  down for maintenance " + strings.Repeat("x", 500),
			want: provider.Error{Message: "down for maintenance " + strings.Repeat("x", 200-len("down for maintenance ")) + "…"}},
		{name: "invalid UTF-8", status: 503, body: "down \xff\xfe now",
			want: provider.Error{Message: "down ?? now"}},
		{name: "own parser, then excerpt", status: 502, body: "<h1>Bad gateway</h1>",
			parse: func(e *provider.Error, _ []byte) { e.Code = "E1" },
			want:  provider.Error{Code: "E1", Message: "Bad gateway"}},
		{name: "own parser, then status text", status: 409, body: `{"errors": []}`,
			parse: func(e *provider.Error, _ []byte) { e.ID = "abc" },
			want:  provider.Error{ID: "abc", Message: "Conflict"}},
		{name: "own parser replaces the generic one", status: 409, body: `{"message": "generic"}`,
			parse: func(e *provider.Error, _ []byte) { e.Code = "E2" },
			want:  provider.Error{Code: "E2", Message: "Conflict"}},
		{name: "own parser wins", status: 409, body: `{"message": "generic", "reason": "own"}`,
			parse: func(e *provider.Error, b []byte) { e.Message = provider.JSONScalar(provider.JSONObject(b)["reason"]) },
			want:  provider.Error{Message: "own"}},
		{name: "Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "7"},
			want: provider.Error{Message: "Too Many Requests", RetryAfter: 7 * time.Second}},
		{name: "Retry-After date", status: 503, header: map[string]string{"Retry-After": now.Add(2 * time.Minute).Format(http.TimeFormat)},
			want: provider.Error{Message: "Service Unavailable", RetryAfter: 2 * time.Minute}},
		{name: "Retry-After unreadable", status: 429, header: map[string]string{"Retry-After": "soon"},
			want: provider.Error{Message: "Too Many Requests"}},
		{name: "redirect is not followed", status: 302, header: map[string]string{"Location": "https://elsewhere.example/"},
			want: provider.Error{Message: "Found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, got := serve(t, tt.status, tt.header, tt.body)
			h := &provider.HTTP{Provider: "test", ParseError: tt.parse, Now: func() time.Time { return now }}
			_, err := h.Do(context.Background(), "op", http.MethodPost, u, provider.FormBody(url.Values{"a": {"b"}}))
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
			}
			want := tt.want
			want.Provider, want.Operation, want.StatusCode = "test", "op", tt.status
			if *pe != want {
				t.Errorf("got  %#v\nwant %#v", *pe, want)
			}
			if n := len(got); n != 1 {
				t.Errorf("%d requests sent, want 1", n)
			}
		})
	}
}

// TestUnreadableAnswers: a 2xx body that cannot be decoded is reported with
// the operation, status, size and content type, never with its content.
func TestUnreadableAnswers(t *testing.T) {
	const secret = "12345678A"
	type target struct {
		PK int64 `json:"pk"`
	}
	tests := []struct {
		name, body string
	}{
		{"not JSON", "<html>" + secret + "</html>"},
		{"wrong type", `{"pk": "` + secret + `"}`},
		{"number out of range", `{"pk": 123456789` + strings.Repeat("0", 20) + `}`},
		{"truncated", `{"pk": 1, "name": "` + secret},
		{"not an object", `["` + secret + `"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := serve(t, http.StatusOK, map[string]string{"Content-Type": "application/json"}, tt.body)
			h := &provider.HTTP{Provider: "test"}
			ans, err := h.Do(context.Background(), "get_thing", http.MethodGet, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			var v target
			err = ans.Decode(&v)
			if !errors.Is(err, provider.ErrUnreadableAnswer) {
				t.Fatalf("error %v is not ErrUnreadableAnswer", err)
			}
			msg := err.Error()
			if strings.Contains(msg, secret) || strings.Contains(msg, "234567") {
				t.Errorf("error quotes the body: %s", msg)
			}
			want := fmt.Sprintf("test get_thing: answer not understood (HTTP 200, %d bytes, application/json): ", len(tt.body))
			if !strings.HasPrefix(msg, want) {
				t.Errorf("error %q, want prefix %q", msg, want)
			}
		})
	}

	t.Run("no content type", func(t *testing.T) {
		err := (&provider.Answer{Provider: "test", Op: "op", Status: 201}).Unreadable("no id")
		if err.Error() != "test op: answer not understood (HTTP 201, 0 bytes, no content type): no id" || !errors.Is(err, provider.ErrUnreadableAnswer) {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("too large", func(t *testing.T) {
		big := strings.Repeat("x", 8<<20+1)
		u, _ := serve(t, http.StatusOK, nil, big)
		_, err := (&provider.HTTP{Provider: "test"}).Do(context.Background(), "op", http.MethodGet, u, nil)
		if !errors.Is(err, provider.ErrUnreadableAnswer) || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestTransportErrors: timeouts and refused connections keep their cause in
// the chain, named by provider and operation, and are not provider errors.
func TestTransportErrors(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		u, _ := url.Parse(srv.URL)
		h := &provider.HTTP{Provider: "test", Client: srv.Client(), Timeout: 50 * time.Millisecond}
		_, err := h.Do(context.Background(), "get_thing", http.MethodGet, u, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded in its chain", err)
		}
		if !strings.HasPrefix(fmt.Sprint(err), "test get_thing: ") || provider.StatusOf(err) != 0 {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse("http://" + l.Addr().String() + "/")
		l.Close()
		_, err = (&provider.HTTP{Provider: "test"}).Do(context.Background(), "cancel_thing", http.MethodDelete, u, nil)
		var opErr *net.OpError
		if !errors.As(err, &opErr) || !strings.HasPrefix(err.Error(), "test cancel_thing: ") {
			t.Errorf("err = %v (%T), want a wrapped *net.OpError", err, err)
		}
	})
	t.Run("caller cancelled", func(t *testing.T) {
		u, _ := serve(t, http.StatusOK, nil, "{}")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := (&provider.HTTP{Provider: "test"}).Do(ctx, "op", http.MethodGet, u, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

func TestJSONScalar(t *testing.T) {
	for raw, want := range map[string]string{
		`"abc"`: "abc", `" x "`: "x", `500`: "500", `1.5e3`: "1.5e3",
		`null`: "", `true`: "", `{}`: "", `[]`: "", ``: "",
	} {
		if got := provider.JSONScalar([]byte(raw)); got != want {
			t.Errorf("JSONScalar(%s) = %q, want %q", raw, got, want)
		}
	}
}

func TestJSONObject(t *testing.T) {
	for body, want := range map[string]int{
		`{"a": 1, "b": 2}`: 2, ` {} `: 0, `[1]`: -1, `{"a"`: -1, `x`: -1, ``: -1,
	} {
		got := provider.JSONObject([]byte(body))
		if (got == nil) != (want < 0) || (want >= 0 && len(got) != want) {
			t.Errorf("JSONObject(%q) = %v", body, got)
		}
	}
}

func TestParseBaseURL(t *testing.T) {
	for raw, wantErr := range map[string]string{
		"https://api.example.test/v1/":  "",
		"http://127.0.0.1:8080":         "",
		"":                              "empty",
		"  ":                            "empty",
		"api.example.test":              "absolute",
		"ftp://api.example.test/":       "absolute",
		"https://api.example.test/?a=1": "query",
		"https://api.example.test/#top": "fragment",
		"https://api.example.test/%zz":  "invalid URL escape",
	} {
		u, err := provider.ParseBaseURL(raw, "https://api.example.test/")
		switch {
		case wantErr == "" && (err != nil || u.String() != raw):
			t.Errorf("ParseBaseURL(%q) = %v, %v", raw, u, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("ParseBaseURL(%q): err = %v, want one saying %q", raw, err, wantErr)
		}
	}
}

// A provider that echoes the values it refuses must not put them in the
// error: every personal value of the request, JSON or form, is redacted
// from the message, whichever way the message was read (JSON field or
// plain body); the others (a country, a level) stay.
func TestErrorRedactsValuesSent(t *testing.T) {
	jsonBody, err := provider.JSONBody(map[string]any{
		"given_name": "Zzmarkerana",
		"email":      "zzmarker@example.test",
		"identity_document": map[string]any{
			"document_number": "99999999R",
			"country":         "ES",
		},
		"contacts": []string{"+34600999999"},
	})
	if err != nil {
		t.Fatal(err)
	}
	form := provider.FormBody(url.Values{"applicant": {"zzmarker@example.test"}, "fullname": {"Zzmarkerana Ruiz"}, "level": {"qcp"}})
	markers := []string{"Zzmarkerana", "zzmarker@example.test", "99999999R", "+34600999999"}
	tests := []struct {
		name   string
		sent   *provider.Body
		answer string
		keep   string
	}{
		{"JSON body, JSON message", jsonBody,
			`{"message": "Invalid given_name Zzmarkerana and email zzmarker@example.test for document 99999999R, contact +34600999999 (country ES)"}`, "country ES"},
		{"form body, JSON message", form,
			`{"error": "applicant zzmarker@example.test at level qcp already registered as Zzmarkerana Ruiz"}`, "level qcp already registered"},
		{"JSON body, plain message", jsonBody,
			`document 99999999R refused for Zzmarkerana`, "refused for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := serve(t, http.StatusBadRequest, nil, tt.answer)
			h := &provider.HTTP{Provider: "test"}
			_, err := h.Do(context.Background(), "create", http.MethodPost, u, tt.sent)
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want a *Error", err)
			}
			for _, m := range markers {
				if strings.Contains(err.Error(), m) {
					t.Errorf("error %q quotes the value sent %q", err, m)
				}
			}
			if !strings.Contains(pe.Message, "[redacted]") || !strings.Contains(pe.Message, tt.keep) {
				t.Errorf("message %q, want the values redacted and %q kept", pe.Message, tt.keep)
			}
		})
	}
}
