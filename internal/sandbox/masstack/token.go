package masstack

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/certflow/certflow/internal/sandbox"
)

// TokenPath is where the token endpoint lives on the emulator's listener.
const TokenPath = "/oauth/token"

// jwtBearerGrant is the only grant type the token endpoint accepts (RFC 7523).
const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

const (
	// maxAssertionLifetime bounds exp - now: a long-lived assertion is a
	// standing credential, which is what the exchange exists to avoid.
	maxAssertionLifetime = time.Hour
	// clockSkew is how far in the future an assertion's iat may be, for
	// clocks that disagree a little.
	clockSkew = 30 * time.Second
	// maxFormBody bounds a token request: an assertion is a few hundred
	// bytes.
	maxFormBody = 64 << 10
)

// DevClientEmail is the identity of the service accounts
// GenerateServiceAccount writes.
const DevClientEmail = "certflow-dev@" + DefaultOrg + ".iam.masstack.test"

// ServiceAccount is the service-account key file MasStack hands out, in the
// shape certflow's client reads.
type ServiceAccount struct {
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri,omitempty"`
}

// GenerateServiceAccount writes a new development service account to path,
// readable by its owner only (it holds a private key): a fresh RSA 2048 key
// (PKCS #8 PEM, as MasStack's files carry it) under a random key id, for
// DevClientEmail. tokenURI, when not empty, is recorded as the account's
// token endpoint. An existing file is replaced.
func GenerateServiceAccount(path, tokenURI string) (*ServiceAccount, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("masstack sandbox: generating the service account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("masstack sandbox: encoding the service account key: %w", err)
	}
	sa := &ServiceAccount{
		PrivateKeyID: sandbox.RandomHex(20),
		PrivateKey:   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		ClientEmail:  DevClientEmail,
		TokenURI:     tokenURI,
	}
	data, err := json.MarshalIndent(sa, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("masstack sandbox: encoding the service account: %w", err)
	}
	if err := writePrivateFile(path, append(data, '\n')); err != nil {
		return nil, fmt.Errorf("masstack sandbox: writing the service account: %w", err)
	}
	return sa, nil
}

// writePrivateFile writes data to path with mode 0600. It writes a
// temporary file (created 0600) and renames it over path, so the key is
// never readable by others, not even for an instant through an existing
// file's wider mode, and a reader never sees half a file.
func writePrivateFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// account is a trusted service account: the identity it must assert and
// the key its assertions must verify with.
type account struct {
	email string
	key   *rsa.PublicKey
}

// loadAccount reads a service-account file and keeps its key id, email and
// public key. Errors never quote the file's content.
func loadAccount(path string) (string, account, error) {
	fail := func(why string) (string, account, error) {
		return "", account{}, fmt.Errorf("masstack sandbox: service account %q: %s", path, why)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fail(err.Error())
	}
	var sa ServiceAccount
	if err := json.Unmarshal(data, &sa); err != nil {
		return fail("not a service-account JSON object")
	}
	if sa.PrivateKeyID == "" || sa.ClientEmail == "" {
		return fail("private_key_id or client_email missing")
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(sa.PrivateKey))
	if err != nil {
		return fail("private_key is not a PEM RSA private key")
	}
	return sa.PrivateKeyID, account{email: sa.ClientEmail, key: &key.PublicKey}, nil
}

// grantError is a refused token request: the OAuth error code, the HTTP
// status and a description that says what to fix.
type grantError struct {
	status      int
	code        string
	description string
}

func invalidGrant(format string, args ...any) *grantError {
	return &grantError{http.StatusBadRequest, "invalid_grant", fmt.Sprintf(format, args...)}
}

// token serves POST /oauth/token: the jwt-bearer grant of a service
// account's assertion for an opaque access token.
func (e *Emulator) token(w http.ResponseWriter, r *http.Request) {
	if g := e.checkGrant(w, r); g != nil {
		if g.status != http.StatusServiceUnavailable {
			e.stats.tokensRejected.Add(1)
		}
		// The description names the defect, never the assertion.
		e.log.Printf("%s %s -> %d %s: %s", r.Method, r.URL.Path, g.status, g.code, g.description)
		writeJSON(w, g.status, map[string]string{"error": g.code, "error_description": g.description})
		return
	}
	token := rand.Text()
	e.mu.Lock()
	now := time.Now()
	// Expired tokens are dropped here, so that a long-running sandbox does
	// not keep every token it ever issued.
	for t, exp := range e.tokens {
		if !now.Before(exp) {
			delete(e.tokens, t)
		}
	}
	e.tokens[token] = now.Add(e.opts.TokenTTL)
	e.mu.Unlock()
	e.stats.tokensIssued.Add(1)
	e.log.Printf("%s %s -> 200 (token for %s)", r.Method, r.URL.Path, e.opts.TokenTTL)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   int64(e.opts.TokenTTL / time.Second),
	})
}

// checkGrant returns why the token request r is refused, or nil.
func (e *Emulator) checkGrant(w http.ResponseWriter, r *http.Request) *grantError {
	if e.tokenOutage.Load() {
		return &grantError{http.StatusServiceUnavailable, "temporarily_unavailable", "the token service is down (sandbox token outage)"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return &grantError{http.StatusBadRequest, "invalid_request", "send an application/x-www-form-urlencoded body of at most 64 KiB"}
	}
	if r.PostForm.Get("grant_type") != jwtBearerGrant {
		return &grantError{http.StatusBadRequest, "unsupported_grant_type", "grant_type must be " + jwtBearerGrant}
	}
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		return &grantError{http.StatusBadRequest, "invalid_request", "assertion is missing"}
	}
	return e.verifyAssertion(assertion, e.audienceFor(r))
}

// audienceFor returns the aud an assertion posted with r must carry.
func (e *Emulator) audienceFor(r *http.Request) string {
	if e.opts.Audience != "" {
		return e.opts.Audience
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + TokenPath
}

// verifyAssertion checks a service account's assertion: RS256 signed by a
// trusted key (by kid), issued by that key's account, for audience, and
// neither expired, nor long-lived, nor issued in the future.
func (e *Emulator) verifyAssertion(assertion, audience string) *grantError {
	var claims jwt.RegisteredClaims
	var acct account
	tok, err := jwt.ParseWithClaims(assertion, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		a, ok := e.accounts[kid]
		if !ok {
			return nil, errUnknownKey
		}
		acct = a
		return a.key, nil
	},
		// Only RS256: accepting the alg the token names would let an HS256
		// token "signed" with the public key pass (algorithm confusion).
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(audience),
	)
	now := time.Now()
	switch {
	case errors.Is(err, errUnknownKey):
		return &grantError{http.StatusUnauthorized, "invalid_client", "the assertion's kid names no key of a known service account"}
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalidGrant("the assertion is not a JWT")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && tok != nil && tok.Method.Alg() != jwt.SigningMethodRS256.Alg():
		return invalidGrant("the assertion is signed %s; only RS256 is accepted", tok.Method.Alg())
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalidGrant("the assertion's signature does not verify with the key its kid names")
	case errors.Is(err, jwt.ErrTokenExpired):
		return invalidGrant("the assertion has expired (exp is in the past)")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return invalidGrant("the assertion's aud must be %s", audience)
	case err != nil:
		return invalidGrant("the assertion is not valid: %v", err)
	}
	switch {
	case claims.ExpiresAt.After(now.Add(maxAssertionLifetime)):
		return invalidGrant("the assertion's exp is more than %s ahead", maxAssertionLifetime)
	case claims.IssuedAt == nil:
		return invalidGrant("the assertion has no iat")
	case claims.IssuedAt.After(now.Add(clockSkew)):
		return invalidGrant("the assertion's iat is in the future (check the clock)")
	case claims.Issuer != acct.email:
		return invalidGrant("the assertion's iss must be the client_email of the account whose key signed it")
	}
	return nil
}

// errUnknownKey is the key lookup's failure for a kid no account has.
var errUnknownKey = errors.New("unknown kid")
