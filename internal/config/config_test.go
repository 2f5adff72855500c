package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadWorkerDefaults(t *testing.T) {
	w, err := LoadWorker()
	if err != nil {
		t.Fatal(err)
	}
	if w.TaskQueue != "certflow" || w.HTTPAddr != ":8080" || w.Log.Level != "info" ||
		w.Uanataca.Timeout != 30*time.Second || w.Uanataca.BaseURL != "https://api.sandbox.uanataca.com/api/v1/" {
		t.Fatalf("unexpected defaults: %+v", w)
	}
	if w.Uanataca.ApprovalConfigured() {
		t.Fatal("approval must not be configured by default")
	}
}

func TestLoadWorkerFromEnvironment(t *testing.T) {
	t.Setenv("CERTFLOW_TASK_QUEUE", "q1")
	t.Setenv("UANATACA_BASE_URL", "https://127.0.0.1:8443/api/v1/")
	t.Setenv("UANATACA_RAO_USERNAME", "u")
	t.Setenv("UANATACA_RAO_PASSWORD", "p")
	t.Setenv("UANATACA_RAO_PIN", "1")
	t.Setenv("UANATACA_RAO_ID", "7")
	w, err := LoadWorker()
	if err != nil {
		t.Fatal(err)
	}
	if w.TaskQueue != "q1" || w.Uanataca.BaseURL != "https://127.0.0.1:8443/api/v1/" || !w.Uanataca.ApprovalConfigured() {
		t.Fatalf("environment not applied: %+v", w)
	}
}

func TestLoadWorkerRejects(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"cert without key", map[string]string{"UANATACA_CERT_FILE": "c.pem"}, "UANATACA_KEY_FILE"},
		{"partial RAO", map[string]string{"UANATACA_RAO_USERNAME": "u"}, "UANATACA_RAO_PASSWORD"},
		{"bad duration", map[string]string{"UANATACA_TIMEOUT": "soon"}, "UANATACA_TIMEOUT"},
		{"unknown mode", map[string]string{"CERTFLOW_MODE": "both"}, "CERTFLOW_MODE"},
		{"Humanos without signature secret", map[string]string{"HUMANOS_API_KEY": "k"}, "HUMANOS_SIGNATURE_SECRET"},
		{"MasStack without org", map[string]string{"MASSTACK_SERVICE_ACCOUNT_FILE": "sa.json"}, "MASSTACK_ORG_ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := LoadWorker()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %s", err, tt.want)
			}
		})
	}
}
