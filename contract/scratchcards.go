package contract

import "time"

// The scratchcard allocator: one long-lived workflow per RA hands out
// cards one at a time, so concurrent issuances on one RA never race on
// get_first_unused (which reserves nothing) and never fail a create with
// "Invalid ScratchCard" because of each other.
const (
	ScratchcardAllocatorName = "ScratchcardAllocator"
	// UpdateAllocate hands the caller a card (Update-with-Start). Workers
	// send UpdateAllocateBatch; this one stays for workers of an earlier
	// build during a rollout.
	UpdateAllocate = "allocate"
	// UpdateAllocateBatch hands a card to each of several callers in one
	// update: a worker process sends together the allocations its
	// issuances ask of one allocator at the same moment, so a burst costs
	// the allocator a few updates, not one per issuance.
	UpdateAllocateBatch = "allocate-batch"
	// SignalScratchcard tells the allocator what became of a card it
	// leased: used, released or taken.
	SignalScratchcard = "scratchcard"
)

// What a lease holder reports about its card.
const (
	CardUsed     = "used"     // a request was created with it
	CardReleased = "released" // the issuance ended before creating: hand it out again
	CardTaken    = "taken"    // the RA refused it as used by somebody else
)

// AllocatorID is the workflow ID of RA's allocator for the certflow
// deployment on taskQueue (one deployment, one set of RA credentials); it
// holds no personal data.
func AllocatorID(taskQueue, ra string) string { return "scratchcard-allocator-" + taskQueue + "-" + ra }

// AllocatorState is the allocator's input and what it carries across
// continue-as-new.
type AllocatorState struct {
	RA string `json:"ra"`
	// Cursor is the RA list page the next fill continues from.
	Cursor int `json:"cursor,omitempty"`
	// Available are unused cards found and not yet handed out, in order.
	Available []string `json:"available,omitempty"`
	// Leases are cards handed out and not yet reported, by card.
	Leases map[string]Lease `json:"leases,omitempty"`
}

// Lease is a card handed to an issuance.
type Lease struct {
	Holder string    `json:"holder"`
	At     time.Time `json:"at"`
}

// AllocateRequest names the asking issuance and, when it asks for a
// replacement, the card it gives back with it: applied in the same update,
// so the allocator can never hand the given-back card out again to it.
type AllocateRequest struct {
	Holder string      `json:"holder"`
	Giving *CardReport `json:"giving,omitempty"`
}

// AllocateResult is one caller's answer in an UpdateAllocateBatch: its
// card, or why it got none (ErrorType as an ApplicationError's type, e.g.
// ScratchcardPoolExhausted).
type AllocateResult struct {
	Holder    string `json:"holder"`
	SN        string `json:"sn,omitempty"`
	Error     string `json:"error,omitempty"`
	ErrorType string `json:"error_type,omitempty"`
}

// CardReport is a lease holder's news about its card.
type CardReport struct {
	SN      string `json:"sn"`
	Holder  string `json:"holder"`
	Outcome string `json:"outcome"`
}

// AllocatorStatus is what an allocator's status query answers.
type AllocatorStatus struct {
	RA        string `json:"ra"`
	Available int    `json:"available"`
	Leased    int    `json:"leased"`
	Cursor    int    `json:"cursor"`
}
