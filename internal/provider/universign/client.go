package universign

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/provider"
)

// providerName is the name every *provider.Error of this package carries.
const providerName = "universign"

// DefaultBaseURL is Universign's production API.
const DefaultBaseURL = "https://api.universign.com"

// registrationsPath is the registrations collection, below the base URL.
const registrationsPath = "/v1/registrations"

// Config of the client.
type Config struct {
	// BaseURL is the API root without /v1, e.g. https://api.alpha.universign.com
	// for the sandbox; default DefaultBaseURL.
	BaseURL string
	// APIKey authenticates every call (UNIVERSIGN_API_KEY).
	APIKey string
	// Timeout bounds each HTTP call, answer body included; default
	// provider.DefaultTimeout (30s).
	Timeout time.Duration
	// HTTPClient is used as is when set (tests); nil means a client that
	// does not follow redirects, so the API key never reaches another host.
	HTTPClient *http.Client
}

// Client calls Universign's registrations API. It is safe for concurrent
// use. Like every provider client it never logs, and its errors carry
// registration ids but never the applicant's email, name or phone number.
type Client struct {
	base *url.URL
	http *provider.HTTP
}

// New returns a client for cfg. A missing API key fails here, at worker
// start-up, rather than as a 401 on every activity.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("universign: API key is empty; set UNIVERSIGN_API_KEY")
	}
	base, err := provider.ParseBaseURL(cmp.Or(cfg.BaseURL, DefaultBaseURL), DefaultBaseURL)
	if err != nil {
		return nil, fmt.Errorf("universign: %w", err)
	}
	// Paths are appended to the base, so a trailing slash would double.
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = strings.TrimSuffix(base.RawPath, "/")
	key := cfg.APIKey
	return &Client{base: base, http: &provider.HTTP{
		Provider: providerName,
		Client:   cfg.HTTPClient,
		Timeout:  cfg.Timeout,
		// Universign takes the key as the basic-auth user with an empty
		// password (Bearer works too; basic is the documented example).
		Prepare: func(req *http.Request, _ []byte) error {
			req.SetBasicAuth(key, "")
			return nil
		},
		ParseError: parseError,
	}}, nil
}

// CreateRegistration opens a standalone registration session for a future
// signer and returns it (state open, with the URL to send the applicant).
// r is sent as it is: check it with r.Validate first. The call is not
// idempotent and Universign documents no way to find a registration by
// applicant, so after an ambiguous failure (transport error, 5xx,
// provider.ErrUnreadableAnswer) a retry may open a second session; the
// first one simply expires unused.
func (c *Client) CreateRegistration(ctx context.Context, r CreateRegistration) (Registration, error) {
	const op = "create_registration"
	ans, err := c.http.Do(ctx, op, http.MethodPost, c.endpoint(""), provider.FormBody(r.Form()))
	return registration(ans, err)
}

// GetRegistration returns registration id as Universign holds it; its
// state is how completion is learned, as no webhook is documented.
func (c *Client) GetRegistration(ctx context.Context, id string) (Registration, error) {
	const op = "get_registration"
	if err := provider.CheckID("universign", op, "registration id", id); err != nil {
		return Registration{}, err
	}
	ans, err := c.http.Do(ctx, op, http.MethodGet, c.endpoint(id), nil)
	return registration(ans, err)
}

// CancelRegistration cancels registration id, so its link stops working.
// Universign refuses (409, inferred) once the registration has ended:
// completed, canceled, failed or expired.
func (c *Client) CancelRegistration(ctx context.Context, id string) error {
	const op = "cancel_registration"
	if err := provider.CheckID("universign", op, "registration id", id); err != nil {
		return err
	}
	_, err := c.http.Do(ctx, op, http.MethodDelete, c.endpoint(id), nil)
	return err
}

// endpoint returns the registrations collection, or registration id in it
// when id is not empty (path-escaped: ids come from Universign's answers).
func (c *Client) endpoint(id string) *url.URL {
	u := *c.base
	u.Path += registrationsPath
	u.RawPath = ""
	if id != "" {
		u.Path += "/" + id
		u.RawPath = c.base.EscapedPath() + registrationsPath + "/" + url.PathEscape(id)
	}
	return &u
}

// registration reads a create or get answer. An answer without id or state
// is unusable: the caller could neither poll nor classify it.
func registration(ans *provider.Answer, err error) (Registration, error) {
	var out Registration
	if err != nil {
		return out, err
	}
	if err := ans.Decode(&out); err != nil {
		return out, err
	}
	if out.ID == "" || out.State == "" {
		return out, ans.Unreadable("no registration id or state")
	}
	return out, nil
}

// parseError reads Universign's error body. Its shape is not documented;
// {"error": code, "error_description": text} is inferred (provider notes,
// section 2) and kept here alone.
func parseError(e *provider.Error, body []byte) {
	fields := provider.JSONObject(body)
	e.Code = provider.JSONScalar(fields["error"])
	e.Message = cmp.Or(provider.JSONScalar(fields["error_description"]), e.Code)
}
