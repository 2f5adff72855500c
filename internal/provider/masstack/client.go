package masstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/provider"
)

// DefaultBaseURL is MasStack Documents' production API.
const DefaultBaseURL = "https://documents.masstack.com/v1"

// Config of the client.
type Config struct {
	// BaseURL is the API base; empty means DefaultBaseURL.
	BaseURL string
	// AuthURL is the token endpoint (MASSTACK_AUTH_URL). It is required
	// unless the service-account file names one (token_uri); when both are
	// set, AuthURL wins, so an operator can point a stock file elsewhere.
	AuthURL string
	// Audience is the assertion's aud; empty means the token endpoint.
	Audience string
	// OrgID is the tenant, e.g. "yoigo" (MASSTACK_ORG_ID, required).
	OrgID string
	// ServiceAccountFile is the service account's JSON key file
	// (MASSTACK_SERVICE_ACCOUNT_FILE, required).
	ServiceAccountFile string
	// Timeout bounds each HTTP call, token requests included; zero means
	// provider.DefaultTimeout (30s).
	Timeout time.Duration
	// RefreshBefore is how long before expiry the access token is
	// replaced; zero means DefaultRefreshBefore.
	RefreshBefore time.Duration
	// HTTPClient is used as is when set (tests); nil means a client that
	// does not follow redirects.
	HTTPClient *http.Client
}

// Client calls MasStack's identity-document identifications of one tenant.
// It is safe for concurrent use.
//
// The package never logs and never puts personal data into an error: a
// create carries the person's name and document number, and errors end up
// in Temporal's history and in operators' consoles.
type Client struct {
	// collection is {base}/orgs/{org}/identifications/identity_document.
	collection *url.URL
	tokens     *TokenSource
	api        *provider.HTTP
}

// New returns a client for cfg. It reads and checks the service account
// now, so that a misconfigured worker fails at start-up with an error
// naming the setting to fix, instead of failing every activity later.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.OrgID) == "" {
		return nil, errors.New("masstack: MASSTACK_ORG_ID (the tenant, e.g. yoigo) is empty")
	}
	if cfg.ServiceAccountFile == "" {
		return nil, errors.New("masstack: MASSTACK_SERVICE_ACCOUNT_FILE (the service account's JSON key file) is empty")
	}
	raw := cfg.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := absoluteURL(raw)
	if err != nil {
		return nil, fmt.Errorf("masstack: base URL (MASSTACK_BASE_URL): %w", err)
	}
	if base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("masstack: base URL %q (MASSTACK_BASE_URL) must not carry a query or fragment", raw)
	}
	account, err := LoadServiceAccount(cfg.ServiceAccountFile)
	if err != nil {
		return nil, err
	}
	authURL := cfg.AuthURL
	if authURL == "" {
		authURL = account.TokenURI
	}
	if authURL == "" {
		return nil, fmt.Errorf("masstack: MASSTACK_AUTH_URL (the token endpoint) is empty and service account %q has no token_uri", cfg.ServiceAccountFile)
	}
	tokens, err := NewTokenSource(*account, TokenSourceConfig{
		TokenURL:      authURL,
		Audience:      cfg.Audience,
		RefreshBefore: cfg.RefreshBefore,
		Timeout:       cfg.Timeout,
		HTTPClient:    cfg.HTTPClient,
	})
	if err != nil {
		return nil, err
	}
	return &Client{
		collection: base.JoinPath("orgs", url.PathEscape(cfg.OrgID), "identifications", "identity_document"),
		tokens:     tokens,
		api: &provider.HTTP{
			Provider:   providerName,
			Client:     cfg.HTTPClient,
			Timeout:    cfg.Timeout,
			Prepare:    authorize,
			ParseError: parseErrors,
		},
	}, nil
}

// CreateIdentification creates an identification and returns it, with the
// link the person opens. The identification is checked first (Validate), so
// a defect is reported without a call. The call is not idempotent and
// MasStack lists nothing to look a lost answer up with: after a transport
// error, a 5xx or provider.ErrUnreadableAnswer an identification may exist
// anyway; it expires unused.
func (c *Client) CreateIdentification(ctx context.Context, r CreateIdentification) (Identification, error) {
	const op = "create_identification"
	var out Identification
	if err := r.Validate(); err != nil {
		return out, err
	}
	body, err := provider.JSONBody(r)
	if err != nil {
		return out, fmt.Errorf("masstack %s: encoding the identification: %w", op, err)
	}
	ans, err := c.do(ctx, op, http.MethodPost, c.collection, body)
	if err != nil {
		return out, err
	}
	return out, decodeIdentification(ans, &out)
}

// GetIdentification returns identification id; its status says how the
// identification went (OutcomeOf).
func (c *Client) GetIdentification(ctx context.Context, id string) (Identification, error) {
	const op = "get_identification"
	var out Identification
	u, err := c.identificationURL(op, id)
	if err != nil {
		return out, err
	}
	ans, err := c.do(ctx, op, http.MethodGet, u, nil)
	if err != nil {
		return out, err
	}
	return out, decodeIdentification(ans, &out)
}

// CancelIdentification cancels identification id, recording reason with
// MasStack. MasStack answers 409 when the identification is already final
// (completed, rejected, expired or cancelled) and 404 when it does not
// exist; both come back as a *provider.Error.
func (c *Client) CancelIdentification(ctx context.Context, id, reason string) error {
	const op = "cancel_identification"
	u, err := c.identificationURL(op, id)
	if err != nil {
		return err
	}
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("masstack %s: reason is empty; MasStack records why an identification was cancelled", op)
	}
	body, err := provider.JSONBody(map[string]string{"reason": reason})
	if err != nil {
		return fmt.Errorf("masstack %s: encoding the reason: %w", op, err)
	}
	_, err = c.do(ctx, op, http.MethodDelete, u, body)
	return err
}

// identificationURL returns the URL of identification id. The id is one
// escaped path segment, so that no id (MasStack's are uuids, but they come
// from outside) can address another resource.
func (c *Client) identificationURL(op, id string) (*url.URL, error) {
	if err := provider.CheckID("masstack", op, "identification id", id); err != nil {
		return nil, err
	}
	return c.collection.JoinPath(url.PathEscape(id)), nil
}

// decodeIdentification reads an identification answer, which must at least
// name the identification.
func decodeIdentification(ans *provider.Answer, out *Identification) error {
	if err := ans.Decode(out); err != nil {
		return err
	}
	if out.ID == "" {
		return ans.Unreadable("no identification id")
	}
	return nil
}

// bearerKey is the context key under which do hands authorize the access
// token of one call.
type bearerKey struct{}

// authorize is provider.HTTP's Prepare: it sends the call's access token.
// The token travels in the request's context rather than being fetched
// here, because do must know which token a 401 was for.
func authorize(req *http.Request, _ []byte) error {
	token, _ := req.Context().Value(bearerKey{}).(string)
	if token == "" {
		return errors.New("no access token for the call")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return nil
}

// do makes one API call with an access token. A 401 means the token was
// refused before its announced expiry (revoked, or the clocks disagree)
// and the call had no effect, so even a create is safe to repeat: the
// token is dropped and the call made once more with a new one. A second
// 401 is returned, as it no longer says anything about the cached token.
func (c *Client) do(ctx context.Context, op, method string, u *url.URL, body *provider.Body) (*provider.Answer, error) {
	for attempt := 1; ; attempt++ {
		token, err := c.tokens.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("masstack %s: getting an access token: %w", op, err)
		}
		ans, err := c.api.Do(context.WithValue(ctx, bearerKey{}, token), op, method, u, body)
		if attempt == 1 && provider.StatusOf(err) == http.StatusUnauthorized {
			c.tokens.Invalidate(token)
			continue
		}
		return ans, err
	}
}

// parseErrors reads MasStack's errors body, {"errors": [{"code",
// "message"}]} (shape inferred, section 4 of the provider notes), keeping
// the first entry: it names the first defect, which is enough to act on.
func parseErrors(e *provider.Error, body []byte) {
	var all []map[string]json.RawMessage
	if json.Unmarshal(provider.JSONObject(body)["errors"], &all) != nil || len(all) == 0 {
		return
	}
	e.Code = provider.JSONScalar(all[0]["code"])
	e.Message = provider.JSONScalar(all[0]["message"])
}
