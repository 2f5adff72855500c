package humanos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/validate"
)

// providerName is the name every *provider.Error of this package carries.
const providerName = "humanos"

// DefaultBaseURL is Humanos' production API.
const DefaultBaseURL = "https://api.humanos.id"

// apiVersionPattern is the API-Version format Humanos documents. A value it
// rejects would make every call fail with a 400, so New refuses it instead.
var apiVersionPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// Config of the client.
type Config struct {
	// BaseURL is the API root, without /v1; default DefaultBaseURL.
	BaseURL string
	// APIKey authenticates every call as a bearer token (HUMANOS_API_KEY,
	// required).
	APIKey string
	// SignatureSecret is the API key's signature secret, with which every
	// call is signed (HUMANOS_SIGNATURE_SECRET, required).
	SignatureSecret string
	// APIVersion pins the answers' shape to a dated API version
	// (HUMANOS_API_VERSION, "YYYY-MM-DD"). Empty means the v1 reference
	// API, whose shape is whatever the issuer's configuration says.
	APIVersion string
	// Timeout bounds each HTTP call, answer body included; zero means
	// provider.DefaultTimeout (30s).
	Timeout time.Duration
	// HTTPClient is used as is when set (tests); nil means a client that
	// does not follow redirects, so the API key never reaches another host.
	HTTPClient *http.Client
	// Now gives the time calls are stamped and signed with; nil means
	// time.Now.
	Now func() time.Time
}

// Client calls Humanos' request API. It is safe for concurrent use.
//
// The package never logs and never puts personal data into an error: a
// request names its subjects by email or phone number, and errors end up in
// Temporal's history and in operators' consoles.
type Client struct {
	// requests is the request collection, {base}/v1/request or
	// {base}/request (see requestsPath).
	requests   *url.URL
	apiKey     string
	secret     string
	apiVersion string
	now        func() time.Time
	http       *provider.HTTP
}

// New returns a client for cfg. Missing credentials fail here, at worker
// start-up, naming the setting to fix, rather than as a 401 on every
// activity.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, errors.New("humanos: HUMANOS_API_KEY (the API key) is empty")
	}
	if strings.TrimSpace(cfg.SignatureSecret) == "" {
		return nil, errors.New("humanos: HUMANOS_SIGNATURE_SECRET (the API key's signature secret) is empty")
	}
	if cfg.APIVersion != "" && !apiVersionPattern.MatchString(cfg.APIVersion) {
		return nil, fmt.Errorf("humanos: HUMANOS_API_VERSION %q is not a date YYYY-MM-DD", cfg.APIVersion)
	}
	base, err := provider.ParseBaseURL(cmp.Or(cfg.BaseURL, DefaultBaseURL), DefaultBaseURL)
	if err != nil {
		return nil, fmt.Errorf("humanos: HUMANOS_BASE_URL: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	c := &Client{
		requests:   base.JoinPath(requestsPath(cfg.APIVersion)),
		apiKey:     cfg.APIKey,
		secret:     cfg.SignatureSecret,
		apiVersion: cfg.APIVersion,
		now:        now,
	}
	// Humanos documents no error body, so the generic parser reads it.
	c.http = &provider.HTTP{
		Provider: providerName,
		Client:   cfg.HTTPClient,
		Timeout:  cfg.Timeout,
		Prepare:  c.prepare,
		Now:      now,
	}
	return c, nil
}

// requestsPath is where the request collection lives below the base URL:
// the v1 reference API has it under /v1, while dated API versions (chosen
// with the API-Version header) drop the prefix.
func requestsPath(apiVersion string) string {
	if apiVersion == "" {
		return "v1/request"
	}
	return "request"
}

// CreateRequest creates a request and returns it, with the link and code
// each subject is sent. r is checked first (Validate), so a defect costs
// neither a call nor one of the 60 creations Humanos allows per minute.
//
// Humanos sends the subjects their OTPs on creation, so a duplicate request
// reaches real people. With a non-empty idempotencyKey (stable across the
// attempts of one logical create, e.g. derived from the workflow ID) a
// repeat after an ambiguous failure (transport error, 5xx,
// provider.ErrUnreadableAnswer) returns the request the first attempt
// created; without one, a repeat may create a second request.
func (c *Client) CreateRequest(ctx context.Context, r CreateRequest, idempotencyKey string) (Request, error) {
	const op = "create_request"
	if err := r.Validate(); err != nil {
		return Request{}, fmt.Errorf("%s %s: %w", providerName, op, err)
	}
	body, err := provider.JSONBody(r)
	if err != nil {
		return Request{}, fmt.Errorf("%s %s: encoding the request: %w", providerName, op, err)
	}
	if idempotencyKey != "" {
		ctx = context.WithValue(ctx, idempotencyKeyKey{}, idempotencyKey)
	}
	return request(c.http.Do(ctx, op, http.MethodPost, c.endpoint(), body))
}

// GetRequest returns request id as Humanos holds it: its credentials'
// statuses and decisions and its subjects' identity status say how the
// request went, should a webhook have been lost.
func (c *Client) GetRequest(ctx context.Context, id string) (Request, error) {
	const op = "get_request"
	if err := provider.CheckID(providerName, op, "request id", id); err != nil {
		return Request{}, err
	}
	return request(c.http.Do(ctx, op, http.MethodGet, c.endpoint(id), nil))
}

// CancelRequest cancels request id, irreversibly: its links stop working
// and GetRequest reports canceledAt.
func (c *Client) CancelRequest(ctx context.Context, id string) error {
	const op = "cancel_request"
	if err := provider.CheckID(providerName, op, "request id", id); err != nil {
		return err
	}
	_, err := c.http.Do(ctx, op, http.MethodDelete, c.endpoint(id), nil)
	return err
}

// ResendOTP has Humanos send contact, a subject of request id, its one-time
// code again (the person lost it, or it expired). contact must be written
// as it was in the request's contacts.
func (c *Client) ResendOTP(ctx context.Context, id, contact string) error {
	const op = "resend_otp"
	if err := provider.CheckID(providerName, op, "request id", id); err != nil {
		return err
	}
	if !validate.Email(contact) && !validate.E164(contact) {
		return fmt.Errorf("%s %s: contact is neither an email address nor an E.164 phone number", providerName, op)
	}
	u := c.endpoint("resend", id)
	u.RawQuery = url.Values{"contact": {contact}}.Encode()
	_, err := c.http.Do(ctx, op, http.MethodPatch, u, nil)
	return err
}

// endpoint returns the request collection followed by segments, each
// path-escaped as one segment: ids come from outside, and none may address
// another resource.
func (c *Client) endpoint(segments ...string) *url.URL {
	escaped := make([]string, len(segments))
	for i, s := range segments {
		escaped[i] = url.PathEscape(s)
	}
	return c.requests.JoinPath(escaped...)
}

// request reads a create or get answer. An answer without id is unusable:
// the caller could neither follow the request nor cancel it.
func request(ans *provider.Answer, err error) (Request, error) {
	if err != nil {
		return Request{}, err
	}
	var out Request
	if err := ans.Decode(&out); err != nil {
		return Request{}, err
	}
	if out.ID == "" {
		return Request{}, ans.Unreadable("no request id")
	}
	return out, nil
}

// idempotencyKeyKey is the context key under which CreateRequest hands
// prepare the call's Idempotency-Key: provider.HTTP builds the request, so
// a per-call header can only reach it this way.
type idempotencyKeyKey struct{}

// prepare is provider.HTTP's Prepare: it authenticates and signs each
// call. The signature covers the exact bytes sent, so it is computed here,
// after encoding, and never from a re-encoding of the request.
func (c *Client) prepare(req *http.Request, body []byte) error {
	ts := Timestamp(c.now())
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Signature", Sign(c.secret, ts, body))
	if c.apiVersion != "" {
		req.Header.Set("API-Version", c.apiVersion)
	}
	if key, _ := req.Context().Value(idempotencyKeyKey{}).(string); key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return nil
}
