package validate

import (
	"strings"
	"testing"
)

func TestCountryCodes(t *testing.T) {
	if n := len(countrySet); n != 249 {
		t.Errorf("%d country codes, ISO 3166-1 assigns 249", n)
	}
	for _, c := range []string{"ES", "PE", "GB", "SS", "BQ"} {
		if !Country(c) {
			t.Errorf("%s rejected", c)
		}
	}
	for _, c := range []string{"es", "UK", "EU", "XK", "E", "ESP", ""} {
		if Country(c) {
			t.Errorf("%q accepted", c)
		}
	}
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name  string
		check func(string) bool
		ok    []string
		bad   []string
	}{
		{"email", Email, []string{"ana@example.com", "a.b+c@sub.example.es"}, []string{"", "ana", "Ana <ana@example.com>", "ana@", "@example.com"}},
		{"E.164", E164, []string{"+34600112233", "+12025550123"}, []string{"", "34600112233", "+0600112233", "+34 600 112 233", "+3460"}},
		{"digits", Digits, []string{"0", "121"}, []string{"", "12a", "-1"}},
		{"http URL", HTTPURL, []string{"https://x.example/cb", "http://127.0.0.1:8080/"}, []string{"", "/cb", "ftp://x/", "https://"}},
	}
	for _, tt := range tests {
		for _, v := range tt.ok {
			if !tt.check(v) {
				t.Errorf("%s: %q rejected", tt.name, v)
			}
		}
		for _, v := range tt.bad {
			if tt.check(v) {
				t.Errorf("%s: %q accepted", tt.name, v)
			}
		}
	}
}

func TestProblemsNeverQuotePersonalValues(t *testing.T) {
	p := New("test input")
	p.Email("email", "Ana Ruiz <ana.ruiz@example.com>")
	p.Phone("phone", "600 112 233")
	p.Country("country", "es")
	err := p.Err()
	if err == nil {
		t.Fatal("no problem recorded")
	}
	msg := err.Error()
	for _, personal := range []string{"ana.ruiz", "Ruiz", "600 112"} {
		if strings.Contains(msg, personal) {
			t.Errorf("error quotes a personal value %q: %s", personal, msg)
		}
	}
	if !strings.HasPrefix(msg, "invalid test input: email: ") || !strings.Contains(msg, `country: "es" is not upper case; use "ES"`) {
		t.Errorf("unexpected message: %s", msg)
	}
	if New("x").Err() != nil {
		t.Error("an empty collector must return nil")
	}
}
