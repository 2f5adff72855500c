package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/contract"
)

// Raw JSON as another SDK sends it: every wrong input ends the workflow at
// once with InvalidInput naming the field and what was expected, before
// any provider call.
func TestRawInputProblemsEndWithInvalidInput(t *testing.T) {
	tests := []struct {
		name     string
		workflow any
		input    string
		want     []string
	}{
		{"a number where a string belongs", UniversignRegistration,
			`{"registration": {"applicant": 42, "level": "qcp"}}`, []string{"registration.applicant: expected a string, got number"}},
		{"a word where a duration belongs", UniversignRegistration,
			`{"registration": {"applicant": "ana@example.com", "level": "qcp"}, "poll_interval": "soon"}`, []string{"poll_interval:", `"soon"`, "36h"}},
		{"an array instead of the input object", MasStackIdentification,
			`[1, 2]`, []string{"input: expected one JSON object, got an array"}},
		{"a misspelt top-level field", HumanosRequest,
			`{"request": {"contacts": ["ana@example.com"]}, "timeuot": "3d"}`, []string{"timeuot: unknown field", "request, timeout, poll_interval"}},
		{"a misspelt nested field", MasStackIdentification,
			`{"identification": {"name": "Ana", "identity_documnt": {}}}`, []string{`identification: unknown field "identity_documnt"`}},
		{"a string where days belong, in Uanataca's pass-through request", UanatacaIssuance,
			`{"request": {"profile": "PFnubeAFCiudadano", "validity_time": "abc"}}`, []string{"request.validity_time: expected a whole number, got string"}},
		{"a number where base64 belongs", UanatacaIssuance,
			`{"request": {"profile": "PFnubeAFCiudadano"}, "documents": [{"type": "document_front", "filename": "f.jpg", "content": 7}]}`,
			[]string{"documents[0].content: expected base64 text, got number"}},
		{"no input at all", HumanosRequest, `null`, []string{"input: none given"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := runRaw(t, tt.workflow, tt.input)
			if errorType(err) != contract.ErrTypeInvalidInput {
				t.Fatalf("error = %v, want %s", err, contract.ErrTypeInvalidInput)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if n := len(env.started); n != 0 {
				t.Errorf("activities ran on invalid input: %v", env.started)
			}
		})
	}
}

// Every string has a length limit, checked before any call: the failure
// names each field too long, in its message and in its details, and gives
// the length, never the value.
func TestLongValuesEndWithInvalidInput(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) }
	extra := map[string]string{}
	for i := range 101 {
		extra[fmt.Sprintf("field_%d", i)] = "x"
	}
	tooMany, _ := json.Marshal(extra)
	tests := []struct {
		name     string
		workflow any
		input    string
		fields   []string
	}{
		{"a name of 257 characters", UanatacaIssuance,
			`{"request": {"profile": "PFnubeAFCiudadano", "given_name": "` + long(257) + `"}}`, []string{"request.given_name"}},
		{"a passed-through field too long", UanatacaIssuance,
			`{"request": {"profile": "PFnubeAFCiudadano", "organization_name": "` + long(300) + `"}}`, []string{"request.organization_name"}},
		{"too many passed-through fields", UanatacaIssuance,
			`{"request": ` + string(tooMany) + `}`, []string{"request.*"}},
		{"an email of 255 characters", UniversignRegistration,
			`{"registration": {"applicant": "` + long(245) + `@example.com", "level": "qcp"}}`, []string{"registration.applicant"}},
		{"a redirect URL of 2049 characters", UniversignRegistration,
			`{"registration": {"applicant": "ana@example.com", "level": "qcp", "redirect_url": "https://` + long(2041) + `"}}`, []string{"registration.redirect_url"}},
		{"a cancel reason of 501 characters", MasStackIdentification,
			`{"identification": {"identity_document": {"document_number": "X", "document_type": "ID_CARD"}}, "cancel_reason": "` + long(501) + `"}`, []string{"cancel_reason"}},
		{"a second contact too long", HumanosRequest,
			`{"request": {"contacts": ["ana@example.com", "` + long(255) + `"], "groupIds": ["g"]}}`, []string{"request.contacts[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := runRaw(t, tt.workflow, tt.input)
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeInvalidInput {
				t.Fatalf("error = %v, want %s", err, contract.ErrTypeInvalidInput)
			}
			if strings.Contains(err.Error(), "éé") {
				t.Errorf("error %q quotes the value", err)
			}
			var details contract.InputProblems
			if err := appErr.Details(&details); err != nil {
				t.Fatalf("details: %v", err)
			}
			for _, field := range tt.fields {
				if !strings.Contains(err.Error(), field+": ") || !slices.ContainsFunc(details.Problems, func(p contract.InputProblem) bool {
					return p.Field == field && strings.Contains(p.Problem, "allowed")
				}) {
					t.Errorf("%s not named as too long: message %q, details %+v", field, err, details.Problems)
				}
			}
			if n := len(env.started); n != 0 {
				t.Errorf("activities ran on invalid input: %v", env.started)
			}
		})
	}
}

// The details of an InvalidInput failure name every field, whatever check
// refused it: decoding, a provider's rules, the lifecycle's bounds.
func TestInvalidInputDetailsNameEveryField(t *testing.T) {
	_, err := runRaw(t, UanatacaIssuance, `{"request": {"profile": "PFnubeAFCiudadano", "email": "not-an-address", "validity_time": 7},
		"documents": [{"type": "passport", "filename": "p.jpg", "content": "AA=="}], "timeout": "10s", "poll_intervl": "1h"}`)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeInvalidInput {
		t.Fatalf("error = %v, want %s", err, contract.ErrTypeInvalidInput)
	}
	var details contract.InputProblems
	if err := appErr.Details(&details); err != nil {
		t.Fatalf("details: %v", err)
	}
	var fields []string
	for _, p := range details.Problems {
		fields = append(fields, p.Field)
	}
	if want := []string{"poll_intervl"}; !slices.Equal(fields, want) {
		t.Fatalf("fields %v, want %v: an unknown field is reported alone, before any rule is checked", fields, want)
	}

	_, err = runRaw(t, UanatacaIssuance, `{"request": {"profile": "PFnubeAFCiudadano", "email": "not-an-address", "validity_time": 7},
		"documents": [{"type": "passport", "filename": "p.jpg", "content": "AA=="}], "timeout": "10s"}`)
	if !errors.As(err, &appErr) || appErr.Details(&details) != nil {
		t.Fatalf("error = %v, want InvalidInput with details", err)
	}
	fields = nil
	for _, p := range details.Problems {
		fields = append(fields, p.Field)
	}
	for _, want := range []string{"request.email", "request.validity_time", "documents[0].type", "timeout"} {
		if !slices.Contains(fields, want) {
			t.Errorf("details name %v, not %s", fields, want)
		}
	}
}

// runRaw runs workflow on input, raw JSON as another SDK sends it, and
// returns its environment and its error.
func runRaw(t *testing.T, workflow any, input string) (*testEnv, error) {
	t.Helper()
	env := newTestEnv()
	env.RegisterWorkflow(workflow)
	env.ExecuteWorkflow(workflow, json.RawMessage(input))
	return env, env.result(t, nil)
}

// The fuzz targets feed random JSON to each workflow's input check: it
// never panics, and either refuses with a problem (InvalidInput) or
// accepts; what it accepts is accepted again once re-encoded, as the
// workflow's own typed callers (certflowclient) would send it.
func FuzzUanatacaInput(f *testing.F)   { fuzzInput(f, validIssuance(), validateUanataca) }
func FuzzUniversignInput(f *testing.F) { fuzzInput(f, validRegistration(), validateUniversign) }
func FuzzMasStackInput(f *testing.F)   { fuzzInput(f, validIdentification(), validateMasStack) }
func FuzzHumanosInput(f *testing.F)    { fuzzInput(f, validHumanos(), validateHumanos) }

func fuzzInput[I any](f *testing.F, valid I, validate func(I) error) {
	f.Add([]byte(asJSON(valid)))
	f.Add([]byte(`{"timeout": "soon", "poll_interval": 3}`))
	f.Add([]byte(`[{"request": null}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var in I
		if checkInput(raw, &in, validate) != nil {
			return
		}
		var again I
		if err := checkInput(asJSON(in), &again, validate); err != nil {
			t.Fatalf("accepted %q, but not its re-encoding: %v", raw, err)
		}
	})
}
