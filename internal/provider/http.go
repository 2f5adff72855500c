package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/certflow/certflow/internal/personal"
)

const (
	// DefaultTimeout bounds one HTTP exchange when HTTP.Timeout is zero:
	// long enough for a provider's slowest documented call (a document
	// upload), short enough that a hung connection fails the activity
	// attempt instead of its whole start-to-close budget.
	DefaultTimeout = 30 * time.Second
	// maxAnswerBytes bounds a successful answer read into memory. The
	// largest answers are Uanataca request objects with their certificates
	// (a few kB each), ten to a list page.
	maxAnswerBytes = 8 << 20
	// maxErrorBytes bounds an error answer read into memory: only its first
	// bytes are ever used.
	maxErrorBytes = 64 << 10
	// excerptRunes bounds the excerpt of a non-JSON error answer kept as the
	// message (proxies answer 502/503 with HTML pages).
	excerptRunes = 200
)

// ErrUnreadableAnswer is in the chain of the error a call returns when the
// provider answered with a 2xx status but a body the client could not use.
// The call may well have taken effect (a request created, a document
// stored): a caller of a non-idempotent call should look the outcome up
// rather than repeat it.
var ErrUnreadableAnswer = errors.New("provider answer not understood")

// HTTP is the one HTTP exchange every provider client goes through, so that
// timeouts, size limits, error mapping and the rule that no body is ever
// quoted in an error hold for all providers alike. It is safe for concurrent
// use once set up.
type HTTP struct {
	// Provider is the provider's short name ("uanataca", "universign", ...)
	// that errors carry.
	Provider string
	// Client sends the requests; nil means a client with the default
	// transport that does not follow redirects (see NoRedirectClient).
	Client *http.Client
	// Timeout bounds each call, answer body included; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Prepare adds the provider's headers (auth, signatures) to each
	// request; body is the exact body sent (nil when none). May be nil.
	Prepare func(req *http.Request, body []byte) error
	// ParseError fills e.Code, e.ID and e.Message from a non-2xx body in
	// the provider's own error format. Nil means a generic parser reading
	// the JSON fields "message", "error", "detail" or "error_description".
	// Whatever the parser leaves empty in e.Message is then filled with an
	// excerpt of a non-JSON body (a proxy's error page), else the status
	// text, so a parser only has to know its provider's JSON.
	ParseError func(e *Error, body []byte)
	// Now gives the time Retry-After dates are measured from; nil means
	// time.Now.
	Now func() time.Time
}

// Body is an encoded request body and its content type.
type Body struct {
	Data        []byte
	ContentType string
}

// JSONBody encodes v as a JSON body.
func JSONBody(v any) (*Body, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &Body{Data: data, ContentType: "application/json"}, nil
}

// FormBody encodes v as an application/x-www-form-urlencoded body.
func FormBody(v url.Values) *Body {
	return &Body{Data: []byte(v.Encode()), ContentType: "application/x-www-form-urlencoded"}
}

// ParseBaseURL checks a client's configured base URL: absolute http(s),
// without query or fragment, which the client's paths would otherwise
// silently drop or misplace. example is shown in the error so the operator
// sees what is expected. Errors do not name the provider: callers prefix it.
func ParseBaseURL(raw, example string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("base URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("base URL %q: %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want an absolute http(s) URL such as %s", raw, example)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("base URL %q: must not carry a query or fragment", raw)
	}
	return u, nil
}

// defaultClient is the client of an HTTP without one.
var defaultClient = NoRedirectClient(nil)

// NoRedirectClient returns a client over rt (nil: the default transport)
// that returns 3xx answers instead of following them. A provider has no
// reason to redirect a well-formed API URL, and following one would turn a
// POST into a GET and could present credentials (a client certificate, an
// API key) to another host; the 3xx surfaces as a *Error instead.
func NoRedirectClient(rt http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Do sends one request and reads the answer. A 2xx answer is returned in
// full; a non-2xx one becomes a *Error (with RetryAfter). Transport errors
// are wrapped as "<provider> <op>: ...", not replaced, so callers still see
// net errors and context deadlines with errors.Is and errors.As.
func (h *HTTP) Do(ctx context.Context, op, method string, u *url.URL, b *Body) (ans *Answer, err error) {
	began := time.Now()
	defer func() { observe(ctx, h.Provider, op, began, err) }()
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var reader io.Reader
	var data []byte
	if b != nil {
		data = b.Data
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reader)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", h.Provider, op, err)
	}
	if b != nil && b.ContentType != "" {
		req.Header.Set("Content-Type", b.ContentType)
	}
	req.Header.Set("Accept", "application/json")
	if h.Prepare != nil {
		if err := h.Prepare(req, data); err != nil {
			return nil, fmt.Errorf("%s %s: %w", h.Provider, op, err)
		}
	}

	client := h.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", h.Provider, op, withoutQuery(err))
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A truncated or failed read still leaves the status to report.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		return nil, h.apiError(op, resp, body, b)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", h.Provider, op, err)
	}
	ans = &Answer{Provider: h.Provider, Op: op, Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: body}
	if len(body) > maxAnswerBytes {
		return nil, ans.Unreadable(fmt.Sprintf("larger than %d bytes", maxAnswerBytes))
	}
	return ans, nil
}

// apiError maps a non-2xx answer to a *Error: the provider's parser first,
// then an excerpt of a non-JSON body, then the status text, so the message
// is always something a person can act on.
func (h *HTTP) apiError(op string, resp *http.Response, body []byte, sent *Body) *Error {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	e := &Error{
		Provider:   h.Provider,
		Operation:  op,
		StatusCode: resp.StatusCode,
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), now()),
	}
	parse := h.ParseError
	if parse == nil {
		parse = parseGenericError
	}
	parse(e, body)
	if trimmed := bytes.TrimSpace(body); e.Message == "" && len(trimmed) > 0 && !json.Valid(trimmed) {
		e.Message = Excerpt(trimmed)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Message = redactSent(e.Message, sent)
	return e
}

// redacted stands where a provider's message quoted a value certflow sent.
const redacted = "[redacted]"

// redactSent removes from a provider's message the personal values of the
// request it answers (fields personal.Key names): a provider that echoes
// the name, email or document number it refused ("Invalid email ana@…")
// would otherwise put personal data in an error that reaches logs, the CLI
// and workflow histories. Other values (a profile, a level) stay, as the
// message is often about them.
func redactSent(msg string, sent *Body) string {
	for _, v := range personalValues(sent) {
		msg = strings.ReplaceAll(msg, v, redacted)
	}
	return msg
}

// personalValues lists the values of a JSON or form request body under a
// personal key, longest first (so a value containing another is replaced
// whole).
func personalValues(sent *Body) []string {
	if sent == nil {
		return nil
	}
	var values []string
	switch sent.ContentType {
	case "application/json":
		var v any
		if json.Unmarshal(sent.Data, &v) == nil {
			values = personalStrings(v, false, values)
		}
	case "application/x-www-form-urlencoded":
		form, _ := url.ParseQuery(string(sent.Data))
		for k, vs := range form {
			if personal.Key(k) {
				values = append(values, vs...)
			}
		}
	}
	values = slices.DeleteFunc(values, func(v string) bool { return v == "" })
	slices.SortFunc(values, func(a, b string) int { return len(b) - len(a) })
	return values
}

// personalStrings appends the strings of a decoded JSON value that are
// personal: under a personal key, at any depth.
func personalStrings(v any, under bool, out []string) []string {
	switch v := v.(type) {
	case string:
		if under {
			out = append(out, v)
		}
	case []any:
		for _, e := range v {
			out = personalStrings(e, under, out)
		}
	case map[string]any:
		for k, e := range v {
			out = personalStrings(e, under || personal.Key(k), out)
		}
	}
	return out
}

// parseGenericError reads the message fields common error bodies use, in
// the order a person would prefer them.
func parseGenericError(e *Error, body []byte) {
	fields := JSONObject(body)
	for _, name := range []string{"message", "error", "detail", "error_description"} {
		if e.Message = JSONScalar(fields[name]); e.Message != "" {
			return
		}
	}
}

// JSONObject returns the fields of a JSON object body, or nil when body is
// not one. Error parsers use it to read a few known fields without a struct
// per provider.
func JSONObject(body []byte) map[string]json.RawMessage {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(trimmed, &fields) != nil {
		return nil
	}
	return fields
}

// JSONScalar returns a JSON string or number as trimmed text, "" for
// anything else: providers send error codes as either.
func JSONScalar(raw json.RawMessage) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case json.Number:
		return v.String()
	}
	return ""
}

// Excerpt makes a short one-line message of a non-JSON body: markup removed
// (a proxy's error page says what happened in its text), whitespace
// collapsed, and cut to 200 runes.
func Excerpt(data []byte) string {
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

// Answer is a 2xx answer, read in full.
type Answer struct {
	Provider    string
	Op          string
	Status      int
	ContentType string
	Body        []byte
}

// Decode reads the answer as JSON into v. Its errors match
// ErrUnreadableAnswer and never quote the body.
func (a *Answer) Decode(v any) error {
	if err := json.Unmarshal(a.Body, v); err != nil {
		return a.Unreadable(describeJSONError(err))
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

// Unreadable reports a 2xx answer that could not be used, for the reason
// why (which must not quote the body). The error states the operation, the
// status, the size and the content type — never the body — and matches
// ErrUnreadableAnswer.
func (a *Answer) Unreadable(why string) error {
	ct := a.ContentType
	if ct == "" {
		ct = "no content type"
	}
	return &unreadableError{msg: fmt.Sprintf("%s %s: answer not understood (HTTP %d, %d bytes, %s): %s", a.Provider, a.Op, a.Status, len(a.Body), ct, why)}
}

// unreadableError carries its own message and matches ErrUnreadableAnswer.
type unreadableError struct{ msg string }

func (e *unreadableError) Error() string        { return e.msg }
func (e *unreadableError) Is(target error) bool { return target == ErrUnreadableAnswer }

// withoutQuery keeps a call's query string out of its transport error:
// net/http quotes the whole URL in a *url.Error, and queries carry personal
// data (a Humanos resend's contact, a Uanataca list's filters). The cause
// stays wrapped, for errors.Is and errors.As on net errors and deadlines.
func withoutQuery(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	bare, _, _ := strings.Cut(ue.URL, "?")
	return &url.Error{Op: ue.Op, URL: bare, Err: ue.Err}
}

// CheckID refuses an id that would address another resource once put in a
// path: an empty id is the collection itself, and "." or ".." climb out of
// it. Ids come from outside (workflow inputs, provider answers), so every
// client checks them before building a URL; what names the resource
// ("registration id") in the error.
func CheckID(provider, op, what, id string) error {
	if id == "" || id == "." || id == ".." {
		return fmt.Errorf("%s %s: %s %q is not an id", provider, op, what, id)
	}
	return nil
}
