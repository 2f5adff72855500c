package masstack

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/certflow/certflow/internal/provider"
	msandbox "github.com/certflow/certflow/internal/sandbox/masstack"
)

// testKey is one RSA key for the tests that need a key but not the
// emulator's files; generating 2048-bit keys per test would dominate the
// run time.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func pemOf(blockType string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}))
}

func testAccount(t *testing.T) ServiceAccount {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(testKey())
	if err != nil {
		t.Fatal(err)
	}
	return ServiceAccount{PrivateKeyID: "kid-1", PrivateKey: pemOf("PRIVATE KEY", der), ClientEmail: "svc@org.iam.masstack.test"}
}

func writeJSONFile(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadServiceAccount(t *testing.T) {
	good := testAccount(t)
	pkcs1 := good
	pkcs1.PrivateKey = pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(testKey()))
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	ecAccount := good
	ecAccount.PrivateKey = pemOf("PRIVATE KEY", ecDER)
	notPEM := good
	notPEM.PrivateKey = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
	noEmail := good
	noEmail.ClientEmail = ""

	writeRaw := func(content string) string {
		path := filepath.Join(t.TempDir(), "sa.json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name    string
		path    string
		wantErr string // "" means success
	}{
		{"PKCS #8", writeJSONFile(t, good), ""},
		{"PKCS #1", writeJSONFile(t, pkcs1), ""},
		{"missing file", filepath.Join(t.TempDir(), "absent.json"), "no such file"},
		{"not JSON", writeRaw(`{"private_key": "-----BEGIN PRIVATE KEY-----` + "\x01"), "not valid JSON (at byte"},
		{"wrong JSON", writeRaw(`["a list"]`), "not a service-account JSON object"},
		{"EC key", writeJSONFile(t, ecAccount), "not a PEM RSA private key"},
		{"not PEM", writeJSONFile(t, notPEM), "not a PEM RSA private key"},
		{"missing fields", writeJSONFile(t, noEmail), "missing client_email"},
		{"empty object", writeRaw(`{}`), "missing private_key_id, private_key, client_email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sa, err := LoadServiceAccount(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if sa.PrivateKeyID != good.PrivateKeyID || sa.ClientEmail != good.ClientEmail {
					t.Fatalf("loaded %+v", sa)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, want := range []string{tt.wantErr, tt.path, "MASSTACK_SERVICE_ACCOUNT_FILE"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if strings.Contains(msg, "MII") || strings.Contains(msg, "BEGIN") {
				t.Errorf("error %q quotes the key", msg)
			}
		})
	}
}

// fakeClock is a settable clock for the token source and the stub.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// tokenStub is a token endpoint that verifies each assertion the way
// MasStack documents it and issues numbered tokens, so tests can tell
// fetches apart and count them.
type tokenStub struct {
	t         *testing.T
	srv       *httptest.Server
	account   ServiceAccount
	now       func() time.Time
	expiresIn atomic.Int64
	delay     time.Duration
	fetches   atomic.Int64
	jtis      sync.Map
	// fail, when set, answers instead of issuing a token.
	fail atomic.Pointer[func(w http.ResponseWriter)]
}

func newTokenStub(t *testing.T, now func() time.Time) *tokenStub {
	s := &tokenStub{t: t, account: testAccount(t), now: now}
	s.expiresIn.Store(3600)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *tokenStub) URL() string { return s.srv.URL + "/oauth/token" }

func (s *tokenStub) serve(w http.ResponseWriter, r *http.Request) {
	n := s.fetches.Add(1)
	time.Sleep(s.delay)
	if f := s.fail.Load(); f != nil {
		(*f)(w)
		return
	}
	if err := s.check(r); err != nil {
		s.t.Errorf("token request %d: %v", n, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"token-%d","token_type":"Bearer","expires_in":%d}`, n, s.expiresIn.Load())
}

// check verifies the request as MasStack's notes describe it.
func (s *tokenStub) check(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		return fmt.Errorf("content type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		return err
	}
	if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		return fmt.Errorf("grant_type %q", g)
	}
	var claims jwt.RegisteredClaims
	tok, err := jwt.ParseWithClaims(r.PostForm.Get("assertion"), &claims, func(*jwt.Token) (any, error) {
		return &testKey().PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(s.now), jwt.WithAudience(s.URL()),
		jwt.WithIssuer(s.account.ClientEmail), jwt.WithSubject(s.account.ClientEmail), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		return err
	}
	if kid := tok.Header["kid"]; kid != s.account.PrivateKeyID {
		return fmt.Errorf("kid %v", kid)
	}
	if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life != 5*time.Minute {
		return fmt.Errorf("assertion lifetime %s, want 5m", life)
	}
	if _, dup := s.jtis.LoadOrStore(claims.ID, true); claims.ID == "" || dup {
		return fmt.Errorf("jti %q missing or reused", claims.ID)
	}
	return nil
}

func (s *tokenStub) source(t *testing.T, cfg TokenSourceConfig) *TokenSource {
	t.Helper()
	cfg.TokenURL = s.URL()
	ts, err := NewTokenSource(s.account, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.now = s.now
	return ts
}

func mustToken(t *testing.T, ts *TokenSource, want string) {
	t.Helper()
	got, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("token %q, want %q", got, want)
	}
}

func TestTokenSourceCachesAndRefreshesBeforeExpiry(t *testing.T) {
	tests := []struct {
		name          string
		expiresIn     int64
		refreshBefore time.Duration
		reusedFor     time.Duration // the token is reused until just before this
	}{
		{"default margin", 3600, 0, 59 * time.Minute},
		{"configured margin", 3600, 10 * time.Minute, 50 * time.Minute},
		// A margin longer than the token's life would mean a fetch per call:
		// it is capped at half the lifetime.
		{"short-lived token", 10, 0, 5 * time.Second},
		{"no expires_in", 0, 0, 4 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Now()}
			stub := newTokenStub(t, clock.Now)
			stub.expiresIn.Store(tt.expiresIn)
			ts := stub.source(t, TokenSourceConfig{RefreshBefore: tt.refreshBefore})

			mustToken(t, ts, "token-1")
			mustToken(t, ts, "token-1")
			clock.Advance(tt.reusedFor - time.Millisecond)
			mustToken(t, ts, "token-1")
			clock.Advance(time.Millisecond)
			mustToken(t, ts, "token-2")
			mustToken(t, ts, "token-2")
			if n := stub.fetches.Load(); n != 2 {
				t.Fatalf("%d fetches, want 2", n)
			}
		})
	}
}

func TestTokenSourceConcurrentCallersShareOneFetch(t *testing.T) {
	stub := newTokenStub(t, time.Now)
	stub.delay = 200 * time.Millisecond
	ts := stub.source(t, TokenSourceConfig{})

	const callers = 50
	var wg sync.WaitGroup
	tokens := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { tokens[i], errs[i] = ts.Token(context.Background()) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || tokens[i] != "token-1" {
			t.Fatalf("caller %d: %q, %v", i, tokens[i], errs[i])
		}
	}
	if n := stub.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for %d concurrent callers, want 1", n, callers)
	}
}

func TestTokenSourceWaiterGivingUpDoesNotFailOthers(t *testing.T) {
	stub := newTokenStub(t, time.Now)
	stub.delay = 300 * time.Millisecond
	ts := stub.source(t, TokenSourceConfig{})

	impatient, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	patient := make(chan error, 1)
	go func() {
		time.Sleep(10 * time.Millisecond) // join the impatient caller's fetch
		_, err := ts.Token(context.Background())
		patient <- err
	}()
	if _, err := ts.Token(impatient); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient caller: %v, want its deadline", err)
	}
	if err := <-patient; err != nil {
		t.Fatalf("patient caller failed with the impatient one: %v", err)
	}
	mustToken(t, ts, "token-1")
	if n := stub.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func TestTokenSourceInvalidate(t *testing.T) {
	stub := newTokenStub(t, time.Now)
	ts := stub.source(t, TokenSourceConfig{})

	mustToken(t, ts, "token-1")
	ts.Invalidate("token-0") // not the cached one: another caller's stale token
	mustToken(t, ts, "token-1")
	ts.Invalidate("token-1")
	mustToken(t, ts, "token-2")
	if n := stub.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestTokenSourceKeepsUnexpiredTokenWhenRefreshFails(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	stub := newTokenStub(t, clock.Now)
	ts := stub.source(t, TokenSourceConfig{})
	mustToken(t, ts, "token-1")

	down := func(w http.ResponseWriter) { http.Error(w, "down", http.StatusServiceUnavailable) }
	stub.fail.Store(&down)
	clock.Advance(59*time.Minute + 30*time.Second) // in the refresh window
	mustToken(t, ts, "token-1")
	clock.Advance(30 * time.Second) // expired
	if _, err := ts.Token(context.Background()); provider.StatusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("after expiry: %v, want the endpoint's 503", err)
	}
	stub.fail.Store(nil)
	mustToken(t, ts, "token-4")
}

func TestTokenEndpointErrors(t *testing.T) {
	respond := func(status int, header, body string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			if name, value, ok := strings.Cut(header, ": "); ok {
				w.Header().Set(name, value)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	tests := []struct {
		name       string
		answer     func(http.ResponseWriter)
		want       *provider.Error // nil: not a *provider.Error
		unreadable bool
	}{
		{
			name:   "invalid grant",
			answer: respond(400, "", `{"error":"invalid_grant","error_description":"Invalid JWT signature."}`),
			want:   &provider.Error{Provider: "masstack", Operation: "token", StatusCode: 400, Code: "invalid_grant", Message: "Invalid JWT signature."},
		},
		{
			name:   "unavailable with Retry-After",
			answer: respond(503, "Retry-After: 7", `{"error":"temporarily_unavailable"}`),
			want:   &provider.Error{Provider: "masstack", Operation: "token", StatusCode: 503, Code: "temporarily_unavailable", Message: "Service Unavailable", RetryAfter: 7 * time.Second},
		},
		{
			name:   "proxy page",
			answer: respond(502, "", `<html><body><h1>502 Bad Gateway</h1></body></html>`),
			want:   &provider.Error{Provider: "masstack", Operation: "token", StatusCode: 502, Message: "502 Bad Gateway"},
		},
		{name: "no access token", answer: respond(200, "", `{"token_type":"Bearer","expires_in":60}`), unreadable: true},
		{name: "not a bearer token", answer: respond(200, "", `{"access_token":"x","token_type":"mac","expires_in":60}`), unreadable: true},
		{name: "not JSON", answer: respond(200, "", `access_token=x`), unreadable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newTokenStub(t, time.Now)
			stub.fail.Store(&tt.answer)
			_, err := stub.source(t, TokenSourceConfig{}).Token(context.Background())
			if tt.unreadable {
				if !errors.Is(err, provider.ErrUnreadableAnswer) {
					t.Fatalf("error %v, want ErrUnreadableAnswer", err)
				}
				return
			}
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want *provider.Error", err, err)
			}
			if *pe != *tt.want {
				t.Fatalf("error %+v, want %+v", *pe, *tt.want)
			}
		})
	}
}

func TestTokenEndpointUnreachable(t *testing.T) {
	stub := newTokenStub(t, time.Now)
	ts := stub.source(t, TokenSourceConfig{Timeout: 2 * time.Second})
	stub.srv.Close()
	_, err := ts.Token(context.Background())
	var pe *provider.Error
	if err == nil || errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "masstack token: ") {
		t.Fatalf("error %v, want a wrapped transport error", err)
	}
}

// TestAssertionCheckedByEmulator has the emulator, written from the
// reference independently of this package, judge the assertions this
// package signs: a correct one is exchanged; a wrong key, audience or clock
// is refused with an error that says which.
func TestAssertionCheckedByEmulator(t *testing.T) {
	dir := t.TempDir()
	trustedPath := filepath.Join(dir, "trusted.json")
	trusted, err := msandbox.GenerateServiceAccount(trustedPath, "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := msandbox.GenerateServiceAccount(filepath.Join(dir, "other.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := msandbox.Start("127.0.0.1:0", msandbox.Options{AccountFiles: []string{trustedPath}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	account := func(sa *msandbox.ServiceAccount) ServiceAccount {
		return ServiceAccount{PrivateKeyID: sa.PrivateKeyID, PrivateKey: sa.PrivateKey, ClientEmail: sa.ClientEmail}
	}
	forged := account(other)
	forged.PrivateKeyID = trusted.PrivateKeyID
	impostor := account(trusted)
	impostor.ClientEmail = "someone-else@yoigo.iam.masstack.test"

	tests := []struct {
		name     string
		account  ServiceAccount
		audience string
		skew     time.Duration // added to the signer's clock
		status   int           // 0: a token is issued
		code     string
		message  string
	}{
		{name: "valid", account: account(trusted)},
		{name: "unknown key id", account: account(other), status: 401, code: "invalid_client", message: "kid"},
		{name: "wrong key", account: forged, status: 400, code: "invalid_grant", message: "signature"},
		{name: "wrong issuer", account: impostor, status: 400, code: "invalid_grant", message: "iss"},
		{name: "wrong audience", account: account(trusted), audience: "https://auth.example.test/token", status: 400, code: "invalid_grant", message: "aud must be " + srv.TokenURL},
		{name: "expired", account: account(trusted), skew: -10 * time.Minute, status: 400, code: "invalid_grant", message: "expired"},
		{name: "issued in the future", account: account(trusted), skew: 2 * time.Minute, status: 400, code: "invalid_grant", message: "iat is in the future"},
		// Within the 30s skew the emulator allows.
		{name: "clock slightly ahead", account: account(trusted), skew: 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := NewTokenSource(tt.account, TokenSourceConfig{TokenURL: srv.TokenURL, Audience: tt.audience})
			if err != nil {
				t.Fatal(err)
			}
			ts.now = func() time.Time { return time.Now().Add(tt.skew) }
			token, err := ts.Token(context.Background())
			if tt.status == 0 {
				if err != nil || token == "" {
					t.Fatalf("token %q, error %v", token, err)
				}
				return
			}
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.StatusCode != tt.status || pe.Code != tt.code || !strings.Contains(pe.Message, tt.message) {
				t.Fatalf("error %v, want HTTP %d %s mentioning %q", err, tt.status, tt.code, tt.message)
			}
		})
	}
	if st := srv.Emulator.Stats(); st.TokensIssued != 2 || st.TokensRejected != 6 {
		t.Fatalf("stats %+v, want 2 issued and 6 rejected", st)
	}
}
