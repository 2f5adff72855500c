package certflowclient

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/provider/masstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	"github.com/certflow/certflow/internal/provider/universign"
)

// The summaries below are the one line operators read for a workflow in the
// Web UI. Temporal keeps them as metadata beyond the reach of certflow's
// payload handling, so they show only values from the contract's closed
// sets (a known profile, an RA number, a level), never a free-text field:
// even an input with a name in the wrong field cannot leak it there. A value
// outside its set is left out; the workflow rejects such an input anyway.

func uanatacaSummary(in contract.UanatacaIssuanceInput) string {
	ra := ""
	if _, err := strconv.ParseUint(in.Request.RegistrationAuthority, 10, 32); err == nil {
		ra = "RA " + in.Request.RegistrationAuthority
	}
	return summary("Uanataca issuance", known("profile", in.Request.Profile, uanataca.ProfileNames()), ra)
}

func universignSummary(in contract.UniversignRegistrationInput) string {
	return summary("Universign registration", known("level", in.Registration.Level, universign.Levels))
}

func masStackSummary(in contract.MasStackIdentificationInput) string {
	return summary("MasStack identification", known("configuration", in.Identification.ConfigurationName, masstack.Configurations))
}

func humanosSummary(in contract.HumanosRequestInput) string {
	subjects := fmt.Sprintf("%d subjects", len(in.Request.Contacts))
	if len(in.Request.Contacts) == 1 {
		subjects = "1 subject"
	}
	return summary("Humanos request", subjects, known("", in.Request.SecurityLevel, humanos.SecurityLevels))
}

// summary joins a title and the non-empty parts.
func summary(title string, parts ...string) string {
	return strings.Join(slices.DeleteFunc(append([]string{title}, parts...), func(s string) bool { return s == "" }), " · ")
}

// known renders "label v" when v is one of allowed, and "" otherwise.
func known(label, v string, allowed []string) string {
	if !slices.Contains(allowed, v) {
		return ""
	}
	return strings.TrimSpace(label + " " + v)
}
