// Package masstack is certflow's client of MasStack Documents'
// identifications with an identity document, including the service-account
// token flow. It knows nothing of Temporal.
package masstack

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/certflow/certflow/internal/validate"
)

// Identification statuses. MasStack does not publish them; these are
// inferred (provider notes, section 4) and kept in OutcomeOf, so a real
// name is a one-line change.
const (
	StatusPending    = "PENDING"
	StatusInProgress = "IN_PROGRESS"
	StatusValidated  = "VALIDATED"
	StatusCompleted  = "COMPLETED"
	StatusRejected   = "REJECTED"
	StatusExpired    = "EXPIRED"
	StatusCancelled  = "CANCELLED"
)

// Outcome classifies an identification status.
type Outcome int

const (
	OutcomePending Outcome = iota
	OutcomeCompleted
	OutcomeRejected
	OutcomeExpired
	OutcomeCancelled
)

// OutcomeOf maps a status to its outcome; an unknown status is pending.
func OutcomeOf(status string) Outcome {
	switch status {
	case StatusValidated, StatusCompleted:
		return OutcomeCompleted
	case StatusRejected:
		return OutcomeRejected
	case StatusExpired:
		return OutcomeExpired
	case StatusCancelled, "CANCELED":
		return OutcomeCancelled
	default:
		return OutcomePending
	}
}

// Enumerations of the create call.
var (
	DocumentTypes  = []string{"NIF", "NIE", "PASSPORT"}
	Configurations = []string{"LOW", "MEDIUM", "HIGH"}
	ScoringTypes   = []string{"INTERNAL", "EXTERNAL"}
)

// MaxExpiresIn is the longest validity MasStack allows (and its default).
const MaxExpiresIn = 30 * 24 * time.Hour

// IdentityDocument is the person's identity document.
type IdentityDocument struct {
	DocumentNumber string `json:"document_number"`
	DocumentType   string `json:"document_type"`
	Country        string `json:"country,omitempty"`
}

// Scoring selects who scores the identification.
type Scoring struct {
	Provider string `json:"provider"`
}

// CreateIdentification is the body of POST
// /orgs/{org_id}/identifications/identity_document.
type CreateIdentification struct {
	Name              string           `json:"name,omitempty"`
	LastName          string           `json:"last_name,omitempty"`
	IdentityDocument  IdentityDocument `json:"identity_document"`
	ConfigurationName string           `json:"configuration_name,omitempty"`
	// ExpiresIn is an ISO-8601 duration such as "P7D", at most 30 days.
	ExpiresIn string   `json:"expires_in,omitempty"`
	Scoring   *Scoring `json:"scoring,omitempty"`
}

// Lifetime is how long the identification stays valid at MasStack:
// ExpiresIn, or MaxExpiresIn (MasStack's default) when it is empty or not
// a duration (Validate refuses that before any call).
func (r CreateIdentification) Lifetime() time.Duration {
	if d, err := ParseISODuration(r.ExpiresIn); err == nil && d > 0 {
		return d
	}
	return MaxExpiresIn
}

// Validate checks the identification before any call, listing every defect.
func (r CreateIdentification) Validate() error {
	p := validate.New("MasStack identification")
	d := r.IdentityDocument
	if d.DocumentNumber == "" {
		p.Add("identity_document.document_number", "missing")
	}
	switch {
	case d.DocumentType == "":
		p.Add("identity_document.document_type", "missing; use %s", validate.OneOf(DocumentTypes))
	case !slices.Contains(DocumentTypes, d.DocumentType):
		p.Add("identity_document.document_type", "%q is not allowed; use %s", d.DocumentType, validate.OneOf(DocumentTypes))
	}
	if d.Country != "" {
		p.Country("identity_document.country", d.Country)
	}
	if r.ConfigurationName != "" && !slices.Contains(Configurations, r.ConfigurationName) {
		p.Add("configuration_name", "%q is not allowed; use %s", r.ConfigurationName, validate.OneOf(Configurations))
	}
	if r.ExpiresIn != "" {
		if v, err := ParseISODuration(r.ExpiresIn); err != nil {
			p.Add("expires_in", "%v", err)
		} else if v <= 0 || v > MaxExpiresIn {
			p.Add("expires_in", "%q is not between a second and 30 days (P30D)", r.ExpiresIn)
		}
	}
	if r.Scoring != nil && !slices.Contains(ScoringTypes, r.Scoring.Provider) {
		p.Add("scoring.provider", "%q is not allowed; use %s", r.Scoring.Provider, validate.OneOf(ScoringTypes))
	}
	return p.Err()
}

// isoDuration matches the day-and-time subset of ISO-8601 durations; years
// and months are refused because their length in days is ambiguous.
var isoDuration = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// ParseISODuration reads an ISO-8601 duration made of weeks, days, hours,
// minutes and seconds ("P7D", "PT36H", "P1W2DT3H").
func ParseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" || (len(s) > 0 && s[len(s)-1] == 'T') {
		return 0, fmt.Errorf("%q is not an ISO-8601 duration of weeks, days and time (e.g. P7D, PT36H)", s)
	}
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var total time.Duration
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		// The bound keeps the sum from wrapping around: a huge count of days
		// must not come out as a few hours that pass Validate.
		if err != nil || n > (math.MaxInt64-int64(total))/int64(u) {
			return 0, fmt.Errorf("%q: number too large", s)
		}
		total += time.Duration(n) * u
	}
	return total, nil
}

// Identification is MasStack's identification object. Only the fields
// certflow needs are decoded: the person's name and document number are
// not, so they never reach certflow's results.
type Identification struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// URL is the link the person opens to identify (field name inferred).
	URL       string `json:"url,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
}
