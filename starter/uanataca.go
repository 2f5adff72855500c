package starter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/certflow/certflow/certflowclient"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/uanataca"
)

// uanatacaHelp is `certflow start uanataca -h`'s description.
const uanatacaHelp = `Start a Uanataca certificate issuance: certflow reserves a scratchcard,
creates the request at the RA, uploads the documents and approves the
request when it can (RAO credentials and document_front/document_rear),
then follows it until the certificate is issued, the request fails, or the
timeout cancels it at the RA.`

func (c *CLI) startUanataca(ctx context.Context, args []string) error {
	var in contract.UanatacaIssuanceInput
	cmd, err := c.newStart(contract.ProviderUanataca, uanatacaHelp, args, &in, &in.Timeout, &in.PollInterval, "default 30d")
	if err != nil {
		return err
	}
	fs := cmd.fs
	r := &in.Request
	fs.StringVar(&r.Profile, "profile", r.Profile, "certificate profile, e.g. PFnubeAFCiudadano")
	fs.StringVar(&r.RegistrationAuthority, "ra", r.RegistrationAuthority, "registration authority id (registration_authority)")
	fs.IntVar(&r.ValidityTime, "validity-time", r.ValidityTime, "validity in days: 1, 3, 365, 730, 1095 or 1825")
	fs.StringVar(&r.SecureElement, "secure-element", r.SecureElement, "0 software, 1 smartcard, 2 cloud")
	fs.StringVar(&r.GivenName, "given-name", r.GivenName, "applicant's given name")
	fs.StringVar(&r.Surname1, "surname-1", r.Surname1, "applicant's first surname")
	fs.StringVar(&r.Surname2, "surname-2", r.Surname2, "applicant's second surname")
	fs.StringVar(&r.Email, "email", r.Email, "applicant's email")
	fs.StringVar(&r.MobilePhoneNumber, "phone", r.MobilePhoneNumber, "applicant's mobile phone, E.164 (+34600112233)")
	fs.StringVar(&r.SerialNumber, "serial-number", r.SerialNumber, "applicant's document number (serial_number)")
	fs.StringVar(&r.IDDocumentType, "id-document-type", r.IDDocumentType, "IDC, PAS, PNO or TIN")
	fs.StringVar(&r.IDDocumentCountry, "id-document-country", r.IDDocumentCountry, "ISO 3166-1 alpha-2 country of the document")
	var fields, docs multi
	fs.Var(&fields, "field", "any other request field as name=value (repeatable), e.g. -field organization_name=ACME")
	fs.Var(&docs, "document", "a document to upload as type=path (repeatable), e.g. -document document_front=front.jpg")
	if err := cmd.parse(args); err != nil {
		return err
	}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return cmd.usagef("-field %q: want name=value", f)
		}
		if r.Extra == nil {
			r.Extra = map[string]string{}
		}
		r.Extra[k] = v
	}
	for _, d := range docs {
		typ, path, ok := strings.Cut(d, "=")
		if !ok {
			return cmd.usagef("-document %q: want type=path", d)
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading document %s: %w", path, err)
		}
		in.Documents = append(in.Documents, uanataca.Document{Type: typ, Filename: filepath.Base(path), Content: content})
	}
	return launch(ctx, c, cmd, (*certflowclient.Client).StartUanatacaIssuance, in)
}
