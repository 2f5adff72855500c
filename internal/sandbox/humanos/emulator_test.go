package humanos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	provider "github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/sandbox/sandboxtest"
)

var (
	objectIDPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)
	didPattern      = regexp.MustCompile(`^did:via:humanos:[0-9a-f]+$`)
	codePattern     = regexp.MustCompile(`^[0-9]{6}$`)
)

// receiver is a webhook endpoint that checks each webhook as the ingress
// must: the signature over the exact body received, then, with a key, the
// envelope's decryption. It answers the first fail webhooks 500.
type receiver struct {
	t      *testing.T
	url    string
	secret string
	key    []byte

	mu     sync.Mutex
	fail   int
	events []map[string]any
}

func newReceiver(t *testing.T, secret string, key []byte) *receiver {
	rc := &receiver{t: t, secret: secret, key: key}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	err := provider.Verify(rc.secret, r.Header.Get("x-timestamp"), r.Header.Get("x-signature"), body, time.Now(), 5*time.Minute)
	if err != nil {
		rc.t.Errorf("webhook signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rc.key != nil {
		env, ok := provider.ParseEnvelope(body)
		if !ok {
			rc.t.Errorf("webhook is not an encrypted envelope: %s", body)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if body, err = provider.Open(rc.key, env); err != nil {
			rc.t.Errorf("webhook: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("webhook body %s: %v", body, err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	rc.events = append(rc.events, ev)
}

func (rc *receiver) received() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.events)
}

// wait returns the webhooks once n have arrived, checking that no more
// follow shortly after.
func (rc *receiver) wait(n int) []map[string]any {
	rc.t.Helper()
	sandboxtest.Eventually(rc.t, fmt.Sprintf("%d webhooks", n), func() bool { return len(rc.received()) >= n })
	time.Sleep(50 * time.Millisecond)
	got := rc.received()
	if len(got) != n {
		rc.t.Fatalf("%d webhooks, want %d: %v", len(got), n, summary(got))
	}
	return got
}

// summary renders webhooks as "type contact outcome" lines, the order and
// content the flow tests assert.
func summary(events []map[string]any) []string {
	var out []string
	for _, ev := range events {
		user, _ := ev["user"].(map[string]any)
		decision, _ := ev["decision"].(map[string]any)
		line := fmt.Sprintf("%v %v", ev["eventType"], user["contact"])
		switch ev["eventType"] {
		case "credential":
			line += fmt.Sprintf(" %v", decision["action"])
		case "identity":
			line += fmt.Sprintf(" success=%v outcome=%v", decision["success"], decision["outcome"])
		}
		out = append(out, line)
	}
	return out
}

// client calls the emulator as the reference describes: Bearer key, and
// X-Timestamp / X-Signature over the raw body.
type client struct {
	t           *testing.T
	base        string
	key, secret string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func start(t *testing.T, opts Options) (*Server, *client) {
	t.Helper()
	srv, err := Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, &client{t: t, base: srv.URL, key: DefaultAPIKey, secret: DefaultSignatureSecret}
}

// do sends a signed call; each edit then changes the request (to break its
// authentication or add headers).
func (c *client) do(method, path, body string, edits ...func(*http.Request)) response {
	c.t.Helper()
	resp, data := sandboxtest.Do(c.t, http.DefaultClient, c.request(method, path, body, edits...))
	return response{resp.StatusCode, resp.Header, data}
}

// request is the call do sends.
func (c *client) request(method, path, body string, edits ...func(*http.Request)) *http.Request {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	ts := provider.Timestamp(time.Now())
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Signature", provider.Sign(c.secret, ts, []byte(body)))
	for _, edit := range edits {
		edit(req)
	}
	return req
}

func header(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// decode checks the status and decodes the JSON body into v.
func (r response) decode(t *testing.T, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}

// errorMessage checks the status and the error body, and returns its
// message.
func (r response) errorMessage(t *testing.T, status int) string {
	t.Helper()
	var e struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
		Error      string `json:"error"`
	}
	r.decode(t, status, &e)
	if e.StatusCode != status || e.Message == "" || e.Error != http.StatusText(status) {
		t.Errorf("error body %s", r.body)
	}
	return e.Message
}

func createBody(level string, contacts ...string) string {
	b, _ := json.Marshal(map[string]any{
		"contacts":      contacts,
		"securityLevel": level,
		"resourcesIds":  []string{"507f1f77bcf86cd799439012"},
		"internalId":    "wf-1",
	})
	return string(b)
}

// create creates a request and returns its create answer.
func (c *client) create(body string, edits ...func(*http.Request)) createResponse {
	c.t.Helper()
	var got createResponse
	c.do(http.MethodPost, "/v1/request", body, edits...).decode(c.t, http.StatusOK, &got)
	return got
}

func (c *client) get(id string) requestState {
	c.t.Helper()
	var got requestState
	c.do(http.MethodGet, "/v1/request/"+id, "").decode(c.t, http.StatusOK, &got)
	return got
}

func TestAuthentication(t *testing.T) {
	srv, c := start(t, Options{Keys: map[string]string{"key-one": "secret-one", "key-two": "secret-two"}})
	c.key, c.secret = "key-one", "secret-one"
	body := createBody("CONTACT", "alice@example.com")
	old := provider.Timestamp(time.Now().Add(-6 * time.Minute))
	ahead := provider.Timestamp(time.Now().Add(6 * time.Minute))
	tests := []struct {
		name       string
		edit       func(*http.Request)
		wantInMsg  string
		bad, stale int64
	}{
		{"no API key", func(r *http.Request) { r.Header.Del("Authorization") }, "Missing API key", 0, 0},
		{"unknown API key", header("Authorization", "Bearer key-three"), "Invalid API key", 0, 0},
		{"signed with another key's secret", func(r *http.Request) {
			ts := r.Header.Get("X-Timestamp")
			r.Header.Set("X-Signature", provider.Sign("secret-two", ts, []byte(body)))
		}, "Invalid X-Signature", 1, 0},
		{"signature of another body", func(r *http.Request) {
			ts := r.Header.Get("X-Timestamp")
			r.Header.Set("X-Signature", provider.Sign("secret-one", ts, []byte(body+" ")))
		}, "Invalid X-Signature", 1, 0},
		{"no signature", func(r *http.Request) { r.Header.Del("X-Signature") }, "Missing X-Signature", 1, 0},
		{"no timestamp", func(r *http.Request) { r.Header.Del("X-Timestamp") }, "Missing X-Timestamp", 0, 1},
		{"stale timestamp", func(r *http.Request) {
			r.Header.Set("X-Timestamp", old)
			r.Header.Set("X-Signature", provider.Sign("secret-one", old, []byte(body)))
		}, "outside the accepted window", 0, 1},
		{"timestamp ahead", func(r *http.Request) {
			r.Header.Set("X-Timestamp", ahead)
			r.Header.Set("X-Signature", provider.Sign("secret-one", ahead, []byte(body)))
		}, "outside the accepted window", 0, 1},
		{"timestamp in seconds", func(r *http.Request) { r.Header.Set("X-Timestamp", "1.7e9") }, "not Unix milliseconds", 0, 1},
	}
	var bad, stale int64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *c
			c.t = t
			msg := c.do(http.MethodPost, "/v1/request", body, tt.edit).errorMessage(t, http.StatusUnauthorized)
			if !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message %q does not say %q", msg, tt.wantInMsg)
			}
			if strings.Contains(msg, "key-") || strings.Contains(msg, "secret-") {
				t.Errorf("message quotes a credential: %q", msg)
			}
		})
		bad += tt.bad
		stale += tt.stale
	}
	st := srv.Emulator.Stats()
	if st.BadSignatures != bad || st.StaleTimestamps != stale || st.Creates != 0 {
		t.Errorf("stats %+v, want %d bad signatures and %d stale timestamps", st, bad, stale)
	}

	// Correctly signed calls pass, with either key; a call without a body
	// is signed over the timestamp alone.
	id := c.create(body).ID
	c.get(id)
	c.key, c.secret = "key-two", "secret-two"
	c.get(id)
	c.do(http.MethodGet, "/v1/request/"+objectID(), "").errorMessage(t, http.StatusNotFound)
}

func TestCreate(t *testing.T) {
	srv, c := start(t, Options{})
	body := `{
		"contacts": ["alice@example.com", "+351912345678"],
		"name": "Onboarding",
		"groupIds": ["g1"],
		"resourcesIds": ["r1", "r1", "r2"],
		"credentials": [{"name": "Terms", "data": {"a": 1}}, {"data": {}}],
		"language": "ENG",
		"redirectUrl": "https://example.com/done",
		"internalId": "wf-42"
	}`
	got := c.create(body)
	if !objectIDPattern.MatchString(got.ID) {
		t.Errorf("id %q", got.ID)
	}
	var names []string
	for _, cr := range got.Credentials {
		names = append(names, cr.Name)
		if !objectIDPattern.MatchString(cr.ID) || cr.Status != "PENDING" || cr.ResourceType != "DOCUMENT" || cr.InternalID != "wf-42" {
			t.Errorf("credential %+v", cr)
		}
	}
	if want := []string{"Group g1", "Resource r1", "Resource r2", "Terms", "Credential 2"}; !slices.Equal(names, want) {
		t.Errorf("credentials %v, want %v (a repeated resource once)", names, want)
	}
	if len(got.Subjects) != 2 {
		t.Fatalf("subjects %+v", got.Subjects)
	}
	for i, s := range got.Subjects {
		if s.Contact != []string{"alice@example.com", "+351912345678"}[i] || !didPattern.MatchString(s.DID) || s.ID != "" ||
			!codePattern.MatchString(s.Code) || s.Link != srv.URL+"/link/"+got.ID {
			t.Errorf("subject %+v", s)
		}
	}

	// The client's own types read the answer.
	var asClient provider.Request
	c.do(http.MethodPost, "/v1/request", body).decode(t, http.StatusOK, &asClient)
	if asClient.ID == got.ID || len(asClient.Subjects) != 2 || !didPattern.MatchString(asClient.Subjects[0].ID) || len(asClient.Credentials) != 5 {
		t.Errorf("client view %+v", asClient)
	}

	withDups := c.create(strings.Replace(body, `"name"`, `"allowDuplicates": true, "name"`, 1))
	if len(withDups.Credentials) != 6 {
		t.Errorf("allowDuplicates: %d credentials, want 6", len(withDups.Credentials))
	}

	st := c.get(got.ID)
	if st.ID != got.ID || st.SecurityLevel != "CONTACT" || st.InternalID != "wf-42" || st.CanceledAt != nil || len(st.Credentials) != 5 {
		t.Errorf("GET %+v", st)
	}
	if _, err := time.Parse(time.RFC3339, st.CreatedAt); err != nil {
		t.Errorf("createdAt: %v", err)
	}
	for _, s := range st.Subjects {
		if s.KYC != nil || s.IdentityStatus != nil || !didPattern.MatchString(s.DID) {
			t.Errorf("CONTACT-level subject %+v", s)
		}
	}
	for _, cr := range st.Credentials {
		if cr.Status != "PENDING" || cr.Decisions == nil || len(cr.Decisions) != 0 {
			t.Errorf("credential %+v", cr)
		}
	}
	if s := srv.Emulator.Stats(); s.Creates != 3 {
		t.Errorf("creates %d", s.Creates)
	}
	c.do(http.MethodGet, "/v1/request/"+objectID(), "").errorMessage(t, http.StatusNotFound)
	c.do(http.MethodPut, "/v1/request/"+got.ID, "").errorMessage(t, http.StatusMethodNotAllowed)
	c.do(http.MethodGet, "/v1/request", "").errorMessage(t, http.StatusMethodNotAllowed)
	c.do(http.MethodGet, "/v1/requests", "").errorMessage(t, http.StatusNotFound)
}

func TestCreateValidation(t *testing.T) {
	srv, c := start(t, Options{})
	many := func(n int, item string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(item, i)
		}
		return strings.Join(items, ",")
	}
	tests := []struct{ name, body, wantInMsg string }{
		{"not JSON", `{"contacts":`, "not a valid create request"},
		{"unknown field", `{"contacts":["a@example.com"],"resourcesIds":["r"],"contact":"x"}`, "unknown field"},
		{"no contacts", `{"resourcesIds":["r"]}`, "contacts: missing"},
		{"not a contact", `{"contacts":["bob at example"],"resourcesIds":["r"]}`, "neither an email address nor an E.164"},
		{"national phone", `{"contacts":["912345678"],"resourcesIds":["r"]}`, "neither an email address nor an E.164"},
		{"101 contacts", `{"contacts":[` + many(101, `"p%d@example.com"`) + `],"resourcesIds":["r"]}`, "101 contacts"},
		{"11 inline credentials", `{"contacts":["a@example.com"],"credentials":[` + many(11, `{"name":"c%d"}`) + `]}`, "11 inline credentials"},
		{"inline credential not an object", `{"contacts":["a@example.com"],"credentials":["x"]}`, "credentials[0] is not an object"},
		{"security level", `{"contacts":["a@example.com"],"resourcesIds":["r"],"securityLevel":"HIGH"}`, "securityLevel"},
		{"nothing to ask", `{"contacts":["a@example.com"]}`, "nothing to ask for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *c
			c.t = t
			msg := c.do(http.MethodPost, "/v1/request", tt.body).errorMessage(t, http.StatusBadRequest)
			if !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message %q does not say %q", msg, tt.wantInMsg)
			}
			if strings.Contains(msg, "bob at example") || strings.Contains(msg, "912345678") {
				t.Errorf("message quotes a contact: %q", msg)
			}
		})
	}
	c.do(http.MethodPost, "/v1/request", createBody("CONTACT", "a@example.com"), header("Content-Type", "text/plain")).
		errorMessage(t, http.StatusUnsupportedMediaType)
	if st := srv.Emulator.Stats(); st.Creates != 0 {
		t.Errorf("creates %d", st.Creates)
	}
}

func TestAPIVersions(t *testing.T) {
	_, c := start(t, Options{})
	body := createBody("CONTACT", "alice@example.com")

	msg := c.do(http.MethodPost, "/request", body).errorMessage(t, http.StatusNotFound)
	if !strings.Contains(msg, "API-Version") {
		t.Errorf("message %q", msg)
	}
	for _, tt := range []struct {
		path, version string
		wantID        bool
	}{
		{"/v1/request", "", false},
		{"/request", "2025-06-01", false},
		{"/request", "2026-03-03", true},
		{"/v1/request", "2026-01-01", true},
	} {
		var edits []func(*http.Request)
		if tt.version != "" {
			edits = append(edits, header("API-Version", tt.version))
		}
		var got createResponse
		c.do(http.MethodPost, tt.path, body, edits...).decode(t, http.StatusOK, &got)
		s := got.Subjects[0]
		if tt.wantID != (s.ID != "") || tt.wantID == (s.DID != "") {
			t.Errorf("%s with API-Version %q: subject %+v", tt.path, tt.version, s)
		}
		// GET answers in the shape of its own API-Version.
		var st requestState
		c.do(http.MethodGet, "/request/"+got.ID, "", header("API-Version", "2026-03-03")).decode(t, http.StatusOK, &st)
		if st.Subjects[0].ID == "" || st.Subjects[0].DID != "" {
			t.Errorf("dated GET subject %+v", st.Subjects[0])
		}
		if st := c.get(got.ID); st.Subjects[0].DID == "" || st.Subjects[0].ID != "" {
			t.Errorf("v1 GET subject %+v", st.Subjects[0])
		}
	}
	for _, v := range []string{"2026-3-3", "20260303", "latest", "2026-02-30", time.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly)} {
		msg := c.do(http.MethodPost, "/v1/request", body, header("API-Version", v)).errorMessage(t, http.StatusBadRequest)
		if !strings.Contains(msg, "API-Version") {
			t.Errorf("API-Version %q: message %q", v, msg)
		}
	}
}

func TestIdempotency(t *testing.T) {
	srv, c := start(t, Options{Keys: map[string]string{DefaultAPIKey: DefaultSignatureSecret, "other": "other-secret"}})
	body := `{"contacts":["alice@example.com"],"resourcesIds":["r1"],"internalId":"wf-1"}`
	reordered := `{ "internalId": "wf-1", "resourcesIds": ["r1"], "contacts": ["alice@example.com"] }`
	key := header("Idempotency-Key", "a96d14c5-8e60-4f6b-9d80-5c18c0e4202a")

	first := c.do(http.MethodPost, "/v1/request", body, key)
	for _, b := range []string{body, reordered} {
		again := c.do(http.MethodPost, "/v1/request", b, key)
		if again.status != http.StatusOK || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay: %d %s (replayed %q), want the first answer %s", again.status, again.body, again.header.Get("Idempotent-Replayed"), first.body)
		}
	}
	msg := c.do(http.MethodPost, "/v1/request", strings.Replace(body, "r1", "r2", 1), key).errorMessage(t, http.StatusUnprocessableEntity)
	if msg != "Idempotency-Key reused with a different body." {
		t.Errorf("conflict message %q", msg)
	}
	// Another key, and the same key under another API key, are new creates.
	other := c.create(body, header("Idempotency-Key", "another"))
	c2 := *c
	c2.key, c2.secret = "other", "other-secret"
	third := c2.create(body, key)
	var firstID struct{ ID string }
	_ = json.Unmarshal(first.body, &firstID)
	if other.ID == firstID.ID || third.ID == firstID.ID || other.ID == third.ID {
		t.Errorf("ids %s, %s, %s", firstID.ID, other.ID, third.ID)
	}
	st := srv.Emulator.Stats()
	if st.Creates != 3 || st.IdempotentReplays != 2 || st.IdempotencyConflicts != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestLostCreateAnswer: a create drawing the lost-answer fault stores the
// request and its Idempotency-Key's answer, then closes the connection
// without an answer; the retry with the same key gets that request back,
// and nothing else is created.
func TestLostCreateAnswer(t *testing.T) {
	srv, c := start(t, Options{})
	body := createBody("CONTACT", "alice@example.com")
	key := header("Idempotency-Key", "certflow-lost-answer")
	srv.Emulator.LoseNextCreateAnswers(1)
	// A connection of its own: Go's transport replays a request carrying
	// an Idempotency-Key by itself when a reused connection fails, which
	// would hide the lost answer from this test.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	sandboxtest.NoAnswer(t, fresh, c.request(http.MethodPost, "/v1/request", body, key))
	if st := srv.Emulator.Stats(); st.Creates != 1 || st.AnswersLost != 1 || st.FaultsInjected != 0 {
		t.Fatalf("stats %+v, want the create applied and its answer lost", st)
	}
	retry := c.do(http.MethodPost, "/v1/request", body, key)
	var got createResponse
	retry.decode(t, http.StatusOK, &got)
	if retry.header.Get("Idempotent-Replayed") != "true" || c.get(got.ID).ID != got.ID {
		t.Errorf("retry: %s (replayed %q), want the request the lost answer carried", retry.body, retry.header.Get("Idempotent-Replayed"))
	}
	if st := srv.Emulator.Stats(); st.Creates != 1 || st.IdempotentReplays != 1 || st.AnswersLost != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRateLimit(t *testing.T) {
	srv, c := start(t, Options{CreateLimit: 2, Keys: map[string]string{DefaultAPIKey: DefaultSignatureSecret, "other": "other-secret"}})
	body := createBody("CONTACT", "alice@example.com")
	key := header("Idempotency-Key", "k1")
	first := c.do(http.MethodPost, "/v1/request", body, key)
	c.create(body)
	limited := c.do(http.MethodPost, "/v1/request", body)
	limited.errorMessage(t, http.StatusTooManyRequests)
	if secs, err := strconv.Atoi(limited.header.Get("Retry-After")); err != nil || secs < 59 || secs > 60 {
		t.Errorf("Retry-After %q: want the time until the first create leaves the minute", limited.header.Get("Retry-After"))
	}
	// A replay creates nothing, so the limit does not apply to it.
	if again := c.do(http.MethodPost, "/v1/request", body, key); again.status != http.StatusOK || !bytes.Equal(again.body, first.body) {
		t.Errorf("replay while limited: %d %s", again.status, again.body)
	}
	// The limit is per API key.
	c2 := *c
	c2.key, c2.secret = "other", "other-secret"
	c2.create(body)
	st := srv.Emulator.Stats()
	if st.Creates != 3 || st.RateLimited != 1 || st.IdempotentReplays != 1 || st.FaultsInjected != 0 {
		t.Errorf("stats %+v", st)
	}

	_, c = start(t, Options{CreateLimit: 1, RetryAfter: 7 * time.Second})
	c.create(body)
	if r := c.do(http.MethodPost, "/v1/request", body); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "7" {
		t.Errorf("with RetryAfter: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
}

func TestDecisionFlow(t *testing.T) {
	tests := []struct {
		name     string
		level    string
		contacts []string
		// want lists the webhooks in order, as summary renders them.
		want           []string
		wantStatus     string
		wantIdentities []any // identityStatus per subject (nil: no KYC)
	}{
		{
			name: "every subject accepts after KYC", level: "HUMANOS_KYC",
			contacts: []string{"alice@example.com", "+351912345678"},
			want: []string{
				"identity alice@example.com success=true outcome=APPROVED", "credential alice@example.com accept",
				"identity +351912345678 success=true outcome=APPROVED", "credential +351912345678 accept",
			},
			wantStatus: "APPROVED", wantIdentities: []any{"VERIFIED", "VERIFIED"},
		},
		{
			name: "one subject rejects", level: "CONTACT",
			contacts:   []string{"alice@example.com", "reject.bob@example.com"},
			want:       []string{"credential alice@example.com accept", "credential reject.bob@example.com reject"},
			wantStatus: "REJECTED", wantIdentities: []any{nil, nil},
		},
		{
			name: "a subject fails KYC and decides nothing", level: "ORGANIZATION_KYC",
			contacts: []string{"alice@example.com", "KYCFail.carol@example.com"},
			want: []string{
				"identity alice@example.com success=true outcome=APPROVED", "credential alice@example.com accept",
				"identity KYCFail.carol@example.com success=false outcome=REJECTED",
			},
			wantStatus: "PENDING", wantIdentities: []any{"VERIFIED", "FAILED"},
		},
		{
			name: "a subject fails an OTP first", level: "HUMANOS_REVALIDATION",
			contacts: []string{"otpfail.dave@example.com"},
			want: []string{
				"otp.failed otpfail.dave@example.com",
				"identity otpfail.dave@example.com success=true outcome=APPROVED", "credential otpfail.dave@example.com accept",
			},
			wantStatus: "APPROVED", wantIdentities: []any{"VERIFIED"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, DefaultWebhookSecret, nil)
			srv, c := start(t, Options{WebhookURL: rc.url, DecideAfter: 20 * time.Millisecond})
			created := c.create(createBody(tt.level, tt.contacts...))
			events := rc.wait(len(tt.want))
			if got := summary(events); !slices.Equal(got, tt.want) {
				t.Errorf("webhooks\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			dids := map[string]string{}
			for _, s := range created.Subjects {
				dids[s.Contact] = s.DID
			}
			credID := created.Credentials[0].ID
			for _, ev := range events {
				user := ev["user"].(map[string]any)
				if ev["requestId"] != created.ID || ev["internalId"] != "wf-1" || ev["issuerDid"] != IssuerDID || ev["api_version"] != "v1" ||
					user["did"] != dids[user["contact"].(string)] || user["internalId"] != "wf-1" {
					t.Errorf("webhook %v", ev)
				}
				decision, _ := ev["decision"].(map[string]any)
				switch ev["eventType"] {
				case "credential":
					if ev["credentialId"] != credID || !isTime(decision["date"]) {
						t.Errorf("credential webhook %v", ev)
					}
				case "identity":
					if decision["isFraud"] != false || decision["riskScore"] != 0.1 || decision["message"] == "" || !isTime(decision["date"]) {
						t.Errorf("identity webhook %v", ev)
					}
				case "otp.failed":
					if _, ok := ev["decision"]; ok {
						t.Errorf("otp.failed webhook %v", ev)
					}
				}
			}

			st := c.get(created.ID)
			cred := st.Credentials[0]
			if cred.Status != tt.wantStatus {
				t.Errorf("credential status %s, want %s", cred.Status, tt.wantStatus)
			}
			var decided []string
			for _, d := range cred.Decisions {
				decided = append(decided, fmt.Sprintf("%s %v", d.Contact, d.Accepted))
				if !isTime(d.DecidedAt) {
					t.Errorf("decision %+v", d)
				}
			}
			var wantDecided []string
			for _, line := range tt.want {
				if f := strings.Fields(line); f[0] == "credential" {
					wantDecided = append(wantDecided, f[1]+" "+strconv.FormatBool(f[2] == "accept"))
				}
			}
			if !slices.Equal(decided, wantDecided) {
				t.Errorf("decisions %v, want %v", decided, wantDecided)
			}
			for i, s := range st.Subjects {
				var status any
				if s.IdentityStatus != nil {
					status = *s.IdentityStatus
				}
				if status != tt.wantIdentities[i] || (status == nil) != (s.KYC == nil) {
					t.Errorf("subject %d: identityStatus %v, kyc %+v; want %v", i, status, s.KYC, tt.wantIdentities[i])
				}
				if s.KYC != nil && s.KYC.Success != (status == "VERIFIED") {
					t.Errorf("subject %d kyc %+v", i, s.KYC)
				}
			}
			if ws := srv.Emulator.Stats().WebhooksSent; ws != int64(len(tt.want)) {
				t.Errorf("WebhooksSent %d", ws)
			}
		})
	}
}

func isTime(v any) bool {
	s, _ := v.(string)
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

func TestDecide(t *testing.T) {
	rc := newReceiver(t, DefaultWebhookSecret, nil)
	srv, c := start(t, Options{WebhookURL: rc.url})
	e := srv.Emulator
	created := c.create(createBody("HUMANOS_KYC", "alice@example.com", "bob@example.com", "kycfail.carol@example.com"))
	cred := created.Credentials[0].ID

	if err := e.Decide(created.ID, "alice@example.com", cred, true); err != nil {
		t.Fatal(err)
	}
	if got := summary(rc.wait(2)); !slices.Equal(got, []string{"identity alice@example.com success=true outcome=APPROVED", "credential alice@example.com accept"}) {
		t.Errorf("webhooks %v", got)
	}
	snap, ok := e.Request(created.ID)
	if !ok || snap.Credentials[0].Status != "PENDING" || len(snap.Credentials[0].Decisions) != 1 || snap.Subjects[0].IdentityStatus != "VERIFIED" ||
		snap.Subjects[1].IdentityStatus != "PENDING" || snap.Subjects[0].ID != created.Subjects[0].DID || snap.InternalID != "wf-1" {
		t.Errorf("snapshot after one acceptance %+v", snap)
	}

	for _, tt := range []struct {
		name, id, contact, cred, want string
	}{
		{"twice", created.ID, "alice@example.com", cred, "already decided"},
		{"unknown request", objectID(), "alice@example.com", cred, "does not exist"},
		{"unknown contact", created.ID, "zoe@example.com", cred, "no subject"},
		{"unknown credential", created.ID, "alice@example.com", objectID(), "no credential"},
		{"failed KYC", created.ID, "kycfail.carol@example.com", cred, "failed identity verification"},
	} {
		err := e.Decide(tt.id, tt.contact, tt.cred, true)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "@") {
			t.Errorf("%s: %v, want an error saying %q without the contact", tt.name, err, tt.want)
		}
	}
	if err := e.Decide(created.ID, "bob@example.com", cred, false); err != nil {
		t.Fatal(err)
	}
	if snap, _ := e.Request(created.ID); snap.Credentials[0].Status != "REJECTED" || snap.Subjects[2].IdentityStatus != "FAILED" {
		t.Errorf("snapshot %+v", snap)
	}
	if _, ok := e.Request(objectID()); ok {
		t.Error("unknown request found")
	}
	rc.wait(5)
}

func TestCancel(t *testing.T) {
	rc := newReceiver(t, DefaultWebhookSecret, nil)
	srv, c := start(t, Options{WebhookURL: rc.url, DecideAfter: 100 * time.Millisecond})
	body := `{"contacts":["alice@example.com"],"resourcesIds":["r1","r2"]}`
	created := c.create(body)
	if err := srv.Emulator.Decide(created.ID, "alice@example.com", created.Credentials[0].ID, true); err != nil {
		t.Fatal(err)
	}
	var st requestState
	c.do(http.MethodDelete, "/v1/request/"+created.ID, "").decode(t, http.StatusOK, &st)
	if st.CanceledAt == nil || !isTime(*st.CanceledAt) || st.Credentials[0].Status != "APPROVED" || st.Credentials[1].Status != "CANCELED" {
		t.Errorf("canceled request %+v", st)
	}
	c.do(http.MethodDelete, "/v1/request/"+created.ID, "").errorMessage(t, http.StatusConflict)
	c.do(http.MethodDelete, "/v1/request/"+objectID(), "").errorMessage(t, http.StatusNotFound)
	if err := srv.Emulator.Decide(created.ID, "alice@example.com", created.Credentials[1].ID, true); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("Decide after cancel: %v", err)
	}
	// The subject's pending tick is stopped: only the decision made before
	// the cancel was ever sent.
	time.Sleep(200 * time.Millisecond)
	rc.wait(1)
	if st := c.get(created.ID); st.Credentials[1].Status != "CANCELED" || len(st.Credentials[1].Decisions) != 0 {
		t.Errorf("after the tick %+v", st)
	}
	if n := srv.Emulator.Stats().Cancels; n != 1 {
		t.Errorf("cancels %d", n)
	}
}

func TestResend(t *testing.T) {
	srv, c := start(t, Options{})
	created := c.create(createBody("CONTACT", "alice@example.com", "+351912345678"))
	path := "/v1/request/resend/" + created.ID + "?contact="
	if r := c.do(http.MethodPatch, path+url.QueryEscape("+351912345678"), ""); r.status != http.StatusNoContent {
		t.Errorf("resend: %d %s", r.status, r.body)
	}
	c.do(http.MethodPatch, path+url.QueryEscape("zoe@example.com"), "").errorMessage(t, http.StatusNotFound)
	c.do(http.MethodPatch, "/v1/request/resend/"+created.ID, "").errorMessage(t, http.StatusBadRequest)
	c.do(http.MethodPatch, "/v1/request/resend/"+objectID()+"?contact=alice%40example.com", "").errorMessage(t, http.StatusNotFound)
	c.do(http.MethodGet, path+"alice%40example.com", "").errorMessage(t, http.StatusMethodNotAllowed)
	c.do(http.MethodDelete, "/v1/request/"+created.ID, "")
	c.do(http.MethodPatch, path+"alice%40example.com", "").errorMessage(t, http.StatusConflict)
	if n := srv.Emulator.Stats().Resends; n != 1 {
		t.Errorf("resends %d", n)
	}
}

func TestEncryptedWebhooks(t *testing.T) {
	kd := provider.KeyDerivation{Secret: "enc-secret", Salt: "enc-salt", Iterations: 1000, Digest: "sha512"}
	key, err := kd.Key()
	if err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, "whsec", key)
	_, c := start(t, Options{WebhookURL: rc.url, WebhookSecret: "whsec", Encryption: &kd, DecideAfter: 10 * time.Millisecond})
	c.create(createBody("CONTACT", "alice@example.com"), header("API-Version", "2026-03-03"))
	ev := rc.wait(1)[0]
	user := ev["user"].(map[string]any)
	if ev["eventType"] != "credential" || ev["api_version"] != "2026-03-03" || user["id"] == nil || user["did"] != nil {
		t.Errorf("decrypted webhook %v", ev)
	}

	// Another derivation does not open the envelope.
	for _, wrong := range []provider.KeyDerivation{
		{Secret: "enc-secret", Salt: "enc-salt", Iterations: 1000, Digest: "sha256"},
		{Secret: "enc-secret", Salt: "other", Iterations: 1000, Digest: "sha512"},
		{Secret: "enc-secret", Salt: "enc-salt", Iterations: 999, Digest: "sha512"},
	} {
		k, _ := wrong.Key()
		e, _ := New(Options{Encryption: &kd})
		body, err := e.webhookBody(event{EventType: "credential"})
		if err != nil {
			t.Fatal(err)
		}
		env, ok := provider.ParseEnvelope(body)
		if !ok {
			t.Fatalf("not an envelope: %s", body)
		}
		if _, err := provider.Open(k, env); err == nil {
			t.Errorf("%+v opens the envelope", wrong)
		}
		e.Close()
	}

	if _, err := Start("127.0.0.1:0", Options{Encryption: &provider.KeyDerivation{Secret: "s"}}); err == nil {
		t.Error("Start accepted a derivation without iterations")
	}
}

func TestWebhookDelivery(t *testing.T) {
	body := `{"contacts":["alice@example.com"],"securityLevel":"HUMANOS_KYC","resourcesIds":["r1","r2"]}`
	inOrder := []string{
		"identity alice@example.com success=true outcome=APPROVED",
		"credential alice@example.com accept",
		"credential alice@example.com accept",
	}

	t.Run("out of order", func(t *testing.T) {
		rc := newReceiver(t, DefaultWebhookSecret, nil)
		_, c := start(t, Options{WebhookURL: rc.url, DecideAfter: 10 * time.Millisecond, OutOfOrder: true})
		created := c.create(body)
		events := rc.wait(3)
		want := slices.Clone(inOrder)
		slices.Reverse(want)
		if got := summary(events); !slices.Equal(got, want) {
			t.Errorf("webhooks %v, want %v", got, want)
		}
		if events[0]["credentialId"] != created.Credentials[1].ID || events[1]["credentialId"] != created.Credentials[0].ID {
			t.Errorf("credential order %v, %v", events[0]["credentialId"], events[1]["credentialId"])
		}
	})

	t.Run("duplicated", func(t *testing.T) {
		rc := newReceiver(t, DefaultWebhookSecret, nil)
		srv, c := start(t, Options{WebhookURL: rc.url, DecideAfter: 10 * time.Millisecond, Faults: sandbox.Faults{DuplicateWebhookRate: 1}})
		c.create(body)
		var want []string
		for _, line := range inOrder {
			want = append(want, line, line)
		}
		if got := summary(rc.wait(6)); !slices.Equal(got, want) {
			t.Errorf("webhooks %v, want %v", got, want)
		}
		if st := srv.Emulator.Stats(); st.WebhooksDuplicated != 3 || st.WebhooksSent != 6 {
			t.Errorf("stats %+v", st)
		}
	})

	t.Run("dropped", func(t *testing.T) {
		rc := newReceiver(t, DefaultWebhookSecret, nil)
		srv, c := start(t, Options{WebhookURL: rc.url, DecideAfter: 10 * time.Millisecond, Faults: sandbox.Faults{DropWebhookRate: 1}})
		created := c.create(body)
		sandboxtest.Eventually(t, "the drops", func() bool { return srv.Emulator.Stats().WebhooksDropped == 3 })
		rc.wait(0)
		// The webhooks are lost, not the decisions: GET shows them.
		if st := c.get(created.ID); st.Credentials[0].Status != "APPROVED" || st.Credentials[1].Status != "APPROVED" {
			t.Errorf("GET %+v", st)
		}
	})

	t.Run("retried", func(t *testing.T) {
		rc := newReceiver(t, DefaultWebhookSecret, nil)
		rc.fail = 2
		srv, c := start(t, Options{WebhookURL: rc.url, DecideAfter: 10 * time.Millisecond})
		c.create(body)
		if got := summary(rc.wait(3)); !slices.Equal(got, inOrder) {
			t.Errorf("webhooks %v, want %v", got, inOrder)
		}
		if st := srv.Emulator.Stats(); st.WebhooksSent != 3 || st.WebhooksFailed != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestFaults(t *testing.T) {
	srv, c := start(t, Options{Faults: sandbox.Faults{ErrorRate: 1}, Seed: 3})
	body := createBody("CONTACT", "alice@example.com")
	for range 5 {
		if r := c.do(http.MethodPost, "/v1/request", body); r.status < 500 {
			t.Errorf("status %d with ErrorRate 1", r.status)
		}
	}
	srv.Emulator.SetFaults(sandbox.Faults{RateLimitRate: 1, RetryAfter: 2 * time.Second})
	r := c.do(http.MethodPost, "/v1/request", body)
	if r.errorMessage(t, http.StatusTooManyRequests); r.header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	srv.Emulator.SetFaults(sandbox.Faults{})
	c.create(body)
	if st := srv.Emulator.Stats(); st.FaultsInjected != 6 || st.Creates != 1 || st.RateLimited != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestCloseStopsSubjects(t *testing.T) {
	rc := newReceiver(t, DefaultWebhookSecret, nil)
	srv, c := start(t, Options{WebhookURL: rc.url, DecideAfter: 50 * time.Millisecond})
	created := c.create(createBody("CONTACT", "alice@example.com"))
	srv.Emulator.Close()
	time.Sleep(100 * time.Millisecond)
	rc.wait(0)
	if st := c.get(created.ID); st.Credentials[0].Status != "PENDING" {
		t.Errorf("after Close %+v", st)
	}
}

func TestLogsCarryNoPersonalData(t *testing.T) {
	var logs sandboxtest.SyncBuffer
	rc := newReceiver(t, DefaultWebhookSecret, nil)
	srv, c := start(t, Options{WebhookURL: rc.url, DecideAfter: 10 * time.Millisecond, Log: &logs})
	created := c.create(createBody("HUMANOS_KYC", "otpfail.alice@example.com", "+351912345678"))
	rc.wait(5)
	c.do(http.MethodPatch, "/v1/request/resend/"+created.ID+"?contact=%2B351912345678", "")
	c.do(http.MethodDelete, "/v1/request/"+created.ID, "")
	_ = srv.Close()
	out := logs.String()
	for _, want := range []string{
		"request " + created.ID + " created: HUMANOS_KYC, 2 subjects, 1 credentials",
		"request " + created.ID + " subject 1 failed an OTP",
		"request " + created.ID + " subject 2 identity VERIFIED",
		"webhook credential request=" + created.ID + " subject=2 credential=" + created.Credentials[0].ID + " delivered",
		"request " + created.ID + " subject 2 OTP resent",
		"POST /v1/request -> 200",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, personal := range []string{"alice", "example.com", "351912345678", DefaultAPIKey, DefaultSignatureSecret} {
		if strings.Contains(out, personal) {
			t.Errorf("log carries %q:\n%s", personal, out)
		}
	}
}
