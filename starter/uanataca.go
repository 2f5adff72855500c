package starter

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/certflow/certflow/internal/provider/uanataca"
	"github.com/certflow/certflow/workflows"
)

// multi is a repeatable key=value flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func (c *CLI) startUanataca(ctx context.Context, args []string) error {
	// The file is read first and the flags are bound to its values, so a
	// flag overrides the file's field and an absent flag keeps it.
	var in workflows.UanatacaIssuanceInput
	if path := fileFlag(args); path != "" {
		if err := readJSON(path, &in); err != nil {
			return err
		}
	}
	fs := flag.NewFlagSet("certflow start uanataca", flag.ContinueOnError)
	fs.SetOutput(c.Err)
	fs.String("f", "", "JSON file with the workflow input (README, \"UanatacaIssuance\"); flags below override its fields")
	id := fs.String("id", "", "workflow ID (default uanataca-<uuid>); reuse your own business key to make starts idempotent — never put personal data in it")
	wait := fs.Bool("wait", false, "wait for the outcome and print the result as JSON")
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
	timeout := fs.String("timeout", "", "how long to wait for the applicant before cancelling (default 30d)")
	poll := fs.String("poll-interval", "", "how often to poll the RA in case a webhook is lost (default 1h)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}

	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return usageError{fmt.Sprintf("-field %q: want name=value", f)}
		}
		if r.Extra == nil {
			r.Extra = map[string]string{}
		}
		r.Extra[k] = v
	}
	for _, d := range docs {
		typ, path, ok := strings.Cut(d, "=")
		if !ok {
			return usageError{fmt.Sprintf("-document %q: want type=path", d)}
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading document %s: %w", path, err)
		}
		in.Documents = append(in.Documents, uanataca.Document{Type: typ, Filename: filepath.Base(path), Content: content})
	}
	for _, d := range []struct {
		flag string
		to   *workflows.Duration
	}{{*timeout, &in.Timeout}, {*poll, &in.PollInterval}} {
		if d.flag == "" {
			continue
		}
		v, err := workflows.ParseDuration(d.flag)
		if err != nil {
			return usageError{err.Error()}
		}
		*d.to = workflows.Duration(v)
	}

	if *id == "" {
		*id = newWorkflowID(workflows.ProviderUanataca)
	}
	summary := fmt.Sprintf("Uanataca issuance · profile %s · RA %s", r.Profile, r.RegistrationAuthority)
	var res workflows.UanatacaIssuanceResult
	return c.start(ctx, *id, workflows.UanatacaIssuanceName, summary, in, *wait, &res)
}

// fileFlag finds the value of -f in args ("-f x", "-f=x", "--f x").
func fileFlag(args []string) string {
	for i, a := range args {
		switch {
		case a == "-f" || a == "--f":
			if i+1 < len(args) {
				return args[i+1]
			}
		case strings.HasPrefix(a, "-f="), strings.HasPrefix(a, "--f="):
			_, v, _ := strings.Cut(a, "=")
			return v
		case a == "--":
			return ""
		}
	}
	return ""
}

// readJSON decodes a JSON file strictly, naming the file in any error.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s is not a valid workflow input: %v", path, err)
	}
	return nil
}
