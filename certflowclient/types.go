package certflowclient

import (
	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/provider/masstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	"github.com/certflow/certflow/internal/provider/universign"
)

// The workflow inputs and results in package workflows are built of types
// from certflow's internal provider packages, which Go forbids modules other
// than certflow to import. These aliases name them for other services, so a
// service can write a Documents slice or an identity document literal; they
// are the same types, not copies.
type (
	// UanatacaCreateRequest is UanatacaIssuanceInput.Request: the RA's
	// create-request body; Extra carries any other profile field.
	UanatacaCreateRequest = uanataca.CreateRequest
	// UanatacaDocument is one of UanatacaIssuanceInput.Documents.
	UanatacaDocument = uanataca.Document
	// UanatacaCertificate is one of UanatacaIssuanceResult.CertificateSet.
	UanatacaCertificate = uanataca.Certificate

	// UniversignCreateRegistration is UniversignRegistrationInput.Registration.
	UniversignCreateRegistration = universign.CreateRegistration

	// MasStackCreateIdentification is MasStackIdentificationInput.Identification.
	MasStackCreateIdentification = masstack.CreateIdentification
	// MasStackIdentityDocument is the person's identity document.
	MasStackIdentityDocument = masstack.IdentityDocument
	// MasStackScoring selects who scores the identification.
	MasStackScoring = masstack.Scoring

	// HumanosCreateRequest is HumanosRequestInput.Request.
	HumanosCreateRequest = humanos.CreateRequest
	// HumanosExpectedDoc is one of HumanosCreateRequest.ExpectedDocIDs.
	HumanosExpectedDoc = humanos.ExpectedDoc
)
