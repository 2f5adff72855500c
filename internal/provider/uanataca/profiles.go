package uanataca

import (
	"maps"
	"slices"
	"strconv"

	"github.com/certflow/certflow/internal/validate"
)

//go:generate go run ./internal/genprofiles -guide ../../../../shared/providers/uanataca-ra-guide.md

// ProfileRule is what the guide says one certificate profile requires. The
// RA answers a request that breaks these rules with a bare 500 "Invalid or
// missing parameters" that names no field, so certflow checks them itself
// before the create call and tells the caller everything that is wrong.
type ProfileRule struct {
	Mandatory       []string // API field names the guide marks "Yes" (plus the create call's always-required fields)
	Optional        []string // fields marked "No"
	SecureElements  []string // allowed secure_element values ("0","1","2")
	ValidityTimes   []int    // allowed validity_time values in days; empty = not constrained
	IDDocumentTypes []string // allowed id_document_type values; empty = not constrained
}

// ProfileNames returns the names of the known profiles, sorted, for docs and
// CLI help.
func ProfileNames() []string {
	return slices.Sorted(maps.Keys(profiles))
}

// Validate checks the request against its profile's rules before any call to
// the RA. It returns nil or a *validate.Error listing every problem.
//
// "scratchcard" is not required: certflow reserves the card just before the
// create call, after validation. Format checks apply whatever the profile, so
// a request with an unknown profile still gets all its other defects listed.
func (r CreateRequest) Validate() error {
	fields := r.Fields()
	problems := validate.New("Uanataca request")
	add := problems.Add

	profile := fields["profile"]
	rule, known := profiles[profile]
	switch {
	case profile == "":
		add("profile", "missing; see the Certificate Profiles section of the Uanataca guide")
	case !known:
		add("profile", "unknown profile %q; see the Certificate Profiles section of the Uanataca guide", profile)
	default:
		for _, f := range rule.Mandatory {
			if f != "scratchcard" && fields[f] == "" {
				add(f, "missing; profile %s requires it", profile)
			}
		}
		if v, ok := fields["secure_element"]; ok && len(rule.SecureElements) > 0 && !slices.Contains(rule.SecureElements, v) {
			add("secure_element", "%q is not allowed for profile %s; use %s", v, profile, validate.OneOf(rule.SecureElements))
		}
		if v, ok := fields["validity_time"]; ok && len(rule.ValidityTimes) > 0 {
			if n, err := strconv.Atoi(v); err != nil || !slices.Contains(rule.ValidityTimes, n) {
				days := make([]string, len(rule.ValidityTimes))
				for i, d := range rule.ValidityTimes {
					days[i] = strconv.Itoa(d)
				}
				add("validity_time", "%s is not allowed for profile %s; use %s", v, profile, validate.OneOf(days))
			}
		}
		if v, ok := fields["id_document_type"]; ok && len(rule.IDDocumentTypes) > 0 && !slices.Contains(rule.IDDocumentTypes, v) {
			add("id_document_type", "%q is not allowed for profile %s; use %s", v, profile, validate.OneOf(rule.IDDocumentTypes))
		}
	}

	// The personal fields below are described, never quoted.
	for _, f := range []string{"email", "organization_email", "responsible_email"} {
		if v, ok := fields[f]; ok && !validate.Email(v) {
			add(f, "not a valid address (want local@domain, without a display name)")
		}
	}
	if v, ok := fields["mobile_phone_number"]; ok && !validate.E164(v) {
		add("mobile_phone_number", "not an E.164 number (want + and 8 to 15 digits, e.g. +34600112233)")
	}
	for _, f := range []string{"id_document_country", "country_name"} {
		if v, ok := fields[f]; ok {
			problems.Country(f, v)
		}
	}
	if v, ok := fields["registration_authority"]; ok && !validate.Digits(v) {
		add("registration_authority", "%q is not a number (want the RA's numeric id)", v)
	}
	for _, f := range []string{"paperless_mode", "videoid_mode"} {
		if v, ok := fields[f]; ok && v != "0" && v != "1" {
			add(f, "%s is not allowed; use 0 or 1", v)
		}
	}
	// A webhook URL may carry a token, so it is not quoted either.
	if v, ok := fields["webhook_url"]; ok && !validate.HTTPURL(v) {
		add("webhook_url", "not an absolute http or https URL")
	}

	return problems.Err()
}
