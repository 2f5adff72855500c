package humanos

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// The vectors were computed independently with openssl
// (printf '1700000000000.{"a":1}' | openssl dgst -sha256 -hmac secret), so
// the emulator and the ingress, which both use Sign, cannot share a bug.
func TestSignKnownAnswers(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"with a body", `{"a":1}`, "4ef2732b0d632a6897af3a6d02a6de287f60d6c5f15dabdb0ceb045a34e3c5a7"},
		{"without a body", "", "4fe2ce12fd6bec5e0648b23bfbff158ba5fc18b3a214b4c207314671448a95e1"},
	}
	for _, tt := range tests {
		if got := Sign("secret", "1700000000000", []byte(tt.body)); got != tt.want {
			t.Errorf("%s: Sign = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestVerify(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	body := []byte(`{"eventType":"credential"}`)
	ts := Timestamp(now)
	good := Sign("whsec", ts, body)
	tests := []struct {
		name      string
		ts, sig   string
		body      []byte
		at        time.Time
		wantError error
	}{
		{"valid", ts, good, body, now, nil},
		{"valid 4 minutes later", ts, good, body, now.Add(4 * time.Minute), nil},
		{"stale", ts, good, body, now.Add(6 * time.Minute), ErrStaleTimestamp},
		{"from the future", ts, good, body, now.Add(-6 * time.Minute), ErrStaleTimestamp},
		{"not a timestamp", "yesterday", good, body, now, ErrStaleTimestamp},
		{"tampered body", ts, good, []byte(`{"eventType":"identity"}`), now, ErrBadSignature},
		{"wrong secret", ts, Sign("other", ts, body), body, now, ErrBadSignature},
		{"empty signature", ts, "", body, now, ErrBadSignature},
	}
	for _, tt := range tests {
		err := Verify("whsec", tt.ts, tt.sig, tt.body, tt.at, 5*time.Minute)
		if !errors.Is(err, tt.wantError) || (tt.wantError == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.wantError)
		}
	}
}

func TestSealOpen(t *testing.T) {
	key, err := KeyDerivation{Secret: "enc-secret", Salt: "salt", Iterations: 1000, Digest: "sha512"}.Key()
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"eventType":"credential","requestId":"507f1f77bcf86cd799439011"}`)
	env, err := Seal(key, plain)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(env)
	parsed, ok := ParseEnvelope(raw)
	if !ok {
		t.Fatalf("ParseEnvelope did not recognise %s", raw)
	}
	got, err := Open(key, parsed)
	if err != nil || string(got) != string(plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, ok := ParseEnvelope(plain); ok {
		t.Fatal("a plain webhook was taken for an envelope")
	}

	tampered := parsed
	tampered.Data = "A" + tampered.Data[1:]
	if _, err := Open(key, tampered); err == nil {
		t.Fatal("a tampered envelope decrypted")
	}
	otherKey, _ := KeyDerivation{Secret: "enc-secret", Salt: "salt", Iterations: 1000, Digest: "sha256"}.Key()
	if _, err := Open(otherKey, parsed); err == nil {
		t.Fatal("an envelope decrypted under a key derived with another digest")
	}
}

func TestKeyDerivationRejectsBadSettings(t *testing.T) {
	for _, k := range []KeyDerivation{
		{Secret: "s", Iterations: 1, Digest: "md5"},
		{Secret: "", Iterations: 1},
		{Secret: "s", Iterations: 0},
	} {
		if _, err := k.Key(); err == nil {
			t.Errorf("%+v accepted", k)
		}
	}
}

func TestSubjectReadsBothShapes(t *testing.T) {
	var subjects []Subject
	raw := `[{"contact":"a@example.com","did":"did:via:humanos:a","code":"1","link":"l1"},{"contact":"+351912345678","id":"did:via:humanos:b"}]`
	if err := json.Unmarshal([]byte(raw), &subjects); err != nil {
		t.Fatal(err)
	}
	if subjects[0].ID != "did:via:humanos:a" || subjects[1].ID != "did:via:humanos:b" || subjects[0].Link != "l1" {
		t.Fatalf("subjects = %+v", subjects)
	}
}

func TestValidate(t *testing.T) {
	valid := CreateRequest{Contacts: []string{"ana@example.com", "+351912345678"}, ResourcesIDs: []string{"507f1f77bcf86cd799439012"}}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid request rejected: %v", err)
	}
	bad := CreateRequest{Contacts: []string{"ana", "ana"}, SecurityLevel: "TOP", RedirectURL: "/cb",
		ExpectedDocIDs: []ExpectedDoc{{Contact: "bob@example.com"}}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid request accepted")
	}
	for _, want := range []string{"contacts[0]", "contacts[1]: repeats", "securityLevel", "credentials: nothing to ask for", "redirectUrl", "expectedDocIds"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
