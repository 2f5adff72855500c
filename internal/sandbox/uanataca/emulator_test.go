package uanataca

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/sandbox/devpki"
	"github.com/certflow/certflow/internal/sandbox/sandboxtest"
)

var testPKI *devpki.PKI

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "uanataca-sandbox-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testPKI, err = devpki.Generate(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// client talks to a started sandbox over real sockets with the dev client
// certificate, as certflow's provider client would.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorBody checks r is the RA's error body with status and returns its
// message.
func (r response) errorBody(t *testing.T, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	var e struct{ Code, ID, Error string }
	r.decode(t, &e)
	if e.Code != fmt.Sprint(status) || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(e.ID) || e.Error == "" {
		t.Fatalf("not an RA error body: %s", r.body)
	}
	return e.Error
}

func start(t *testing.T, opts Options) (*Server, *client) {
	t.Helper()
	if opts.RAs == nil {
		opts.RAs = map[string]int{"121": 20}
	}
	srv, err := Start("127.0.0.1:0", opts, testPKI)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, newClient(t, srv.URL, true)
}

func newClient(t *testing.T, base string, withCert bool) *client {
	t.Helper()
	cfg, err := testPKI.ClientTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !withCert {
		cfg.Certificates = nil
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, base: base, http: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// send performs a call; body is nil, a string sent verbatim as JSON, or a
// value to marshal.
func (c *client) send(method, path string, body any) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, data}, err
}

func (c *client) do(method, path string, body any) response {
	c.t.Helper()
	r, err := c.send(method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (c *client) upload(pk int64, docType string, content []byte) response {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if content != nil {
		fw, _ := mw.CreateFormFile("document", "id.jpg")
		_, _ = fw.Write(content)
	}
	if docType != "" {
		_ = mw.WriteField("type", docType)
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%srequests/%d/pl_upload_document/", c.base, pk), &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, data := sandboxtest.Do(c.t, c.http, req)
	return response{resp.StatusCode, resp.Header, data}
}

type card struct {
	PK      int64  `json:"pk"`
	SN      string `json:"sn"`
	Secrets string `json:"secrets"`
	RA      int64  `json:"registration_authority"`
}

func (c *client) firstUnused(ra any) card {
	c.t.Helper()
	r := c.do(http.MethodGet, "scratchcards/get_first_unused/", map[string]any{"ra": ra})
	if r.status != http.StatusOK {
		c.t.Fatalf("get_first_unused: %d %s", r.status, r.body)
	}
	var sc card
	r.decode(c.t, &sc)
	return sc
}

func createBody(sn string, extra map[string]any) map[string]any {
	b := map[string]any{
		"profile":                "PFnubeQAFCiudadano",
		"validity_time":          730,
		"scratchcard":            sn,
		"secure_element":         "2",
		"registration_authority": "121",
		"id_document_type":       "IDC",
		"id_document_country":    "ES",
		"serial_number":          "12345678Z",
		"given_name":             "Test",
		"surname_1":              "Applicant",
		"email":                  "applicant@example.test",
		"mobile_phone_number":    "+34600000000",
		"paperless_mode":         1,
	}
	for k, v := range extra {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
	}
	return b
}

type requestObject struct {
	PK             int64           `json:"pk"`
	Status         string          `json:"status"`
	Profile        string          `json:"profile"`
	Scratchcard    string          `json:"scratchcard"`
	RA             json.RawMessage `json:"registration_authority"`
	SecureElement  json.RawMessage `json:"secure_element"`
	ValidityTime   json.RawMessage `json:"validity_time"`
	Email          string          `json:"email"`
	CertificateSet []struct {
		Profile      string  `json:"profile"`
		Status       int     `json:"status"`
		Valid        string  `json:"valid"`
		SerialNumber string  `json:"serial_number"`
		ValidFrom    string  `json:"valid_from"`
		ValidTo      string  `json:"valid_to"`
		Revokation   *int    `json:"revokation_reason"`
		Subject      string  `json:"subject"`
		Data         string  `json:"data"`
		Issuer       *string `json:"issuer"`
	} `json:"certificate_set"`
}

// create makes a request with the first unused card of RA 121.
func (c *client) create(extra map[string]any) requestObject {
	c.t.Helper()
	r := c.do(http.MethodPost, "requests/", createBody(c.firstUnused("121").SN, extra))
	if r.status != http.StatusCreated {
		c.t.Fatalf("create: %d %s", r.status, r.body)
	}
	var obj requestObject
	r.decode(c.t, &obj)
	return obj
}

func (c *client) get(pk int64) requestObject {
	c.t.Helper()
	r := c.do(http.MethodGet, fmt.Sprintf("requests/%d/", pk), nil)
	if r.status != http.StatusOK {
		c.t.Fatalf("get %d: %d %s", pk, r.status, r.body)
	}
	var obj requestObject
	r.decode(c.t, &obj)
	return obj
}

// receiver is a webhook endpoint recording what it is sent. fail, when set,
// decides per delivery (1-based) to answer 500.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	calls  int
	fail   func(call int) bool
}

func newReceiver(t *testing.T, fail func(int) bool) *receiver {
	rc := &receiver{fail: fail}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.calls++
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook sent as %s %q", r.Method, r.Header.Get("Content-Type"))
		}
		if rc.fail != nil && rc.fail(rc.calls) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		rc.bodies = append(rc.bodies, body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.bodies)
}

func (rc *receiver) callCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.calls
}

// TestScratchcardRace shows the API's race faithfully: get_first_unused
// reserves nothing, so two callers get the same card and the second create
// fails with 500 Invalid ScratchCard.
func TestScratchcardRace(t *testing.T) {
	srv, c := start(t, Options{RAs: map[string]int{"121": 3}})

	var wg sync.WaitGroup
	got := make([]card, 2)
	for i := range got {
		wg.Go(func() { got[i] = c.firstUnused("121") })
	}
	wg.Wait()
	if got[0] != got[1] {
		t.Fatalf("concurrent get_first_unused returned different cards %+v and %+v", got[0], got[1])
	}
	sc := got[0]
	if sc.RA != 121 || sc.SN == "" {
		t.Fatalf("card %+v", sc)
	}
	var secrets map[string]string
	if err := json.Unmarshal([]byte(sc.Secrets), &secrets); err != nil || secrets["pin"] == "" || secrets["enrollment_code"] == "" {
		t.Fatalf("secrets is not a JSON string with the codes: %q (%v)", sc.Secrets, err)
	}
	if n := c.firstUnused(121); n != sc {
		t.Errorf("ra as a number gave %+v, want %+v", n, sc)
	}

	if r := c.do(http.MethodPost, "requests/", createBody(sc.SN, nil)); r.status != http.StatusCreated {
		t.Fatalf("first create: %d %s", r.status, r.body)
	}
	r := c.do(http.MethodPost, "requests/", createBody(sc.SN, nil))
	if msg := r.errorBody(t, http.StatusInternalServerError); msg != "Invalid ScratchCard" {
		t.Errorf("second create: %q", msg)
	}
	st := srv.Emulator.Stats()
	if st.Creates != 1 || st.InvalidScratchcard != 1 {
		t.Errorf("stats %+v, want 1 create and 1 invalid scratchcard", st)
	}

	if next := c.firstUnused("121"); next.SN == sc.SN {
		t.Error("get_first_unused still returns the used card")
	}
	for sn, want := range map[string]string{sc.SN: "true", c.firstUnused("121").SN: "false"} {
		r := c.do(http.MethodPost, "scratchcards/isused/", map[string]string{"sn": sn})
		if r.status != http.StatusOK || string(r.body) != want || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Errorf("isused %s: %d %q %q, want %s", sn, r.status, r.body, r.header.Get("Content-Type"), want)
		}
	}
	c.do(http.MethodPost, "scratchcards/isused/", map[string]string{"sn": "999"}).errorBody(t, http.StatusInternalServerError)
}

func TestFirstUnusedErrors(t *testing.T) {
	_, c := start(t, Options{RAs: map[string]int{"121": 1}})
	c.do(http.MethodGet, "scratchcards/get_first_unused/", map[string]string{"ra": "999"}).errorBody(t, http.StatusNotFound)
	c.do(http.MethodGet, "scratchcards/get_first_unused/", nil).errorBody(t, http.StatusBadRequest)
	c.create(nil)
	msg := c.do(http.MethodGet, "scratchcards/get_first_unused/", map[string]string{"ra": "121"}).errorBody(t, http.StatusNotFound)
	if !strings.Contains(msg, "No scratchcards available") {
		t.Errorf("exhausted pool: %q", msg)
	}
}

func TestCreateRequest(t *testing.T) {
	srv, c := start(t, Options{RAs: map[string]int{"121": 20, "122": 2}})

	r := c.do(http.MethodPost, "requests/", createBody(c.firstUnused("121").SN, map[string]any{"organization_name": "Org"}))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var raw map[string]json.RawMessage
	r.decode(t, &raw)
	for field, want := range map[string]string{
		"status":                 `"CREATED"`,
		"registration_authority": `121`,
		"secure_element":         `2`,
		"validity_time":          `"730"`,
		"certificate_set":        `[]`,
		"organization_name":      `"Org"`,
		"email":                  `"applicant@example.test"`,
		"paperless_mode":         `true`,
	} {
		if got := string(raw[field]); got != want {
			t.Errorf("%s = %s, want %s", field, got, want)
		}
	}
	var pk int64
	if err := json.Unmarshal(raw["pk"], &pk); err != nil || pk < firstRequestPK {
		t.Errorf("pk %s", raw["pk"])
	}

	video := c.create(map[string]any{"videoid_mode": 1, "paperless_mode": nil})
	if video.Status != StatusVideoPending {
		t.Errorf("videoid_mode 1 gave status %s", video.Status)
	}

	otherRA := c.firstUnused("122").SN
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		msg    string
	}{
		{"no profile", createBody(c.firstUnused("121").SN, map[string]any{"profile": nil}), 400, "profile"},
		{"no scratchcard", createBody("", nil), 400, "scratchcard"},
		{"no registration_authority", createBody(c.firstUnused("121").SN, map[string]any{"registration_authority": nil}), 400, "registration_authority"},
		{"no email", createBody(c.firstUnused("121").SN, map[string]any{"email": ""}), 400, "email"},
		{"bad validity_time", createBody(c.firstUnused("121").SN, map[string]any{"validity_time": 2}), 400, "validity_time"},
		{"bad secure_element", createBody(c.firstUnused("121").SN, map[string]any{"secure_element": "7"}), 400, "secure_element"},
		{"unknown scratchcard", createBody("1", nil), 500, "Invalid ScratchCard"},
		{"card of another RA", createBody(otherRA, nil), 500, "Invalid ScratchCard"},
		{"unknown RA", createBody(c.firstUnused("121").SN, map[string]any{"registration_authority": "999"}), 500, "Invalid ScratchCard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := c.do(http.MethodPost, "requests", tc.body).errorBody(t, tc.status)
			if !strings.Contains(msg, tc.msg) {
				t.Errorf("error %q does not mention %q", msg, tc.msg)
			}
		})
	}
	if st := srv.Emulator.Stats(); st.Creates != 2 || st.InvalidScratchcard != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestStatusMachine runs CREATED → ENROLLREADY → ISSUED on short timers and
// checks the webhooks of both formats.
func TestStatusMachine(t *testing.T) {
	for _, tc := range []struct {
		format     string
		perRequest bool // webhook_url in the create call instead of Options.WebhookURL
	}{
		{WebhookLegacy, false},
		{WebhookEvent, true},
	} {
		t.Run(tc.format, func(t *testing.T) {
			rc := newReceiver(t, nil)
			opts := Options{AutoApproveAfter: 15 * time.Millisecond, IssueAfter: 15 * time.Millisecond, WebhookFormat: tc.format}
			extra := map[string]any{}
			if tc.perRequest {
				extra["webhook_url"] = rc.URL + "/hook"
			} else {
				opts.WebhookURL = rc.URL
			}
			srv, c := start(t, opts)
			req := c.create(extra)
			if req.Status != StatusCreated {
				t.Fatalf("status %s", req.Status)
			}
			sandboxtest.Eventually(t, "ISSUED", func() bool { s, _ := srv.Emulator.Status(req.PK); return s == StatusIssued })
			sandboxtest.Eventually(t, "3 webhooks", func() bool { return srv.Emulator.Stats().WebhooksSent == 3 })

			got := c.get(req.PK)
			if got.Status != StatusIssued || len(got.CertificateSet) != 1 {
				t.Fatalf("issued request: %+v", got)
			}
			cert := got.CertificateSet[0]
			if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(cert.SerialNumber) || cert.Valid != "VALID" ||
				cert.Status != 0 || cert.Revokation != nil || cert.Issuer == nil || cert.Profile != req.Profile {
				t.Errorf("certificate %+v", cert)
			}
			der, err := base64.StdEncoding.DecodeString(cert.Data)
			if err != nil {
				t.Fatal(err)
			}
			x, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if x.NotAfter.Sub(x.NotBefore) != 730*24*time.Hour {
				t.Errorf("certificate validity %s", x.NotAfter.Sub(x.NotBefore))
			}

			hooks := rc.received()
			slices.SortFunc(hooks, func(a, b map[string]any) int { return order(a) - order(b) })
			for i, want := range []string{StatusCreated, StatusEnrollReady, StatusIssued} {
				h := hooks[i]
				switch tc.format {
				case WebhookLegacy:
					prev := []any{nil, StatusCreated, StatusEnrollReady}[i]
					if h["status"] != want || h["previous_status"] != prev || h["request"] != float64(req.PK) || h["registration_authority"] != float64(121) {
						t.Errorf("webhook %d: %v", i, h)
					}
					if _, err := time.Parse(legacyDateLayout, h["date"].(string)); err != nil {
						t.Errorf("date: %v", err)
					}
				case WebhookEvent:
					wantType := []string{"REQUEST_CREATED", "REQUEST_APPROVED", "REQUEST_ENROLLED"}[i]
					r := h["request"].(map[string]any)
					if h["event_type"] != wantType || r["status"] != want || r["pk"] != float64(req.PK) || r["scratchcard"] != req.Scratchcard {
						t.Errorf("webhook %d: %v", i, h)
					}
					if _, err := time.Parse(eventSentLayout, h["sent_at"].(string)); err != nil {
						t.Errorf("sent_at: %v", err)
					}
					certs := h["certificates"].([]any)
					if (want == StatusIssued) != (len(certs) == 1) {
						t.Errorf("webhook %d certificates: %v", i, certs)
					}
				}
			}
			if st := srv.Emulator.Stats(); st.WebhooksSent != 3 || st.Approvals != 1 || st.Issued != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// order sorts webhooks of either format by their place in the workflow.
func order(h map[string]any) int {
	status, _ := h["status"].(string)
	if r, ok := h["request"].(map[string]any); ok {
		status, _ = r["status"].(string)
	}
	return slices.Index([]string{StatusCreated, StatusEnrollReady, StatusIssued}, status)
}

func TestCancel(t *testing.T) {
	srv, c := start(t, Options{})
	req := c.create(nil)
	r := c.do(http.MethodDelete, fmt.Sprintf("requests/%d/cancel/", req.PK), nil)
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"status":"Request cancelled"}` {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if s := c.get(req.PK).Status; s != StatusCancelled {
		t.Errorf("status after cancel %s", s)
	}
	c.do(http.MethodDelete, fmt.Sprintf("requests/%d/cancel", req.PK), nil).errorBody(t, http.StatusPreconditionFailed)

	issued := c.create(nil)
	if err := srv.Emulator.Complete(issued.PK); err == nil {
		t.Error("Complete of a CREATED request succeeded")
	}
	if err := srv.Emulator.Approve(issued.PK); err != nil {
		t.Fatal(err)
	}
	if err := srv.Emulator.Complete(issued.PK); err != nil {
		t.Fatal(err)
	}
	msg := c.do(http.MethodDelete, fmt.Sprintf("requests/%d/cancel/", issued.PK), nil).errorBody(t, http.StatusPreconditionFailed)
	if !strings.Contains(msg, StatusIssued) {
		t.Errorf("412 message %q", msg)
	}
	c.do(http.MethodDelete, "requests/1/cancel/", nil).errorBody(t, http.StatusNotFound)
	if st := srv.Emulator.Stats(); st.Cancels != 1 {
		t.Errorf("cancels %d", st.Cancels)
	}
}

func TestApproveNeedsDocuments(t *testing.T) {
	_, c := start(t, Options{})
	req := c.create(nil)
	approve := func(creds RAOCredentials) response {
		return c.do(http.MethodPost, fmt.Sprintf("requests/%d/pl_approve/", req.PK), map[string]any{
			"username": creds.Username, "password": creds.Password, "pin": creds.PIN, "rao_id": creds.RAOID,
		})
	}
	if msg := approve(DefaultRAO).errorBody(t, http.StatusBadRequest); msg != "Missing required docs" {
		t.Errorf("approve without documents: %q", msg)
	}

	r := c.upload(req.PK, "document_front", []byte("front"))
	var doc struct {
		PK   int64  `json:"pk"`
		Type string `json:"type"`
	}
	if r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	r.decode(t, &doc)
	if doc.PK == 0 || doc.Type != "document_front" {
		t.Errorf("upload answer %s", r.body)
	}
	approve(DefaultRAO).errorBody(t, http.StatusBadRequest)

	c.upload(req.PK, "passport", []byte("x")).errorBody(t, http.StatusBadRequest)
	c.upload(req.PK, "document_rear", nil).errorBody(t, http.StatusBadRequest)
	c.upload(req.PK, "", []byte("x")).errorBody(t, http.StatusBadRequest)
	c.upload(1, "document_rear", []byte("x")).errorBody(t, http.StatusNotFound)
	if r := c.upload(req.PK, "document_rear", []byte("rear")); r.status != http.StatusCreated {
		t.Fatalf("upload rear: %d %s", r.status, r.body)
	}

	wrong := DefaultRAO
	wrong.PIN = "0000"
	approve(wrong).errorBody(t, http.StatusUnauthorized)

	// rao_id as a number, as certflow's client sends it.
	r = c.do(http.MethodPost, fmt.Sprintf("requests/%d/pl_approve", req.PK), map[string]any{
		"username": DefaultRAO.Username, "password": DefaultRAO.Password, "pin": DefaultRAO.PIN, "rao_id": 123,
	})
	if r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	var approved struct {
		Secrets map[string]string `json:"secrets"`
		Request requestObject     `json:"request"`
	}
	r.decode(t, &approved)
	if approved.Request.Status != StatusEnrollReady || approved.Secrets["puk"] == "" {
		t.Errorf("approve answer %s", r.body)
	}
	approve(DefaultRAO).errorBody(t, http.StatusPreconditionFailed)
}

func TestClientCertificate(t *testing.T) {
	srv, withCert := start(t, Options{RequireClientCert: true})
	if r := withCert.do(http.MethodGet, "scratchcards/", nil); r.status != http.StatusOK {
		t.Errorf("with certificate: %d %s", r.status, r.body)
	}
	if _, err := newClient(t, srv.URL, false).send(http.MethodGet, "scratchcards/", nil); err == nil {
		t.Error("a client without certificate got an answer")
	}

	// Behind a plain listener the emulator itself refuses the call.
	plain, err := Start("127.0.0.1:0", Options{RequireClientCert: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if !strings.HasPrefix(plain.URL, "http://") {
		t.Fatalf("plain URL %s", plain.URL)
	}
	newClient(t, plain.URL, true).do(http.MethodGet, "scratchcards/", nil).errorBody(t, http.StatusUnauthorized)
}

func TestFaults(t *testing.T) {
	srv, c := start(t, Options{Seed: 7, Faults: Faults{RateLimitRate: 1, RetryAfter: 2500 * time.Millisecond}})
	sn := "1200000"
	r := c.do(http.MethodPost, "requests/", createBody(sn, nil))
	r.errorBody(t, http.StatusTooManyRequests)
	if ra := r.header.Get("Retry-After"); ra != "3" {
		t.Errorf("Retry-After %q, want 3", ra)
	}

	srv.Emulator.SetFaults(Faults{ErrorRate: 1})
	r = c.do(http.MethodPost, "requests/", createBody(sn, nil))
	if r.status != 500 && r.status != 502 && r.status != 503 {
		t.Fatalf("error fault: %d %s", r.status, r.body)
	}
	r.errorBody(t, r.status)

	srv.Emulator.SetFaults(Faults{Latency: 30 * time.Millisecond})
	begin := time.Now()
	if r := c.do(http.MethodPost, "scratchcards/isused/", map[string]string{"sn": sn}); string(r.body) != "false" {
		t.Errorf("faults changed state: isused %s", r.body)
	}
	if d := time.Since(begin); d < 30*time.Millisecond {
		t.Errorf("call took %s despite 30ms latency", d)
	}
	if st := srv.Emulator.Stats(); st.FaultsInjected != 2 || st.Creates != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestLostCreateAnswer: a create drawing the lost-answer fault stores the
// request (its card is used) and closes the connection without an answer;
// the request is found by its scratchcard, and a second create on the card
// is refused.
func TestLostCreateAnswer(t *testing.T) {
	srv, c := start(t, Options{})
	sn := c.firstUnused("121").SN
	srv.Emulator.LoseNextCreateAnswers(1)
	if r, err := c.send(http.MethodPost, "requests/", createBody(sn, nil)); err == nil {
		t.Fatalf("create answered %d %s; want the connection closed without an answer", r.status, r.body)
	}
	if st := srv.Emulator.Stats(); st.Creates != 1 || st.AnswersLost != 1 || st.FaultsInjected != 0 {
		t.Fatalf("stats %+v, want the create applied and its answer lost", st)
	}
	var page struct {
		Count   int             `json:"count"`
		Results []requestObject `json:"results"`
	}
	c.do(http.MethodGet, "requests/?scratchcard="+sn, nil).decode(t, &page)
	if page.Count != 1 || page.Results[0].Scratchcard != sn || page.Results[0].Status != StatusCreated {
		t.Fatalf("requests on the card: %+v", page)
	}
	c.do(http.MethodPost, "requests/", createBody(sn, nil)).errorBody(t, http.StatusInternalServerError)
	if st := srv.Emulator.Stats(); st.Creates != 1 || st.InvalidScratchcard != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebhookDelivery(t *testing.T) {
	t.Run("retried until acknowledged", func(t *testing.T) {
		rc := newReceiver(t, func(call int) bool { return call <= 2 })
		srv, c := start(t, Options{WebhookURL: rc.URL, WebhookBackoff: 5 * time.Millisecond})
		c.create(nil)
		sandboxtest.Eventually(t, "delivery", func() bool { return srv.Emulator.Stats().WebhooksSent == 1 })
		if n := rc.callCount(); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
	})
	t.Run("given up", func(t *testing.T) {
		rc := newReceiver(t, func(int) bool { return true })
		srv, c := start(t, Options{WebhookURL: rc.URL, WebhookAttempts: 2, WebhookBackoff: time.Millisecond})
		c.create(nil)
		sandboxtest.Eventually(t, "give-up", func() bool { return srv.Emulator.Stats().WebhooksFailed == 1 })
		if n := rc.callCount(); n != 2 {
			t.Errorf("%d attempts, want 2", n)
		}
	})
	t.Run("dropped and duplicated", func(t *testing.T) {
		rc := newReceiver(t, nil)
		srv, c := start(t, Options{WebhookURL: rc.URL, Faults: Faults{DropWebhookRate: 1}})
		c.create(nil)
		srv.Emulator.SetFaults(Faults{DuplicateWebhookRate: 1})
		c.create(nil)
		sandboxtest.Eventually(t, "duplicate", func() bool { return srv.Emulator.Stats().WebhooksSent == 2 })
		st := srv.Emulator.Stats()
		if st.WebhooksDropped != 1 || st.WebhooksDuplicated != 1 || st.WebhooksSent != 2 {
			t.Errorf("stats %+v", st)
		}
		hooks := rc.received()
		if hooks[0]["request"] != hooks[1]["request"] {
			t.Errorf("duplicate webhooks differ: %v", hooks)
		}
	})
}

func TestMalformedJSON(t *testing.T) {
	_, c := start(t, Options{})
	pk := c.create(nil).PK
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, "requests/", `{"profile": "x",}`},
		{http.MethodPost, "requests/", `["profile"]`},
		{http.MethodPost, "requests/", `{"profile": "x"} {}`},
		{http.MethodGet, "scratchcards/get_first_unused/", `{"ra": 121`},
		{http.MethodPost, "scratchcards/isused/", `{sn: 1}`},
		{http.MethodPost, fmt.Sprintf("requests/%d/pl_approve/", pk), `{"username"}`},
	} {
		r := c.do(tc.method, tc.path, tc.body)
		var body map[string]string
		r.decode(t, &body)
		if r.status != http.StatusBadRequest || len(body) != 1 || !strings.HasPrefix(body["detail"], "JSON parse error - ") {
			t.Errorf("%s %s %s: %d %s", tc.method, tc.path, tc.body, r.status, r.body)
		}
	}

	for _, ct := range []string{"text/plain", ""} {
		req, _ := http.NewRequest(http.MethodPost, c.base+"requests/", strings.NewReader(`{"profile": "x"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		response{resp.StatusCode, resp.Header, data}.errorBody(t, http.StatusUnsupportedMediaType)
	}
}

func TestRouting(t *testing.T) {
	_, c := start(t, Options{})
	pk := c.create(nil).PK
	for _, path := range []string{fmt.Sprintf("requests/%d/", pk), fmt.Sprintf("requests/%d", pk)} {
		if r := c.do(http.MethodGet, path, nil); r.status != http.StatusOK {
			t.Errorf("GET %s: %d", path, r.status)
		}
	}
	r := c.do(http.MethodPut, "requests/", nil)
	r.errorBody(t, http.StatusMethodNotAllowed)
	if allow := r.header.Get("Allow"); allow != "GET, POST" {
		t.Errorf("Allow %q", allow)
	}
	c.do(http.MethodGet, "nothing/here/", nil).errorBody(t, http.StatusNotFound)
	if msg := c.do(http.MethodGet, "requests/999999/", nil).errorBody(t, http.StatusNotFound); msg != msgNoRequest {
		t.Errorf("unknown request: %q", msg)
	}
	c.do(http.MethodGet, "requests/abc/", nil).errorBody(t, http.StatusNotFound)
}

func TestPagination(t *testing.T) {
	srv, c := start(t, Options{RAs: map[string]int{"121": 25, "122": 3}})
	type cardPage struct {
		Count    int     `json:"count"`
		Next     *string `json:"next"`
		Previous *string `json:"previous"`
		Results  []card  `json:"results"`
	}
	get := func(url string) cardPage {
		t.Helper()
		rel, ok := strings.CutPrefix(url, c.base)
		if !ok {
			t.Fatalf("link %s is not under %s", url, c.base)
		}
		r := c.do(http.MethodGet, rel, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, r.status, r.body)
		}
		var p cardPage
		r.decode(t, &p)
		return p
	}
	p1 := get(c.base + "scratchcards/?registration_authority=121")
	if p1.Count != 25 || len(p1.Results) != 10 || p1.Previous != nil || p1.Next == nil {
		t.Fatalf("page 1: %+v", p1)
	}
	if want := srv.URL + "scratchcards/?page=2&registration_authority=121"; *p1.Next != want {
		t.Errorf("next %s, want %s", *p1.Next, want)
	}
	p2 := get(*p1.Next)
	if p2.Previous == nil || *p2.Previous != srv.URL+"scratchcards/?registration_authority=121" {
		t.Errorf("previous of page 2: %v", p2.Previous)
	}
	p3 := get(*p2.Next)
	if len(p3.Results) != 5 || p3.Next != nil || p3.Results[4].SN != "1200024" {
		t.Errorf("page 3: %+v", p3)
	}
	c.do(http.MethodGet, "scratchcards/?registration_authority=121&page=4", nil).errorBody(t, http.StatusNotFound)
	if p := get(c.base + "scratchcards?sn=1200026"); p.Count != 1 || p.Results[0].RA != 122 {
		t.Errorf("by sn: %+v", p)
	}

	first := c.create(nil)
	c.create(nil)
	r := c.do(http.MethodGet, "requests/?scratchcard="+first.Scratchcard, nil)
	var reqs struct {
		Count   int             `json:"count"`
		Results []requestObject `json:"results"`
	}
	r.decode(t, &reqs)
	if reqs.Count != 1 || reqs.Results[0].PK != first.PK {
		t.Errorf("requests by scratchcard: %s", r.body)
	}
	r = c.do(http.MethodGet, "requests/?registration_authority=121", nil)
	r.decode(t, &reqs)
	if reqs.Count != 2 {
		t.Errorf("requests of RA 121: %s", r.body)
	}
}

// TestCloseStopsTimers checks that no transition fires after Close.
func TestCloseStopsTimers(t *testing.T) {
	e := New(Options{RAs: map[string]int{"121": 1}, AutoApproveAfter: 10 * time.Millisecond})
	srv := httptest.NewServer(e)
	defer srv.Close()
	body, _ := json.Marshal(createBody("1200000", nil))
	resp, err := http.Post(srv.URL+"/api/v1/requests/", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.Close()
	time.Sleep(30 * time.Millisecond)
	if s, ok := e.Status(firstRequestPK); !ok || s != StatusCreated {
		t.Errorf("status after Close: %q %v", s, ok)
	}
}

// TestLogsCarryNoPersonalData drives calls whose bodies and query strings
// hold personal data and checks none of it reaches the log.
func TestLogsCarryNoPersonalData(t *testing.T) {
	var logs sandboxtest.SyncBuffer
	rc := newReceiver(t, func(call int) bool { return call == 1 })
	srv, c := start(t, Options{Log: &logs, WebhookURL: rc.URL, WebhookBackoff: time.Millisecond})
	req := c.create(nil)
	c.do(http.MethodGet, "requests/?email=applicant@example.test&given_name=Test", nil)
	c.do(http.MethodPost, "requests/", createBody("1", nil))
	sandboxtest.Eventually(t, "webhook", func() bool { return srv.Emulator.Stats().WebhooksSent == 1 })
	out := logs.String()
	if !strings.Contains(out, fmt.Sprint(req.PK)) {
		t.Fatalf("log does not mention request %d:\n%s", req.PK, out)
	}
	for _, personal := range []string{"applicant", "example.test", "Test", "Applicant", "12345678Z", "+34600000000", rc.URL} {
		if strings.Contains(out, personal) {
			t.Errorf("log contains %q:\n%s", personal, out)
		}
	}
}
