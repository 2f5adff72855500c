package contract

import "time"

// Status is what the status query answers, the same shape for every
// workflow type: where the lifecycle is and what the provider last said.
type Status struct {
	Provider string `json:"provider"`
	Stage    string `json:"stage"`
	// ProviderRef is the provider's identifier of the request (for
	// Uanataca, the request pk), once known.
	ProviderRef string `json:"provider_ref,omitempty"`
	// ProviderStatus is the provider's last status read by the workflow.
	ProviderStatus string `json:"provider_status,omitempty"`
	// ActionURL is the link to send the person (Universign's registration
	// session, MasStack's identification page), once known.
	ActionURL string `json:"action_url,omitempty"`
	// Subjects are the people of a multi-person request (Humanos): the
	// link and code to send each, and what is known of their progress.
	Subjects []SubjectStatus `json:"subjects,omitempty"`
	// Documents are the documents a Uanataca issuance uploads, as far as
	// they went: what an operator may see of them (never their content
	// or file name).
	Documents []DocumentStatus `json:"documents,omitempty"`
	Deadline  time.Time        `json:"deadline,omitzero"`
	// CancelReason is why the workflow was cancelled, as the canceller
	// said (certflow cancel --reason), once the cancellation is acted on.
	CancelReason string    `json:"cancel_reason,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// SubjectStatus is one person of a multi-person request.
type SubjectStatus struct {
	Contact        string `json:"contact"`
	Link           string `json:"link,omitempty"`
	Code           string `json:"code,omitempty"`
	IdentityStatus string `json:"identity_status,omitempty"`
	OTPFailures    int    `json:"otp_failures,omitempty"`
}

// DocumentStatus is one document of a Uanataca issuance's input: its
// type, size in bytes and SHA-256 (hex) — enough to tell which scan it is
// and that the RA got it whole — and whether the RA accepted it.
type DocumentStatus struct {
	Type     string `json:"type"`
	Size     int    `json:"size"`
	SHA256   string `json:"sha256"`
	Uploaded bool   `json:"uploaded"`
}
