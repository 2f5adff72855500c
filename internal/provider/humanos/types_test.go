package humanos

import "testing"

func TestOutcome(t *testing.T) {
	subjects := []Subject{{Contact: "a@example.com"}, {Contact: "b@example.com"}}
	dec := func(contact string, ok bool) Decision {
		return Decision{Contact: contact, Accepted: ok, DecidedAt: "t"}
	}
	tests := []struct {
		name string
		req  Request
		want Outcome
	}{
		{"nothing decided", Request{Subjects: subjects, Credentials: []Credential{{ID: "c1", Status: CredentialPending}}}, OutcomePending},
		{"one of two decided", Request{Subjects: subjects, Credentials: []Credential{{ID: "c1", Status: CredentialPending, Decisions: []Decision{dec("a@example.com", true)}}}}, OutcomePending},
		{"one rejection, another undecided", Request{Subjects: subjects, Credentials: []Credential{
			{ID: "c1", Decisions: []Decision{dec("a@example.com", false)}}, {ID: "c2", Status: CredentialDraft}}}, OutcomePending},
		{"all accepted by decisions", Request{Subjects: subjects, Credentials: []Credential{{ID: "c1", Status: CredentialPending,
			Decisions: []Decision{dec("a@example.com", true), dec("b@example.com", true)}}}}, OutcomeAccepted},
		{"approved status", Request{Subjects: subjects, Credentials: []Credential{{ID: "c1", Status: CredentialApproved}}}, OutcomeAccepted},
		{"rejected status", Request{Subjects: subjects, Credentials: []Credential{{ID: "c1", Status: CredentialRejected}}}, OutcomeRejected},
		{"all decided, one rejected", Request{Subjects: subjects, Credentials: []Credential{{ID: "c1",
			Decisions: []Decision{dec("a@example.com", true), dec("b@example.com", false)}}}}, OutcomeRejected},
		{"KYC failed", Request{Subjects: []Subject{{Contact: "a@example.com", IdentityStatus: IdentityFailed}}, Credentials: []Credential{{ID: "c1"}}}, OutcomeKYCFailed},
		{"cancelled", Request{CanceledAt: "t", Subjects: subjects, Credentials: []Credential{{ID: "c1", Status: CredentialApproved}}}, OutcomeCanceled},
		{"expired", Request{Subjects: subjects, Credentials: []Credential{{ID: "c1", Status: CredentialExpired}}}, OutcomeExpired},
		{"no credentials yet", Request{Subjects: subjects}, OutcomePending},
	}
	for _, tt := range tests {
		if got := tt.req.Outcome(); got != tt.want {
			t.Errorf("%s: Outcome = %d, want %d", tt.name, got, tt.want)
		}
	}
}
