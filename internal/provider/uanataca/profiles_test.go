package uanataca

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/certflow/certflow/internal/validate"
)

// validCloudRequest is a complete PFnubeAFCiudadano request, as certflow
// builds it before reserving a scratchcard.
func validCloudRequest() CreateRequest {
	return CreateRequest{
		Profile:               "PFnubeAFCiudadano",
		ValidityTime:          730,
		SecureElement:         "2",
		RegistrationAuthority: "121",
		IDDocumentType:        "IDC",
		IDDocumentCountry:     "ES",
		SerialNumber:          "X1234567Z",
		GivenName:             "Zuriñe",
		Surname1:              "Etxeberria",
		Surname2:              "Goikoetxea",
		Email:                 "zurine.etxeberria@example.es",
		MobilePhoneNumber:     "+34600112233",
		PaperlessMode:         1,
		WebhookURL:            "https://certflow.example.com/hooks/uanataca",
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*CreateRequest)
		want   []validate.Problem // nil: the request is valid
	}{
		{"valid", func(*CreateRequest) {}, nil},
		{"valid with country_name and videoid_mode", func(r *CreateRequest) {
			r.CountryName, r.PaperlessMode, r.VideoIDMode = "PE", 0, 1
		}, nil},
		{"missing given_name", func(r *CreateRequest) { r.GivenName = "" },
			[]validate.Problem{{Field: "given_name", Problem: "missing; profile PFnubeAFCiudadano requires it"}}},
		{"missing validity_time", func(r *CreateRequest) { r.ValidityTime = 0 },
			[]validate.Problem{{Field: "validity_time", Problem: "missing; profile PFnubeAFCiudadano requires it"}}},
		{"mandatory field given in Extra", func(r *CreateRequest) {
			r.GivenName = ""
			r.Extra = map[string]string{"given_name": "Zuriñe"}
		}, nil},
		{"bad email", func(r *CreateRequest) { r.Email = "zurine.etxeberria.example.es" },
			[]validate.Problem{{Field: "email", Problem: "not a valid address (want local@domain, without a display name)"}}},
		{"email with display name", func(r *CreateRequest) { r.Email = "Zuriñe <zurine@example.es>" },
			[]validate.Problem{{Field: "email", Problem: "not a valid address (want local@domain, without a display name)"}}},
		{"bad optional organization_email", func(r *CreateRequest) {
			r.Extra = map[string]string{"organization_email": "@example.es"}
		}, []validate.Problem{{Field: "organization_email", Problem: "not a valid address (want local@domain, without a display name)"}}},
		{"phone without +", func(r *CreateRequest) { r.MobilePhoneNumber = "34600112233" },
			[]validate.Problem{{Field: "mobile_phone_number", Problem: "not an E.164 number (want + and 8 to 15 digits, e.g. +34600112233)"}}},
		{"phone with spaces", func(r *CreateRequest) { r.MobilePhoneNumber = "+34 600 112 233" },
			[]validate.Problem{{Field: "mobile_phone_number", Problem: "not an E.164 number (want + and 8 to 15 digits, e.g. +34600112233)"}}},
		{"phone too long", func(r *CreateRequest) { r.MobilePhoneNumber = "+3460011223344556" },
			[]validate.Problem{{Field: "mobile_phone_number", Problem: "not an E.164 number (want + and 8 to 15 digits, e.g. +34600112233)"}}},
		{"lowercase country", func(r *CreateRequest) { r.IDDocumentCountry = "es" },
			[]validate.Problem{{Field: "id_document_country", Problem: `"es" is not upper case; use "ES"`}}},
		{"unassigned country", func(r *CreateRequest) { r.IDDocumentCountry = "XK" },
			[]validate.Problem{{Field: "id_document_country", Problem: `"XK" is not an ISO 3166-1 alpha-2 country code (want two upper-case letters such as ES)`}}},
		{"unknown country_name", func(r *CreateRequest) { r.CountryName = "Spain" },
			[]validate.Problem{{Field: "country_name", Problem: `"Spain" is not an ISO 3166-1 alpha-2 country code (want two upper-case letters such as ES)`}}},
		{"validity_time 7", func(r *CreateRequest) { r.ValidityTime = 7 },
			[]validate.Problem{{Field: "validity_time", Problem: "7 is not allowed for profile PFnubeAFCiudadano; use one of 1, 3, 365, 730, 1095, 1825"}}},
		{"secure_element 1 on a cloud-only profile", func(r *CreateRequest) { r.SecureElement = "1" },
			[]validate.Problem{{Field: "secure_element", Problem: `"1" is not allowed for profile PFnubeAFCiudadano; use 2`}}},
		{"id_document_type XYZ", func(r *CreateRequest) { r.IDDocumentType = "XYZ" },
			[]validate.Problem{{Field: "id_document_type", Problem: `"XYZ" is not allowed for profile PFnubeAFCiudadano; use one of IDC, PAS, PNO, TIN`}}},
		{"unknown profile", func(r *CreateRequest) { r.Profile = "PFnubeAFCiudadana" },
			[]validate.Problem{{Field: "profile", Problem: `unknown profile "PFnubeAFCiudadana"; see the Certificate Profiles section of the Uanataca guide`}}},
		{"missing profile", func(r *CreateRequest) { r.Profile = "" },
			[]validate.Problem{{Field: "profile", Problem: "missing; see the Certificate Profiles section of the Uanataca guide"}}},
		{"non-digit registration_authority", func(r *CreateRequest) { r.RegistrationAuthority = "RA-121" },
			[]validate.Problem{{Field: "registration_authority", Problem: `"RA-121" is not a number (want the RA's numeric id)`}}},
		{"paperless_mode 2", func(r *CreateRequest) { r.PaperlessMode = 2 },
			[]validate.Problem{{Field: "paperless_mode", Problem: "2 is not allowed; use 0 or 1"}}},
		{"videoid_mode -1", func(r *CreateRequest) { r.VideoIDMode = -1 },
			[]validate.Problem{{Field: "videoid_mode", Problem: "-1 is not allowed; use 0 or 1"}}},
		{"relative webhook_url", func(r *CreateRequest) { r.WebhookURL = "/hooks/uanataca" },
			[]validate.Problem{{Field: "webhook_url", Problem: "not an absolute http or https URL"}}},
		{"ftp webhook_url", func(r *CreateRequest) { r.WebhookURL = "ftp://certflow.example.com/hooks" },
			[]validate.Problem{{Field: "webhook_url", Problem: "not an absolute http or https URL"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validCloudRequest()
			tt.change(&r)
			got := problemsOf(t, r.Validate())
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// problemsOf returns the problems of a Validate result, failing the test if
// the error is not a *validate.Error.
func problemsOf(t *testing.T, err error) []validate.Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var verr *validate.Error
	if !errors.As(err, &verr) {
		t.Fatalf("Validate() = %T %v, want *validate.Error", err, err)
	}
	if len(verr.Problems) == 0 {
		t.Fatal("validate.Error without problems")
	}
	return verr.Problems
}

func TestValidateListsEveryProblem(t *testing.T) {
	r := validCloudRequest()
	r.GivenName = ""
	r.ValidityTime = 7
	r.SecureElement = "0"
	r.Email = "not-an-address"
	r.MobilePhoneNumber = "600112233"
	r.IDDocumentCountry = "es"
	r.RegistrationAuthority = "12a"
	err := r.Validate()
	want := "invalid Uanataca request: " +
		"given_name: missing; profile PFnubeAFCiudadano requires it; " +
		`secure_element: "0" is not allowed for profile PFnubeAFCiudadano; use 2; ` +
		"validity_time: 7 is not allowed for profile PFnubeAFCiudadano; use one of 1, 3, 365, 730, 1095, 1825; " +
		"email: not a valid address (want local@domain, without a display name); " +
		"mobile_phone_number: not an E.164 number (want + and 8 to 15 digits, e.g. +34600112233); " +
		`id_document_country: "es" is not upper case; use "ES"; ` +
		`registration_authority: "12a" is not a number (want the RA's numeric id)`
	if err == nil || err.Error() != want {
		t.Errorf("Validate() =\n%v\nwant\n%s", err, want)
	}
	if n := len(problemsOf(t, err)); n != 7 {
		t.Errorf("%d problems, want 7", n)
	}
}

// TestValidateNeverQuotesPersonalValues guards the promise that validation
// errors can go to Temporal history and logs: whether a personal field is
// valid or not, its value must not appear in the error.
func TestValidateNeverQuotesPersonalValues(t *testing.T) {
	personal := map[string]string{
		"given_name":          "Zuriñe",
		"surname_1":           "Etxeberria",
		"surname_2":           "Goikoetxea",
		"serial_number":       "X1234567Z",
		"id_document_number":  "AAA987654",
		"email":               "zurine<at>etxeberria.example",
		"organization_email":  "Etxeberria Ltd <info@etxeberria.example>",
		"responsible_email":   "zurine.etxeberria",
		"mobile_phone_number": "0034-600-112-233",
		"webhook_url":         "hooks.example/cb?token=s3cr3t-t0ken",
	}
	r := CreateRequest{
		Profile:               "PFnubeAFEmpresa",
		RegistrationAuthority: "121",
		GivenName:             personal["given_name"],
		Surname1:              personal["surname_1"],
		Surname2:              personal["surname_2"],
		SerialNumber:          personal["serial_number"],
		Email:                 personal["email"],
		MobilePhoneNumber:     personal["mobile_phone_number"],
		WebhookURL:            personal["webhook_url"],
		Extra: map[string]string{
			"id_document_number": personal["id_document_number"],
			"organization_email": personal["organization_email"],
			"responsible_email":  personal["responsible_email"],
		},
	}
	err := r.Validate()
	problems := problemsOf(t, err)
	if len(problems) < 5 {
		t.Fatalf("only %d problems, the request has many defects: %v", len(problems), err)
	}
	for field, value := range personal {
		for _, part := range append([]string{value}, strings.FieldsFunc(value, func(c rune) bool {
			return strings.ContainsRune(" <>@.-?=/", c)
		})...) {
			if len(part) >= 4 && strings.Contains(err.Error(), part) {
				t.Errorf("the error reveals %q of %s: %v", part, field, err)
			}
		}
	}
}

func TestGeneratedProfiles(t *testing.T) {
	names := ProfileNames()
	if len(names) != 45 {
		t.Errorf("%d profiles, the guide describes 45", len(names))
	}
	if !slices.IsSorted(names) {
		t.Errorf("ProfileNames() not sorted: %v", names)
	}
	for _, name := range names {
		rule := profiles[name]
		for _, f := range []string{"profile", "registration_authority", "scratchcard", "email"} {
			if !slices.Contains(rule.Mandatory, f) {
				t.Errorf("%s: %s not mandatory", name, f)
			}
		}
		for _, f := range rule.Optional {
			if slices.Contains(rule.Mandatory, f) {
				t.Errorf("%s: %s both mandatory and optional", name, f)
			}
		}
		if len(rule.SecureElements) == 0 {
			t.Errorf("%s: no secure element allowed", name)
		}
		for _, se := range rule.SecureElements {
			if se != "0" && se != "1" && se != "2" {
				t.Errorf("%s: secure element %q", name, se)
			}
		}
	}
	// The example of the providers' README, in the guide's order.
	want := []string{"secure_element", "profile", "validity_time", "registration_authority",
		"scratchcard", "id_document_type", "id_document_country", "serial_number",
		"given_name", "surname_1", "email", "mobile_phone_number"}
	if got := profiles["PFnubeQAFCiudadano"].Mandatory; !slices.Equal(got, want) {
		t.Errorf("PFnubeQAFCiudadano mandatory = %q, want %q", got, want)
	}
	if got := profiles["PEPNCiudadano"].IDDocumentTypes; !slices.Equal(got, []string{"IDC", "PAS", "PNO", "TIN"}) {
		t.Errorf("PEPNCiudadano id_document_type = %q", got)
	}
	if got := profiles["PEFacturacion"].IDDocumentTypes; !slices.Equal(got, []string{"DNI", "CEX", "PAS"}) {
		t.Errorf("PEFacturacion id_document_type = %q", got)
	}
}

// TestEveryProfileCanBeSatisfied builds, for each profile, a request with
// exactly its mandatory fields and the first allowed value of each
// constrained one: Validate must accept it, so no generated rule contradicts
// the format checks.
func TestEveryProfileCanBeSatisfied(t *testing.T) {
	sample := map[string]any{
		"registration_authority":          "121",
		"email":                           "holder@example.es",
		"organization_email":              "info@example.es",
		"responsible_email":               "boss@example.es",
		"mobile_phone_number":             "+34600112233",
		"id_document_country":             "ES",
		"organization_country":            "ES",
		"id_responsible_document_country": "ES",
	}
	for _, name := range ProfileNames() {
		rule := profiles[name]
		body := map[string]any{}
		for _, f := range rule.Mandatory {
			switch v, ok := sample[f]; {
			case ok:
				body[f] = v
			case f == "profile":
				body[f] = name
			case f == "secure_element":
				body[f] = rule.SecureElements[0]
			case f == "validity_time":
				body[f] = rule.ValidityTimes[0]
			case f == "id_document_type":
				body[f] = rule.IDDocumentTypes[0]
			default:
				body[f] = "sample " + f
			}
		}
		delete(body, "scratchcard")
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		var r CreateRequest
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
