package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/contract"
)

// TestContractIsGenerated regenerates the contract and fails when the
// committed files differ, so the schemas other services code against
// cannot drift from the Go types.
func TestContractIsGenerated(t *testing.T) {
	t.Chdir(filepath.Join("..", "..", ".."))
	dir := t.TempDir()
	if err := write(dir); err != nil {
		t.Fatal(err)
	}
	const fix = "run `go run ./contract/internal/genschema` from the module root and commit contract/"
	generated, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range generated {
		want, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		got, err := os.ReadFile(filepath.Join("contract", e.Name()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("contract/%s is missing or out of date: %s", e.Name(), fix)
		}
	}
	committed, err := filepath.Glob(filepath.Join("contract", "*"+schemaSuffix))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range committed {
		if _, err := os.Stat(filepath.Join(dir, filepath.Base(path))); err != nil {
			t.Errorf("%s is no longer generated: %s", path, fix)
		}
	}
}

// TestDurationPatternAgreesWithParseDuration keeps the schemas' duration
// pattern, written by hand, true to the Go code: it must match what
// certflow writes and only what certflow reads.
func TestDurationPatternAgreesWithParseDuration(t *testing.T) {
	pattern := regexp.MustCompile(durationPattern)
	for _, d := range []time.Duration{0, 1500 * time.Millisecond, 90 * time.Minute, 36 * time.Hour, 30 * 24 * time.Hour, time.Microsecond} {
		b, err := json.Marshal(contract.Duration(d))
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.Trim(string(b), `"`); !pattern.MatchString(s) {
			t.Errorf("certflow writes %s as %q, which the pattern refuses", d, s)
		}
	}
	for _, s := range []string{"30d", "36h", "1h30m", "90m", "2.5h", "7d1h", "1w", "30D", "-1h", "", "h", "1.h"} {
		_, err := contract.ParseDuration(s)
		if pattern.MatchString(s) && err != nil {
			t.Errorf("the pattern admits %q, which certflow refuses: %v", s, err)
		}
	}
	for _, s := range []string{"30d", "36h", "1h30m", "90m", "2.5h"} {
		if !pattern.MatchString(s) {
			t.Errorf("the pattern refuses %q, a documented form", s)
		}
	}
}
