package starter

import (
	"context"

	"github.com/certflow/certflow/certflowclient"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/masstack"
)

// masstackHelp is `certflow start masstack -h`'s description.
const masstackHelp = `Start a MasStack identity-document identification: certflow creates it
(the person's link is the status query's action_url) and follows it to its
final status, cancelling it at MasStack if the timeout passes.`

func (c *CLI) startMasStack(ctx context.Context, args []string) error {
	var in contract.MasStackIdentificationInput
	cmd, err := c.newStart(contract.ProviderMasStack, masstackHelp, args, &in, &in.Timeout, &in.PollInterval, "default expires_in + 1h")
	if err != nil {
		return err
	}
	r := &in.Identification
	fs := cmd.fs
	fs.StringVar(&r.Name, "name", r.Name, "the person's name")
	fs.StringVar(&r.LastName, "last-name", r.LastName, "the person's last name")
	fs.StringVar(&r.IdentityDocument.DocumentNumber, "document-number", r.IdentityDocument.DocumentNumber, "identity document number")
	fs.StringVar(&r.IdentityDocument.DocumentType, "document-type", r.IdentityDocument.DocumentType, "NIF, NIE or PASSPORT")
	fs.StringVar(&r.IdentityDocument.Country, "country", r.IdentityDocument.Country, "ISO 3166-1 alpha-2 country of the document")
	fs.StringVar(&r.ConfigurationName, "configuration", r.ConfigurationName, "LOW, MEDIUM or HIGH")
	fs.StringVar(&r.ExpiresIn, "expires-in", r.ExpiresIn, "the identification's validity, ISO-8601 (P7D), at most P30D")
	scoring := ""
	if r.Scoring != nil {
		scoring = r.Scoring.Provider
	}
	fs.StringVar(&scoring, "scoring", scoring, "scoring provider: INTERNAL or EXTERNAL")
	fs.StringVar(&in.CancelReason, "cancel-reason", in.CancelReason, "reason recorded at MasStack if certflow cancels")
	if err := cmd.parse(args); err != nil {
		return err
	}
	if scoring != "" {
		r.Scoring = &masstack.Scoring{Provider: scoring}
	}
	return launch(ctx, c, cmd, (*certflowclient.Client).StartMasStackIdentification, in)
}
