package starter

import (
	"context"
	"strings"

	"github.com/certflow/certflow/certflowclient"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/humanos"
)

// humanosHelp is `certflow start humanos -h`'s description.
const humanosHelp = `Start a Humanos request (OTP, KYC, consent) for one or more subjects: each
subject's link and code are in the status query's subjects; certflow
follows every decision until all credentials are decided, and cancels the
request at Humanos if the timeout passes.`

func (c *CLI) startHumanos(ctx context.Context, args []string) error {
	var in contract.HumanosRequestInput
	cmd, err := c.newStart(contract.ProviderHumanos, humanosHelp, args, &in, &in.Timeout, &in.PollInterval, "default 30d")
	if err != nil {
		return err
	}
	r := &in.Request
	fs := cmd.fs
	var contacts, groups, resources, docs multi
	fs.Var(&contacts, "contact", "a subject's email or E.164 phone (repeatable); adds to the file's contacts")
	fs.Var(&resources, "resource", "an existing resource id to ask for (repeatable)")
	fs.Var(&groups, "group", "an existing group id to ask for (repeatable)")
	fs.Var(&docs, "expected-doc", "contact=docId: a known document id, forcing KYC against it (repeatable)")
	fs.StringVar(&r.Name, "name", r.Name, "the request's name")
	fs.StringVar(&r.SecurityLevel, "security-level", r.SecurityLevel, "CONTACT, ORGANIZATION_KYC, HUMANOS_KYC or HUMANOS_REVALIDATION")
	fs.StringVar(&r.Language, "language", r.Language, "notification language, e.g. ENG")
	fs.StringVar(&r.RedirectURL, "redirect-url", r.RedirectURL, "where subjects go when they are done")
	if err := cmd.parse(args); err != nil {
		return err
	}
	r.Contacts = append(r.Contacts, contacts...)
	r.GroupIDs = append(r.GroupIDs, groups...)
	r.ResourcesIDs = append(r.ResourcesIDs, resources...)
	for _, d := range docs {
		contact, docID, ok := strings.Cut(d, "=")
		if !ok {
			return cmd.usagef("-expected-doc %q: want contact=docId", d)
		}
		r.ExpectedDocIDs = append(r.ExpectedDocIDs, humanos.ExpectedDoc{Contact: contact, DocID: docID})
	}
	return launch(ctx, c, cmd, (*certflowclient.Client).StartHumanosRequest, in)
}
