package starter

import (
	"context"

	"github.com/certflow/certflow/certflowclient"
	"github.com/certflow/certflow/contract"
)

// universignHelp is `certflow start universign -h`'s description.
const universignHelp = `Start a Universign standalone registration: certflow creates the
registration session (its link, to send the person, is the status query's
action_url) and follows it to completed, canceled, failed or expired.`

func (c *CLI) startUniversign(ctx context.Context, args []string) error {
	var in contract.UniversignRegistrationInput
	cmd, err := c.newStart(contract.ProviderUniversign, universignHelp, args, &in, &in.Timeout, &in.PollInterval, "default 8d; sessions last 7d")
	if err != nil {
		return err
	}
	r := &in.Registration
	fs := cmd.fs
	fs.StringVar(&r.Applicant, "applicant", r.Applicant, "the future signer's email")
	fs.StringVar(&r.Level, "level", r.Level, "certificate level: lcp, qcp or qcpnqscd")
	fs.StringVar(&r.RedirectURL, "redirect-url", r.RedirectURL, "where the session sends the person at the end")
	fs.StringVar(&r.Fullname, "fullname", r.Fullname, "the person's full name")
	fs.StringVar(&r.FullnameType, "fullname-type", r.FullnameType, "suggestion or prerequisite")
	fs.StringVar(&r.PhoneNumber, "phone", r.PhoneNumber, "the person's phone, E.164 (+34600112233)")
	fs.StringVar(&r.PhoneNumberType, "phone-type", r.PhoneNumberType, "suggestion, flex_prerequisite or prerequisite")
	fs.StringVar(&r.Language, "language", r.Language, "bg ca nl en fr de it pl pt ro es (default fr)")
	if err := cmd.parse(args); err != nil {
		return err
	}
	return launch(ctx, c, cmd, (*certflowclient.Client).StartUniversignRegistration, in)
}
