package masstack

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/certflow/certflow/internal/provider"
)

// providerName is the name every *provider.Error of this package carries.
const providerName = "masstack"

// jwtBearerGrant is the OAuth 2.0 grant type of a signed assertion
// exchanged for an access token (RFC 7523).
const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

const (
	// assertionLifetime is how long a signed assertion is valid. It is only
	// exchanged once, right away, so a short life limits what a leaked
	// assertion (in a proxy log, say) is worth.
	assertionLifetime = 5 * time.Minute
	// DefaultRefreshBefore is how long before its expiry a cached access
	// token is replaced, so that a call never starts with a token that
	// expires in flight.
	DefaultRefreshBefore = time.Minute
	// fallbackTokenLifetime is assumed when the token endpoint omits
	// expires_in (RFC 6749 only recommends it). Guessing too long costs one
	// 401 and a refresh, since the client retries once with a new token.
	fallbackTokenLifetime = 5 * time.Minute
)

// ServiceAccount is MasStack's service-account key file: the account's
// email and the RSA key it signs token requests with.
type ServiceAccount struct {
	// PrivateKeyID identifies the key to MasStack; it is the assertion's
	// kid header.
	PrivateKeyID string `json:"private_key_id"`
	// PrivateKey is the RSA private key, PEM-encoded (PKCS #1 or PKCS #8).
	PrivateKey string `json:"private_key"`
	// ClientEmail is the account's identity: the assertion's issuer and
	// subject.
	ClientEmail string `json:"client_email"`
	// TokenURI is the token endpoint, when the file names one.
	TokenURI string `json:"token_uri,omitempty"`
}

// LoadServiceAccount reads and checks the service-account file at path, so
// that a bad file stops the worker at start-up rather than failing every
// call. Errors name the file and its setting, never the key.
func LoadServiceAccount(path string) (*ServiceAccount, error) {
	where := fmt.Sprintf("masstack: service account %q (MASSTACK_SERVICE_ACCOUNT_FILE)", path)
	data, err := os.ReadFile(path)
	if err != nil {
		// The *PathError already quotes path.
		return nil, fmt.Errorf("masstack: reading the service account (MASSTACK_SERVICE_ACCOUNT_FILE): %w", err)
	}
	var sa ServiceAccount
	if err := json.Unmarshal(data, &sa); err != nil {
		// encoding/json's messages can quote a character of the input,
		// which may be part of the key: give the position only.
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("%s: not valid JSON (at byte %d)", where, syntax.Offset)
		}
		return nil, fmt.Errorf("%s: not a service-account JSON object", where)
	}
	if _, err := sa.signingKey(); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &sa, nil
}

// signingKey checks the account's fields and parses its key. The error
// names what is missing or wrong, never the key material.
func (sa *ServiceAccount) signingKey() (*rsa.PrivateKey, error) {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"private_key_id", sa.PrivateKeyID},
		{"private_key", sa.PrivateKey},
		{"client_email", sa.ClientEmail},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(sa.PrivateKey))
	if err != nil {
		// jwt's errors here are fixed texts ("key must be a PEM encoded
		// PKCS1 or PKCS8 key", "key is not a valid RSA private key").
		return nil, fmt.Errorf("private_key is not a PEM RSA private key (PKCS #1 or PKCS #8): %w", err)
	}
	return key, nil
}

// TokenSourceConfig configures a TokenSource.
type TokenSourceConfig struct {
	// TokenURL is the token endpoint the assertion is posted to (required).
	TokenURL string
	// Audience is the assertion's aud claim; empty means TokenURL, which is
	// what a token endpoint expects unless told otherwise.
	Audience string
	// RefreshBefore is how long before expiry a cached token is replaced;
	// zero means DefaultRefreshBefore. It is capped at half the token's
	// lifetime, so that short-lived tokens are still reused.
	RefreshBefore time.Duration
	// Timeout bounds one token request; zero means provider.DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends token requests; nil means provider.HTTP's default.
	HTTPClient *http.Client
}

// TokenSource hands out MasStack access tokens obtained with a service
// account's signed assertion. It caches the current token and replaces it
// shortly before it expires; concurrent callers that need a new token share
// one request to the token endpoint. It is safe for concurrent use.
type TokenSource struct {
	account       ServiceAccount
	key           *rsa.PrivateKey
	tokenURL      *url.URL
	audience      string
	refreshBefore time.Duration
	http          *provider.HTTP
	now           func() time.Time

	mu       sync.Mutex
	current  *accessToken // nil: none cached
	inflight *tokenFetch  // nil: no request to the token endpoint under way
}

// accessToken is a token and the times that govern its reuse.
type accessToken struct {
	value     string
	refreshAt time.Time // from then on, callers get a new one
	expiresAt time.Time // from then on, it is never handed out
}

// tokenFetch is one request to the token endpoint, shared by every caller
// that needed a token while it ran.
type tokenFetch struct {
	done  chan struct{} // closed once token or err is set
	token *accessToken
	err   error
}

// NewTokenSource returns a token source for account. It parses the key now,
// so that a bad key fails at start-up.
func NewTokenSource(account ServiceAccount, cfg TokenSourceConfig) (*TokenSource, error) {
	key, err := account.signingKey()
	if err != nil {
		return nil, fmt.Errorf("masstack: service account: %w", err)
	}
	tokenURL, err := absoluteURL(cfg.TokenURL)
	if err != nil {
		return nil, fmt.Errorf("masstack: token endpoint (MASSTACK_AUTH_URL or the service account's token_uri): %w", err)
	}
	audience := cfg.Audience
	if audience == "" {
		audience = tokenURL.String()
	}
	refreshBefore := cfg.RefreshBefore
	if refreshBefore <= 0 {
		refreshBefore = DefaultRefreshBefore
	}
	return &TokenSource{
		account:       account,
		key:           key,
		tokenURL:      tokenURL,
		audience:      audience,
		refreshBefore: refreshBefore,
		http: &provider.HTTP{
			Provider:   providerName,
			Client:     cfg.HTTPClient,
			Timeout:    cfg.Timeout,
			ParseError: parseOAuthError,
		},
		now: time.Now,
	}, nil
}

// absoluteURL parses an endpoint URL and insists on an absolute http(s) URL:
// a relative one would fail on every call with a less helpful message.
func absoluteURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return u, nil
}

// Token returns an access token valid for at least a little while (see
// TokenSourceConfig.RefreshBefore), requesting a new one when needed.
//
// The request to the token endpoint is not bound to ctx: it is shared by
// every caller waiting for it, and one caller giving up must not fail the
// others. It is bounded by the configured timeout instead; ctx only bounds
// how long this caller waits.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	if t := s.current; t != nil && s.now().Before(t.refreshAt) {
		s.mu.Unlock()
		return t.value, nil
	}
	f := s.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		s.inflight = f
		go s.fetch(context.WithoutCancel(ctx), f)
	}
	s.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return "", fmt.Errorf("masstack token: %w", ctx.Err())
	}
	if f.err == nil {
		return f.token.value, nil
	}
	// A failed refresh is not yet a failed call: the old token still
	// works until it expires, and the endpoint may be back by then. It is
	// read again because Invalidate may have dropped it meanwhile.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && s.now().Before(s.current.expiresAt) {
		return s.current.value, nil
	}
	return "", f.err
}

// fetch runs f and publishes its outcome.
func (s *TokenSource) fetch(ctx context.Context, f *tokenFetch) {
	tok, err := s.requestToken(ctx)
	s.mu.Lock()
	if err == nil {
		s.current = tok
	}
	s.inflight = nil
	f.token, f.err = tok, err
	s.mu.Unlock()
	close(f.done)
}

// Invalidate drops token from the cache, so that the next Token call
// requests a new one. The API rejecting a token before its announced expiry
// (revoked, or the two clocks disagree) is the reason to call it. A token
// that is no longer the cached one is ignored: another caller has already
// replaced it.
func (s *TokenSource) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && s.current.value == token {
		s.current = nil
	}
}

// tokenResponse is the token endpoint's successful answer (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// requestToken signs a new assertion and exchanges it for an access token.
func (s *TokenSource) requestToken(ctx context.Context) (*accessToken, error) {
	const op = "token"
	// The lifetime is counted from before the request: the endpoint's clock
	// starts when it answers, so this errs on the early side.
	start := s.now()
	assertion, err := s.sign(start)
	if err != nil {
		return nil, fmt.Errorf("masstack %s: signing the assertion: %w", op, err)
	}
	form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}}
	ans, err := s.http.Do(ctx, op, http.MethodPost, s.tokenURL, provider.FormBody(form))
	if err != nil {
		return nil, err
	}
	var tr tokenResponse
	if err := ans.Decode(&tr); err != nil {
		return nil, err
	}
	if tr.AccessToken == "" {
		return nil, ans.Unreadable("no access_token")
	}
	if !strings.EqualFold(tr.TokenType, "Bearer") {
		return nil, ans.Unreadable(fmt.Sprintf("token_type %q, want Bearer", tr.TokenType))
	}
	lifetime := time.Duration(tr.ExpiresIn) * time.Second
	if tr.ExpiresIn <= 0 {
		lifetime = fallbackTokenLifetime
	}
	return &accessToken{
		value:     tr.AccessToken,
		refreshAt: start.Add(lifetime - min(s.refreshBefore, lifetime/2)),
		expiresAt: start.Add(lifetime),
	}, nil
}

// sign returns a new RS256 assertion issued at now.
func (s *TokenSource) sign(now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{
		Issuer:    s.account.ClientEmail,
		Subject:   s.account.ClientEmail,
		Audience:  jwt.ClaimStrings{s.audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
		// A fresh jti per assertion lets the endpoint refuse replays.
		ID: rand.Text(),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = s.account.PrivateKeyID
	return t.SignedString(s.key)
}

// parseOAuthError reads the token endpoint's error body (RFC 6749 §5.2):
// {"error": code, "error_description": text}.
func parseOAuthError(e *provider.Error, body []byte) {
	fields := provider.JSONObject(body)
	e.Code = provider.JSONScalar(fields["error"])
	e.Message = provider.JSONScalar(fields["error_description"])
}
