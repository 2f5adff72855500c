package contract

import "github.com/certflow/certflow/internal/provider/universign"

// UniversignRegistrationName is the workflow type name of a Universign
// standalone registration.
const UniversignRegistrationName = "UniversignRegistration"

// UniversignRegistrationInput starts a registration.
type UniversignRegistrationInput struct {
	// Registration is the create call's body, field names as Universign
	// spells them (session_type is always standalone).
	Registration universign.CreateRegistration `json:"registration"`
	// Timeout before certflow cancels the registration (default "8d").
	Timeout Duration `json:"timeout,omitempty"`
	// PollInterval is the longest time between two reads of the
	// registration (default "1h"); polls start a minute apart and back off.
	PollInterval Duration `json:"poll_interval,omitempty"`
}

// UniversignRegistrationResult is the registration as it ended.
type UniversignRegistrationResult struct {
	ID    string `json:"id"`
	State string `json:"state"`
	URL   string `json:"url"`
}
