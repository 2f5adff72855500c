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
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/certflow/certflow/internal/provider"
)

// providerName is the name every *provider.Error of this package carries.
const providerName = "uanataca"

const (
	// defaultTimeout bounds one HTTP exchange when Config.Timeout is zero.
	defaultTimeout = 30 * time.Second
	// maxPages bounds ListRequestsByScratchcard. A scratchcard is single-use,
	// so its list holds one request, a few at most: hundreds of pages mean
	// the RA ignored the filter, and walking its whole history would be slow
	// and wrong.
	maxPages = 100
	// maxAnswerBytes bounds a successful answer read into memory. The largest
	// answers are request objects with their certificates (a few kB each);
	// a list page holds ten.
	maxAnswerBytes = 8 << 20
	// maxErrorBytes bounds an error answer read into memory: only its first
	// bytes are ever used.
	maxErrorBytes = 64 << 10
	// excerptRunes bounds the excerpt of a non-JSON error answer kept as the
	// message (proxies answer 502/503 with HTML pages).
	excerptRunes = 200
)

// ErrUnreadableAnswer is in the chain of the error a call returns when the RA
// answered with a 2xx status but a body this client could not read. The call
// may well have taken effect (a request created, a document stored): a
// caller of a non-idempotent call should look the outcome up rather than
// repeat it, e.g. with ListRequestsByScratchcard after CreateRequest.
var ErrUnreadableAnswer = errors.New("uanataca: answer not understood")

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
	// Timeout bounds each HTTP call, answer body included; default 30s. It
	// applies to HTTPClient too.
	Timeout time.Duration
	// HTTPClient is used as is when set (tests); it overrides the TLS fields.
	HTTPClient *http.Client
}

// Client calls the Uanataca RA API. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	timeout time.Duration
	now     func() time.Time
}

// New returns a client for cfg. It reads the certificate, key and CA files
// now, so a misconfigured worker fails at start-up with an error naming the
// file and its setting instead of failing every activity later.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tlsConfig, err := tlsConfigFor(cfg)
		if err != nil {
			return nil, err
		}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = tlsConfig
		hc = &http.Client{
			Transport: transport,
			// The RA has no reason to redirect a well-formed URL (every URL
			// here ends with the slash it wants). Following one would
			// silently turn a POST into a GET and could present the client
			// certificate to another host; surface the 3xx instead.
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return &Client{base: base, http: hc, timeout: timeout, now: time.Now}, nil
}

// parseBaseURL checks the base URL and gives it the trailing slash that
// relative references need to resolve below it rather than beside it.
func parseBaseURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("uanataca: base URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("uanataca: base URL %q: %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("uanataca: base URL %q: want an absolute http(s) URL such as https://api.uanataca.com/api/v1/", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("uanataca: base URL %q: must not carry a query or fragment", raw)
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
	body, err := jsonBody(map[string]string{"ra": ra})
	if err != nil {
		return card, fmt.Errorf("uanataca %s: %w", op, err)
	}
	ans, err := c.do(ctx, op, http.MethodGet, c.endpoint(nil, "scratchcards", "get_first_unused"), body)
	if err != nil {
		return card, err
	}
	if err := ans.decode(&card); err != nil {
		return card, err
	}
	if card.SN == "" {
		return card, ans.unreadable("no scratchcard serial number")
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
	body, err := jsonBody(map[string]string{"sn": sn})
	if err != nil {
		return false, fmt.Errorf("uanataca %s: %w", op, err)
	}
	ans, err := c.do(ctx, op, http.MethodPost, c.endpoint(nil, "scratchcards", "isused"), body)
	if err != nil {
		return false, err
	}
	text := strings.Trim(strings.TrimSpace(string(ans.body)), `"`)
	switch strings.ToLower(text) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, ans.unreadable("want true or false")
}

// CreateRequest creates a certificate request and returns it (status
// CREATED, or VIDEOPENDING for Video ID). The call is not idempotent: after
// a transport error, a 5xx or ErrUnreadableAnswer the request may exist
// anyway; find it with ListRequestsByScratchcard before creating again.
func (c *Client) CreateRequest(ctx context.Context, req CreateRequest) (Request, error) {
	const op = "create_request"
	var out Request
	body, err := jsonBody(req)
	if err != nil {
		return out, fmt.Errorf("uanataca %s: encoding the request: %w", op, err)
	}
	ans, err := c.do(ctx, op, http.MethodPost, c.endpoint(nil, "requests"), body)
	if err != nil {
		return out, err
	}
	if err := ans.decode(&out); err != nil {
		return out, err
	}
	if out.PK == 0 {
		return out, ans.unreadable("no request pk")
	}
	return out, nil
}

// GetRequest returns the request pk as the RA holds it: the authoritative
// status, whatever webhooks said.
func (c *Client) GetRequest(ctx context.Context, pk int64) (Request, error) {
	const op = "get_request"
	var out Request
	ans, err := c.do(ctx, op, http.MethodGet, c.endpoint(nil, "requests", pkSegment(pk)), nil)
	if err != nil {
		return out, err
	}
	if err := ans.decode(&out); err != nil {
		return out, err
	}
	if out.PK == 0 {
		return out, ans.unreadable("no request pk")
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
		ans, err := c.do(ctx, op, http.MethodGet, c.endpoint(query, "requests"), nil)
		if err != nil {
			return nil, err
		}
		var p Page[Request]
		if err := ans.decode(&p); err != nil {
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
			return nil, ans.unreadable("unusable next page link")
		}
		if seen[next.Encode()] {
			return nil, ans.unreadable("next page link repeats an earlier page")
		}
		query = next
	}
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
	_, err := c.do(ctx, op, http.MethodDelete, c.endpoint(nil, "requests", pkSegment(pk), "cancel"), nil)
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
	ans, err := c.do(ctx, op, http.MethodPost, c.endpoint(nil, "requests", pkSegment(pk), "pl_upload_document"), body)
	if err != nil {
		return out, err
	}
	if err := ans.decode(&out); err != nil {
		return out, err
	}
	return out, nil
}

// Approve approves request pk with the RAO's cloud-certificate credentials
// and returns the request (ENROLLREADY). The answer's scratchcard secrets
// are not decoded: the RA mails them to the applicant.
func (c *Client) Approve(ctx context.Context, pk int64, a Approval) (Request, error) {
	const op = "approve"
	body, err := jsonBody(a)
	if err != nil {
		return Request{}, fmt.Errorf("uanataca %s: encoding the approval: %w", op, err)
	}
	ans, err := c.do(ctx, op, http.MethodPost, c.endpoint(nil, "requests", pkSegment(pk), "pl_approve"), body)
	if err != nil {
		return Request{}, err
	}
	var out ApproveResponse
	if err := ans.decode(&out); err != nil {
		return Request{}, err
	}
	if out.Request.PK == 0 {
		// The approval most likely took effect; GetRequest tells.
		return Request{}, ans.unreadable("no request in the answer")
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

// body is an encoded request body and its content type.
type body struct {
	contentType string
	data        []byte
}

func jsonBody(v any) (*body, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &body{contentType: "application/json", data: data}, nil
}

// multipartBody encodes doc as the form pl_upload_document reads: a "type"
// field and a "document" file. It is built in memory (ID photos are small)
// so the request has a length and can be re-sent by the transport.
func multipartBody(doc Document) (*body, error) {
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
	return &body{contentType: w.FormDataContentType(), data: buf.Bytes()}, nil
}

// documentContentType guesses a document's media type, by extension first
// (the caller's word) and by sniffing the content otherwise.
func documentContentType(filename string, content []byte) string {
	if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(filename))); t != "" {
		return t
	}
	return http.DetectContentType(content)
}

// answer is a 2xx answer, read in full.
type answer struct {
	op          string
	status      int
	contentType string
	body        []byte
}

// do is the one HTTP exchange every call goes through: it builds the request
// with the RA's headers, sends it under the per-call timeout, reads the
// answer and maps a non-2xx status to a *provider.Error. Transport errors
// are wrapped, not replaced, so callers still see net errors and context
// deadlines with errors.Is and errors.As.
func (c *Client) do(ctx context.Context, op, method string, u *url.URL, b *body) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var reader io.Reader
	if b != nil {
		reader = bytes.NewReader(b.data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reader)
	if err != nil {
		return nil, fmt.Errorf("uanataca %s: %w", op, err)
	}
	contentType := "application/json"
	if b != nil {
		contentType = b.contentType
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("uanataca %s: %w", op, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A truncated or failed read still leaves the status to report.
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		return nil, c.apiError(op, resp, data)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("uanataca %s: reading the answer: %w", op, err)
	}
	ans := &answer{op: op, status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: data}
	if len(data) > maxAnswerBytes {
		return nil, ans.unreadable(fmt.Sprintf("larger than %d bytes", maxAnswerBytes))
	}
	return ans, nil
}

// apiError maps a non-2xx answer. The RA's JSON error body is
// {"code", "id", "error"}; its JSON parser answers {"detail"}; a proxy in
// front of it answers HTML. The message is taken in that order of
// preference, so it is always something a person can act on.
func (c *Client) apiError(op string, resp *http.Response, data []byte) *provider.Error {
	e := &provider.Error{
		Provider:   providerName,
		Operation:  op,
		StatusCode: resp.StatusCode,
		RetryAfter: provider.ParseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
	trimmed := bytes.TrimSpace(data)
	var fields map[string]json.RawMessage
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &fields) == nil {
		e.Code = scalar(fields["code"])
		e.ID = scalar(fields["id"])
		e.Message = scalar(fields["error"])
		if e.Message == "" {
			e.Message = scalar(fields["detail"])
		}
		if e.Message == "" && len(fields) > 0 {
			// A field-by-field validation answer: name the fields, never
			// their messages, which may quote the applicant's values.
			e.Message = http.StatusText(resp.StatusCode) + " (fields: " + strings.Join(sortedKeys(fields), ", ") + ")"
		}
	} else if len(trimmed) > 0 && !json.Valid(trimmed) {
		e.Message = excerpt(trimmed)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// scalar returns a JSON string or number as text, "" for anything else.
func scalar(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s FlexString
	if err := json.Unmarshal(raw, &s); err != nil {
		return ""
	}
	return strings.TrimSpace(string(s))
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// excerpt makes a short one-line message of a non-JSON body: markup removed
// (a proxy's error page says what happened in its text), whitespace
// collapsed, and cut to excerptRunes runes.
func excerpt(data []byte) string {
	var text strings.Builder
	inTag := false
	for _, r := range string(data) {
		switch {
		case r == '<':
			inTag = true
			text.WriteByte(' ')
		case r == '>' && inTag:
			inTag = false
		case !inTag:
			if r == utf8.RuneError {
				r = '?'
			}
			text.WriteRune(r)
		}
	}
	s := strings.Join(strings.Fields(text.String()), " ")
	if utf8.RuneCountInString(s) > excerptRunes {
		s = string([]rune(s)[:excerptRunes]) + "…"
	}
	return s
}

// decode reads the answer as JSON into v.
func (a *answer) decode(v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return a.unreadable(describeJSONError(err))
	}
	return nil
}

// describeJSONError says what was wrong with a JSON answer without quoting
// it: encoding/json's own messages can include a value of the body, and the
// body holds personal data.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q does not fit %s", typ.Field, typ.Type)
		}
		return fmt.Sprintf("JSON does not fit %s", typ.Type)
	default:
		return "unexpected JSON content"
	}
}

// unreadable reports a 2xx answer that could not be used. It states the
// operation, the status, the size and the content type — never the body.
func (a *answer) unreadable(why string) error {
	ct := a.contentType
	if ct == "" {
		ct = "no content type"
	}
	return &unreadableError{msg: fmt.Sprintf("uanataca %s: answer not understood (HTTP %d, %d bytes, %s): %s", a.op, a.status, len(a.body), ct, why)}
}

// unreadableError carries its own message and matches ErrUnreadableAnswer.
type unreadableError struct{ msg string }

func (e *unreadableError) Error() string        { return e.msg }
func (e *unreadableError) Is(target error) bool { return target == ErrUnreadableAnswer }
