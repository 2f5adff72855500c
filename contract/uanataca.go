package contract

import "github.com/certflow/certflow/internal/provider/uanataca"

// UanatacaIssuanceName is the workflow type name of a Uanataca certificate
// issuance.
const UanatacaIssuanceName = "UanatacaIssuance"

// UanatacaIssuanceInput starts a Uanataca issuance.
type UanatacaIssuanceInput struct {
	// Request is the RA's create-request body, field names as the RA spells
	// them. Leave scratchcard empty: certflow reserves one.
	Request uanataca.CreateRequest `json:"request"`
	// Documents to upload before approval (document_front and
	// document_rear at least, for approval by certflow).
	Documents []uanataca.Document `json:"documents,omitempty"`
	// Timeout is how long to wait for the applicant before cancelling the
	// request at Uanataca (default "30d").
	Timeout Duration `json:"timeout,omitempty"`
	// PollInterval is how often the RA is polled in case a webhook is lost
	// (default "1h").
	PollInterval Duration `json:"poll_interval,omitempty"`
}

// UanatacaIssuanceResult is the outcome of a successful issuance, and the
// details of a failed one.
type UanatacaIssuanceResult struct {
	PK                    int64                  `json:"pk"`
	Status                string                 `json:"status"`
	Profile               string                 `json:"profile"`
	RegistrationAuthority string                 `json:"registration_authority"`
	Scratchcard           string                 `json:"scratchcard"`
	CertificateSet        []uanataca.Certificate `json:"certificate_set"`
	// Approved says whether certflow approved the request itself.
	Approved bool `json:"approved"`
}

// UanatacaWebhook is the signal the ingress sends for a Uanataca webhook,
// normalised from either of the RA's webhook formats.
type UanatacaWebhook struct {
	PK                    int64  `json:"pk"`
	RegistrationAuthority string `json:"registration_authority,omitempty"`
	Status                string `json:"status,omitempty"`
	PreviousStatus        string `json:"previous_status,omitempty"`
	EventType             string `json:"event_type,omitempty"`
	Date                  string `json:"date,omitempty"`
}
