package starter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
)

const webhookHelp = `
Send a provider webhook to a running workflow by hand, as the "webhook"
signal the ingress sends: to replay a webhook the provider sent but certflow
never received, or to make a workflow look at its provider now.

It is only a hint. The workflow re-reads the provider and acts on what the
provider reports, never on the payload: a status the provider does not hold
changes nothing, and a hint already applied (same status, same event) is
ignored.

With -f, the file's JSON is sent as it is. Paste the webhook as the ingress
normalises it, not the provider's raw body; it is checked against the
workflow's type before it is sent:

  uanataca             {"pk":46760,"status":"ISSUED"}
                       (optional: registration_authority, previous_status,
                       event_type, date)
  humanos              {"eventType":"credential","contact":"...","credentialId":"...","action":"accept"}
                       (eventType credential, identity or otp.failed;
                       optional: requestId, success for identity events, date)
  universign, masstack {"status":"..."}

With --status, the payload is built for the workflow's type: uanataca
{"pk":<the workflow's CertflowProviderRef>,"status":STATUS}, universign and
masstack {"status":STATUS}. Humanos webhooks are events, not statuses: send
one with -f.`

func (c *CLI) webhook(ctx context.Context, args []string) error {
	cmd := c.newCommand("webhook", "<workflow-id> (-f payload.json | --status STATUS)", webhookHelp)
	file := cmd.fs.String("f", "", "JSON file with the normalised webhook payload, sent as it is")
	status := cmd.fs.String("status", "", "send the payload announcing this provider status")
	id, err := cmd.parseID(args)
	if err != nil {
		return err
	}
	if (*file == "") == (*status == "") {
		return cmd.usagef("give either -f payload.json or --status STATUS")
	}
	if err := c.checkCanSend(); err != nil {
		return err
	}
	var payload []byte
	if *file != "" {
		if payload, err = os.ReadFile(*file); err != nil {
			return fmt.Errorf("reading %s: %w", *file, err)
		}
	}
	return c.withClient(func(tc client.Client) error {
		info, err := describe(ctx, tc, id)
		if err != nil {
			return err
		}
		k, ok := kindOf(info.GetType().GetName())
		switch {
		case !ok:
			return fmt.Errorf("workflow %s is a %s, which takes no webhook; certflow's are %s", id, info.GetType().GetName(), workflowTypeNames())
		case info.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
			return fmt.Errorf("workflow %s is %s: only a running workflow takes a webhook", id, info.GetStatus())
		}
		var hint any
		switch {
		case *file != "":
			if err := decodeStrict(payload, k.hint()); err != nil {
				return fmt.Errorf("%s is not a normalised %s webhook (see 'certflow webhook -h'): %v", *file, k.provider, err)
			}
			hint = json.RawMessage(payload)
		case k.statusHint == nil:
			return cmd.usagef("--status: %s webhooks are events, not statuses; send the event with -f", k.provider)
		default:
			if hint, err = k.statusHint(keyword(info, contract.SearchProviderRef), *status); err != nil {
				return fmt.Errorf("workflow %s: %w", id, err)
			}
		}
		// The run checked above, not whichever run the ID names by now.
		if err := tc.SignalWorkflow(ctx, id, info.GetExecution().GetRunId(), contract.SignalWebhook, hint); err != nil {
			return fmt.Errorf("signalling workflow %s: %w", id, err)
		}
		fmt.Fprintf(c.Out, "webhook sent to %s; it re-reads %s and acts on what %s reports (see `certflow status %s`)\n", id, k.provider, k.provider, id)
		return nil
	})
}

// decodeStrict decodes one JSON value into v, refusing fields v lacks: a
// provider's raw body, pasted instead of the normalised payload, would
// otherwise pass as an empty hint.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value")
	}
	return nil
}

// uanatacaStatusHint is the signal of a Uanataca webhook about the
// workflow's request, whose pk the workflow records as its provider
// reference once the request exists.
func uanatacaStatusHint(ref, status string) (any, error) {
	if ref == "" {
		return nil, errors.New("it has not recorded its Uanataca request pk (CertflowProviderRef) yet, so no webhook can be about it")
	}
	pk, err := strconv.ParseInt(ref, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("its CertflowProviderRef %q is not a Uanataca request pk", ref)
	}
	return contract.UanatacaWebhook{PK: pk, Status: status}, nil
}

// polledStatusHint is the signal of the providers certflow polls, which
// send no webhook of their own.
func polledStatusHint(_, status string) (any, error) {
	return contract.StatusHint{Status: status}, nil
}
