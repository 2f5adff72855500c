package validate

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what an input may carry, checked before any provider call so
// that a runaway value (a 1 MB name) is refused with its field's name
// instead of being sent. The providers document no limits of their own, so
// these are certflow's; contract/'s JSON schemas state the same (maxLength).
const (
	// DefaultMaxLength bounds, in characters, every string field that
	// names no limit of its own: room for any name, address or identifier.
	DefaultMaxLength = 256
	// MaxRawJSON bounds, in bytes, a JSON value passed through as is
	// (Humanos credentials and signature placements).
	MaxRawJSON = 64 << 10
	// MaxExtraFields bounds how many fields an object that passes fields
	// through (Uanataca's request) may carry besides its own.
	MaxExtraFields = 100
	// MaxFieldName bounds the name of a passed-through field.
	MaxFieldName = 64
)

// limitTag is the struct tag that names a string field's own limit, the
// one the JSON schema generator reads too: `jsonschema:"maxLength=2048"`.
const limitTag = "jsonschema"

// MaxLength is the limit of a struct field: its jsonschema maxLength, or
// DefaultMaxLength.
func MaxLength(f reflect.StructField) int {
	for _, kv := range strings.Split(f.Tag.Get(limitTag), ",") {
		if v, ok := strings.CutPrefix(kv, "maxLength="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return DefaultMaxLength
}

var rawJSON = reflect.TypeFor[json.RawMessage]()

// Lengths records a problem for every value in v, a struct walked through
// its JSON fields, that is longer than its limit. Field paths start at
// path ("" for the top). The problem gives the length, never the value.
func (p *Problems) Lengths(path string, v any) {
	p.lengths(path, reflect.ValueOf(v), DefaultMaxLength)
}

func (p *Problems) lengths(path string, v reflect.Value, limit int) {
	switch {
	case v.Type() == rawJSON:
		if n := v.Len(); n > MaxRawJSON {
			p.Add(path, "%d bytes of JSON, more than the %d allowed", n, MaxRawJSON)
		}
	case v.Kind() == reflect.String:
		if n := utf8.RuneCountInString(v.String()); n > limit {
			p.Add(path, "%d characters, more than the %d allowed; shorten it", n, limit)
		}
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			p.lengths(path, v.Elem(), limit)
		}
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8:
		for i := range v.Len() {
			p.lengths(fmt.Sprintf("%s[%d]", path, i), v.Index(i), limit)
		}
	case v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String:
		p.extra(path, v)
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch name {
			case "-":
				// Fields passed through sit beside the struct's own.
				p.lengths(path, v.Field(i), MaxLength(f))
			case "":
				p.lengths(join(path, f.Name), v.Field(i), MaxLength(f))
			default:
				p.lengths(join(path, name), v.Field(i), MaxLength(f))
			}
		}
	}
}

// extra checks the fields an object passes through, held in a map by
// name: their count, their names and their values.
func (p *Problems) extra(path string, m reflect.Value) {
	if n := m.Len(); n > MaxExtraFields {
		p.Add(join(path, "*"), "%d further fields, more than the %d allowed", n, MaxExtraFields)
		return
	}
	keys := m.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	for _, k := range keys {
		if n := utf8.RuneCountInString(k.String()); n > MaxFieldName {
			p.Add(join(path, "*"), "a field name of %d characters, more than the %d allowed", n, MaxFieldName)
			continue
		}
		p.lengths(join(path, k.String()), m.MapIndex(k), DefaultMaxLength)
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// Within returns err with the field of each of its problems put under
// path, for a check written for a part of a larger input (a provider's
// request inside a workflow's input). Other errors pass unchanged.
func Within(path string, err error) error {
	e, ok := err.(*Error)
	if !ok {
		return err
	}
	within := &Error{Subject: e.Subject, Problems: make([]Problem, len(e.Problems))}
	for i, pr := range e.Problems {
		within.Problems[i] = Problem{Field: join(path, pr.Field), Problem: pr.Problem}
	}
	return within
}
