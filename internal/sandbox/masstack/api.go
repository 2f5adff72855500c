package masstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/certflow/certflow/internal/sandbox"
)

// APIPrefix is where the emulated API lives, as on the real host.
const APIPrefix = "/v1"

// identificationsPath is the collection of identifications of one tenant,
// below APIPrefix.
const identificationsPath = "/orgs/{org}/identifications/identity_document"

// maxExpiresIn is the longest (and default) validity of an identification.
const maxExpiresIn = 30 * 24 * time.Hour

// maxJSONBody bounds a request body: a create is well under a kilobyte.
const maxJSONBody = 64 << 10

// Allowed values of the create call, from the reference.
var (
	documentTypes  = []string{"NIF", "NIE", "PASSPORT"}
	configurations = []string{"LOW", "MEDIUM", "HIGH"}
	scorings       = []string{"INTERNAL", "EXTERNAL"}
)

// errorCodes are the codes of the (inferred) errors body by HTTP status.
var errorCodes = map[int]string{
	http.StatusBadRequest:          "INVALID_ARGUMENT",
	http.StatusUnauthorized:        "UNAUTHENTICATED",
	http.StatusNotFound:            "NOT_FOUND",
	http.StatusConflict:            "CONFLICT",
	http.StatusTooManyRequests:     "RESOURCE_EXHAUSTED",
	http.StatusInternalServerError: "INTERNAL",
	http.StatusBadGateway:          "UNAVAILABLE",
	http.StatusServiceUnavailable:  "UNAVAILABLE",
}

// routes builds the handler: the token endpoint, and the API behind
// authentication and fault injection.
func (e *Emulator) routes() http.Handler {
	api := http.NewServeMux()
	base := APIPrefix + identificationsPath
	api.HandleFunc("POST "+base, e.create)
	api.HandleFunc("GET "+base+"/{id}", e.get)
	api.HandleFunc("DELETE "+base+"/{id}", e.cancel)
	api.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})

	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, e.token)
	mux.Handle("/", sandbox.API(e.authenticate(api), e.faults, writeError, e.log))
	return mux
}

// ServeHTTP serves the token endpoint and the emulated API.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.handler.ServeHTTP(w, r)
}

// authenticate admits calls with an unexpired access token of the token
// endpoint, before any routing: MasStack answers 401 before it says
// whether a path exists.
func (e *Emulator) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		e.mu.Lock()
		exp, known := e.tokens[token]
		e.mu.Unlock()
		var why string
		switch {
		case !ok || token == "":
			why = "send Authorization: Bearer <access token from " + TokenPath + ">"
		case !known:
			why = "the access token is unknown or was revoked"
		case !time.Now().Before(exp):
			why = "the access token has expired"
		}
		if why != "" {
			e.stats.unauthorized.Add(1)
			writeError(w, http.StatusUnauthorized, why)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// createRequest is the create call's body. Name and last name are not
// decoded: they are not checked, and the emulator keeps no personal data.
type createRequest struct {
	IdentityDocument *struct {
		DocumentNumber string `json:"document_number"`
		DocumentType   string `json:"document_type"`
		Country        string `json:"country"`
	} `json:"identity_document"`
	ConfigurationName string `json:"configuration_name"`
	ExpiresIn         string `json:"expires_in"`
	Scoring           *struct {
		Provider string `json:"provider"`
	} `json:"scoring"`
}

// countryCode is an ISO 3166-1 alpha-2 code's shape.
var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

// check lists the defects of a create as errors-body entries. Messages name
// the field and what is allowed, never the value sent: it may be personal.
func (c *createRequest) check() (time.Duration, []apiError) {
	var errs []apiError
	bad := func(field, format string, args ...any) {
		errs = append(errs, apiError{Code: "INVALID_ARGUMENT", Message: field + ": " + fmt.Sprintf(format, args...)})
	}
	oneOf := func(field, value string, allowed []string) {
		if !slices.Contains(allowed, value) {
			bad(field, "must be one of %s", strings.Join(allowed, ", "))
		}
	}
	if d := c.IdentityDocument; d == nil {
		bad("identity_document", "required")
	} else {
		if strings.TrimSpace(d.DocumentNumber) == "" {
			bad("identity_document.document_number", "required")
		}
		oneOf("identity_document.document_type", d.DocumentType, documentTypes)
		if d.Country != "" && !countryCode.MatchString(d.Country) {
			bad("identity_document.country", "must be an ISO 3166 2-letter code")
		}
	}
	if c.ConfigurationName != "" {
		oneOf("configuration_name", c.ConfigurationName, configurations)
	}
	if c.Scoring != nil {
		oneOf("scoring.provider", c.Scoring.Provider, scorings)
	}
	expiresIn := maxExpiresIn
	if c.ExpiresIn != "" {
		d, err := parseExpiresIn(c.ExpiresIn)
		if err != nil {
			bad("expires_in", "%v", err)
		}
		expiresIn = d
	}
	return expiresIn, errs
}

// parseExpiresIn reads an ISO-8601 duration of at most P30D, made of weeks
// and days, then after a T hours, minutes and seconds, each at most once
// and in that order. Years and months are refused: their length in days
// depends on the date.
func parseExpiresIn(s string) (time.Duration, error) {
	malformed := errors.New("must be an ISO-8601 duration such as P7D or PT12H, of at most P30D")
	date, clock, hasClock := strings.Cut(strings.TrimPrefix(s, "P"), "T")
	if !strings.HasPrefix(s, "P") || (date == "" && clock == "") || (hasClock && clock == "") {
		return 0, malformed
	}
	var total time.Duration
	for _, part := range []struct {
		text  string
		units string
		sizes []time.Duration
	}{
		{date, "WD", []time.Duration{7 * 24 * time.Hour, 24 * time.Hour}},
		{clock, "HMS", []time.Duration{time.Hour, time.Minute, time.Second}},
	} {
		rest, next := part.text, 0
		for rest != "" {
			end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
			if end <= 0 {
				return 0, malformed
			}
			unit := strings.IndexByte(part.units[next:], rest[end])
			if unit < 0 {
				return 0, malformed
			}
			unit += next
			// Anything over 30 days is refused, so the bound also keeps the
			// multiplication from overflowing.
			n, err := strconv.ParseInt(rest[:end], 10, 64)
			if err != nil || n > int64(maxExpiresIn/part.sizes[unit]) {
				return 0, errors.New("must be at most P30D")
			}
			total += time.Duration(n) * part.sizes[unit]
			rest, next = rest[end+1:], unit+1
		}
	}
	switch {
	case total > maxExpiresIn:
		return 0, errors.New("must be at most P30D")
	case total <= 0:
		return 0, errors.New("must be at least one second")
	}
	return total, nil
}

// view is an identification as the API renders it.
type view struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
	CreatedAt string `json:"created_at"`
}

func (it *identification) view() view {
	return view{
		ID:        it.id,
		Status:    it.status,
		URL:       it.url,
		ExpiresAt: it.expiresAt.Format(time.RFC3339),
		CreatedAt: it.createdAt.Format(time.RFC3339),
	}
}

func (e *Emulator) create(w http.ResponseWriter, r *http.Request) {
	org := r.PathValue("org")
	if !e.knownOrg(w, org) {
		return
	}
	var in createRequest
	if !readJSON(w, r, &in) {
		return
	}
	expiresIn, errs := in.check()
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, errorsBody{errs})
		return
	}
	reject := false
	if p := e.opts.RejectDocumentPrefix; p != "" {
		reject = strings.HasPrefix(in.IdentityDocument.DocumentNumber, p)
	}
	now := time.Now()
	id := uuid.NewString()
	it := &identification{
		id:  id,
		org: org,
		// The person's page is not emulated; the link only has the shape
		// of one.
		url:       "https://" + r.Host + "/identify/" + id,
		createdAt: now,
		expiresAt: now.Add(expiresIn),
		reject:    reject,
	}
	e.mu.Lock()
	e.idents[id] = it
	e.setStatusLocked(it, StatusPending)
	if !e.closed {
		e.expireAt(it)
	}
	v := it.view()
	e.mu.Unlock()
	e.stats.creates.Add(1)
	if e.faults.LoseAnswer(w) {
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (e *Emulator) get(w http.ResponseWriter, r *http.Request) {
	if !e.knownOrg(w, r.PathValue("org")) {
		return
	}
	e.mu.Lock()
	it := e.lookupLocked(r)
	var v view
	if it != nil {
		v = it.view()
	}
	e.mu.Unlock()
	if it == nil {
		writeError(w, http.StatusNotFound, "no such identification")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// cancel serves the admin cancel. The reason is required, as in MasStack's
// sibling admin cancels, and is kept only for Stats: it is free text.
func (e *Emulator) cancel(w http.ResponseWriter, r *http.Request) {
	if !e.knownOrg(w, r.PathValue("org")) {
		return
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Reason) == "" {
		writeError(w, http.StatusBadRequest, "reason: required")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	it := e.lookupLocked(r)
	switch {
	case it == nil:
		writeError(w, http.StatusNotFound, "no such identification")
	case isFinal(it.status):
		writeError(w, http.StatusConflict, "the identification is "+it.status+" and can no longer be cancelled")
	default:
		e.setStatusLocked(it, StatusCancelled)
		e.lastCancelReason = in.Reason
		e.stats.cancels.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}
}

// lookupLocked returns the identification the path names in its tenant, or
// nil. The caller holds e.mu.
func (e *Emulator) lookupLocked(r *http.Request) *identification {
	it := e.idents[r.PathValue("id")]
	if it == nil || it.org != r.PathValue("org") {
		return nil
	}
	return it
}

// knownOrg answers 404 for a tenant the emulator does not have.
func (e *Emulator) knownOrg(w http.ResponseWriter, org string) bool {
	if e.orgs[org] {
		return true
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no organization %q (the sandbox has %s)", org, e.knownOrgs()))
	return false
}

// readJSON decodes the request body into v, answering 400 when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err := dec.Decode(v); err != nil {
		// Not encoding/json's message: it can quote the body, which holds
		// personal data.
		writeError(w, http.StatusBadRequest, "the body is not a JSON object of the expected shape")
		return false
	}
	return true
}

// apiError is one entry of the (inferred) errors body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type errorsBody struct {
	Errors []apiError `json:"errors"`
}

// writeError answers status with a one-entry errors body.
func writeError(w http.ResponseWriter, status int, msg string) {
	code, ok := errorCodes[status]
	if !ok {
		code = strconv.Itoa(status)
	}
	writeJSON(w, status, errorsBody{[]apiError{{Code: code, Message: msg}}})
}

// encodeFailure is what writeJSON answers, with a 500, for a value that
// does not encode: the same errors body.
var encodeFailure = []byte(`{"errors":[{"code":"INTERNAL","message":"the sandbox could not encode its answer"}]}`)

func writeJSON(w http.ResponseWriter, status int, v any) {
	sandbox.WriteJSON(w, status, v, encodeFailure)
}
