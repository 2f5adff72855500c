package contract

import "github.com/certflow/certflow/internal/provider/masstack"

// MasStackIdentificationName is the workflow type name of a MasStack
// identification with an identity document.
const MasStackIdentificationName = "MasStackIdentification"

// MasStackIdentificationInput starts an identification.
type MasStackIdentificationInput struct {
	// Identification is the create call's body, field names as MasStack
	// spells them.
	Identification masstack.CreateIdentification `json:"identification"`
	// Timeout before certflow cancels the identification (default: its
	// expires_in, or 30 days, plus an hour).
	Timeout Duration `json:"timeout,omitempty"`
	// PollInterval is the longest time between two reads (default "1h");
	// polls start a minute apart and back off.
	PollInterval Duration `json:"poll_interval,omitempty"`
	// CancelReason is recorded at MasStack when certflow cancels, unless
	// the canceller gives one (certflow cancel --reason); at most
	// MaxCancelReason characters.
	CancelReason string `json:"cancel_reason,omitempty" jsonschema:"maxLength=500"`
}

// MasStackIdentificationResult is the identification as it ended.
type MasStackIdentificationResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	URL    string `json:"url,omitempty"`
}
