package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestNewRejectsUnknownSettings(t *testing.T) {
	tests := []struct {
		name, level, format, want string
	}{
		{"bad level", "loud", "json", `log level "loud"`},
		{"bad format", "info", "xml", `log format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&bytes.Buffer{}, tt.level, tt.format)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%q, %q) error = %v, want it to mention %s", tt.level, tt.format, err, tt.want)
			}
		})
	}
}

func decode(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("log line is not JSON: %q: %v", line, err)
	}
	return m
}

func TestTemporalAdapter(t *testing.T) {
	var buf bytes.Buffer
	zl, err := New(&buf, "debug", "json")
	if err != nil {
		t.Fatal(err)
	}
	l := NewTemporal(zl).With("WorkflowID", "wf-1")
	l.Info("started", "attempt", 2, "err", errors.New("boom"), "odd")

	m := decode(t, buf.Bytes())
	checks := map[string]any{
		"level": "info", "message": "started", "WorkflowID": "wf-1",
		"attempt": float64(2), "err": "boom", "odd": "MISSING-VALUE",
	}
	for k, want := range checks {
		if m[k] != want {
			t.Errorf("field %s = %v, want %v (line %s)", k, m[k], want, buf.String())
		}
	}
	if caller, _ := m["caller"].(string); !strings.Contains(caller, "logging_test.go") {
		t.Errorf("caller = %q, want this test file", caller)
	}
}

func TestTemporalAdapterLevelAndSkip(t *testing.T) {
	var buf bytes.Buffer
	zl, _ := New(&buf, "warn", "json")
	l := NewTemporal(zl)
	l.Info("hidden")
	l.Debug("hidden")
	if buf.Len() != 0 {
		t.Fatalf("lines below warn were written: %s", buf.String())
	}
	helper := func() { l.WithCallerSkip(1).(Temporal).Warn("via helper") }
	helper() // the caller field must name this line's file, not the helper's frame
	m := decode(t, buf.Bytes())
	if caller, _ := m["caller"].(string); !strings.Contains(caller, "logging_test.go") {
		t.Errorf("caller = %q, want this test file", caller)
	}
	if m["level"] != "warn" {
		t.Errorf("level = %v, want warn", m["level"])
	}
}

func TestConsoleFormat(t *testing.T) {
	var buf bytes.Buffer
	zl, err := New(&buf, "info", "console")
	if err != nil {
		t.Fatal(err)
	}
	NewTemporal(zl).Info("hello", "k", "v")
	out := buf.String()
	if strings.HasPrefix(out, "{") || !strings.Contains(out, "hello") || !strings.Contains(out, "k=v") {
		t.Fatalf("console output not human-readable: %q", out)
	}
}
