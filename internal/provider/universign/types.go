// Package universign is certflow's client of Universign's standalone
// registrations (a certificate registration session for a future signer).
// It knows nothing of Temporal.
package universign

import (
	"net/url"
	"slices"
	"time"

	"github.com/certflow/certflow/internal/validate"
)

// Registration states. Only "open" is documented; the others are inferred
// (provider notes, section 2) and kept in OutcomeOf, so an undocumented
// name is a one-line change.
const (
	StateOpen      = "open"
	StateCompleted = "completed"
	StateCanceled  = "canceled"
	StateFailed    = "failed"
	StateExpired   = "expired"
)

// SessionLifetime is how long a registration session stays valid at
// Universign (documented): an open one expires after it.
const SessionLifetime = 7 * 24 * time.Hour

// Outcome classifies a registration state for a workflow that waits on it.
type Outcome int

const (
	OutcomePending Outcome = iota
	OutcomeCompleted
	OutcomeCanceled
	OutcomeFailed
	OutcomeExpired
)

// OutcomeOf maps a state to its outcome; an unknown state is pending.
func OutcomeOf(state string) Outcome {
	switch state {
	case StateCompleted:
		return OutcomeCompleted
	case StateCanceled, "cancelled":
		return OutcomeCanceled
	case StateFailed:
		return OutcomeFailed
	case StateExpired:
		return OutcomeExpired
	default:
		return OutcomePending
	}
}

// Certificate levels and the other enumerations of the create call.
var (
	Levels           = []string{"lcp", "qcp", "qcpnqscd"}
	FullnameTypes    = []string{"suggestion", "prerequisite"}
	PhoneNumberTypes = []string{"suggestion", "flex_prerequisite", "prerequisite"}
	Languages        = []string{"bg", "ca", "nl", "en", "fr", "de", "it", "pl", "pt", "ro", "es"}
)

// CreateRegistration is the body of POST /v1/registrations (sent
// form-encoded, session_type=standalone). Field names as Universign spells
// them.
type CreateRegistration struct {
	// Applicant is the future signer's email (required).
	Applicant string `json:"applicant" jsonschema:"maxLength=254"`
	// Level is lcp, qcp or qcpnqscd (required); qcp levels need a video
	// selfie from the applicant.
	Level           string `json:"level"`
	RedirectURL     string `json:"redirect_url,omitempty" jsonschema:"maxLength=2048"`
	Fullname        string `json:"fullname,omitempty"`
	FullnameType    string `json:"fullname_type,omitempty"`
	PhoneNumber     string `json:"phone_number,omitempty"`
	PhoneNumberType string `json:"phone_number_type,omitempty"`
	// Language of the session's pages (default fr at Universign).
	Language string `json:"language,omitempty"`
}

// Form is the request's form encoding.
func (r CreateRegistration) Form() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("applicant", r.Applicant)
	set("level", r.Level)
	set("redirect_url", r.RedirectURL)
	set("session_type", "standalone")
	set("fullname", r.Fullname)
	set("fullname_type", r.FullnameType)
	set("phone_number", r.PhoneNumber)
	set("phone_number_type", r.PhoneNumberType)
	set("language", r.Language)
	return v
}

// Validate checks the registration before any call, listing every defect.
func (r CreateRegistration) Validate() error {
	p := validate.New("Universign registration")
	if r.Applicant == "" {
		p.Add("applicant", "missing; give the future signer's email")
	} else {
		p.Email("applicant", r.Applicant)
	}
	enum := func(field, v string, allowed []string, required bool) {
		switch {
		case v == "" && required:
			p.Add(field, "missing; use %s", validate.OneOf(allowed))
		case v != "" && !slices.Contains(allowed, v):
			p.Add(field, "%q is not allowed; use %s", v, validate.OneOf(allowed))
		}
	}
	enum("level", r.Level, Levels, true)
	enum("fullname_type", r.FullnameType, FullnameTypes, false)
	enum("phone_number_type", r.PhoneNumberType, PhoneNumberTypes, false)
	enum("language", r.Language, Languages, false)
	if r.FullnameType != "" && r.Fullname == "" {
		p.Add("fullname_type", "given without fullname")
	}
	if r.PhoneNumber != "" {
		p.Phone("phone_number", r.PhoneNumber)
	}
	if r.PhoneNumberType != "" && r.PhoneNumber == "" {
		p.Add("phone_number_type", "given without phone_number")
	}
	if r.RedirectURL != "" && !validate.HTTPURL(r.RedirectURL) {
		p.Add("redirect_url", "not an absolute http or https URL")
	}
	return p.Err()
}

// Registration is Universign's registration object.
type Registration struct {
	ID    string `json:"id"`
	State string `json:"state"`
	// URL is the session link to send to the applicant.
	URL string `json:"url"`
}
