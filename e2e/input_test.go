package e2e

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// Raw JSON started by workflow type name, as a service in another language
// starts certflow: a wrong type or a misspelt field ends the workflow at
// once with InvalidInput naming the field, instead of a workflow task that
// fails over and over.
func TestRawJSONInputErrorsEndTheWorkflow(t *testing.T) {
	s := startStack(t, uasandbox.Options{})
	tests := []struct {
		name, workflowType string
		input              any
		want               string
		// field is the one `certflow status` must name as invalid.
		field string
	}{
		{"a number where a string belongs", contract.UniversignRegistrationName,
			map[string]any{"registration": map[string]any{"applicant": 42, "level": "qcp"}}, "registration.applicant: expected a string, got number", "registration.applicant"},
		{"a word where a duration belongs", contract.MasStackIdentificationName,
			map[string]any{"identification": map[string]any{}, "poll_interval": "soon"}, "poll_interval:", "poll_interval"},
		{"a misspelt field", contract.HumanosRequestName,
			map[string]any{"request": map[string]any{"contacts": []string{"ana@example.com"}}, "timeuot": "3d"}, "timeuot: unknown field", "timeuot"},
		{"an array instead of the input object", contract.UanatacaIssuanceName,
			[]any{map[string]any{"request": map[string]any{}}}, "input: expected one JSON object, got an array", "input"},
		{"a name of a megabyte", contract.UanatacaIssuanceName,
			map[string]any{"request": map[string]any{"profile": "PFnubeAFCiudadano", "given_name": strings.Repeat("a", 1<<20)}},
			"request.given_name: 1048576 characters, more than the 256 allowed", "request.given_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := start(t, s, uniqueID("raw-input"), tt.workflowType, tt.input)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run.Get(ctx, nil)
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeInvalidInput || appErr.NonRetryable() == false || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("workflow ended with %v; want a non-retryable %s saying %q", err, contract.ErrTypeInvalidInput, tt.want)
			}
			if len(err.Error()) > 4096 {
				t.Errorf("the failure is %d bytes long: it quotes the value", len(err.Error()))
			}
			f := status(t, s, run.GetID()).Failure
			if f.Type != contract.ErrTypeInvalidInput || !slices.ContainsFunc(f.InvalidFields, func(p contract.InputProblem) bool { return p.Field == tt.field }) ||
				!strings.Contains(f.Hint, "refused its input") {
				t.Fatalf("certflow status says %+v; want %s naming field %s and what to do", f, contract.ErrTypeInvalidInput, tt.field)
			}
		})
	}
}

// The same through the temporal CLI, exactly as a service in another
// language or an operator sends JSON: the workflow ends InvalidInput
// naming the field, and the error is readable by that client.
func TestRawJSONFromTheTemporalCLI(t *testing.T) {
	s := startStack(t, uasandbox.Options{})
	bin, err := devstack.TemporalBinary()
	if err != nil {
		t.Fatal(err)
	}
	id := uniqueID("temporal-cli-input")
	out, err := exec.Command(bin, "workflow", "start", "--address", temporalAddress, "--task-queue", s.Config.TaskQueue,
		"--type", contract.UniversignRegistrationName, "--workflow-id", id,
		"--input", `{"registration": {"applicant": "ana@example.com", "level": "qcp", "langauge": "es"}}`).CombinedOutput()
	if err != nil {
		t.Fatalf("temporal workflow start: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = s.Client.GetWorkflow(ctx, id, "").Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeInvalidInput || !strings.Contains(err.Error(), `registration: unknown field "langauge"`) {
		t.Fatalf("workflow ended with %v; want %s naming the misspelt field", err, contract.ErrTypeInvalidInput)
	}
}
