package masstack

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/sandbox/sandboxtest"
)

// harness is a started emulator trusting one generated service account,
// spoken to over a real socket with hand-made requests, as the reference
// describes them.
type harness struct {
	t   *testing.T
	srv *Server
	sa  *ServiceAccount
	key *rsa.PrivateKey
}

func start(t *testing.T, opts Options) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sa.json")
	sa, err := GenerateServiceAccount(path, "")
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(sa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	opts.AccountFiles = append(opts.AccountFiles, path)
	srv, err := Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &harness{t: t, srv: srv, sa: sa, key: key}
}

// claims returns valid assertion claims for the harness's account.
func (h *harness) claims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": h.sa.ClientEmail,
		"sub": h.sa.ClientEmail,
		"aud": h.srv.TokenURL,
		"iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
		"jti": "test",
	}
}

// sign signs claims RS256 under the account's kid.
func (h *harness) sign(claims jwt.MapClaims) string {
	h.t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = h.sa.PrivateKeyID
	s, err := tok.SignedString(h.key)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

func (h *harness) do(method, url, bearer, contentType string, body []byte) answer {
	h.t.Helper()
	resp, data := sandboxtest.Do(h.t, http.DefaultClient, h.request(method, url, bearer, contentType, body))
	return answer{resp.StatusCode, resp.Header, data}
}

// request is the call do sends.
func (h *harness) request(method, url, bearer, contentType string, body []byte) *http.Request {
	h.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return req
}

func (h *harness) exchange(form url.Values) answer {
	h.t.Helper()
	return h.do(http.MethodPost, h.srv.TokenURL, "", "application/x-www-form-urlencoded", []byte(form.Encode()))
}

func grant(assertion string) url.Values {
	return url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}}
}

// token exchanges a valid assertion for an access token.
func (h *harness) token() string {
	h.t.Helper()
	a := h.exchange(grant(h.sign(h.claims())))
	if a.status != http.StatusOK {
		h.t.Fatalf("token: %d %s", a.status, a.body)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	a.decode(h.t, &out)
	if out.AccessToken == "" || out.TokenType != "Bearer" || out.ExpiresIn <= 0 {
		h.t.Fatalf("token answer %s", a.body)
	}
	return out.AccessToken
}

func (h *harness) collection(org string) string {
	return h.srv.URL + "/orgs/" + org + "/identifications/identity_document"
}

func (h *harness) create(token string, body any) answer {
	h.t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(http.MethodPost, h.collection(DefaultOrg), token, "application/json", data)
}

func (h *harness) cancel(token, id, body string) answer {
	h.t.Helper()
	return h.do(http.MethodDelete, h.collection(DefaultOrg)+"/"+id, token, "application/json", []byte(body))
}

// errorsOf checks a is the errors body with status and returns its entries.
func errorsOf(t *testing.T, a answer, status int) []apiError {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %s", a.status, status, a.body)
	}
	var body errorsBody
	a.decode(t, &body)
	if len(body.Errors) == 0 || body.Errors[0].Code == "" || body.Errors[0].Message == "" {
		t.Fatalf("not an errors body: %s", a.body)
	}
	return body.Errors
}

const documentNumber = "12345678Z"

func validCreate() map[string]any {
	return map[string]any{
		"name":               "Name",
		"last_name":          "Surname",
		"identity_document":  map[string]string{"document_number": documentNumber, "document_type": "NIF", "country": "ES"},
		"configuration_name": "HIGH",
		"expires_in":         "P7D",
		"scoring":            map[string]string{"provider": "EXTERNAL"},
	}
}

func (h *harness) createID(token string, body any) string {
	h.t.Helper()
	a := h.create(token, body)
	if a.status != http.StatusOK {
		h.t.Fatalf("create: %d %s", a.status, a.body)
	}
	var v view
	a.decode(h.t, &v)
	return v.ID
}

func TestGenerateServiceAccount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sa.json")
	// A file already there with a wider mode must not keep it.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	sa, err := GenerateServiceAccount(path, "http://127.0.0.1:8444/oauth/token")
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Fatalf("mode %v, want 0600", mode)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk ServiceAccount
	if err := json.Unmarshal(data, &onDisk); err != nil {
		t.Fatal(err)
	}
	if onDisk != *sa || len(sa.PrivateKeyID) != 40 || sa.ClientEmail != "certflow-dev@yoigo.iam.masstack.test" || sa.TokenURI != "http://127.0.0.1:8444/oauth/token" {
		t.Fatalf("service account %+v, on disk %+v", sa, onDisk)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(sa.PrivateKey))
	if err != nil || key.N.BitLen() != 2048 || !strings.HasPrefix(sa.PrivateKey, "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("key: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("%d files left in the directory, want 1", len(entries))
	}
}

func TestStartRefusesUnreadableAccountFile(t *testing.T) {
	_, err := Start("127.0.0.1:0", Options{AccountFiles: []string{filepath.Join(t.TempDir(), "absent.json")}})
	if err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Fatalf("error %v, want one naming the file", err)
	}
}

func TestTokenEndpoint(t *testing.T) {
	h := start(t, Options{TokenTTL: 90 * time.Second})
	other, err := GenerateServiceAccount(filepath.Join(t.TempDir(), "other.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(other.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	with := func(change func(jwt.MapClaims)) string {
		c := h.claims()
		change(c)
		return h.sign(c)
	}
	signedBy := func(method jwt.SigningMethod, kid string, key any) string {
		tok := jwt.NewWithClaims(method, h.claims())
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	publicPEM := []byte("public key as an HMAC secret") // stands in for what an attacker knows
	tests := []struct {
		name    string
		form    url.Values
		status  int // 200: issued
		code    string
		message string
	}{
		{"valid", grant(h.sign(h.claims())), 200, "", ""},
		{"wrong grant type", url.Values{"grant_type": {"client_credentials"}, "assertion": {h.sign(h.claims())}}, 400, "unsupported_grant_type", "grant_type"},
		{"no assertion", url.Values{"grant_type": {jwtBearerGrant}}, 400, "invalid_request", "assertion"},
		{"not a JWT", grant("not.a.jwt"), 400, "invalid_grant", "not a JWT"},
		{"unknown kid", grant(signedBy(jwt.SigningMethodRS256, other.PrivateKeyID, otherKey)), 401, "invalid_client", "kid"},
		{"no kid", grant(signedBy(jwt.SigningMethodRS256, "", h.key)), 401, "invalid_client", "kid"},
		{"wrong key", grant(signedBy(jwt.SigningMethodRS256, h.sa.PrivateKeyID, otherKey)), 400, "invalid_grant", "signature"},
		{"HS256", grant(signedBy(jwt.SigningMethodHS256, h.sa.PrivateKeyID, publicPEM)), 400, "invalid_grant", "only RS256"},
		{"alg none", grant(signedBy(jwt.SigningMethodNone, h.sa.PrivateKeyID, jwt.UnsafeAllowNoneSignatureType)), 400, "invalid_grant", "only RS256"},
		{"expired", grant(with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Second).Unix() })), 400, "invalid_grant", "expired"},
		{"no exp", grant(with(func(c jwt.MapClaims) { delete(c, "exp") })), 400, "invalid_grant", "exp"},
		{"exp too far", grant(with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(2 * time.Hour).Unix() })), 400, "invalid_grant", "more than 1h0m0s ahead"},
		{"iat in the future", grant(with(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Minute).Unix() })), 400, "invalid_grant", "iat is in the future"},
		{"iat within skew", grant(with(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(20 * time.Second).Unix() })), 200, "", ""},
		{"no iat", grant(with(func(c jwt.MapClaims) { delete(c, "iat") })), 400, "invalid_grant", "no iat"},
		{"wrong audience", grant(with(func(c jwt.MapClaims) { c["aud"] = "https://elsewhere.test/oauth/token" })), 400, "invalid_grant", "aud must be " + h.srv.TokenURL},
		{"audience list", grant(with(func(c jwt.MapClaims) { c["aud"] = []string{h.srv.TokenURL} })), 200, "", ""},
		{"wrong issuer", grant(with(func(c jwt.MapClaims) { c["iss"] = "someone@else.iam.masstack.test" })), 400, "invalid_grant", "iss"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.exchange(tt.form)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.status, a.body)
			}
			if tt.status == http.StatusOK {
				var out map[string]any
				a.decode(t, &out)
				if out["token_type"] != "Bearer" || out["expires_in"] != float64(90) || out["access_token"] == "" {
					t.Fatalf("answer %s", a.body)
				}
				return
			}
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			a.decode(t, &e)
			if e.Error != tt.code || !strings.Contains(e.Description, tt.message) {
				t.Fatalf("error %+v, want %s mentioning %q", e, tt.code, tt.message)
			}
		})
	}
	if st := h.srv.Emulator.Stats(); st.TokensIssued != 3 || st.TokensRejected != int64(len(tests)-3) {
		t.Fatalf("stats %+v", st)
	}
}

func TestTokenOutage(t *testing.T) {
	h := start(t, Options{TokenOutage: true})
	a := h.exchange(grant(h.sign(h.claims())))
	if a.status != http.StatusServiceUnavailable || !strings.Contains(string(a.body), "temporarily_unavailable") {
		t.Fatalf("during the outage: %d %s", a.status, a.body)
	}
	h.srv.Emulator.SetTokenOutage(false)
	h.token()
	if st := h.srv.Emulator.Stats(); st.TokensIssued != 1 || st.TokensRejected != 0 {
		t.Fatalf("stats %+v: an outage is not a rejection", st)
	}
}

func TestAPIAuthentication(t *testing.T) {
	h := start(t, Options{TokenTTL: time.Second})
	token := h.token()
	revoked := h.token()
	tests := []struct {
		name   string
		bearer string
		status int
	}{
		{"no token", "", 401},
		{"unknown token", "forged", 401},
		{"valid token", token, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.create(tt.bearer, validCreate())
			if tt.status == http.StatusUnauthorized {
				if e := errorsOf(t, a, 401); e[0].Code != "UNAUTHENTICATED" {
					t.Fatalf("errors %+v", e)
				}
				return
			}
			if a.status != tt.status {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
		})
	}
	// Unknown paths say nothing to an unauthenticated caller.
	errorsOf(t, h.do(http.MethodGet, h.srv.URL+"/nothing-here", "", "", nil), 401)
	errorsOf(t, h.do(http.MethodGet, h.srv.URL+"/nothing-here", token, "", nil), 404)

	h.srv.Emulator.RevokeTokens()
	errorsOf(t, h.create(revoked, validCreate()), 401)

	fresh := h.token()
	time.Sleep(1100 * time.Millisecond)
	if e := errorsOf(t, h.create(fresh, validCreate()), 401); !strings.Contains(e[0].Message, "expired") {
		t.Fatalf("errors %+v, want the token's expiry named", e)
	}
	if st := h.srv.Emulator.Stats(); st.Unauthorized != 5 || st.Creates != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCreateValidation(t *testing.T) {
	h := start(t, Options{})
	token := h.token()
	with := func(change func(map[string]any)) map[string]any {
		body := validCreate()
		change(body)
		return body
	}
	doc := func(number, typ string) map[string]string {
		return map[string]string{"document_number": number, "document_type": typ}
	}
	tests := []struct {
		name   string
		body   any
		fields []string // empty: accepted
	}{
		{"complete", validCreate(), nil},
		{"minimal", map[string]any{"identity_document": doc(documentNumber, "PASSPORT")}, nil},
		{"no document", with(func(b map[string]any) { delete(b, "identity_document") }), []string{"identity_document"}},
		{"no number", with(func(b map[string]any) { b["identity_document"] = doc("", "NIE") }), []string{"identity_document.document_number"}},
		{"bad type", with(func(b map[string]any) { b["identity_document"] = doc(documentNumber, "DNI") }), []string{"identity_document.document_type"}},
		{"bad country", with(func(b map[string]any) {
			b["identity_document"] = map[string]string{"document_number": documentNumber, "document_type": "NIF", "country": "Spain"}
		}), []string{"identity_document.country"}},
		{"bad configuration", with(func(b map[string]any) { b["configuration_name"] = "ULTRA" }), []string{"configuration_name"}},
		{"bad scoring", with(func(b map[string]any) { b["scoring"] = map[string]string{} }), []string{"scoring.provider"}},
		{"every defect", map[string]any{"identity_document": doc("", ""), "expires_in": "P1M", "scoring": map[string]string{"provider": "X"}},
			[]string{"identity_document.document_number", "identity_document.document_type", "scoring.provider", "expires_in"}},
		{"not an object", []string{"x"}, []string{"body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.create(token, tt.body)
			if len(tt.fields) == 0 {
				if a.status != http.StatusOK {
					t.Fatalf("status %d: %s", a.status, a.body)
				}
				return
			}
			errs := errorsOf(t, a, http.StatusBadRequest)
			if len(errs) != len(tt.fields) {
				t.Fatalf("errors %+v, want one per field of %v", errs, tt.fields)
			}
			for i, f := range tt.fields {
				if errs[i].Code != "INVALID_ARGUMENT" || !strings.Contains(errs[i].Message, f) {
					t.Fatalf("error %d: %+v, want one about %s", i, errs[i], f)
				}
			}
			if strings.Contains(string(a.body), documentNumber) {
				t.Fatalf("errors quote the document number: %s", a.body)
			}
		})
	}
}

func TestParseExpiresIn(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration // 0: refused
	}{
		{"P7D", 7 * 24 * time.Hour},
		{"P30D", 30 * 24 * time.Hour},
		{"P4W2D", 30 * 24 * time.Hour},
		{"PT36H", 36 * time.Hour},
		{"P1DT2H3M4S", 26*time.Hour + 3*time.Minute + 4*time.Second},
		{"PT1S", time.Second},
		{"P31D", 0},
		{"P29DT25H", 0},
		{"P99999999999999999999D", 0},
		{"P1M", 0},
		{"P1Y", 0},
		{"P0D", 0},
		{"P", 0},
		{"PT", 0},
		{"P1DT", 0},
		{"P1D2W", 0},
		{"P1D1D", 0},
		{"PT1H1D", 0},
		{"7D", 0},
		{"P-1D", 0},
		{"P1.5D", 0},
	}
	for _, tt := range tests {
		got, err := parseExpiresIn(tt.in)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("%q: accepted as %s", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestGetAndCancel(t *testing.T) {
	h := start(t, Options{Orgs: []string{DefaultOrg, "masmovil"}})
	token := h.token()
	id := h.createID(token, validCreate())

	a := h.do(http.MethodGet, h.collection(DefaultOrg)+"/"+id, token, "", nil)
	var v view
	a.decode(t, &v)
	host := strings.TrimSuffix(strings.TrimPrefix(h.srv.URL, "http://"), APIPrefix)
	if a.status != http.StatusOK || v.ID != id || v.Status != StatusPending || v.URL != "https://"+host+"/identify/"+id {
		t.Fatalf("get: %d %s", a.status, a.body)
	}
	if strings.Contains(string(a.body), documentNumber) || strings.Contains(string(a.body), "Surname") {
		t.Fatalf("the identification shows personal data: %s", a.body)
	}
	// Another tenant does not see it; an unknown tenant does not exist.
	errorsOf(t, h.do(http.MethodGet, h.collection("masmovil")+"/"+id, token, "", nil), 404)
	if e := errorsOf(t, h.do(http.MethodGet, h.collection("other")+"/"+id, token, "", nil), 404); !strings.Contains(e[0].Message, "masmovil, yoigo") {
		t.Fatalf("errors %+v, want the known tenants listed", e)
	}

	errorsOf(t, h.cancel(token, id, `{}`), 400)
	errorsOf(t, h.cancel(token, id, ``), 400)
	errorsOf(t, h.cancel(token, "no-such-id", `{"reason":"r"}`), 404)
	if a := h.cancel(token, id, `{"reason":"customer request"}`); a.status != http.StatusNoContent || len(a.body) != 0 {
		t.Fatalf("cancel: %d %s", a.status, a.body)
	}
	if s, _ := h.srv.Emulator.Status(id); s != StatusCancelled {
		t.Fatalf("status %s after cancel", s)
	}
	if e := errorsOf(t, h.cancel(token, id, `{"reason":"again"}`), 409); e[0].Code != "CONFLICT" {
		t.Fatalf("errors %+v", e)
	}
	if st := h.srv.Emulator.Stats(); st.Cancels != 1 || st.LastCancelReason != "customer request" {
		t.Fatalf("stats %+v", st)
	}
}

// waitStatus polls the emulator until identification id has status want.
func waitStatus(t *testing.T, e *Emulator, id, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := e.Status(id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("identification is %s, want %s", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStateMachine(t *testing.T) {
	h := start(t, Options{StartAfter: 30 * time.Millisecond, CompleteAfter: 30 * time.Millisecond, RejectDocumentPrefix: "R"})
	token := h.token()
	completes := h.createID(token, validCreate())
	rejected := validCreate()
	rejected["identity_document"] = map[string]string{"document_number": "R0000000", "document_type": "PASSPORT"}
	rejects := h.createID(token, rejected)
	waitStatus(t, h.srv.Emulator, completes, StatusCompleted)
	waitStatus(t, h.srv.Emulator, rejects, StatusRejected)

	// Started but never finished: the link expires.
	stalls := start(t, Options{StartAfter: 30 * time.Millisecond})
	stallsToken := stalls.token()
	shortLived := validCreate()
	shortLived["expires_in"] = "PT1S"
	expires := stalls.createID(stallsToken, shortLived)
	waitStatus(t, stalls.srv.Emulator, expires, StatusInProgress)
	waitStatus(t, stalls.srv.Emulator, expires, StatusExpired)

	for _, id := range []string{completes, rejects} {
		errorsOf(t, h.cancel(token, id, `{"reason":"too late"}`), 409)
	}
	errorsOf(t, stalls.cancel(stallsToken, expires, `{"reason":"too late"}`), 409)
}

func TestHelpers(t *testing.T) {
	h := start(t, Options{})
	token := h.token()
	e := h.srv.Emulator
	tests := []struct {
		name   string
		move   func(string) error
		status string
	}{
		{"complete", e.Complete, StatusCompleted},
		{"reject", e.Reject, StatusRejected},
		{"expire", e.Expire, StatusExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := h.createID(token, validCreate())
			if s, ok := e.Status(id); !ok || s != StatusPending {
				t.Fatalf("status %s, %v", s, ok)
			}
			if err := tt.move(id); err != nil {
				t.Fatal(err)
			}
			if s, _ := e.Status(id); s != tt.status {
				t.Fatalf("status %s, want %s", s, tt.status)
			}
			if err := tt.move(id); err == nil {
				t.Fatal("a final identification moved again")
			}
		})
	}
	if err := e.Complete("no-such-id"); err == nil {
		t.Fatal("completed an unknown identification")
	}
	if _, ok := e.Status("no-such-id"); ok {
		t.Fatal("unknown identification has a status")
	}
}

func TestCloseStopsTimers(t *testing.T) {
	h := start(t, Options{StartAfter: 50 * time.Millisecond})
	token := h.token()
	shortLived := validCreate()
	shortLived["expires_in"] = "PT1S"
	id := h.createID(token, shortLived)
	h.srv.Emulator.Close()
	time.Sleep(1200 * time.Millisecond)
	if s, _ := h.srv.Emulator.Status(id); s != StatusPending {
		t.Fatalf("status %s after Close, want PENDING", s)
	}
}

func TestFaults(t *testing.T) {
	h := start(t, Options{Faults: sandbox.Faults{RateLimitRate: 1, RetryAfter: 2 * time.Second}})
	token := h.token() // the token endpoint is not subject to API faults
	a := h.create(token, validCreate())
	if e := errorsOf(t, a, http.StatusTooManyRequests); e[0].Code != "RESOURCE_EXHAUSTED" || a.header.Get("Retry-After") != "2" {
		t.Fatalf("429: %v %+v", a.header, e)
	}
	h.srv.Emulator.SetFaults(sandbox.Faults{ErrorRate: 1})
	if a := h.create(token, validCreate()); a.status < 500 {
		t.Fatalf("status %d, want an injected 5xx", a.status)
	}
	h.srv.Emulator.SetFaults(sandbox.Faults{})
	h.createID(token, validCreate())
	if st := h.srv.Emulator.Stats(); st.FaultsInjected != 2 || st.Creates != 1 {
		t.Fatalf("stats %+v: injected faults must not change state", st)
	}
}

// TestLostCreateAnswer: a create drawing the lost-answer fault stores the
// identification (it expires like any other) and closes the connection
// without an answer; the next create is answered as usual.
func TestLostCreateAnswer(t *testing.T) {
	h := start(t, Options{})
	token := h.token()
	h.srv.Emulator.LoseNextCreateAnswers(1)
	body, err := json.Marshal(validCreate())
	if err != nil {
		t.Fatal(err)
	}
	sandboxtest.NoAnswer(t, http.DefaultClient, h.request(http.MethodPost, h.collection(DefaultOrg), token, "application/json", body))
	if st := h.srv.Emulator.Stats(); st.Creates != 1 || st.AnswersLost != 1 || st.FaultsInjected != 0 {
		t.Fatalf("stats %+v, want the create applied and its answer lost", st)
	}
	if s, _ := h.srv.Emulator.Status(h.createID(token, validCreate())); s != StatusPending {
		t.Errorf("next create: status %q", s)
	}
	if st := h.srv.Emulator.Stats(); st.Creates != 2 || st.AnswersLost != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestLogCarriesNoSecrets(t *testing.T) {
	var logs sandboxtest.SyncBuffer
	h := start(t, Options{Log: &logs})
	token := h.token()
	id := h.createID(token, validCreate())
	h.cancel(token, id, `{"reason":"private reason"}`)
	h.exchange(grant(h.sign(jwt.MapClaims{"iss": h.sa.ClientEmail})))
	h.srv.Close()
	log := logs.String()
	if !strings.Contains(log, "POST /oauth/token -> 200") || !strings.Contains(log, "DELETE /v1/orgs/yoigo/identifications/identity_document/"+id+" -> 204") {
		t.Fatalf("log lacks the calls:\n%s", log)
	}
	for _, secret := range []string{token, documentNumber, "Surname", "private reason"} {
		if strings.Contains(log, secret) {
			t.Fatalf("log contains %q:\n%s", secret, log)
		}
	}
}
