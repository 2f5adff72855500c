package uanataca

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Request statuses, as the RA reports them in GET /requests/{pk} and webhooks.
const (
	StatusCreated         = "CREATED"
	StatusVideoPending    = "VIDEOPENDING"
	StatusVideoReview     = "VIDEOREVIEW"
	StatusVideoIncomplete = "VIDEOINCOMPLETE"
	StatusVideoError      = "VIDEOERROR"
	StatusEnrollReady     = "ENROLLREADY"
	StatusIssued          = "ISSUED"
	StatusRenewed         = "RENEWED"
	StatusCancelled       = "CANCELLED"
)

// Outcome classifies a request status for a workflow that waits on it. It is
// the one place that decides which statuses end an issuance.
type Outcome int

const (
	// OutcomePending: the request can still progress; keep waiting.
	OutcomePending Outcome = iota
	// OutcomeIssued: the applicant generated the certificate.
	OutcomeIssued
	// OutcomeCancelled: the request was cancelled and cannot be issued.
	OutcomeCancelled
	// OutcomeVideoFailed: the Video ID identification failed or was left
	// incomplete; the request needs a new identification.
	OutcomeVideoFailed
)

// OutcomeOf maps a request status to its outcome. An unknown status is
// pending, so a status Uanataca adds later never ends an issuance by mistake.
func OutcomeOf(status string) Outcome {
	switch status {
	case StatusIssued, StatusRenewed:
		return OutcomeIssued
	case StatusCancelled:
		return OutcomeCancelled
	case StatusVideoIncomplete, StatusVideoError:
		return OutcomeVideoFailed
	default:
		return OutcomePending
	}
}

// Document types accepted by pl_upload_document.
const (
	DocumentFront = "document_front"
	DocumentRear  = "document_rear"
	DocumentOwner = "document_owner"
	DocumentExtra = "extra_document"
)

// FlexString is a value the RA sends sometimes as a JSON string and sometimes
// as a number (registration_authority, sn, validity_time differ between
// endpoints). It always marshals as a string.
type FlexString string

// UnmarshalJSON accepts a JSON string, number or null.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*f = ""
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("want a string or a number")
	}
	*f = FlexString(n.String())
	return nil
}

// CreateRequest is the body of POST /requests/. The typed fields are those of
// the create call's reference; Extra carries any other field a profile needs
// (organization_name, smartcard_sn, ...) under its API name, so every profile
// of the guide can be requested without a struct field per attribute.
type CreateRequest struct {
	Profile               string `json:"profile"`
	ValidityTime          int    `json:"validity_time,omitempty"`
	Scratchcard           string `json:"scratchcard"`
	SecureElement         string `json:"secure_element,omitempty"`
	RegistrationAuthority string `json:"registration_authority"`
	IdentificationRAO     int    `json:"identification_rao,omitempty"`
	CountryName           string `json:"country_name,omitempty"`
	SerialNumber          string `json:"serial_number,omitempty"`
	IDDocumentCountry     string `json:"id_document_country,omitempty"`
	IDDocumentType        string `json:"id_document_type,omitempty"`
	GivenName             string `json:"given_name,omitempty"`
	Surname1              string `json:"surname_1,omitempty"`
	Surname2              string `json:"surname_2,omitempty"`
	Email                 string `json:"email" jsonschema:"maxLength=254"`
	MobilePhoneNumber     string `json:"mobile_phone_number,omitempty"`
	PaperlessMode         int    `json:"paperless_mode,omitempty"`
	VideoIDMode           int    `json:"videoid_mode,omitempty"`
	WebhookURL            string `json:"webhook_url,omitempty" jsonschema:"maxLength=2048"`
	// Extra holds further profile fields by their API names. A key that
	// duplicates a typed field is ignored in favour of the typed field.
	Extra map[string]string `json:"-"`
}

// createRequestFields avoids MarshalJSON recursion.
type createRequestFields CreateRequest

// MarshalJSON writes the typed fields and Extra as one flat object.
func (r CreateRequest) MarshalJSON() ([]byte, error) {
	typed, err := json.Marshal(createRequestFields(r))
	if err != nil {
		return nil, err
	}
	if len(r.Extra) == 0 {
		return typed, nil
	}
	merged := map[string]any{}
	for k, v := range r.Extra {
		merged[k] = v
	}
	var fields map[string]any
	if err := json.Unmarshal(typed, &fields); err != nil {
		return nil, err
	}
	maps.Copy(merged, fields)
	return json.Marshal(merged)
}

// UnmarshalJSON reads the typed fields and keeps every other string or
// number field in Extra.
func (r *CreateRequest) UnmarshalJSON(b []byte) error {
	var typed createRequestFields
	if err := json.Unmarshal(b, &typed); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	typed.Extra = nil
	for k, raw := range all {
		if slices.Contains(typedFieldNames, k) {
			continue
		}
		var v FlexString
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
		if typed.Extra == nil {
			typed.Extra = map[string]string{}
		}
		typed.Extra[k] = string(v)
	}
	*r = CreateRequest(typed)
	return nil
}

// typedFieldNames lists the API names of CreateRequest's typed fields.
var typedFieldNames = []string{
	"profile", "validity_time", "scratchcard", "secure_element",
	"registration_authority", "identification_rao", "country_name",
	"serial_number", "id_document_country", "id_document_type", "given_name",
	"surname_1", "surname_2", "email", "mobile_phone_number", "paperless_mode",
	"videoid_mode", "webhook_url",
}

// Fields returns every non-empty field of the request by its API name, with
// numbers as decimal strings: the view the profile rules are checked against.
func (r CreateRequest) Fields() map[string]string {
	out := map[string]string{}
	for k, v := range r.Extra {
		if v != "" {
			out[k] = v
		}
	}
	put := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	putInt := func(k string, v int) {
		if v != 0 {
			out[k] = strconv.Itoa(v)
		}
	}
	put("profile", r.Profile)
	putInt("validity_time", r.ValidityTime)
	put("scratchcard", r.Scratchcard)
	put("secure_element", r.SecureElement)
	put("registration_authority", r.RegistrationAuthority)
	putInt("identification_rao", r.IdentificationRAO)
	put("country_name", r.CountryName)
	put("serial_number", r.SerialNumber)
	put("id_document_country", r.IDDocumentCountry)
	put("id_document_type", r.IDDocumentType)
	put("given_name", r.GivenName)
	put("surname_1", r.Surname1)
	put("surname_2", r.Surname2)
	put("email", r.Email)
	put("mobile_phone_number", r.MobilePhoneNumber)
	putInt("paperless_mode", r.PaperlessMode)
	putInt("videoid_mode", r.VideoIDMode)
	put("webhook_url", r.WebhookURL)
	return out
}

// Request is the part of the RA's request object certflow reads. Personal
// fields (names, document numbers, phone) are deliberately not decoded:
// certflow never needs them back, so they never reach its results. Email is
// the one exception: it tells a request certflow created from another
// created with the same scratchcard, and activities clear it before
// returning a Request to a workflow.
type Request struct {
	PK                    int64         `json:"pk"`
	Status                string        `json:"status"`
	Profile               string        `json:"profile"`
	Scratchcard           FlexString    `json:"scratchcard"`
	RegistrationAuthority FlexString    `json:"registration_authority"`
	Email                 string        `json:"email,omitempty"`
	CertificateSet        []Certificate `json:"certificate_set,omitempty"`
}

// Certificate is one issued certificate of a request, without its subject
// and DER data (both name the applicant): fetch those from the RA by pk.
type Certificate struct {
	Profile      string `json:"profile"`
	SerialNumber string `json:"serial_number"`
	Valid        string `json:"valid"`
	ValidFrom    string `json:"valid_from"`
	ValidTo      string `json:"valid_to"`
	Issuer       string `json:"issuer"`
}

// Scratchcard is a single-use card of an RA. Its secrets (enrollment code,
// PIN, PUK) are deliberately not decoded: the RA mails them to the
// applicant, and certflow must never carry them in workflow history.
type Scratchcard struct {
	PK                    int64      `json:"pk"`
	SN                    FlexString `json:"sn"`
	RegistrationAuthority FlexString `json:"registration_authority"`
}

// Page is one page of a paginated list (10 items a page).
type Page[T any] struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

// Document is a file to attach to a request with pl_upload_document.
type Document struct {
	// Type is one of DocumentFront, DocumentRear, DocumentOwner, DocumentExtra.
	Type     string `json:"type"`
	Filename string `json:"filename"`
	// Content is the file itself (base64 in JSON).
	Content []byte `json:"content"`
}

// UploadedDocument is the RA's answer to an upload.
type UploadedDocument struct {
	PK   int64  `json:"pk"`
	Type string `json:"type"`
}

// Approval holds the RAO's cloud-certificate credentials for pl_approve.
type Approval struct {
	Username string `json:"username"`
	Password string `json:"password"`
	PIN      string `json:"pin"`
	RAOID    int    `json:"rao_id"`
}

// ApproveResponse is the answer to pl_approve; its secrets are not decoded.
type ApproveResponse struct {
	Request Request `json:"request"`
}
