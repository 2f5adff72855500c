package universign

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/sandbox/sandboxtest"
)

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorBody checks r is the inferred error body with status and returns its
// description.
func (r response) errorBody(t *testing.T, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	var e map[string]string
	if err := json.Unmarshal(r.body, &e); err != nil || len(e) != 2 || e["error"] == "" || e["error_description"] == "" {
		t.Fatalf("not an error body: %s", r.body)
	}
	return e["error_description"]
}

func (r response) registration(t *testing.T) object {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d; body %s", r.status, r.body)
	}
	var o object
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return o
}

// client calls a started emulator over a real socket.
type client struct {
	t    *testing.T
	base string
	// auth sets the request's credentials; nil sends none.
	auth func(*http.Request)
}

func basic(key string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(key, "") }
}

func start(t *testing.T, opts Options) (*Server, *client) {
	t.Helper()
	srv, err := Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, &client{t: t, base: srv.URL, auth: basic(DefaultAPIKey)}
}

// do sends a call; a url.Values body is sent form-encoded, a string body
// as JSON.
func (c *client) do(method, path string, body any) response {
	c.t.Helper()
	resp, data := sandboxtest.Do(c.t, http.DefaultClient, c.request(method, path, body))
	return response{resp.StatusCode, resp.Header, data}
}

// request is the call do sends.
func (c *client) request(method, path string, body any) *http.Request {
	c.t.Helper()
	var rd io.Reader
	var contentType string
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, contentType = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		rd, contentType = strings.NewReader(b), "application/json"
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.auth != nil {
		c.auth(req)
	}
	return req
}

func validForm() url.Values {
	return url.Values{
		"applicant":    {"applicant@example.test"},
		"level":        {"qcp"},
		"redirect_url": {"https://app.example.test/done"},
		"session_type": {"standalone"},
	}
}

func (c *client) create() object {
	c.t.Helper()
	return c.do(http.MethodPost, "/v1/registrations", validForm()).registration(c.t)
}

func TestAuth(t *testing.T) {
	srv, c := start(t, Options{APIKeys: []string{"key-one", "key-two"}})
	c.auth = basic("key-one")
	tests := []struct {
		name   string
		auth   func(*http.Request)
		status int
	}{
		{"basic", basic("key-one"), http.StatusOK},
		{"basic, second key", basic("key-two"), http.StatusOK},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer key-two") }, http.StatusOK},
		{"none", nil, http.StatusUnauthorized},
		{"wrong basic key", basic("key-three"), http.StatusUnauthorized},
		{"default key not accepted when keys are given", basic(DefaultAPIKey), http.StatusUnauthorized},
		{"wrong bearer key", func(r *http.Request) { r.Header.Set("Authorization", "Bearer key") }, http.StatusUnauthorized},
		{"basic with a password", func(r *http.Request) { r.SetBasicAuth("key-one", "secret") }, http.StatusUnauthorized},
		{"other scheme", func(r *http.Request) { r.Header.Set("Authorization", "Token key-one") }, http.StatusUnauthorized},
	}
	id := c.create().ID
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &client{t: t, base: srv.URL, auth: tt.auth}
			r := c.do(http.MethodGet, "/v1/registrations/"+id, nil)
			if tt.status == http.StatusOK {
				if got := r.registration(t); got.ID != id {
					t.Errorf("got %+v", got)
				}
				return
			}
			msg := r.errorBody(t, tt.status)
			var e map[string]string
			_ = json.Unmarshal(r.body, &e)
			if e["error"] != "unauthorized" || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 body %s, WWW-Authenticate %q", r.body, r.header.Get("WWW-Authenticate"))
			}
			if strings.Contains(msg, "key-") {
				t.Errorf("message quotes a key: %q", msg)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	srv, c := start(t, Options{})
	got := c.create()
	if !regexp.MustCompile(`^reg_[A-Z2-7]{26}$`).MatchString(got.ID) || got.State != StateOpen {
		t.Errorf("registration %+v", got)
	}
	if want := "https://" + strings.TrimPrefix(srv.URL, "http://") + "/registration/" + got.ID; got.URL != want {
		t.Errorf("url %s, want %s", got.URL, want)
	}
	minimal := url.Values{"applicant": {"a@example.test"}, "level": {"lcp"}}
	full := url.Values{
		"applicant": {"a@example.test"}, "level": {"qcpnqscd"}, "session_type": {"standalone"},
		"redirect_url": {"http://localhost/x"}, "fullname": {"Ann Example"}, "fullname_type": {"prerequisite"},
		"phone_number": {"+33612345678"}, "phone_number_type": {"flex_prerequisite"}, "language": {"es"},
	}
	for _, form := range []url.Values{minimal, full} {
		if r := c.do(http.MethodPost, "/v1/registrations/", form).registration(t); r.State != StateOpen {
			t.Errorf("%v: %+v", form, r)
		}
	}
	if st := srv.Emulator.Stats(); st.Creates != 3 {
		t.Errorf("creates %d", st.Creates)
	}
}

func TestCreateValidation(t *testing.T) {
	srv, c := start(t, Options{})
	with := func(changes map[string]string) url.Values {
		form := validForm()
		for k, v := range changes {
			if v == "" {
				form.Del(k)
			} else {
				form.Set(k, v)
			}
		}
		return form
	}
	tests := []struct {
		name   string
		form   url.Values
		fields []string // named in the message
	}{
		{"no applicant", with(map[string]string{"applicant": ""}), []string{"applicant"}},
		{"applicant not an email", with(map[string]string{"applicant": "Ann Example <ann@example.test>"}), []string{"applicant"}},
		{"no level", with(map[string]string{"level": ""}), []string{"level"}},
		{"unknown level", with(map[string]string{"level": "qualified"}), []string{"level"}},
		{"session type", with(map[string]string{"session_type": "signature"}), []string{"session_type"}},
		{"phone not E.164", with(map[string]string{"phone_number": "0612345678"}), []string{"phone_number"}},
		{"phone number type", with(map[string]string{"phone_number": "+33612345678", "phone_number_type": "mandatory"}), []string{"phone_number_type"}},
		{"fullname type", with(map[string]string{"fullname": "Ann Example", "fullname_type": "fixed"}), []string{"fullname_type"}},
		{"language", with(map[string]string{"language": "EN"}), []string{"language"}},
		{"redirect URL", with(map[string]string{"redirect_url": "/relative"}), []string{"redirect_url"}},
		{"unknown parameter", with(map[string]string{"phone": "+33612345678"}), []string{"phone"}},
		{"every defect at once", url.Values{"level": {"x"}, "language": {"xx"}}, []string{"applicant", "level", "language"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := c.do(http.MethodPost, "/v1/registrations", tt.form).errorBody(t, http.StatusBadRequest)
			for _, f := range tt.fields {
				if !strings.Contains(msg, f) {
					t.Errorf("message %q does not name %s", msg, f)
				}
			}
			for _, personal := range []string{"ann@", "Ann Example", "612345678", "applicant@example.test"} {
				if strings.Contains(msg, personal) {
					t.Errorf("message %q quotes %q", msg, personal)
				}
			}
		})
	}
	t.Run("repeated parameter", func(t *testing.T) {
		form := validForm()
		form.Add("applicant", "other@example.test")
		if msg := c.do(http.MethodPost, "/v1/registrations", form).errorBody(t, http.StatusBadRequest); !strings.Contains(msg, "applicant") {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("JSON body", func(t *testing.T) {
		c.do(http.MethodPost, "/v1/registrations", `{"applicant": "a@example.test", "level": "lcp"}`).errorBody(t, http.StatusUnsupportedMediaType)
	})
	t.Run("no content type", func(t *testing.T) {
		c.do(http.MethodPost, "/v1/registrations", nil).errorBody(t, http.StatusUnsupportedMediaType)
	})
	if st := srv.Emulator.Stats(); st.Creates != 0 {
		t.Errorf("%d registrations created by invalid calls", st.Creates)
	}
}

func TestRouting(t *testing.T) {
	_, c := start(t, Options{})
	reg := c.create()
	if got := c.do(http.MethodGet, "/v1/registrations/"+reg.ID, nil).registration(t); got != reg {
		t.Errorf("get %+v, want %+v", got, reg)
	}
	c.do(http.MethodGet, "/v1/registrations/reg_unknown", nil).errorBody(t, http.StatusNotFound)
	c.do(http.MethodGet, "/v1/registrations/"+reg.ID+"/extra", nil).errorBody(t, http.StatusNotFound)
	c.do(http.MethodGet, "/v1/registrationsX", nil).errorBody(t, http.StatusNotFound)
	c.do(http.MethodGet, "/v2/registrations", nil).errorBody(t, http.StatusNotFound)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/v1/registrations", "POST"},
		{http.MethodPut, "/v1/registrations/" + reg.ID, "GET, DELETE"},
	} {
		r := c.do(tc.method, tc.path, nil)
		r.errorBody(t, http.StatusMethodNotAllowed)
		if allow := r.header.Get("Allow"); allow != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, allow, tc.allow)
		}
	}
}

func TestCancel(t *testing.T) {
	srv, c := start(t, Options{})
	reg := c.create()
	got := c.do(http.MethodDelete, "/v1/registrations/"+reg.ID, nil).registration(t)
	if got.ID != reg.ID || got.State != StateCanceled {
		t.Errorf("cancel answered %+v", got)
	}
	if s, _ := srv.Emulator.State(reg.ID); s != StateCanceled {
		t.Errorf("state %s", s)
	}
	if msg := c.do(http.MethodDelete, "/v1/registrations/"+reg.ID, nil).errorBody(t, http.StatusConflict); !strings.Contains(msg, StateCanceled) {
		t.Errorf("409 message %q", msg)
	}
	for _, end := range []func(string) error{srv.Emulator.Complete, srv.Emulator.Fail, srv.Emulator.Expire} {
		id := c.create().ID
		if err := end(id); err != nil {
			t.Fatal(err)
		}
		c.do(http.MethodDelete, "/v1/registrations/"+id, nil).errorBody(t, http.StatusConflict)
	}
	c.do(http.MethodDelete, "/v1/registrations/reg_unknown", nil).errorBody(t, http.StatusNotFound)
	if st := srv.Emulator.Stats(); st.Cancels != 1 || st.Completed != 1 || st.Failed != 1 || st.Expired != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestStateMachine(t *testing.T) {
	t.Run("completed by the applicant", func(t *testing.T) {
		srv, c := start(t, Options{CompleteAfter: 20 * time.Millisecond, ExpireAfter: time.Hour})
		id := c.create().ID
		if s, _ := srv.Emulator.State(id); s != StateOpen {
			t.Fatalf("state %s right after create", s)
		}
		sandboxtest.Eventually(t, "completion", func() bool { s, _ := srv.Emulator.State(id); return s == StateCompleted })
		if got := c.do(http.MethodGet, "/v1/registrations/"+id, nil).registration(t); got.State != StateCompleted {
			t.Errorf("GET says %s", got.State)
		}
	})
	t.Run("expired", func(t *testing.T) {
		srv, c := start(t, Options{ExpireAfter: 20 * time.Millisecond})
		id := c.create().ID
		sandboxtest.Eventually(t, "expiry", func() bool { s, _ := srv.Emulator.State(id); return s == StateExpired })
		if st := srv.Emulator.Stats(); st.Expired != 1 || st.Completed != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("expiry before completion", func(t *testing.T) {
		srv, c := start(t, Options{CompleteAfter: 60 * time.Millisecond, ExpireAfter: 10 * time.Millisecond})
		id := c.create().ID
		sandboxtest.Eventually(t, "expiry", func() bool { s, _ := srv.Emulator.State(id); return s == StateExpired })
		time.Sleep(80 * time.Millisecond)
		if s, _ := srv.Emulator.State(id); s != StateExpired {
			t.Errorf("an expired registration became %s", s)
		}
	})
	t.Run("canceled before completion", func(t *testing.T) {
		srv, c := start(t, Options{CompleteAfter: 30 * time.Millisecond})
		id := c.create().ID
		c.do(http.MethodDelete, "/v1/registrations/"+id, nil).registration(t)
		time.Sleep(60 * time.Millisecond)
		if s, _ := srv.Emulator.State(id); s != StateCanceled {
			t.Errorf("a canceled registration became %s", s)
		}
	})
	t.Run("helpers", func(t *testing.T) {
		srv, c := start(t, Options{})
		id := c.create().ID
		if err := srv.Emulator.Complete(id); err != nil {
			t.Fatal(err)
		}
		for name, end := range map[string]func(string) error{"Complete": srv.Emulator.Complete, "Fail": srv.Emulator.Fail, "Expire": srv.Emulator.Expire} {
			if err := end(id); err == nil || !strings.Contains(err.Error(), "completed") {
				t.Errorf("%s of a completed registration: %v", name, err)
			}
			if err := end("reg_unknown"); err == nil {
				t.Errorf("%s of an unknown registration succeeded", name)
			}
		}
		if _, ok := srv.Emulator.State("reg_unknown"); ok {
			t.Error("State of an unknown registration")
		}
	})
}

// TestCloseStopsTimers checks that no transition fires after Close.
func TestCloseStopsTimers(t *testing.T) {
	e := New(Options{CompleteAfter: 10 * time.Millisecond, ExpireAfter: 10 * time.Millisecond})
	srv := httptest.NewServer(e)
	defer srv.Close()
	c := &client{t: t, base: srv.URL, auth: basic(DefaultAPIKey)}
	id := c.create().ID
	e.Close()
	late := c.create().ID // created after Close: no timers at all
	time.Sleep(40 * time.Millisecond)
	for _, id := range []string{id, late} {
		if s, _ := e.State(id); s != StateOpen {
			t.Errorf("state after Close: %s", s)
		}
	}
}

func TestFaults(t *testing.T) {
	srv, c := start(t, Options{Seed: 7, Faults: sandbox.Faults{RateLimitRate: 1, RetryAfter: 2 * time.Second}})
	r := c.do(http.MethodPost, "/v1/registrations", validForm())
	r.errorBody(t, http.StatusTooManyRequests)
	if ra := r.header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2", ra)
	}

	srv.Emulator.SetFaults(sandbox.Faults{ErrorRate: 1})
	r = c.do(http.MethodPost, "/v1/registrations", validForm())
	if r.status != 500 && r.status != 502 && r.status != 503 {
		t.Fatalf("error fault: %d %s", r.status, r.body)
	}
	r.errorBody(t, r.status)
	if st := srv.Emulator.Stats(); st.Creates != 0 || st.FaultsInjected != 2 {
		t.Errorf("faults changed state: stats %+v", st)
	}

	srv.Emulator.SetFaults(sandbox.Faults{})
	id := c.create().ID
	srv.Emulator.SetFaults(sandbox.Faults{ErrorRate: 1})
	c.do(http.MethodDelete, "/v1/registrations/"+id, nil)
	if s, _ := srv.Emulator.State(id); s != StateOpen {
		t.Errorf("a faulted cancel left the registration %s", s)
	}
}

// TestLostCreateAnswer: a create drawing the lost-answer fault registers
// the session and closes the connection without an answer; the next
// create is answered as usual.
func TestLostCreateAnswer(t *testing.T) {
	srv, c := start(t, Options{})
	srv.Emulator.LoseNextCreateAnswers(1)
	sandboxtest.NoAnswer(t, http.DefaultClient, c.request(http.MethodPost, "/v1/registrations", validForm()))
	if st := srv.Emulator.Stats(); st.Creates != 1 || st.AnswersLost != 1 || st.FaultsInjected != 0 {
		t.Fatalf("stats %+v, want the create applied and its answer lost", st)
	}
	if s, ok := srv.Emulator.State(c.create().ID); !ok || s != StateOpen {
		t.Errorf("next create: %q, %v", s, ok)
	}
	if st := srv.Emulator.Stats(); st.Creates != 2 || st.AnswersLost != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestLogsCarryNoPersonalData drives calls whose bodies hold personal data
// and credentials and checks none of it reaches the log.
func TestLogsCarryNoPersonalData(t *testing.T) {
	var logs sandboxtest.SyncBuffer
	srv, c := start(t, Options{Log: &logs, APIKeys: []string{"secret-key-123"}, CompleteAfter: time.Millisecond})
	c.auth = basic("secret-key-123")
	form := validForm()
	form.Set("fullname", "Ann Example")
	form.Set("phone_number", "+33612345678")
	id := c.do(http.MethodPost, "/v1/registrations", form).registration(t).ID
	form.Set("phone_number", "0612345678")
	c.do(http.MethodPost, "/v1/registrations", form).errorBody(t, http.StatusBadRequest)
	(&client{t: t, base: srv.URL, auth: basic("wrong-key-456")}).do(http.MethodGet, "/v1/registrations/"+id, nil)
	sandboxtest.Eventually(t, "completion", func() bool { return srv.Emulator.Stats().Completed == 1 })
	out := logs.String()
	if !strings.Contains(out, id) || !strings.Contains(out, "-> 401") {
		t.Fatalf("log lacks the registration or the refused call:\n%s", out)
	}
	for _, personal := range []string{"applicant@", "example.test", "Ann", "612345678", "secret-key", "wrong-key"} {
		if strings.Contains(out, personal) {
			t.Errorf("log contains %q:\n%s", personal, out)
		}
	}
}
