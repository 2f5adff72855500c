package worker

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/internal/metrics"
)

// TestModes checks what each CERTFLOW_MODE runs: the ingress and worker
// can be deployed apart.
func TestModes(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := metrics.New(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode    string
		pollers int
		routed  bool
	}{
		{config.ModeAll, 2, true},
		{config.ModeWorker, 2, false},
		{config.ModeIngress, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			cfg, err := config.LoadWorker()
			if err != nil {
				t.Fatal(err)
			}
			cfg.Mode = tt.mode
			cfg.Codec.AllowPlaintext = true
			w, err := New(cfg, c, zerolog.Nop(), m, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.workers) != tt.pollers {
				t.Errorf("%d task-queue workers, want %d", len(w.workers), tt.pollers)
			}
			// Routed, a webhook without Content-Type gets 415 (Uanataca) or
			// 503 (Humanos, no secret configured); unrouted, 404.
			answers := map[string]int{"/webhooks/uanataca": http.StatusUnsupportedMediaType, "/webhooks/humanos": http.StatusServiceUnavailable}
			for path, want := range answers {
				if !tt.routed {
					want = http.StatusNotFound
				}
				rec := httptest.NewRecorder()
				w.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}")))
				if rec.Code != want {
					t.Errorf("POST %s answered %d, want %d", path, rec.Code, want)
				}
			}
			for _, path := range []string{"/healthz", "/metrics"} {
				rec := httptest.NewRecorder()
				w.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					t.Errorf("GET %s answered %d in mode %s", path, rec.Code, tt.mode)
				}
			}
		})
	}
}

// Without a codec key a worker, in every mode, would store applicants'
// data in clear: it refuses to start unless told to allow that.
func TestRefusesToStartWithoutCodecKey(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, _ := metrics.New(zerolog.Nop())
	for _, mode := range []string{config.ModeAll, config.ModeWorker, config.ModeIngress} {
		cfg, _ := config.LoadWorker()
		cfg.Mode = mode
		if _, err := New(cfg, c, zerolog.Nop(), m, nil, nil); !errors.Is(err, ErrNoCodecKey) || !strings.Contains(err.Error(), "CERTFLOW_ALLOW_PLAINTEXT=true") {
			t.Errorf("mode %s without a key: %v; want ErrNoCodecKey saying how to go on", mode, err)
		}
	}
}

func TestBadAllowList(t *testing.T) {
	cfg, _ := config.LoadWorker()
	cfg.Uanataca.WebhookAllow = []string{"10.0.0.0/8", "not-a-network"}
	if _, err := ingressFor(cfg, nil, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "UANATACA_WEBHOOK_ALLOW") {
		t.Fatalf("error = %v, want it to name UANATACA_WEBHOOK_ALLOW", err)
	}
}

func TestReadyzWithoutTemporal(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, _ := metrics.New(zerolog.Nop())
	cfg, _ := config.LoadWorker()
	cfg.Codec.AllowPlaintext = true
	w, err := New(cfg, c, zerolog.Nop(), m, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	w.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, "Temporal is unreachable") || !strings.Contains(body, "not polling") {
		t.Fatalf("readyz answered %d %s; want 503 naming both problems", rec.Code, body)
	}
}
