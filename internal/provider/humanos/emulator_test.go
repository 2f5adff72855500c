package humanos_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/humanos"
	hsandbox "github.com/certflow/certflow/internal/sandbox/humanos"
)

// startEmulator serves the Humanos sandbox and returns it.
func startEmulator(t *testing.T, opts hsandbox.Options) *hsandbox.Server {
	t.Helper()
	srv, err := hsandbox.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// emulatorClient returns a client of srv with the sandbox's key; edit
// adjusts its configuration.
func emulatorClient(t *testing.T, srv *hsandbox.Server, edit func(*humanos.Config)) *humanos.Client {
	t.Helper()
	cfg := humanos.Config{
		BaseURL:         srv.URL,
		APIKey:          hsandbox.DefaultAPIKey,
		SignatureSecret: hsandbox.DefaultSignatureSecret,
		Timeout:         5 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := humanos.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// twoSubjects asks an email and a phone for one group's credentials.
func twoSubjects(internalID string) humanos.CreateRequest {
	return humanos.CreateRequest{
		Contacts:   []string{"ann@example.test", "+351912345678"},
		GroupIDs:   []string{"507f1f77bcf86cd799439012"},
		InternalID: internalID,
	}
}

// wantProviderError returns err's *provider.Error, failing unless it has
// op and status and quotes no contact of twoSubjects.
func wantProviderError(t *testing.T, err error, op string, status int) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Operation != op || pe.StatusCode != status {
		t.Fatalf("err = %v, want a %s *provider.Error with HTTP %d", err, op, status)
	}
	for _, personal := range []string{"ann@", "912345678"} {
		if strings.Contains(err.Error(), personal) {
			t.Errorf("error quotes %q: %v", personal, err)
		}
	}
	return pe
}

// TestEmulatorLifecycle runs a request's life through the client in both
// API shapes: v1 paths with subjects' "did", and a dated version's paths
// with subjects' "id".
func TestEmulatorLifecycle(t *testing.T) {
	for name, version := range map[string]string{"v1": "", "dated": "2026-03-03"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			srv := startEmulator(t, hsandbox.Options{})
			c := emulatorClient(t, srv, func(cfg *humanos.Config) { cfg.APIVersion = version })

			created, err := c.CreateRequest(ctx, twoSubjects("wf-life"), "")
			if err != nil {
				t.Fatal(err)
			}
			stored, ok := srv.Emulator.Request(created.ID)
			if !ok || len(created.Subjects) != 2 || len(created.Credentials) != 1 {
				t.Fatalf("created %+v", created)
			}
			for i, s := range created.Subjects {
				if s.ID == "" || s.ID != stored.Subjects[i].ID || s.Contact != stored.Subjects[i].Contact || s.Code == "" || !strings.HasSuffix(s.Link, "/link/"+created.ID) {
					t.Errorf("created subject %d: %+v, emulator holds %+v", i, s, stored.Subjects[i])
				}
			}

			got, err := c.GetRequest(ctx, created.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != created.ID || got.InternalID != "wf-life" || got.CanceledAt != "" || len(got.Subjects) != 2 {
				t.Fatalf("get %+v", got)
			}
			for i, s := range got.Subjects {
				if s.ID != created.Subjects[i].ID || s.Contact != created.Subjects[i].Contact {
					t.Errorf("get subject %d: %+v, created %+v", i, s, created.Subjects[i])
				}
			}
			if got.Outcome() != humanos.OutcomePending {
				t.Errorf("outcome %v before any decision", got.Outcome())
			}

			if err := c.ResendOTP(ctx, created.ID, "+351912345678"); err != nil {
				t.Errorf("resend to the phone: %v", err)
			}
			wantProviderError(t, c.ResendOTP(ctx, created.ID, "bob@example.test"), "resend_otp", http.StatusNotFound)

			if err := c.CancelRequest(ctx, created.ID); err != nil {
				t.Fatal(err)
			}
			got, err = c.GetRequest(ctx, created.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.CanceledAt == "" || got.Outcome() != humanos.OutcomeCanceled || got.Credentials[0].Status != humanos.CredentialCanceled {
				t.Errorf("after cancel: %+v", got)
			}
			wantProviderError(t, c.CancelRequest(ctx, created.ID), "cancel_request", http.StatusConflict)

			_, err = c.GetRequest(ctx, "507f1f77bcf86cd7994390ff")
			wantProviderError(t, err, "get_request", http.StatusNotFound)

			if st := srv.Emulator.Stats(); st.Creates != 1 || st.Resends != 1 || st.Cancels != 1 || st.BadSignatures != 0 || st.StaleTimestamps != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestEmulatorIdempotencyKey: a repeated create with the same key and body
// is the same request, created once; the same key with another body is
// refused.
func TestEmulatorIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	srv := startEmulator(t, hsandbox.Options{})
	c := emulatorClient(t, srv, nil)

	first, err := c.CreateRequest(ctx, twoSubjects("wf-idem"), "wf-idem/1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateRequest(ctx, twoSubjects("wf-idem"), "wf-idem/1")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || again.Subjects[0].Link != first.Subjects[0].Link {
		t.Errorf("repeat created %+v, first %+v", again, first)
	}

	_, err = c.CreateRequest(ctx, twoSubjects("wf-other"), "wf-idem/1")
	if pe := wantProviderError(t, err, "create_request", http.StatusUnprocessableEntity); pe.Message == "" {
		t.Errorf("no message: %v", err)
	}

	if st := srv.Emulator.Stats(); st.Creates != 1 || st.IdempotentReplays != 1 || st.IdempotencyConflicts != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestEmulatorWrongSecret: a call signed with another secret is refused
// before it takes effect.
func TestEmulatorWrongSecret(t *testing.T) {
	srv := startEmulator(t, hsandbox.Options{})
	c := emulatorClient(t, srv, func(cfg *humanos.Config) { cfg.SignatureSecret = "not-the-secret" })
	_, err := c.CreateRequest(context.Background(), twoSubjects("wf-sig"), "wf-sig/1")
	wantProviderError(t, err, "create_request", http.StatusUnauthorized)
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("error quotes the secret: %v", err)
	}
	if st := srv.Emulator.Stats(); st.Creates != 0 || st.BadSignatures != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestEmulatorRateLimit: the create beyond the per-minute limit is
// answered 429 with a Retry-After the client reports. The limit is lowered
// from Humanos' 60 so the test makes a handful of calls, not 61.
func TestEmulatorRateLimit(t *testing.T) {
	const limit = 3
	ctx := context.Background()
	srv := startEmulator(t, hsandbox.Options{CreateLimit: limit})
	c := emulatorClient(t, srv, nil)
	for i := range limit {
		if _, err := c.CreateRequest(ctx, twoSubjects("wf-rate"), ""); err != nil {
			t.Fatalf("create %d: %v", i+1, err)
		}
	}
	_, err := c.CreateRequest(ctx, twoSubjects("wf-rate"), "")
	pe := wantProviderError(t, err, "create_request", http.StatusTooManyRequests)
	if pe.RetryAfter <= 0 || pe.RetryAfter > time.Minute {
		t.Errorf("RetryAfter %v, want the wait until the window frees a creation", pe.RetryAfter)
	}
	if st := srv.Emulator.Stats(); st.Creates != limit || st.RateLimited != 1 {
		t.Errorf("stats %+v", st)
	}
}
