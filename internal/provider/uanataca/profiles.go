package uanataca

import (
	"fmt"
	"maps"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
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

// ValidationError lists every problem found, so a caller fixes its input in
// one round.
type ValidationError struct {
	Problems []FieldProblem
}

// FieldProblem is one field's defect. Problem says what is wrong and what is
// expected; it never repeats the value of a personal field, because the
// error ends up in Temporal history and logs.
type FieldProblem struct {
	Field   string
	Problem string
}

// Error joins every problem as "field: problem".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Problem
	}
	return "invalid Uanataca request: " + strings.Join(parts, "; ")
}

// ProfileNames returns the names of the known profiles, sorted, for docs and
// CLI help.
func ProfileNames() []string {
	return slices.Sorted(maps.Keys(profiles))
}

// Validate checks the request against its profile's rules before any call to
// the RA. It returns nil or a *ValidationError listing every problem.
//
// "scratchcard" is not required: certflow reserves the card just before the
// create call, after validation. Format checks apply whatever the profile, so
// a request with an unknown profile still gets all its other defects listed.
func (r CreateRequest) Validate() error {
	fields := r.Fields()
	var problems []FieldProblem
	add := func(field, format string, args ...any) {
		problems = append(problems, FieldProblem{Field: field, Problem: fmt.Sprintf(format, args...)})
	}

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
			add("secure_element", "%q is not allowed for profile %s; use %s", v, profile, oneOf(rule.SecureElements))
		}
		if v, ok := fields["validity_time"]; ok && len(rule.ValidityTimes) > 0 {
			if n, err := strconv.Atoi(v); err != nil || !slices.Contains(rule.ValidityTimes, n) {
				days := make([]string, len(rule.ValidityTimes))
				for i, d := range rule.ValidityTimes {
					days[i] = strconv.Itoa(d)
				}
				add("validity_time", "%s is not allowed for profile %s; use %s", v, profile, oneOf(days))
			}
		}
		if v, ok := fields["id_document_type"]; ok && len(rule.IDDocumentTypes) > 0 && !slices.Contains(rule.IDDocumentTypes, v) {
			add("id_document_type", "%q is not allowed for profile %s; use %s", v, profile, oneOf(rule.IDDocumentTypes))
		}
	}

	// The personal fields below are described, never quoted.
	for _, f := range []string{"email", "organization_email", "responsible_email"} {
		if v, ok := fields[f]; ok && !isBareAddress(v) {
			add(f, "not a valid address (want local@domain, without a display name)")
		}
	}
	if v, ok := fields["mobile_phone_number"]; ok && !e164.MatchString(v) {
		add("mobile_phone_number", "not an E.164 number (want + and 8 to 15 digits, e.g. +34600112233)")
	}
	for _, f := range []string{"id_document_country", "country_name"} {
		v, ok := fields[f]
		switch {
		case !ok || isCountryCode(v):
		case isCountryCode(strings.ToUpper(v)):
			add(f, "%q is not upper case; use %q", v, strings.ToUpper(v))
		default:
			add(f, "%q is not an ISO 3166-1 alpha-2 country code (want two upper-case letters such as ES)", v)
		}
	}
	if v, ok := fields["registration_authority"]; ok && !isDigits(v) {
		add("registration_authority", "%q is not a number (want the RA's numeric id)", v)
	}
	for _, f := range []string{"paperless_mode", "videoid_mode"} {
		if v, ok := fields[f]; ok && v != "0" && v != "1" {
			add(f, "%s is not allowed; use 0 or 1", v)
		}
	}
	// A webhook URL may carry a token, so it is not quoted either.
	if v, ok := fields["webhook_url"]; ok && !isHTTPURL(v) {
		add("webhook_url", "not an absolute http or https URL")
	}

	if len(problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: problems}
}

// oneOf phrases the allowed values of a field.
func oneOf(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return "one of " + strings.Join(values, ", ")
}

// isBareAddress reports whether s is an address alone: "Ann <ann@x.es>" is
// valid mail syntax but not what the RA stores as the holder's email.
func isBareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// e164 is an international number as the RA sends it by SMS: a plus sign,
// then a country code that never starts with 0, 8 to 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// countryCodes holds the 249 officially assigned ISO 3166-1 alpha-2 codes
// (as of ISO/TC 46 N1108, 2023-04-05, the list tzdata's iso3166.tab
// follows). User-assigned and reserved codes such as XK, EU or UK are left
// out: the RA puts the code in the certificate, where only an assigned code
// is valid.
const countryCodes = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ " +
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ " +
	"DE DJ DK DM DO DZ " +
	"EC EE EG EH ER ES ET " +
	"FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY " +
	"HK HM HN HR HT HU " +
	"ID IE IL IM IN IO IQ IR IS IT " +
	"JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ " +
	"LA LB LC LI LK LR LS LT LU LV LY " +
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ " +
	"OM " +
	"PA PE PF PG PH PK PL PM PN PR PS PT PW PY " +
	"QA " +
	"RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ " +
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
	"UA UG UM US UY UZ " +
	"VA VC VE VG VI VN VU " +
	"WF WS " +
	"YE YT " +
	"ZA ZM ZW"

// countrySet indexes countryCodes.
var countrySet = func() map[string]bool {
	set := map[string]bool{}
	for _, c := range strings.Fields(countryCodes) {
		set[c] = true
	}
	return set
}()

func isCountryCode(s string) bool { return countrySet[s] }
