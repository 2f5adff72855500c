package sandbox_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/certflow/certflow/internal/sandbox"
)

// ownFormat is a provider's error writer, as an emulator passes it.
func ownFormat(w http.ResponseWriter, status int, msg string) {
	sandbox.WriteJSON(w, status, map[string]string{"own_format": msg}, nil)
}

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	sandbox.WriteJSON(rec, http.StatusCreated, map[string]int{"pk": 7}, []byte(`{"fallback":true}`))
	if rec.Code != http.StatusCreated || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != `{"pk":7}` {
		t.Errorf("answer %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}

	// A value that does not encode is a bug in the emulator: a 500 with the
	// provider's fallback body, not a broken answer.
	rec = httptest.NewRecorder()
	sandbox.WriteJSON(rec, http.StatusOK, math.Inf(1), []byte(`{"fallback":true}`))
	if rec.Code != http.StatusInternalServerError || rec.Body.String() != `{"fallback":true}` {
		t.Errorf("unencodable value: %d %s", rec.Code, rec.Body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	rec := httptest.NewRecorder()
	sandbox.MethodNotAllowed(rec, httptest.NewRequest(http.MethodPut, "/v1/things", nil), ownFormat, http.MethodGet, http.MethodDelete)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, DELETE" || rec.Body.String() != `{"own_format":"Method PUT not allowed."}` {
		t.Errorf("answer %d, Allow %q, %s", rec.Code, rec.Header().Get("Allow"), rec.Body)
	}
}

func TestReadBody(t *testing.T) {
	rec := httptest.NewRecorder()
	body, ok := sandbox.ReadBody(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("hello")), 5, ownFormat)
	if !ok || string(body) != "hello" || rec.Body.Len() != 0 {
		t.Errorf("within the limit: %q %v, answered %s", body, ok, rec.Body)
	}

	rec = httptest.NewRecorder()
	big := strings.Repeat("x", 2<<10+1)
	if _, ok := sandbox.ReadBody(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(big)), 2<<10, ownFormat); ok {
		t.Fatal("a body over the limit was read")
	}
	if rec.Code != http.StatusRequestEntityTooLarge || rec.Body.String() != `{"own_format":"Body larger than 2 KiB."}` {
		t.Errorf("over the limit: %d %s", rec.Code, rec.Body)
	}
}

func TestMediaType(t *testing.T) {
	for header, want := range map[string]string{
		"":                                "",
		"application/json":                "application/json",
		"Application/JSON; charset=utf-8": "application/json",
		"application/json; charset":       "application/json",
		"not a media type":                "",
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Content-Type", header)
		if got := sandbox.MediaType(r); got != want {
			t.Errorf("MediaType(%q) = %q, want %q", header, got, want)
		}
	}
}

func TestRandomHex(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := sandbox.RandomHex(12)
		if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(id) || seen[id] {
			t.Fatalf("id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
	if got := sandbox.RandomHex(0); got != "" {
		t.Errorf("RandomHex(0) = %q", got)
	}
}
