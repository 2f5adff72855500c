package workflows

import "github.com/certflow/certflow/contract"

// Lifecycles maps the type of each of contract.Workflows to its workflow
// function: what the worker registers for a configured provider, and what
// the replay tests replay.
var Lifecycles = map[string]any{
	contract.UanatacaIssuanceName:       UanatacaIssuance,
	contract.UniversignRegistrationName: UniversignRegistration,
	contract.MasStackIdentificationName: MasStackIdentification,
	contract.HumanosRequestName:         HumanosRequest,
}
