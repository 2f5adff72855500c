package e2e

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/sandbox"
	husandbox "github.com/certflow/certflow/internal/sandbox/humanos"
)

func humanosInput(contacts ...string) contract.HumanosRequestInput {
	return contract.HumanosRequestInput{
		Request: humanos.CreateRequest{Contacts: contacts, SecurityLevel: "HUMANOS_KYC", ResourcesIDs: []string{"507f1f77bcf86cd799439012", "507f1f77bcf86cd799439013"}},
		// Polling hourly: within the test only the webhooks can finish it.
		PollInterval: contract.Duration(time.Hour),
	}
}

func TestHumanosRequestThroughSignedEncryptedWebhooks(t *testing.T) {
	tests := []struct {
		name     string
		opts     husandbox.Options
		contacts []string
		wantErr  string
	}{
		{"all accepted", husandbox.Options{DecideAfter: 300 * time.Millisecond},
			[]string{"ana@example.com", "+351912345678"}, ""},
		{"duplicated and out of order, with an OTP failure", husandbox.Options{DecideAfter: 300 * time.Millisecond, OutOfOrder: true,
			Faults: sandbox.Faults{DuplicateWebhookRate: 1}}, []string{"otpfail-ana@example.com", "+351912345678"}, ""},
		{"one subject rejects", husandbox.Options{DecideAfter: 300 * time.Millisecond},
			[]string{"ana@example.com", "reject-rui@example.com"}, contract.ErrTypeRejectedBySubject},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStackWith(t, devstack.Options{Humanos: tt.opts})
			run := start(t, s, "hu-"+string(rune('a'+i)), contract.HumanosRequestName, humanosInput(tt.contacts...))
			st := awaitStatus(t, s, run.GetID(), func(st contract.Status) bool { return len(st.Subjects) == len(tt.contacts) })
			for _, sub := range st.Subjects {
				if sub.Link == "" || sub.Code == "" {
					t.Fatalf("status subjects %+v: want each subject's link and code at once", st.Subjects)
				}
			}
			var res contract.HumanosRequestResult
			err := outcome(run, &res)
			var appErr *temporal.ApplicationError
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("workflow failed: %v", err)
			case tt.wantErr != "" && (!errors.As(err, &appErr) || appErr.Type() != tt.wantErr):
				t.Fatalf("workflow ended with %v, want %s", err, tt.wantErr)
			case tt.wantErr == "" && (res.Outcome != "ACCEPTED" || len(res.Decisions) != 2*len(tt.contacts)):
				t.Fatalf("result %+v, want ACCEPTED with every decision", res)
			}
			stats := s.Humanos.Emulator.Stats()
			if stats.Creates != 1 || stats.WebhooksSent == 0 || stats.BadSignatures != 0 {
				t.Fatalf("emulator: %d requests created, %d webhooks sent, %d bad signatures; want one request, webhooks, none", stats.Creates, stats.WebhooksSent, stats.BadSignatures)
			}
		})
	}
}

func TestHumanosCancelledWorkflowCancelsRequest(t *testing.T) {
	s := startStackWith(t, devstack.Options{})
	run := start(t, s, "hu-cancel", contract.HumanosRequestName, humanosInput("ana@example.com"))
	id := cancelOnceCreated(t, s, run)
	if req, ok := s.Humanos.Emulator.Request(id); !ok || req.CanceledAt == "" {
		t.Fatalf("request %s not cancelled at Humanos: %+v", id, req)
	}
}
