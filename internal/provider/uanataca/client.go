// Package uanataca is the client of the Uanataca RA API, the provider that
// issues qualified certificates. It speaks only the calls certflow's
// issuance needs (scratchcards, requests, documents, approval, cancel) and
// reports every unsuccessful answer as a *provider.Error, so the activities
// above it decide retries from one typed error and never parse text.
//
// The package never logs and never puts the applicant's personal data into
// an error: request bodies carry names, document numbers and contact data,
// and errors end up in Temporal's history and in operators' consoles.
package uanataca

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/provider"
)

// providerName is the name every *provider.Error of this package carries.
const providerName = "uanataca"

// maxPages bounds ListRequestsByScratchcard. A scratchcard is single-use, so
// its list holds one request, a few at most: hundreds of pages mean the RA
// ignored the filter, and walking its whole history would be slow and wrong.
const maxPages = 100

// Config of the client. BaseURL is e.g. "https://api.sandbox.uanataca.com/api/v1/"
// (a missing trailing slash is added).
type Config struct {
	BaseURL string
	// CertFile and KeyFile are the API user's client certificate and key
	// (PEM) for mutual TLS, the RA's only authentication; both or neither.
	CertFile, KeyFile string
	// CAFile is an optional CA bundle (PEM) to trust instead of the system
	// roots, for the sandbox emulator or a TLS-inspecting proxy.
	CAFile string
	// Timeout bounds each HTTP call, answer body included; default
	// provider.DefaultTimeout (30s). It applies to HTTPClient too.
	Timeout time.Duration
	// HTTPClient is used as is when set (tests); it overrides the TLS fields.
	HTTPClient *http.Client
}

// Client calls the Uanataca RA API. It is safe for concurrent use.
type Client struct {
	base *url.URL
	http *provider.HTTP
}

// New returns a client for cfg. It reads the certificate, key and CA files
// now, so a misconfigured worker fails at start-up with an error naming the
// file and its setting instead of failing every activity later.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tlsConfig, err := tlsConfigFor(cfg)
		if err != nil {
			return nil, err
		}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = tlsConfig
		// Not following redirects matters doubly here: a followed redirect
		// could present the client certificate to another host.
		hc = provider.NoRedirectClient(transport)
	}
	return &Client{base: base, http: &provider.HTTP{
		Provider:   providerName,
		Client:     hc,
		Timeout:    cfg.Timeout,
		ParseError: parseError,
	}}, nil
}

// parseBaseURL checks the base URL and gives it the trailing slash that
// relative references need to resolve below it rather than beside it.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := provider.ParseBaseURL(raw, "https://api.uanataca.com/api/v1/")
	if err != nil {
		return nil, fmt.Errorf("uanataca: %w", err)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u, nil
}

// tlsConfigFor builds the mutual-TLS configuration. Errors name the setting
// (the worker's environment variable) as well as the file, because the
// operator fixing them edits the setting.
func tlsConfigFor(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case cfg.CertFile != "" && cfg.KeyFile == "":
		return nil, errors.New("uanataca: UANATACA_CERT_FILE is set but UANATACA_KEY_FILE is not: the client certificate needs its key")
	case cfg.CertFile == "" && cfg.KeyFile != "":
		return nil, errors.New("uanataca: UANATACA_KEY_FILE is set but UANATACA_CERT_FILE is not: the key needs its client certificate")
	case cfg.CertFile != "":
		certPEM, err := os.ReadFile(cfg.CertFile)
		if err != nil {
			return nil, fmt.Errorf("uanataca: reading client certificate %q (UANATACA_CERT_FILE): %w", cfg.CertFile, err)
		}
		keyPEM, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("uanataca: reading client key %q (UANATACA_KEY_FILE): %w", cfg.KeyFile, err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("uanataca: client certificate %q (UANATACA_CERT_FILE) and key %q (UANATACA_KEY_FILE) are not a usable PEM pair: %w", cfg.CertFile, cfg.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	if cfg.CAFile != "" {
		caPEM, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("uanataca: reading CA bundle %q (UANATACA_CA_FILE): %w", cfg.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("uanataca: CA bundle %q (UANATACA_CA_FILE) holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// GetFirstUnusedScratchcard returns the RA's first unused scratchcard. The RA
// does not reserve it: two callers racing on one RA get the same card, and
// the second CreateRequest fails with 500 "Invalid ScratchCard".
//
// The RA reads its argument from a JSON body even though the method is GET.
func (c *Client) GetFirstUnusedScratchcard(ctx context.Context, ra string) (Scratchcard, error) {
	const op = "get_first_unused_scratchcard"
	var card Scratchcard
	if ra == "" {
		return card, fmt.Errorf("uanataca %s: registration authority is empty", op)
	}
	body, err := provider.JSONBody(map[string]string{"ra": ra})
	if err != nil {
		return card, fmt.Errorf("uanataca %s: %w", op, err)
	}
	ans, err := c.http.Do(ctx, op, http.MethodGet, c.endpoint(nil, "scratchcards", "get_first_unused"), body)
	if err != nil {
		return card, err
	}
	if err := ans.Decode(&card); err != nil {
		return card, err
	}
	if card.SN == "" {
		return card, ans.Unreadable("no scratchcard serial number")
	}
	return card, nil
}

// IsScratchcardUsed tells whether the scratchcard sn was consumed by a
// request. The RA answers a bare true or false, documented as text/plain;
// a JSON boolean or a quoted one is accepted too.
func (c *Client) IsScratchcardUsed(ctx context.Context, sn string) (bool, error) {
	const op = "is_scratchcard_used"
	if sn == "" {
		return false, fmt.Errorf("uanataca %s: scratchcard serial number is empty", op)
	}
	body, err := provider.JSONBody(map[string]string{"sn": sn})
	if err != nil {
		return false, fmt.Errorf("uanataca %s: %w", op, err)
	}
	ans, err := c.http.Do(ctx, op, http.MethodPost, c.endpoint(nil, "scratchcards", "isused"), body)
	if err != nil {
		return false, err
	}
	text := strings.Trim(strings.TrimSpace(string(ans.Body)), `"`)
	switch strings.ToLower(text) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, ans.Unreadable("want true or false")
}

// CreateRequest creates a certificate request and returns it (status
// CREATED, or VIDEOPENDING for Video ID). The call is not idempotent: after
// a transport error, a 5xx or provider.ErrUnreadableAnswer the request may exist
// anyway; find it with ListRequestsByScratchcard before creating again.
func (c *Client) CreateRequest(ctx context.Context, req CreateRequest) (Request, error) {
	const op = "create_request"
	var out Request
	body, err := provider.JSONBody(req)
	if err != nil {
		return out, fmt.Errorf("uanataca %s: encoding the request: %w", op, err)
	}
	ans, err := c.http.Do(ctx, op, http.MethodPost, c.endpoint(nil, "requests"), body)
	if err != nil {
		return out, err
	}
	if err := ans.Decode(&out); err != nil {
		return out, err
	}
	if out.PK == 0 {
		return out, ans.Unreadable("no request pk")
	}
	return out, nil
}

// GetRequest returns the request pk as the RA holds it: the authoritative
// status, whatever webhooks said.
func (c *Client) GetRequest(ctx context.Context, pk int64) (Request, error) {
	const op = "get_request"
	var out Request
	ans, err := c.http.Do(ctx, op, http.MethodGet, c.endpoint(nil, "requests", pkSegment(pk)), nil)
	if err != nil {
		return out, err
	}
	if err := ans.Decode(&out); err != nil {
		return out, err
	}
	if out.PK == 0 {
		return out, ans.Unreadable("no request pk")
	}
	return out, nil
}

// ListRequestsByScratchcard returns every request made with scratchcard sn,
// following the list's pages. It is how a caller learns whether an ambiguous
// CreateRequest in fact created the request.
//
// Results whose scratchcard differs from sn are dropped: the filter is a
// query parameter the reference documents loosely, and a request of another
// card mistaken for ours would be worse than none found.
func (c *Client) ListRequestsByScratchcard(ctx context.Context, sn string) ([]Request, error) {
	const op = "list_requests_by_scratchcard"
	if sn == "" {
		// An empty filter lists every request of the RA.
		return nil, fmt.Errorf("uanataca %s: scratchcard serial number is empty", op)
	}
	query := url.Values{"scratchcard": {sn}}
	seen := map[string]bool{}
	var out []Request
	for page := 1; ; page++ {
		if page > maxPages {
			return nil, fmt.Errorf("uanataca %s: more than %d pages of requests for one scratchcard; the RA may be ignoring the filter", op, maxPages)
		}
		seen[query.Encode()] = true
		ans, err := c.http.Do(ctx, op, http.MethodGet, c.endpoint(query, "requests"), nil)
		if err != nil {
			return nil, err
		}
		var p Page[Request]
		if err := ans.Decode(&p); err != nil {
			return nil, err
		}
		for _, r := range p.Results {
			if r.Scratchcard == "" || string(r.Scratchcard) == sn {
				out = append(out, r)
			}
		}
		if p.Next == nil || *p.Next == "" {
			return out, nil
		}
		next, err := nextPageQuery(*p.Next)
		if err != nil {
			return nil, ans.Unreadable("unusable next page link")
		}
		if seen[next.Encode()] {
			return nil, ans.Unreadable("next page link repeats an earlier page")
		}
		query = next
	}
}

// ListScratchcards returns one page (10 cards, page counting from 1) of the
// RA's scratchcards, in the RA's order (ascending pk). The list does not say
// which cards are used: ask IsScratchcardUsed. Secrets are not decoded.
func (c *Client) ListScratchcards(ctx context.Context, ra string, page int) (Page[Scratchcard], error) {
	const op = "list_scratchcards"
	var p Page[Scratchcard]
	if ra == "" || page < 1 {
		return p, fmt.Errorf("uanataca %s: want a registration authority and a page from 1", op)
	}
	query := url.Values{"registration_authority": {ra}, "page": {strconv.Itoa(page)}}
	ans, err := c.http.Do(ctx, op, http.MethodGet, c.endpoint(query, "scratchcards"), nil)
	if err != nil {
		return p, err
	}
	return p, ans.Decode(&p)
}

// nextPageQuery returns the query of a page's `next` link. Only the query is
// used, against this client's own list endpoint: behind Uanataca's proxies
// the link can name an internal host (the reference's example does), and
// following a foreign host would present the client certificate to it.
func nextPageQuery(next string) (url.Values, error) {
	u, err := url.Parse(next)
	if err != nil {
		return nil, err
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, err
	}
	if len(q) == 0 {
		return nil, errors.New("next page link without a query")
	}
	return q, nil
}

// CancelRequest cancels request pk. The RA refuses with 412 once the
// certificate is issued (or the request already cancelled).
func (c *Client) CancelRequest(ctx context.Context, pk int64) error {
	const op = "cancel_request"
	_, err := c.http.Do(ctx, op, http.MethodDelete, c.endpoint(nil, "requests", pkSegment(pk), "cancel"), nil)
	return err
}

// UploadDocument attaches a document (ID card side, selfie, extra) to
// request pk. The file part carries a content type from the file name's
// extension, else from the content: the RA rejects a file whose content
// type it does not accept (500 "Invalid content_type").
func (c *Client) UploadDocument(ctx context.Context, pk int64, doc Document) (UploadedDocument, error) {
	const op = "upload_document"
	var out UploadedDocument
	body, err := multipartBody(doc)
	if err != nil {
		return out, fmt.Errorf("uanataca %s: encoding the document: %w", op, err)
	}
	ans, err := c.http.Do(ctx, op, http.MethodPost, c.endpoint(nil, "requests", pkSegment(pk), "pl_upload_document"), body)
	if err != nil {
		return out, err
	}
	if err := ans.Decode(&out); err != nil {
		return out, err
	}
	return out, nil
}

// Approve approves request pk with the RAO's cloud-certificate credentials
// and returns the request (ENROLLREADY). The answer's scratchcard secrets
// are not decoded: the RA mails them to the applicant.
func (c *Client) Approve(ctx context.Context, pk int64, a Approval) (Request, error) {
	const op = "approve"
	body, err := provider.JSONBody(a)
	if err != nil {
		return Request{}, fmt.Errorf("uanataca %s: encoding the approval: %w", op, err)
	}
	ans, err := c.http.Do(ctx, op, http.MethodPost, c.endpoint(nil, "requests", pkSegment(pk), "pl_approve"), body)
	if err != nil {
		return Request{}, err
	}
	var out ApproveResponse
	if err := ans.Decode(&out); err != nil {
		return Request{}, err
	}
	if out.Request.PK == 0 {
		// The approval most likely took effect; GetRequest tells.
		return Request{}, ans.Unreadable("no request in the answer")
	}
	return out.Request, nil
}

// pkSegment formats a request pk as a path segment.
func pkSegment(pk int64) string { return strconv.FormatInt(pk, 10) }

// endpoint returns base + segments, always with the trailing slash the RA
// requires, and the query after it. Segments are this package's constant
// resource names and numeric pks, so they need no escaping.
func (c *Client) endpoint(query url.Values, segments ...string) *url.URL {
	u := c.base.ResolveReference(&url.URL{Path: strings.Join(segments, "/") + "/"})
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	return u
}

// multipartBody encodes doc as the form pl_upload_document reads: a "type"
// field and a "document" file. It is built in memory (ID photos are small)
// so the request has a length and can be re-sent by the transport.
func multipartBody(doc Document) (*provider.Body, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.WriteField("type", doc.Type); err != nil {
		return nil, err
	}
	filename := doc.Filename
	if filename == "" {
		filename = doc.Type
	}
	part := textproto.MIMEHeader{}
	part.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "document", "filename": filename}))
	part.Set("Content-Type", documentContentType(filename, doc.Content))
	fw, err := w.CreatePart(part)
	if err != nil {
		return nil, err
	}
	if _, err := fw.Write(doc.Content); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &provider.Body{Data: buf.Bytes(), ContentType: w.FormDataContentType()}, nil
}

// documentContentType guesses a document's media type, by extension first
// (the caller's word) and by sniffing the content otherwise.
func documentContentType(filename string, content []byte) string {
	if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(filename))); t != "" {
		return t
	}
	return http.DetectContentType(content)
}

// parseError reads the RA's error bodies: {"code", "id", "error"} from the
// RA itself and {"detail"} from its JSON parser. A field-by-field validation
// answer is reduced to the field names, never their messages, which may
// quote the applicant's values.
func parseError(e *provider.Error, body []byte) {
	fields := provider.JSONObject(body)
	e.Code = provider.JSONScalar(fields["code"])
	e.ID = provider.JSONScalar(fields["id"])
	e.Message = cmp.Or(provider.JSONScalar(fields["error"]), provider.JSONScalar(fields["detail"]))
	if e.Message == "" && len(fields) > 0 {
		e.Message = http.StatusText(e.StatusCode) + " (fields: " + strings.Join(slices.Sorted(maps.Keys(fields)), ", ") + ")"
	}
}
