package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/validate"
)

// The workflows take their input as raw JSON and decode it here, not
// through the SDK: services in any language start them, and a wrong type
// decoded by the SDK fails the workflow task over and over, with Go type
// names in the message, instead of ending the workflow. Here every problem
// becomes one line of a non-retryable InvalidInput failure that names the
// field path and what was expected.

// checkInput decodes raw into in strictly, bounds the length of every
// value in it, then validates it: the problems found, or nil.
func checkInput[I any](raw json.RawMessage, in *I, check func(I) error) error {
	if err := decodeInput(raw, in); err != nil {
		return err
	}
	lengths := validate.New("input")
	lengths.Lengths("", *in)
	return errors.Join(lengths.Err(), check(*in))
}

// inputProblems lists the fields named by the problems checkInput found,
// for the details of the InvalidInput failure. A problem is "field: what"
// or a *validate.Error listing several.
func inputProblems(err error) []contract.InputProblem {
	var ve *validate.Error
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		var all []contract.InputProblem
		for _, err := range e.Unwrap() {
			all = append(all, inputProblems(err)...)
		}
		return all
	case nil:
		return nil
	default:
		if errors.As(err, &ve) {
			all := make([]contract.InputProblem, len(ve.Problems))
			for i, p := range ve.Problems {
				all[i] = contract.InputProblem{Field: p.Field, Problem: p.Problem}
			}
			return all
		}
		field, problem, _ := strings.Cut(err.Error(), ": ")
		return []contract.InputProblem{{Field: field, Problem: problem}}
	}
}

// decodeInput decodes raw, one JSON object, into the struct in points to.
// Each top-level field is decoded on its own, so a problem is named by its
// path; fields in is not declared are refused (objects that pass fields
// through by design, such as Uanataca's request, keep doing so).
func decodeInput(raw json.RawMessage, in any) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return errors.New("input: none given; start the workflow with one JSON object (see contract/)")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return fmt.Errorf("input: expected one JSON object, got %s", jsonKind(trimmed))
	}
	v := reflect.ValueOf(in).Elem()
	var names []string
	var problems []error
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		names = append(names, name)
		field, ok := fields[name]
		if !ok {
			continue
		}
		problems = append(problems, decodeField(name, field, v.Field(i))...)
	}
	var unknown []string
	for name := range fields {
		if !slices.Contains(names, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		problems = append(problems, fmt.Errorf("%s: unknown field; the input's fields are %s", name, strings.Join(names, ", ")))
	}
	return errors.Join(problems...)
}

// decodeField decodes field, at path, into v strictly. An array that does
// not decode whole is decoded again element by element, so a problem
// names its index ("documents[1]"); one that does is read once, which
// matters for document scans of tens of MB.
func decodeField(path string, field json.RawMessage, v reflect.Value) []error {
	var elems []json.RawMessage
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
		if strictDecode(field, v) == nil {
			return nil
		}
		v.SetZero()
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 && json.Unmarshal(field, &elems) == nil && elems != nil {
		s := reflect.MakeSlice(v.Type(), len(elems), len(elems))
		var problems []error
		for i, elem := range elems {
			problems = append(problems, decodeField(fmt.Sprintf("%s[%d]", path, i), elem, s.Index(i))...)
		}
		v.Set(s)
		return problems
	}
	if err := strictDecode(field, v); err != nil {
		return []error{fieldProblem(path, err)}
	}
	return nil
}

// strictDecode decodes field into v, refusing unknown fields.
func strictDecode(field json.RawMessage, v reflect.Value) error {
	dec := json.NewDecoder(bytes.NewReader(field))
	dec.DisallowUnknownFields()
	return dec.Decode(v.Addr().Interface())
}

// fieldProblem says what was wrong with the field at path.
func fieldProblem(path string, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field != "" {
			path += "." + typeErr.Field
		}
		// Only the kind of the value given ("number", not "number 6001…"):
		// the value may be personal data.
		got, _, _ := strings.Cut(typeErr.Value, " ")
		return fmt.Errorf("%s: expected %s, got %s", path, expected(typeErr.Type), got)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Errorf("%s: not valid JSON", path)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("%s: unknown field %s", path, field)
	}
	return fmt.Errorf("%s: %v", path, err)
}

// expected describes a Go type as JSON calls it.
func expected(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "base64 text"
		}
		return "an array"
	case reflect.Pointer:
		return expected(t.Elem())
	}
	return "an object"
}

// jsonKind names the kind of a JSON value, for messages that must not
// quote it (it may be personal data).
func jsonKind(b []byte) string {
	switch b[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "true or false"
	case '{':
		return "malformed JSON"
	}
	if b[0] == '-' || (b[0] >= '0' && b[0] <= '9') {
		return "a number"
	}
	return "malformed JSON"
}
