package universign

import (
	"crypto/subtle"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/validate"
)

// registrationsPath is the emulated collection.
const registrationsPath = "/v1/registrations"

// maxFormBody bounds a create call's body: a handful of short fields.
const maxFormBody = 64 << 10

// Documented values of the create call's enumerations (seed 001).
var (
	levels           = []string{"lcp", "qcp", "qcpnqscd"}
	sessionTypes     = []string{"standalone"}
	fullnameTypes    = []string{"suggestion", "prerequisite"}
	phoneNumberTypes = []string{"suggestion", "flex_prerequisite", "prerequisite"}
	languages        = []string{"bg", "ca", "nl", "en", "fr", "de", "it", "pl", "pt", "ro", "es"}
)

// createParams are the create call's documented parameters; any other is
// refused, so that a misspelt parameter fails loudly instead of being
// dropped (the real API's handling of unknown ones is not documented).
var createParams = []string{
	"applicant", "level", "redirect_url", "session_type", "fullname",
	"fullname_type", "phone_number", "phone_number_type", "language",
}

// serve authenticates and routes one call that drew no injected fault.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	if msg := e.authenticate(r); msg != "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="Universign API"`)
		writeError(w, http.StatusUnauthorized, msg)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, registrationsPath)
	switch {
	case !ok || (rest != "" && rest[0] != '/'):
		writeError(w, http.StatusNotFound, "No such endpoint.")
	case rest == "" || rest == "/":
		if r.Method != http.MethodPost {
			sandbox.MethodNotAllowed(w, r, writeError, http.MethodPost)
			return
		}
		e.create(w, r)
	default:
		id := rest[1:]
		switch {
		case strings.Contains(id, "/"):
			writeError(w, http.StatusNotFound, "No such endpoint.")
		case r.Method == http.MethodGet:
			e.get(w, id)
		case r.Method == http.MethodDelete:
			e.cancel(w, id)
		default:
			sandbox.MethodNotAllowed(w, r, writeError, http.MethodGet, http.MethodDelete)
		}
	}
}

// authenticate checks the API key, given as the basic-auth user with an
// empty password or as a Bearer token, and returns why it is refused ("":
// accepted). The messages never quote the key.
func (e *Emulator) authenticate(r *http.Request) string {
	header := r.Header.Get("Authorization")
	var key string
	if user, password, ok := r.BasicAuth(); ok {
		if password != "" {
			return "Invalid credentials: send the API key as the user name with an empty password."
		}
		key = user
	} else if token, ok := strings.CutPrefix(header, "Bearer "); ok {
		key = strings.TrimSpace(token)
	} else if header == "" {
		return "Missing credentials: authenticate with your API key (HTTP basic user, empty password, or Bearer)."
	} else {
		return "Unsupported authorization scheme: use Basic or Bearer with your API key."
	}
	for _, k := range e.keys {
		if subtle.ConstantTimeCompare([]byte(key), k) == 1 {
			return ""
		}
	}
	return "Invalid API key."
}

// object is the registration as the API renders it.
type object struct {
	ID    string `json:"id"`
	State string `json:"state"`
	URL   string `json:"url"`
}

func render(reg *registration) object { return object{ID: reg.id, State: reg.state, URL: reg.url} }

func (e *Emulator) create(w http.ResponseWriter, r *http.Request) {
	if sandbox.MediaType(r) != "application/x-www-form-urlencoded" {
		writeError(w, http.StatusUnsupportedMediaType, "Send the parameters form-encoded (Content-Type: application/x-www-form-urlencoded).")
		return
	}
	body, ok := sandbox.ReadBody(w, r, maxFormBody, writeError)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, "The body is not valid form encoding.")
		return
	}
	if problems := checkCreate(form); len(problems) > 0 {
		writeError(w, http.StatusBadRequest, "Invalid parameters: "+strings.Join(problems, "; ")+".")
		return
	}
	e.mu.Lock()
	obj := render(e.addLocked(r.Host))
	e.mu.Unlock()
	e.log.Printf("registration %s created", obj.ID)
	if e.faults.LoseAnswer(w) {
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

// checkCreate lists every defect of a create call's parameters, naming the
// parameter and never quoting its value (emails, names and phone numbers
// end up in logs through error messages).
func checkCreate(form url.Values) []string {
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(form)) {
		switch {
		case !slices.Contains(createParams, name):
			problems = append(problems, name+" is not a parameter of this call")
		case len(form[name]) > 1:
			problems = append(problems, name+" is given more than once")
		}
	}
	get := form.Get
	switch applicant := get("applicant"); {
	case applicant == "":
		problems = append(problems, "applicant is required (the future signer's email)")
	case !validate.Email(applicant):
		problems = append(problems, "applicant is not an email address")
	}
	enum := func(name string, allowed []string, required bool) {
		switch v := get(name); {
		case v == "" && required:
			problems = append(problems, name+" is required ("+validate.OneOf(allowed)+")")
		case v != "" && !slices.Contains(allowed, v):
			problems = append(problems, name+" must be "+validate.OneOf(allowed))
		}
	}
	enum("level", levels, true)
	enum("session_type", sessionTypes, false)
	enum("fullname_type", fullnameTypes, false)
	enum("phone_number_type", phoneNumberTypes, false)
	enum("language", languages, false)
	if v := get("phone_number"); v != "" && !validate.E164(v) {
		problems = append(problems, "phone_number must be in E.164 format (e.g. +34600112233)")
	}
	if v := get("redirect_url"); v != "" && !validate.HTTPURL(v) {
		problems = append(problems, "redirect_url must be an absolute http or https URL")
	}
	return problems
}

func (e *Emulator) get(w http.ResponseWriter, id string) {
	e.mu.Lock()
	reg := e.registrations[id]
	var obj object
	if reg != nil {
		obj = render(reg)
	}
	e.mu.Unlock()
	if reg == nil {
		writeError(w, http.StatusNotFound, "Registration not found.")
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func (e *Emulator) cancel(w http.ResponseWriter, id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	reg := e.registrations[id]
	switch {
	case reg == nil:
		writeError(w, http.StatusNotFound, "Registration not found.")
	case reg.state != StateOpen:
		writeError(w, http.StatusConflict, "Registration is "+reg.state+" and can no longer be canceled.")
	default:
		e.endLocked(reg, StateCanceled, "API")
		writeJSON(w, http.StatusOK, render(reg))
	}
}

// writeError answers with the inferred error body: a snake_case code from
// the status (e.g. "unauthorized", "not_found") and the explanation.
func writeError(w http.ResponseWriter, status int, msg string) {
	code := strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	writeJSON(w, status, map[string]string{"error": code, "error_description": msg})
}

// encodeFailure is what writeJSON answers, with a 500, for a value that
// does not encode: the same inferred error body.
var encodeFailure = []byte(`{"error":"internal_server_error","error_description":"The sandbox could not encode its answer."}`)

func writeJSON(w http.ResponseWriter, status int, v any) {
	sandbox.WriteJSON(w, status, v, encodeFailure)
}
