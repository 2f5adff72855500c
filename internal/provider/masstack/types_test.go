package masstack

import (
	"strings"
	"testing"
	"time"
)

func TestParseISODuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"P7D", 7 * 24 * time.Hour, true},
		{"PT36H", 36 * time.Hour, true},
		{"P1W2DT3H4M5S", 9*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second, true},
		{"P", 0, false},
		{"PT", 0, false},
		{"P1DT", 0, false},
		{"P1M", 0, false},
		// Counts whose product overflows int64 must be refused, not wrap
		// around to a short duration that passes Validate.
		{"P106751991167301D", 0, false},
		{"P15250284452472W", 0, false},
		{"P106751991167300DT23H", 0, false},
		{"P99999999999999999999D", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseISODuration(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseISODuration(%q) = %s, %v; want %s, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidateExpiresIn(t *testing.T) {
	r := CreateIdentification{IdentityDocument: IdentityDocument{DocumentNumber: "12345678Z", DocumentType: "NIF"}}
	for in, ok := range map[string]bool{"": true, "P30D": true, "PT1S": true, "P31D": false, "P0D": false, "P106751991167301D": false} {
		r.ExpiresIn = in
		err := r.Validate()
		if ok != (err == nil) {
			t.Errorf("expires_in %q: %v", in, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "expires_in") || strings.Contains(err.Error(), "12345678Z")) {
			t.Errorf("expires_in %q: error %q", in, err)
		}
	}
}

func TestLifetime(t *testing.T) {
	for in, want := range map[string]time.Duration{"": MaxExpiresIn, "P7D": 7 * 24 * time.Hour, "PT36H": 36 * time.Hour, "P1M": MaxExpiresIn} {
		if got := (CreateIdentification{ExpiresIn: in}).Lifetime(); got != want {
			t.Errorf("expires_in %q: Lifetime() = %s, want %s", in, got, want)
		}
	}
}
