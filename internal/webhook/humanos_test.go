package webhook

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/humanos"
)

const humanosSecret = "whsec-test"

var humanosNow = time.UnixMilli(1_795_000_000_000)

// signed builds a webhook request signed at signedAt.
func signed(body string, signedAt time.Time, secret string) *http.Request {
	r := post("/webhooks/humanos", body)
	ts := humanos.Timestamp(signedAt)
	r.Header.Set("x-timestamp", ts)
	r.Header.Set("x-signature", humanos.Sign(secret, ts, []byte(body)))
	return r
}

func TestHumanosIngress(t *testing.T) {
	key, err := humanos.KeyDerivation{Secret: "enc", Salt: "salt", Iterations: 1000, Digest: "sha256"}.Key()
	if err != nil {
		t.Fatal(err)
	}
	credential := `{"eventType":"credential","requestId":"507f1f77bcf86cd799439011","internalId":"wf-h","user":{"contact":"ana@example.com","did":"did:x"},"credentialId":"c1","decision":{"action":"accept","date":"2026-11-22T10:00:00Z"}}`
	older := `{"eventType":"credential","requestId":"507f1f77bcf86cd799439011","internalId":"wf-h","user":{"contact":"ana@example.com"},"credentialId":"c1","action":"reject","decisionDate":"d0"}`
	byRequestID := `{"eventType":"otp.failed","requestId":"507f1f77bcf86cd799439011","user":{"contact":"ana@example.com"}}`
	env, _ := humanos.Seal(key, []byte(credential))
	encrypted, _ := json.Marshal(env)

	accept := contract.HumanosWebhook{EventType: "credential", RequestID: "507f1f77bcf86cd799439011", Contact: "ana@example.com", CredentialID: "c1", Action: "accept", Date: "2026-11-22T10:00:00Z"}
	tests := []struct {
		name       string
		req        *http.Request
		key        []byte
		running    map[string]string
		wantStatus int
		wantHint   *contract.HumanosWebhook
		wantID     string
		wantError  string
	}{
		{name: "signed, by internalId", req: signed(credential, humanosNow, humanosSecret), running: map[string]string{"x": "wf-h"},
			wantStatus: 200, wantHint: &accept, wantID: "wf-h"},
		{name: "older decision shape", req: signed(older, humanosNow, humanosSecret), running: map[string]string{"x": "wf-h"}, wantStatus: 200,
			wantHint: &contract.HumanosWebhook{EventType: "credential", RequestID: "507f1f77bcf86cd799439011", Contact: "ana@example.com", CredentialID: "c1", Action: "reject", Date: "d0"}, wantID: "wf-h"},
		{name: "fallback by requestId", req: signed(byRequestID, humanosNow, humanosSecret), running: map[string]string{"507f1f77bcf86cd799439011": "wf-r"}, wantStatus: 200,
			wantHint: &contract.HumanosWebhook{EventType: "otp.failed", RequestID: "507f1f77bcf86cd799439011", Contact: "ana@example.com"}, wantID: "wf-r"},
		{name: "encrypted", req: signed(string(encrypted), humanosNow, humanosSecret), key: key, running: map[string]string{"x": "wf-h"},
			wantStatus: 200, wantHint: &accept, wantID: "wf-h"},
		{name: "bad signature", req: signed(credential, humanosNow, "forged"), wantStatus: 401, wantError: "signature"},
		{name: "stale timestamp", req: signed(credential, humanosNow.Add(-6*time.Minute), humanosSecret), wantStatus: 401, wantError: "timestamp"},
		{name: "no signature headers", req: post("/webhooks/humanos", credential), wantStatus: 401},
		{name: "tampered body", req: func() *http.Request {
			r := signed(credential, humanosNow, humanosSecret)
			r.Body = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Replace(credential, "accept", "reject", 1))).Body
			return r
		}(), wantStatus: 401, wantError: "signature"},
		{name: "encrypted without a key", req: signed(string(encrypted), humanosNow, humanosSecret), wantStatus: 400, wantError: "HUMANOS_WEBHOOK_ENCRYPTION_SECRET"},
		{name: "encrypted under another key", req: signed(string(encrypted), humanosNow, humanosSecret), key: make([]byte, 32), wantStatus: 400, wantError: "does not decrypt"},
		{name: "malformed JSON", req: signed(`{"eventType":`, humanosNow, humanosSecret), wantStatus: 400, wantError: "malformed"},
		{name: "no eventType", req: signed(`{"requestId":"r"}`, humanosNow, humanosSecret), wantStatus: 400, wantError: "eventType"},
		{name: "unknown request", req: signed(credential, humanosNow, humanosSecret), running: map[string]string{}, wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeTemporal{running: tt.running, provider: "humanos"}
			in := &Ingress{Temporal: fake, Log: zerolog.Nop(), LookupAttempts: 1,
				Humanos: HumanosSettings{Secret: humanosSecret, Key: tt.key}, Now: func() time.Time { return humanosNow }}
			mux := http.NewServeMux()
			in.Register(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, tt.req)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantError != "" && !strings.Contains(rec.Body.String(), tt.wantError) {
				t.Fatalf("body %s does not say %q", rec.Body, tt.wantError)
			}
			if tt.wantHint == nil {
				if len(fake.signals) != 0 {
					t.Fatalf("signalled %v on a rejected webhook", fake.signals)
				}
				return
			}
			if len(fake.signals) != 1 || fake.signals[0] != any(*tt.wantHint) || fake.signalled[0] != tt.wantID {
				t.Fatalf("signals %+v to %v, want %+v to %s", fake.signals, fake.signalled, *tt.wantHint, tt.wantID)
			}
		})
	}
}

func TestHumanosIngressUnconfigured(t *testing.T) {
	mux := http.NewServeMux()
	(&Ingress{Temporal: &fakeTemporal{}, Log: zerolog.Nop()}).Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, signed(`{}`, time.Now(), "x"))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "HUMANOS_WEBHOOK_SECRET") {
		t.Fatalf("unconfigured ingress answered %d %s", rec.Code, rec.Body)
	}
}

func TestParseHumanosNumericDecisionDate(t *testing.T) {
	_, hint, err := ParseHumanos([]byte(`{"eventType":"identity","requestId":"r","decision":{"success":true,"date":1795000000000}}`))
	if err != nil || hint.Date != "1795000000000" || hint.Success == nil || !*hint.Success {
		t.Fatalf("hint %+v, %v; want the numeric date read as text", hint, err)
	}
}
