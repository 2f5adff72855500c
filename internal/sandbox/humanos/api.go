package humanos

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	provider "github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/sandbox"
)

// Limits and windows of the emulated API.
const (
	// maxBody bounds a call's body: 100 contacts and 10 inline
	// credentials fit many times over.
	maxBody = 1 << 20
	// signatureWindow is how far X-Timestamp may be from now.
	signatureWindow = 5 * time.Minute
	// idempotencyTTL is how long an Idempotency-Key is remembered.
	idempotencyTTL = 24 * time.Hour
	// rateWindow is the rolling window of Options.CreateLimit.
	rateWindow = time.Minute
)

// resourceType is the type of every emulated credential: requests ask
// subjects to consent to or sign documents.
const resourceType = "DOCUMENT"

// idempotencyKey scopes an Idempotency-Key to its API key, so that two
// clients of the API cannot replay each other's creates.
type idempotencyKey struct{ apiKey, key string }

// storedCreate is a create remembered under its Idempotency-Key: the body
// it came with and the exact response it got.
type storedCreate struct {
	at             time.Time
	body, response []byte
}

// serve authenticates and routes one call that drew no injected fault.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	body, ok := sandbox.ReadBody(w, r, maxBody, writeError)
	if !ok {
		return
	}
	apiKey, ok := e.authenticate(w, r, body)
	if !ok {
		return
	}
	version, err := apiVersion(r.Header.Get("API-Version"), time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The v1 reference prefixes every path with /v1; dated versions drop
	// it, so an unprefixed path is only known with an API-Version.
	path, v1 := strings.CutPrefix(r.URL.Path, "/v1/")
	if !v1 && version == "" {
		writeError(w, http.StatusNotFound, "No such endpoint: paths without /v1 need an API-Version header.")
		return
	}
	path = strings.TrimPrefix(path, "/")
	switch {
	case path == "request":
		if r.Method != http.MethodPost {
			sandbox.MethodNotAllowed(w, r, writeError, http.MethodPost)
			return
		}
		e.create(w, r, apiKey, version, body)
	case strings.HasPrefix(path, "request/resend/"):
		id := strings.TrimPrefix(path, "request/resend/")
		switch {
		case strings.Contains(id, "/"):
			writeError(w, http.StatusNotFound, "No such endpoint.")
		case r.Method != http.MethodPatch:
			sandbox.MethodNotAllowed(w, r, writeError, http.MethodPatch)
		default:
			e.resend(w, id, r.URL.Query().Get("contact"))
		}
	case strings.HasPrefix(path, "request/"):
		id := strings.TrimPrefix(path, "request/")
		switch {
		case strings.Contains(id, "/"):
			writeError(w, http.StatusNotFound, "No such endpoint.")
		case r.Method == http.MethodGet:
			e.get(w, id, version)
		case r.Method == http.MethodDelete:
			e.cancel(w, id, version)
		default:
			sandbox.MethodNotAllowed(w, r, writeError, http.MethodGet, http.MethodDelete)
		}
	default:
		writeError(w, http.StatusNotFound, "No such endpoint.")
	}
}

// authenticate checks the Bearer API key, then the call's signature over
// its raw body, and returns the key; otherwise it answers 401, saying what
// is wrong, and returns false. Messages never quote the key.
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request, body []byte) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		writeError(w, http.StatusUnauthorized, "Missing API key: send Authorization: Bearer <api key>.")
		return "", false
	}
	apiKey := strings.TrimSpace(token)
	secret, known := e.secret(apiKey)
	if !known {
		writeError(w, http.StatusUnauthorized, "Invalid API key.")
		return "", false
	}
	ts, sig := r.Header.Get("X-Timestamp"), r.Header.Get("X-Signature")
	err := provider.Verify(secret, ts, sig, body, time.Now(), signatureWindow)
	var msg string
	switch {
	case err == nil:
		return apiKey, true
	case ts == "":
		e.stats.staleTimestamps.Add(1)
		msg = "Missing X-Timestamp header: sign every call with the Unix time in milliseconds."
	case errors.Is(err, provider.ErrStaleTimestamp):
		e.stats.staleTimestamps.Add(1)
		msg = "Invalid X-Timestamp: " + err.Error() + "."
	case sig == "":
		e.stats.badSignatures.Add(1)
		msg = "Missing X-Signature header."
	default:
		e.stats.badSignatures.Add(1)
		msg = `Invalid X-Signature: want the hex HMAC-SHA256 of "<X-Timestamp>.<raw body>" (the timestamp alone without a body) under the API key's signature secret.`
	}
	writeError(w, http.StatusUnauthorized, msg)
	return "", false
}

// secret returns the signature secret of apiKey, comparing it with every
// known key in constant time so that the answer's timing reveals none.
func (e *Emulator) secret(apiKey string) (string, bool) {
	var secret string
	found := false
	for k, s := range e.opts.Keys {
		if subtle.ConstantTimeCompare([]byte(apiKey), []byte(k)) == 1 {
			secret, found = s, true
		}
	}
	return secret, found
}

// apiVersion returns the API-Version header's date ("" when absent), or an
// error when it is not a YYYY-MM-DD date or is after today (UTC).
func apiVersion(header string, now time.Time) (string, error) {
	if header == "" {
		return "", nil
	}
	d, err := time.Parse(time.DateOnly, header)
	if err != nil || len(header) != len(time.DateOnly) {
		return "", errors.New("API-Version must be a date, YYYY-MM-DD")
	}
	if d.After(now.UTC()) {
		return "", fmt.Errorf("API-Version %s is in the future", header)
	}
	return header, nil
}

// createdSubject is a subject as create answers it: what to send them.
type createdSubject struct {
	Contact string `json:"contact"`
	subjectRef
	Code string `json:"code"`
	Link string `json:"link"`
}

// credentialView is a credential as create answers it.
type credentialView struct {
	ID           string `json:"id"`
	ResourceType string `json:"resourceType"`
	Status       string `json:"status"`
	Name         string `json:"name"`
	InternalID   string `json:"internalId,omitempty"`
}

type createResponse struct {
	ID          string           `json:"id"`
	Credentials []credentialView `json:"credentials"`
	Subjects    []createdSubject `json:"subjects"`
}

func (e *Emulator) create(w http.ResponseWriter, r *http.Request, apiKey, version string, body []byte) {
	if sandbox.MediaType(r) != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Send the body as JSON (Content-Type: application/json).")
		return
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	idem := idempotencyKey{apiKey, r.Header.Get("Idempotency-Key")}
	if prev := e.idempotency[idem]; idem.key != "" && prev != nil && now.Sub(prev.at) < idempotencyTTL {
		if !sameJSON(prev.body, body) {
			e.stats.conflicts.Add(1)
			writeError(w, http.StatusUnprocessableEntity, "Idempotency-Key reused with a different body.")
			return
		}
		e.stats.replays.Add(1)
		// Stripe's header, so a client or a test can tell a replay.
		w.Header().Set("Idempotent-Replayed", "true")
		sandbox.WriteBody(w, http.StatusOK, prev.response)
		return
	}
	req, names, err := parseCreate(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if wait := e.admitLocked(apiKey, now); wait > 0 {
		e.stats.rateLimited.Add(1)
		if e.opts.RetryAfter > 0 {
			wait = e.opts.RetryAfter
		}
		secs := max(1, int(math.Ceil(wait.Seconds())))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("Rate limit exceeded: at most %d requests per minute. Retry in %d seconds.", e.opts.CreateLimit, secs))
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	rq := e.addLocked(req, names, scheme+"://"+r.Host, version, now)
	resp := createResponse{ID: rq.id}
	for _, c := range rq.credentials {
		resp.Credentials = append(resp.Credentials, rq.credentialView(c))
	}
	for _, s := range rq.subjects {
		resp.Subjects = append(resp.Subjects, createdSubject{Contact: s.contact, subjectRef: refFor(version, s.did), Code: s.code, Link: s.link})
	}
	out, _ := json.Marshal(resp) // strings and slices of them always marshal
	if idem.key != "" {
		e.idempotency[idem] = &storedCreate{at: now, body: body, response: out}
	}
	// Stored, and kept for replay under its key, before the answer is
	// (perhaps) lost: a retry with the key gets this request back.
	if e.faults.LoseAnswer(w) {
		return
	}
	sandbox.WriteBody(w, http.StatusOK, out)
}

// sameJSON reports whether two create bodies are the same request: equal
// bytes, or equal JSON values (a client re-encoding its retry may reorder
// keys or change spacing).
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}

// parseCreate decodes and validates a create body, and returns the name of
// each inline credential. Unknown fields are refused, so that a misspelt
// one fails loudly instead of being dropped. The checks are the client's
// own (CreateRequest.Validate), whose messages never quote a contact.
func parseCreate(body []byte) (provider.CreateRequest, []string, error) {
	var req provider.CreateRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, nil, fmt.Errorf("the body is not a valid create request: %v", err)
	}
	if err := req.Validate(); err != nil {
		return req, nil, err
	}
	names := make([]string, len(req.Credentials))
	for i, raw := range req.Credentials {
		var c struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(raw, &c) != nil {
			return req, nil, fmt.Errorf("credentials[%d] is not an object", i)
		}
		names[i] = c.Name
	}
	return req, names, nil
}

// admitLocked records a creation by apiKey at now and returns 0 or, when
// apiKey already created CreateLimit requests within the rolling minute,
// records nothing and returns how long until the oldest leaves the window.
// The caller holds e.mu.
func (e *Emulator) admitLocked(apiKey string, now time.Time) time.Duration {
	recent := e.creations[apiKey]
	for len(recent) > 0 && now.Sub(recent[0]) >= rateWindow {
		recent = recent[1:]
	}
	if len(recent) >= e.opts.CreateLimit {
		e.creations[apiKey] = recent
		return recent[0].Add(rateWindow).Sub(now)
	}
	e.creations[apiKey] = append(recent, now)
	return 0
}

// addLocked stores a new request and schedules its subjects' decisions.
// The caller holds e.mu.
func (e *Emulator) addLocked(req provider.CreateRequest, inlineNames []string, base, version string, now time.Time) *request {
	level := req.SecurityLevel
	if level == "" {
		level = provider.SecurityLevels[0] // CONTACT, the documented default
	}
	r := &request{id: objectID(), securityLevel: level, internalID: req.InternalID, version: version, createdAt: now}
	identity := ""
	if slices.Contains(kycLevels, level) {
		identity = identityPending
	}
	for _, contact := range req.Contacts {
		r.subjects = append(r.subjects, &subject{
			contact:  contact,
			did:      "did:via:humanos:" + sandbox.RandomHex(12),
			code:     otpCode(),
			link:     base + "/link/" + r.id,
			identity: identity,
		})
	}
	// One credential per group and per resource (repeats dropped unless
	// allowDuplicates), then one per inline credential.
	seen := map[string]bool{}
	add := func(name string) {
		r.credentials = append(r.credentials, &credential{id: objectID(), name: name, status: provider.CredentialPending})
	}
	for _, ids := range []struct {
		kind string
		ids  []string
	}{{"Group", req.GroupIDs}, {"Resource", req.ResourcesIDs}} {
		for _, id := range ids.ids {
			name := ids.kind + " " + id
			if !seen[name] || req.AllowDuplicates {
				seen[name] = true
				add(name)
			}
		}
	}
	for i, name := range inlineNames {
		if name == "" {
			name = fmt.Sprintf("Credential %d", i+1)
		}
		add(name)
	}
	e.requests[r.id] = r
	e.stats.creates.Add(1)
	e.log.Printf("request %s created: %s, %d subjects, %d credentials", r.id, level, len(r.subjects), len(r.credentials))
	if e.opts.DecideAfter > 0 && !e.closed {
		r.timer = time.AfterFunc(e.opts.DecideAfter, func() { e.tick(r.id) })
	}
	return r
}

func (r *request) credentialView(c *credential) credentialView {
	return credentialView{ID: c.id, ResourceType: resourceType, Status: c.status, Name: c.name, InternalID: r.internalID}
}

// requestState is a request as GET and DELETE answer it.
type requestState struct {
	ID            string            `json:"id"`
	SecurityLevel string            `json:"securityLevel"`
	CreatedAt     string            `json:"createdAt"`
	InternalID    string            `json:"internalId"`
	CanceledAt    *string           `json:"canceledAt"`
	Subjects      []subjectState    `json:"subjects"`
	Credentials   []credentialState `json:"credentials"`
}

// subjectState is a subject as GET answers it. kyc is the identity
// verification's outcome (the identity webhook's decision), null until it
// ends; kyc and identityStatus are null at the CONTACT level, which has no
// KYC.
type subjectState struct {
	Contact string `json:"contact"`
	subjectRef
	KYC            *identityDecision `json:"kyc"`
	IdentityStatus *string           `json:"identityStatus"`
}

type credentialState struct {
	credentialView
	Decisions []decisionView `json:"decisions"`
}

type decisionView struct {
	Contact   string `json:"contact"`
	Accepted  bool   `json:"accepted"`
	DecidedAt string `json:"decidedAt"`
}

// state renders r for GET in the shape of API version.
func (r *request) state(version string) requestState {
	st := requestState{
		ID:            r.id,
		SecurityLevel: r.securityLevel,
		CreatedAt:     formatTime(r.createdAt),
		InternalID:    r.internalID,
		Subjects:      []subjectState{},
		Credentials:   []credentialState{},
	}
	if !r.canceledAt.IsZero() {
		at := formatTime(r.canceledAt)
		st.CanceledAt = &at
	}
	for _, s := range r.subjects {
		ss := subjectState{Contact: s.contact, subjectRef: refFor(version, s.did)}
		if s.identity != "" {
			status := s.identity
			ss.IdentityStatus = &status
		}
		if !s.identityAt.IsZero() {
			ss.KYC = kycOutcome(s)
		}
		st.Subjects = append(st.Subjects, ss)
	}
	for _, c := range r.credentials {
		cs := credentialState{credentialView: r.credentialView(c), Decisions: []decisionView{}}
		for _, d := range c.decisions {
			cs.Decisions = append(cs.Decisions, decisionView{Contact: d.contact, Accepted: d.accepted, DecidedAt: formatTime(d.at)})
		}
		st.Credentials = append(st.Credentials, cs)
	}
	return st
}

func (e *Emulator) get(w http.ResponseWriter, id, version string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.requests[id]
	if r == nil {
		writeError(w, http.StatusNotFound, "Request not found.")
		return
	}
	writeJSON(w, http.StatusOK, r.state(version))
}

// cancel cancels request id for good: its undecided credentials become
// CANCELED and its subjects stop.
func (e *Emulator) cancel(w http.ResponseWriter, id, version string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.requests[id]
	switch {
	case r == nil:
		writeError(w, http.StatusNotFound, "Request not found.")
		return
	case !r.canceledAt.IsZero():
		writeError(w, http.StatusConflict, "Request is already canceled.")
		return
	}
	r.canceledAt = time.Now()
	r.stopTimer()
	for _, c := range r.credentials {
		if c.status == provider.CredentialPending {
			c.status = provider.CredentialCanceled
		}
	}
	e.stats.cancels.Add(1)
	e.log.Printf("request %s canceled", r.id)
	writeJSON(w, http.StatusOK, r.state(version))
}

// resend sends the OTP again to subject contact of request id (nothing is
// sent: the emulator only counts it).
func (e *Emulator) resend(w http.ResponseWriter, id, contact string) {
	if contact == "" {
		writeError(w, http.StatusBadRequest, "Missing the contact query parameter.")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.requests[id]
	if r == nil {
		writeError(w, http.StatusNotFound, "Request not found.")
		return
	}
	i := r.subjectIndex(contact)
	switch {
	case i < 0:
		writeError(w, http.StatusNotFound, "No subject of this request has that contact.")
	case !r.canceledAt.IsZero():
		writeError(w, http.StatusConflict, "Request is canceled.")
	default:
		e.stats.resends.Add(1)
		e.log.Printf("request %s subject %d OTP resent", r.id, i+1)
		w.WriteHeader(http.StatusNoContent)
	}
}

// writeError answers with the error body of NestJS, which Humanos' API
// appears to run on (inferred: the notes document no error body).
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "error": http.StatusText(status)})
}

// encodeFailure is what writeJSON answers, with a 500, for a value that
// does not encode: the same NestJS body.
var encodeFailure = []byte(`{"statusCode":500,"message":"The sandbox could not encode its answer.","error":"Internal Server Error"}`)

func writeJSON(w http.ResponseWriter, status int, v any) {
	sandbox.WriteJSON(w, status, v, encodeFailure)
}
