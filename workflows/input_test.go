package workflows

import (
	"encoding/json"
	"strings"
	"testing"

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
			env := newTestEnv()
			env.RegisterWorkflow(tt.workflow)
			env.ExecuteWorkflow(tt.workflow, json.RawMessage(tt.input))

			err := env.result(t, nil)
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
