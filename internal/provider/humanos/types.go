// Package humanos is certflow's client of Humanos requests (OTP, KYC and
// consent credentials for one or more subjects), and the signing and
// encryption its API and webhooks use. It knows nothing of Temporal.
package humanos

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/certflow/certflow/internal/validate"
)

// Security levels of a request.
var SecurityLevels = []string{"CONTACT", "ORGANIZATION_KYC", "HUMANOS_KYC", "HUMANOS_REVALIDATION"}

// Credential statuses: PENDING (older versions) or DRAFT while undecided,
// ACTIVE or APPROVED once accepted, then REJECTED, CANCELED, REVOKED,
// EXPIRED.
const (
	CredentialPending  = "PENDING"
	CredentialDraft    = "DRAFT"
	CredentialActive   = "ACTIVE"
	CredentialApproved = "APPROVED"
	CredentialRejected = "REJECTED"
	CredentialCanceled = "CANCELED"
	CredentialRevoked  = "REVOKED"
	CredentialExpired  = "EXPIRED"
)

// Limits Humanos sets on one request.
const (
	MaxContacts    = 100
	MaxCredentials = 10
)

// ExpectedDoc ties a contact to a known document id, forcing a KYC check
// against it.
type ExpectedDoc struct {
	Contact string `json:"contact"`
	DocID   string `json:"docId"`
}

// CreateRequest is the body of POST /v1/request, field names as Humanos
// spells them. InternalID is set by certflow to the workflow ID, which is
// how webhooks find their workflow.
type CreateRequest struct {
	Contacts            []string          `json:"contacts" jsonschema:"maxLength=254"`
	Name                string            `json:"name,omitempty"`
	SecurityLevel       string            `json:"securityLevel,omitempty"`
	AllowDuplicates     bool              `json:"allowDuplicates,omitempty"`
	GroupIDs            []string          `json:"groupIds,omitempty"`
	ResourcesIDs        []string          `json:"resourcesIds,omitempty"`
	Credentials         []json.RawMessage `json:"credentials,omitempty"`
	SignaturePlacements []json.RawMessage `json:"signaturePlacements,omitempty"`
	Language            string            `json:"language,omitempty"`
	RedirectURL         string            `json:"redirectUrl,omitempty" jsonschema:"maxLength=2048"`
	InternalID          string            `json:"internalId,omitempty"`
	PubKey              string            `json:"pubKey,omitempty" jsonschema:"maxLength=4096"`
	AuthorizedDIDs      []string          `json:"authorizedDIDs,omitempty"`
	ExpectedDocIDs      []ExpectedDoc     `json:"expectedDocIds,omitempty"`
}

// Validate checks the request before any call, listing every defect.
func (r CreateRequest) Validate() error {
	p := validate.New("Humanos request")
	switch {
	case len(r.Contacts) == 0:
		p.Add("contacts", "missing; give one or more emails or E.164 phone numbers")
	case len(r.Contacts) > MaxContacts:
		p.Add("contacts", "%d contacts, more than the %d Humanos allows in one request", len(r.Contacts), MaxContacts)
	}
	seen := map[string]bool{}
	for i, c := range r.Contacts {
		if !validate.Email(c) && !validate.E164(c) {
			p.Add(contactField(i), "neither an email address nor an E.164 phone number")
		}
		if seen[c] {
			p.Add(contactField(i), "repeats an earlier contact")
		}
		seen[c] = true
	}
	if r.SecurityLevel != "" && !slices.Contains(SecurityLevels, r.SecurityLevel) {
		p.Add("securityLevel", "%q is not allowed; use %s", r.SecurityLevel, validate.OneOf(SecurityLevels))
	}
	if len(r.GroupIDs)+len(r.ResourcesIDs)+len(r.Credentials) == 0 {
		p.Add("credentials", "nothing to ask for: give groupIds, resourcesIds or inline credentials")
	}
	if len(r.Credentials) > MaxCredentials {
		p.Add("credentials", "%d inline credentials, more than the %d Humanos allows", len(r.Credentials), MaxCredentials)
	}
	if r.RedirectURL != "" && !validate.HTTPURL(r.RedirectURL) {
		p.Add("redirectUrl", "not an absolute http or https URL")
	}
	for i, d := range r.ExpectedDocIDs {
		if !seen[d.Contact] {
			p.Add("expectedDocIds", "entry %d names a contact that is not in contacts", i)
		}
		if d.DocID == "" {
			p.Add("expectedDocIds", "entry %d has no docId", i)
		}
	}
	return p.Err()
}

func contactField(i int) string { return "contacts[" + strconv.Itoa(i) + "]" }

// Identity (KYC) statuses of a subject, as GET reports them in
// identityStatus. Humanos does not publish the list; these are inferred and
// kept in KYCFailed, so a real name is a one-line change.
const (
	IdentityPending  = "PENDING"
	IdentityVerified = "VERIFIED"
	IdentityFailed   = "FAILED"
	IdentityFraud    = "FRAUD"
)

// KYCFailed reports whether an identity status means the subject's KYC
// verification failed for good.
func KYCFailed(identityStatus string) bool {
	return identityStatus == IdentityFailed || identityStatus == IdentityFraud || identityStatus == "REJECTED"
}

// Subject is one person of a request, as create answers it: the link and
// code to send them. Older API versions call the id "did", newer "id";
// both are read into ID.
type Subject struct {
	Contact string `json:"contact"`
	ID      string `json:"id,omitempty"`
	Code    string `json:"code,omitempty"`
	Link    string `json:"link,omitempty"`
	// IdentityStatus comes with GET: the subject's identity (KYC)
	// verification state, judged by KYCFailed. GET's kyc object is not read.
	IdentityStatus string `json:"identityStatus,omitempty"`
}

// UnmarshalJSON reads a subject in either version's shape.
func (s *Subject) UnmarshalJSON(b []byte) error {
	type plain Subject
	var v struct {
		plain
		DID string `json:"did"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Subject(v.plain)
	if s.ID == "" {
		s.ID = v.DID
	}
	return nil
}

// Decision is one subject's decision on a credential.
type Decision struct {
	Contact   string `json:"contact"`
	Accepted  bool   `json:"accepted"`
	DecidedAt string `json:"decidedAt"`
}

// Credential is one thing asked of the subjects.
type Credential struct {
	ID           string     `json:"id"`
	ResourceType string     `json:"resourceType,omitempty"`
	Status       string     `json:"status"`
	Name         string     `json:"name,omitempty"`
	InternalID   string     `json:"internalId,omitempty"`
	Decisions    []Decision `json:"decisions,omitempty"`
}

// Request is a Humanos request as create and GET answer it.
type Request struct {
	ID            string       `json:"id"`
	SecurityLevel string       `json:"securityLevel,omitempty"`
	CreatedAt     string       `json:"createdAt,omitempty"`
	InternalID    string       `json:"internalId,omitempty"`
	CanceledAt    string       `json:"canceledAt,omitempty"`
	Subjects      []Subject    `json:"subjects"`
	Credentials   []Credential `json:"credentials"`
}

// Outcome classifies a request for a workflow that waits on it.
type Outcome int

const (
	// OutcomePending: some subject has a credential still to decide.
	OutcomePending Outcome = iota
	// OutcomeAccepted: every subject accepted every credential.
	OutcomeAccepted
	// OutcomeRejected: every credential is decided and one was rejected.
	OutcomeRejected
	// OutcomeKYCFailed: a subject's identity verification failed, so that
	// subject will decide nothing.
	OutcomeKYCFailed
	// OutcomeCanceled: the request was cancelled.
	OutcomeCanceled
	// OutcomeExpired: a credential expired undecided.
	OutcomeExpired
)

// decided reports whether a credential status is final.
func decided(status string) bool {
	switch status {
	case CredentialActive, CredentialApproved, CredentialRejected, CredentialCanceled, CredentialRevoked, CredentialExpired:
		return true
	}
	return false
}

// Outcome is the one place that decides when a request is over, from its
// authoritative state (GET), never from a webhook.
func (r Request) Outcome() Outcome {
	if r.CanceledAt != "" {
		return OutcomeCanceled
	}
	for _, s := range r.Subjects {
		if KYCFailed(s.IdentityStatus) {
			return OutcomeKYCFailed
		}
	}
	rejected := false
	for _, c := range r.Credentials {
		byContact := map[string]bool{}
		for _, d := range c.Decisions {
			byContact[d.Contact] = true
			if !d.Accepted {
				rejected = true
			}
		}
		switch {
		case c.Status == CredentialExpired:
			return OutcomeExpired
		case c.Status == CredentialRejected:
			rejected = true
		case !decided(c.Status) && len(byContact) < len(r.Subjects):
			return OutcomePending
		}
	}
	if len(r.Credentials) == 0 {
		return OutcomePending
	}
	if rejected {
		return OutcomeRejected
	}
	return OutcomeAccepted
}
