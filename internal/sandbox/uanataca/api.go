package uanataca

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
)

// apiPrefix is where the emulated API lives, as on the real hosts.
const apiPrefix = "/api/v1/"

// pageSize is the RA's fixed page size.
const pageSize = 10

// maxJSONBody and maxUploadBody bound what a handler reads.
const (
	maxJSONBody   = 1 << 20
	maxUploadBody = 32 << 20
)

// Allowed values, from the guide.
var (
	validityTimes  = []string{"1", "3", "365", "730", "1095", "1825"}
	secureElements = []string{"0", "1", "2"}
	documentTypes  = []string{"document_front", "document_rear", "document_owner", "extra_document"}
)

// requestFilters are the documented query filters of GET /requests/.
var requestFilters = []string{
	"scratchcard", "registration_authority", "given_name", "surname_1", "surname_2",
	"serial_number", "email", "mobile_phone_number",
}

// msgNoRequest is the RA's answer for an unknown request pk.
const msgNoRequest = "No Request matches the given query."

type handler func(e *Emulator, w http.ResponseWriter, r *http.Request, pk string)

// routes lists the emulated endpoints, relative to apiPrefix and without the
// trailing slash; "{pk}" matches one path segment.
var routes = []struct {
	pattern []string
	method  string
	handle  handler
}{
	{[]string{"scratchcards"}, http.MethodGet, (*Emulator).listScratchcards},
	{[]string{"scratchcards", "get_first_unused"}, http.MethodGet, (*Emulator).firstUnused},
	{[]string{"scratchcards", "isused"}, http.MethodPost, (*Emulator).isUsed},
	{[]string{"requests"}, http.MethodGet, (*Emulator).listRequests},
	{[]string{"requests"}, http.MethodPost, (*Emulator).createRequest},
	{[]string{"requests", "{pk}"}, http.MethodGet, (*Emulator).getRequest},
	{[]string{"requests", "{pk}", "cancel"}, http.MethodDelete, (*Emulator).cancelRequest},
	{[]string{"requests", "{pk}", "pl_upload_document"}, http.MethodPost, (*Emulator).uploadDocument},
	{[]string{"requests", "{pk}", "pl_approve"}, http.MethodPost, (*Emulator).approveRequest},
}

// route finds the handler for r. With no match it returns the methods the
// path does accept (empty: unknown path).
func route(r *http.Request) (h handler, pk string, allowed []string) {
	rest, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok {
		return nil, "", nil
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	for _, rt := range routes {
		if len(rt.pattern) != len(segs) {
			continue
		}
		var param string
		match := true
		for i, p := range rt.pattern {
			switch {
			case p == "{pk}" && segs[i] != "":
				param = segs[i]
			case p != segs[i]:
				match = false
			}
		}
		if !match {
			continue
		}
		if rt.method == r.Method {
			return rt.handle, param, nil
		}
		allowed = append(allowed, rt.method)
	}
	return nil, "", allowed
}

// ServeHTTP serves the emulated API: the call's log line and injected
// faults (sandbox.API), then authentication, routing and the endpoint.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.handler.ServeHTTP(w, r)
}

// serve authenticates and routes one call that drew no injected fault.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	if e.opts.RequireClientCert && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		writeError(w, http.StatusUnauthorized, "Authentication credentials were not provided: connect over TLS with the API user's client certificate")
		return
	}
	h, pk, allowed := route(r)
	if h == nil {
		if len(allowed) == 0 {
			writeError(w, http.StatusNotFound, "Not found.")
			return
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method))
		return
	}
	h(e, w, r, pk)
}

// --- scratchcards ---

func (e *Emulator) firstUnused(w http.ResponseWriter, r *http.Request, _ string) {
	body, ok := readObject(w, r)
	if !ok {
		return
	}
	ra, ok := requiredString(w, body, "ra")
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	id, err := strconv.ParseInt(ra, 10, 64)
	pool := e.ras[id]
	if err != nil || pool == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Registration authority %q not found (the sandbox has RAs %s)", ra, e.knownRAsLocked()))
		return
	}
	card := pool.firstUnused()
	if card == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("No scratchcards available for registration authority %d: all its cards are used", id))
		return
	}
	writeJSON(w, http.StatusOK, card)
}

func (e *Emulator) isUsed(w http.ResponseWriter, r *http.Request, _ string) {
	body, ok := readObject(w, r)
	if !ok {
		return
	}
	sn, ok := requiredString(w, body, "sn")
	if !ok {
		return
	}
	e.mu.Lock()
	card := e.cards[sn]
	used := card != nil && card.usedBy != 0
	e.mu.Unlock()
	if card == nil {
		writeError(w, http.StatusInternalServerError, "ScratchCard matching query does not exist.")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, strconv.FormatBool(used))
}

func (e *Emulator) listScratchcards(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	e.mu.Lock()
	var found []*scratchcard
	for _, c := range e.cardList {
		if ra := q.Get("registration_authority"); ra != "" && ra != strconv.FormatInt(c.RA, 10) {
			continue
		}
		if sn := q.Get("sn"); sn != "" && sn != c.SN {
			continue
		}
		found = append(found, c)
	}
	e.mu.Unlock()
	writePage(w, r, found)
}

// --- requests ---

func (e *Emulator) createRequest(w http.ResponseWriter, r *http.Request, _ string) {
	body, ok := readObject(w, r)
	if !ok {
		return
	}
	in := map[string]string{}
	for _, name := range []string{"profile", "scratchcard", "registration_authority", "email"} {
		if in[name], ok = requiredString(w, body, name); !ok {
			return
		}
	}
	for _, name := range []string{"validity_time", "secure_element", "videoid_mode", "webhook_url", "paperless_mode"} {
		s, err := flexString(body[name])
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value for field %s: %v", name, err))
			return
		}
		in[name] = s
	}
	ra, err := strconv.ParseInt(in["registration_authority"], 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid registration_authority %q: want the RA's numeric id", in["registration_authority"]))
		return
	}
	if v := in["validity_time"]; v != "" && !slices.Contains(validityTimes, v) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid validity_time %q: allowed values are %s (days)", v, strings.Join(validityTimes, ", ")))
		return
	}
	if v := in["secure_element"]; v != "" && !slices.Contains(secureElements, v) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid secure_element %q: use 0 (software), 1 (smartcard) or 2 (cloud)", v))
		return
	}
	if !strings.Contains(in["email"], "@") {
		writeError(w, http.StatusBadRequest, "Invalid email: not an email address")
		return
	}
	if v := in["webhook_url"]; v != "" {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			writeError(w, http.StatusBadRequest, "Invalid webhook_url: want an absolute http or https URL")
			return
		}
	}
	status := StatusCreated
	if in["videoid_mode"] == "1" {
		status = StatusVideoPending
	}

	e.mu.Lock()
	card := e.cards[in["scratchcard"]]
	if card == nil || card.RA != ra || card.usedBy != 0 {
		e.mu.Unlock()
		e.stats.invalidScratchcard.Add(1)
		writeError(w, http.StatusInternalServerError, "Invalid ScratchCard")
		return
	}
	req := &request{
		pk:          e.nextReqPK,
		fields:      body,
		profile:     in["profile"],
		scratchcard: card.SN,
		ra:          ra,
		email:       in["email"],
		webhookURL:  in["webhook_url"],
		docs:        map[string]int{},
	}
	e.nextReqPK++
	card.usedBy = req.pk
	e.requests[req.pk] = req
	e.requestList = append(e.requestList, req)
	e.stats.creates.Add(1)
	e.setStatusLocked(req, status)
	obj := renderRequest(req)
	e.mu.Unlock()
	if d := e.opts.CreateAnswerDelay; d > 0 {
		// The request is stored and its webhooks are on their way: the
		// caller learns the pk only now, as after a slow network.
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if e.faults.LoseAnswer(w) {
		return
	}
	writeJSON(w, http.StatusCreated, obj)
}

func (e *Emulator) getRequest(w http.ResponseWriter, _ *http.Request, pk string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	req := e.lookupLocked(pk)
	if req == nil {
		writeError(w, http.StatusNotFound, msgNoRequest)
		return
	}
	writeJSON(w, http.StatusOK, renderRequest(req))
}

func (e *Emulator) listRequests(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	e.mu.Lock()
	var found []map[string]any
	for _, req := range e.requestList {
		match := true
		for _, name := range requestFilters {
			want := q.Get(name)
			if want == "" {
				continue
			}
			var have string
			switch name {
			case "scratchcard":
				have = req.scratchcard
			case "registration_authority":
				have = strconv.FormatInt(req.ra, 10)
			default:
				have, _ = flexString(req.fields[name])
			}
			if have != want {
				match = false
				break
			}
		}
		if match {
			found = append(found, renderRequest(req))
		}
	}
	e.mu.Unlock()
	writePage(w, r, found)
}

func (e *Emulator) cancelRequest(w http.ResponseWriter, _ *http.Request, pk string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	req := e.lookupLocked(pk)
	if req == nil {
		writeError(w, http.StatusNotFound, msgNoRequest)
		return
	}
	switch req.status {
	case StatusIssued, StatusRenewed, StatusCancelled:
		writeError(w, http.StatusPreconditionFailed, "Request can not be cancelled in status "+req.status)
		return
	}
	e.setStatusLocked(req, StatusCancelled)
	writeJSON(w, http.StatusOK, map[string]string{"status": "Request cancelled"})
}

func (e *Emulator) uploadDocument(w http.ResponseWriter, r *http.Request, pk string) {
	e.mu.Lock()
	exists := e.lookupLocked(pk) != nil
	e.mu.Unlock()
	if !exists {
		writeError(w, http.StatusNotFound, msgNoRequest)
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBody)
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Document too large: the sandbox accepts up to %d MiB", maxUploadBody>>20))
			return
		}
		writeError(w, http.StatusBadRequest, "Invalid upload: send multipart/form-data with a file field \"document\" and a field \"type\" ("+err.Error()+")")
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	docType := r.FormValue("type")
	if docType == "" {
		writeError(w, http.StatusBadRequest, "Missing required field: type")
		return
	}
	if !slices.Contains(documentTypes, docType) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid document type %q: use one of %s", docType, strings.Join(documentTypes, ", ")))
		return
	}
	file, fh, err := r.FormFile("document")
	if err != nil {
		writeError(w, http.StatusBadRequest, "Missing required field: document (the file part of the multipart body)")
		return
	}
	digest := sha256.New()
	_, err = io.Copy(digest, file)
	file.Close()
	if err != nil {
		writeError(w, http.StatusBadRequest, "Invalid upload: could not read the document ("+err.Error()+")")
		return
	}
	if fh.Size == 0 {
		writeError(w, http.StatusBadRequest, "The submitted document is empty")
		return
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	req := e.lookupLocked(pk) // still there: requests are never deleted
	switch req.status {
	case StatusIssued, StatusRenewed, StatusCancelled:
		writeError(w, http.StatusPreconditionFailed, "Invalid request status: documents can not be uploaded in status "+req.status)
		return
	}
	req.docs[docType]++
	req.uploads = append(req.uploads, Upload{Type: docType, Size: fh.Size, SHA256: hex.EncodeToString(digest.Sum(nil))})
	docPK := e.nextDocPK
	e.nextDocPK++
	writeJSON(w, http.StatusCreated, map[string]any{"pk": docPK, "type": docType})
}

func (e *Emulator) approveRequest(w http.ResponseWriter, r *http.Request, pk string) {
	body, ok := readObject(w, r)
	if !ok {
		return
	}
	var creds RAOCredentials
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"username", &creds.Username}, {"password", &creds.Password},
		{"pin", &creds.PIN}, {"rao_id", &creds.RAOID},
	} {
		if *f.dst, ok = requiredString(w, body, f.name); !ok {
			return
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	req := e.lookupLocked(pk)
	if req == nil {
		writeError(w, http.StatusNotFound, msgNoRequest)
		return
	}
	if req.status != StatusCreated {
		writeError(w, http.StatusPreconditionFailed, fmt.Sprintf("Invalid request status: %s (approval needs CREATED)", req.status))
		return
	}
	if req.docs["document_front"] == 0 || req.docs["document_rear"] == 0 {
		writeError(w, http.StatusBadRequest, "Missing required docs")
		return
	}
	if creds != e.opts.RAO {
		writeError(w, http.StatusUnauthorized, "Invalid RAO credentials: username, password, pin or rao_id do not match the RAO")
		return
	}
	if err := e.advanceLocked(req, StatusEnrollReady); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"secrets": json.RawMessage(e.cards[req.scratchcard].Secrets),
		"request": renderRequest(req),
	})
}

// lookupLocked returns the request named by a path pk, or nil. The caller
// holds e.mu.
func (e *Emulator) lookupLocked(pk string) *request {
	n, err := strconv.ParseInt(pk, 10, 64)
	if err != nil {
		return nil
	}
	return e.requests[n]
}

// renderRequest builds the request object: every submitted field as it was
// sent, overlaid with the fields the RA computes or normalises (numbers for
// registration_authority and secure_element, a string validity_time, a
// boolean paperless_mode). The caller holds e.mu.
func renderRequest(req *request) map[string]any {
	obj := make(map[string]any, len(req.fields)+8)
	for k, v := range req.fields {
		obj[k] = v
	}
	field := func(name string) string {
		s, _ := flexString(req.fields[name])
		return s
	}
	obj["pk"] = req.pk
	obj["status"] = req.status
	obj["profile"] = req.profile
	obj["scratchcard"] = req.scratchcard
	obj["registration_authority"] = req.ra
	obj["secure_element"] = nil
	if n, err := strconv.Atoi(field("secure_element")); err == nil {
		obj["secure_element"] = n
	}
	obj["validity_time"] = nil
	if v := field("validity_time"); v != "" {
		obj["validity_time"] = v
	}
	if v := field("paperless_mode"); v != "" {
		obj["paperless_mode"] = v == "1" || v == "true"
	}
	certs := req.certs
	if certs == nil {
		certs = []certificate{}
	}
	obj["certificate_set"] = certs
	return obj
}

// --- HTTP helpers ---

// writeError answers with the RA's error body. The id is random per answer,
// as the RA's is: quote it when reporting an error.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{
		"code":  strconv.Itoa(status),
		"id":    sandbox.RandomHex(8),
		"error": msg,
	})
}

// encodeFailure is what writeJSON answers, with a 500, for a value that
// does not encode: the RA's error body.
var encodeFailure = []byte(`{"code":"500","id":"0000000000000000","error":"sandbox could not encode its answer"}`)

func writeJSON(w http.ResponseWriter, status int, v any) {
	sandbox.WriteJSON(w, status, v, encodeFailure)
}

// writeParseError answers 400 {"detail": "JSON parse error - ..."}, the shape
// the RA (Django REST framework) uses for bodies it cannot parse.
func writeParseError(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"detail": "JSON parse error - " + msg})
}

// readObject reads a JSON object body; an empty body reads as {}, as the RA
// (Django REST framework) does. A body that is not declared
// application/json is refused with 415: DRF does so for other media types,
// and for a missing Content-Type it would silently read {}, which surfaces
// as a puzzling "missing field" — the sandbox names the real mistake. On
// failure it has answered and returns false.
func readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		writeParseError(w, fmt.Sprintf("could not read the body (the sandbox accepts up to %d KiB): %v", maxJSONBody>>10, err))
		return nil, false
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return map[string]json.RawMessage{}, true
	}
	if sandbox.MediaType(r) != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request: send the body as JSON with Content-Type: application/json", r.Header.Get("Content-Type")))
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			writeParseError(w, "expected a JSON object, got "+typeErr.Value)
		} else {
			writeParseError(w, fmt.Sprintf("%v (char %d)", err, dec.InputOffset()))
		}
		return nil, false
	}
	if obj == nil {
		writeParseError(w, "expected a JSON object, got null")
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeParseError(w, fmt.Sprintf("Extra data after the JSON object (char %d)", dec.InputOffset()))
		return nil, false
	}
	return obj, true
}

// requiredString reads a mandatory string-or-number field; on failure it has
// answered 400 naming the field and returns false.
func requiredString(w http.ResponseWriter, body map[string]json.RawMessage, name string) (string, bool) {
	s, err := flexString(body[name])
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value for field %s: %v", name, err))
		return "", false
	}
	if s == "" {
		writeError(w, http.StatusBadRequest, "Missing required field: "+name)
		return "", false
	}
	return s, true
}

// page is the RA's pagination envelope.
type page[T any] struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

// writePage answers with the page of items named by the page query
// parameter; next and previous are absolute URLs built from the request, as
// the RA's are.
func writePage[T any](w http.ResponseWriter, r *http.Request, items []T) {
	q := r.URL.Query()
	n := 1
	if s := q.Get("page"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			writeError(w, http.StatusNotFound, "Invalid page.")
			return
		}
	}
	pages := max(1, (len(items)+pageSize-1)/pageSize)
	if n > pages {
		writeError(w, http.StatusNotFound, "Invalid page.")
		return
	}
	link := func(to int) *string {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		lq := r.URL.Query()
		if to == 1 {
			lq.Del("page")
		} else {
			lq.Set("page", strconv.Itoa(to))
		}
		u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: lq.Encode()}
		s := u.String()
		return &s
	}
	out := page[T]{Count: len(items), Results: items[(n-1)*pageSize : min(n*pageSize, len(items))]}
	if out.Results == nil {
		out.Results = []T{}
	}
	if n < pages {
		out.Next = link(n + 1)
	}
	if n > 1 {
		out.Previous = link(n - 1)
	}
	writeJSON(w, http.StatusOK, out)
}

// flexString reads a JSON string, number or boolean as text, the way the
// RA's (Python) backend coerces form values; null or absent is "". Objects
// and arrays are an error.
func flexString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	default:
		return "", fmt.Errorf("want a string or a number, got %s", raw)
	}
}
