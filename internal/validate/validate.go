// Package validate holds the input checks every provider's workflow input
// shares (email, E.164 phone, ISO country, URL) and the collector that
// reports every defect at once. Its messages describe a personal value,
// never quote it: they end up in Temporal history and logs.
package validate

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
)

// Error lists every problem found in one input, so a caller fixes it in one
// round.
type Error struct {
	// Subject names what was checked, e.g. "Uanataca request".
	Subject  string
	Problems []Problem
}

// Problem is one field's defect. Problem says what is wrong and what is
// expected.
type Problem struct {
	Field   string
	Problem string
}

// Error joins every problem as "field: problem".
func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Problem
	}
	return "invalid " + e.Subject + ": " + strings.Join(parts, "; ")
}

// Problems collects the defects of one input.
type Problems struct {
	err Error
}

// New starts collecting the defects of subject.
func New(subject string) *Problems { return &Problems{err: Error{Subject: subject}} }

// Add records a problem of field.
func (p *Problems) Add(field, format string, args ...any) {
	p.err.Problems = append(p.err.Problems, Problem{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// Err returns nil when nothing was recorded, else the *Error.
func (p *Problems) Err() error {
	if len(p.err.Problems) == 0 {
		return nil
	}
	e := p.err
	return &e
}

// Email records a problem when v is not a bare email address.
func (p *Problems) Email(field, v string) {
	if !Email(v) {
		p.Add(field, "not a valid address (want local@domain, without a display name)")
	}
}

// Phone records a problem when v is not an E.164 number.
func (p *Problems) Phone(field, v string) {
	if !E164(v) {
		p.Add(field, "not an E.164 number (want + and 8 to 15 digits, e.g. +34600112233)")
	}
}

// Country records a problem when v is not an assigned ISO 3166-1 alpha-2
// code (country codes are not personal, so they are quoted).
func (p *Problems) Country(field, v string) {
	switch {
	case Country(v):
	case Country(strings.ToUpper(v)):
		p.Add(field, "%q is not upper case; use %q", v, strings.ToUpper(v))
	default:
		p.Add(field, "%q is not an ISO 3166-1 alpha-2 country code (want two upper-case letters such as ES)", v)
	}
}

// OneOf phrases the allowed values of a field.
func OneOf(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return "one of " + strings.Join(values, ", ")
}

// Email reports whether s is an address alone: "Ann <ann@x.es>" is valid
// mail syntax but not what a provider stores as a person's email.
func Email(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// e164 is an international number as providers send SMS to it: a plus
// sign, then a country code that never starts with 0, 8 to 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// E164 reports whether s is an E.164 phone number.
func E164(s string) bool { return e164.MatchString(s) }

// Digits reports whether s is a non-empty run of decimal digits.
func Digits(s string) bool {
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

// HTTPURL reports whether s is an absolute http or https URL.
func HTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Country reports whether s is an assigned ISO 3166-1 alpha-2 code.
func Country(s string) bool { return countrySet[s] }

// countryCodes holds the 249 officially assigned ISO 3166-1 alpha-2 codes
// (as of ISO/TC 46 N1108, 2023-04-05, the list tzdata's iso3166.tab
// follows). User-assigned and reserved codes such as XK, EU or UK are left
// out: providers put the code in certificates and checks, where only an
// assigned code is valid.
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
