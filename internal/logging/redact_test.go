package logging

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestScrubString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"email", "zz@example.com", "[redacted-email]"},
		{"email in a sentence", "mail zz.marker@example.com.", "mail [redacted-email]."},
		{"email in brackets", "To: <Zz_M-1%x@Mail.Example.ES>", "To: <[redacted-email]>"},
		{"plus-tagged email taken whole", "zz+34699887766@example.com", "[redacted-email]"},
		{"internationalised email", "josé@correos.es", "[redacted-email]"},
		{"two emails", "a@b.io,c@d.io", "[redacted-email],[redacted-email]"},
		{"phone", "+34699887766", "[redacted-phone]"},
		{"phone in a sentence", "call +34699887766, or +12345678.", "call [redacted-phone], or [redacted-phone]."},
		{"longest phone", "tel:+123456789012345", "tel:[redacted-phone]"},
		{"email and phone", `provider: "zz@example.com (+34699887766) exists"`,
			`provider: "[redacted-email] ([redacted-phone]) exists"`},
		// left alone
		{"no domain dot", "user@localhost", "user@localhost"},
		{"module version", "/go/pkg/mod/go.temporal.io/sdk@v1.50.0/internal/x.go:12", "/go/pkg/mod/go.temporal.io/sdk@v1.50.0/internal/x.go:12"},
		{"worker identity without dots", "4242@worker-0@certflow", "4242@worker-0@certflow"},
		{"RFC 3339 offset", "2024-05-01T10:00:00.123+02:00", "2024-05-01T10:00:00.123+02:00"},
		{"Go time", "2024-05-01 10:00:00 +0200 CEST m=+0.012345678", "2024-05-01 10:00:00 +0200 CEST m=+0.012345678"},
		{"7 digits", "+3469988", "+3469988"},
		{"16 digits", "+1234567890123456", "+1234567890123456"},
		{"semver build", "v1.0.0+20240101120000", "v1.0.0+20240101120000"},
		{"base64", "q9w+12345678ab==", "q9w+12345678ab=="},
		{"uuid", "3f2a9c1e-7b4d-4e8a-9c1f-2b3d4e5f6a7b", "3f2a9c1e-7b4d-4e8a-9c1f-2b3d4e5f6a7b"},
		{"pk and duration", "pk 46000 took 1m30.5s", "pk 46000 took 1m30.5s"},
		{"lone signs", "@ + a@ @b.c", "@ + a@ @b.c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scrubString(tt.in); got != tt.want {
				t.Errorf("scrubString(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"personal keys at the top",
			`{"level":"info","email":"zz@example.com","Given_Name":"Zacarías","pk":46000,"message":"ok"}`,
			`{"level":"info","email":"[redacted]","Given_Name":"[redacted]","pk":46000,"message":"ok"}`},
		{"any value type under a personal key",
			`{"phone":34699887766,"contacts":[{"x":1}],"applicant":{"a":{"b":"c"}},"name":null,"docId":true}`,
			`{"phone":"[redacted]","contacts":"[redacted]","applicant":"[redacted]","name":"[redacted]","docId":"[redacted]"}`},
		{"nested objects and arrays",
			`{"req":{"holder":{"surname_1":"Marker","doc":{"document_number":"99887766Q"}},"ids":[1,2]},"list":[{"serial_number":"X"},"ok"]}`,
			`{"req":{"holder":{"surname_1":"[redacted]","doc":{"document_number":"[redacted]"}},"ids":[1,2]},"list":[{"serial_number":"[redacted]"},"ok"]}`},
		{"emails and phones in any string",
			`{"Error":"rejected: zz@example.com","a":["+34699887766"],"o":{"m":"tel +34699887766"}}`,
			`{"Error":"rejected: [redacted-email]","a":["[redacted-phone]"],"o":{"m":"tel [redacted-phone]"}}`},
		{"next to escapes",
			`{"e":"\u003czz@example.com\u003e","q":"said \"zz@example.com\"\n+34699887766\\"}`,
			`{"e":"\u003c[redacted-email]\u003e","q":"said \"[redacted-email]\"\n[redacted-phone]\\"}`},
		{"keys that are addresses",
			`{"byEmail":{"x":1},"m":{"zz@example.com":"pending"}}`,
			`{"byEmail":"[redacted]","m":{"[redacted-email]":"pending"}}`},
		{"worker identity kept",
			`{"WorkerID":"4242@ip-10-0-0-1.eu-west-1.compute.internal@certflow","w":"4242@ip-10-0-0-1.eu-west-1.compute.internal@certflow"}`,
			`{"WorkerID":"4242@ip-10-0-0-1.eu-west-1.compute.internal@certflow","w":"[redacted-email]@certflow"}`},
		{"non-personal fields unchanged",
			`{"time":"2024-05-01T10:00:00+02:00","WorkflowID":"uanataca-3f2a9c1e-7b4d","pk":46000,"elapsed":1500.5,"ok":false,"status":"issued","timeout":"1m30s","e":{}, "l":[]}`,
			`{"time":"2024-05-01T10:00:00+02:00","WorkflowID":"uanataca-3f2a9c1e-7b4d","pk":46000,"elapsed":1500.5,"ok":false,"status":"issued","timeout":"1m30s","e":{},"l":[]}`},
		{"not JSON: scrubbed as text",
			`panic: zz@example.com "email":"x" +34699887766`,
			`panic: [redacted-email] "email":"x" [redacted-phone]`},
		{"truncated JSON: scrubbed as text",
			`{"email":"zz@example.com","given_name":"Zac`,
			`{"email":"[redacted-email]","given_name":"Zac`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(redactLine(nil, []byte(tt.in))); got != tt.want {
				t.Errorf("redactLine\n in: %s\ngot: %s\nwant: %s", tt.in, got, tt.want)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRedactorWrite(t *testing.T) {
	var buf bytes.Buffer
	p := []byte("{\"email\":\"a@b.io\"}\n{\"phone\":\"1\"}\n")
	if n, err := (redactor{out: &buf}).Write(p); n != len(p) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(p))
	}
	if want := "{\"email\":\"[redacted]\"}\n{\"phone\":\"[redacted]\"}\n"; buf.String() != want {
		t.Errorf("wrote %q, want %q", buf.String(), want)
	}
	if n, err := (redactor{out: failingWriter{}}).Write(p); n != 0 || err == nil {
		t.Errorf("Write to a failing writer = %d, %v; want 0 and its error", n, err)
	}
}

// TestRedactorAllocs guards the cost of redaction: every log line pays it.
func TestRedactorAllocs(t *testing.T) {
	line := []byte(`{"level":"info","WorkflowID":"uanataca-3f2a9c1e","email":"zz@example.com",` +
		`"a_rather_long_field_name_for_the_provider_request":"x","holder_document_number":"99887766Q",` +
		`"Error":"rejected: zz@example.com +34699887766",` +
		`"o":{"given_name":"Zac","n":[1,2]},"time":"2024-05-01T10:00:00+02:00","message":"done"}` + "\n")
	r := redactor{out: io.Discard}
	if allocs := testing.AllocsPerRun(200, func() { _, _ = r.Write(line) }); allocs >= 1 {
		t.Errorf("redactor.Write allocates %.1f times a line, want 0", allocs)
	}
}

// nilErr is an error whose Error method fails on a nil pointer, as some do.
type nilErr struct{ msg string }

func (e *nilErr) Error() string { return e.msg }

func TestTemporalAdapterRedacts(t *testing.T) {
	tests := []struct {
		name string
		log  func(l Temporal)
		want map[string]any
	}{
		{"With: personal key", func(l Temporal) {
			l.With("email", "zz@example.com", "WorkflowID", "wf-1").Info("m")
		}, map[string]any{"email": redacted, "WorkflowID": "wf-1"}},
		{"keyvals: personal keys of any type", func(l Temporal) {
			l.Info("m", "Phone", 34699887766, "applicant", struct{ Name string }{"Zac"}, "Attempt", 3)
		}, map[string]any{"Phone": redacted, "applicant": redacted, "Attempt": float64(3)}},
		{"keyvals: error text scrubbed", func(l Temporal) {
			l.Error("m", "Error", fmt.Errorf("provider: %s", "zz@example.com, +34699887766"))
		}, map[string]any{"Error": "provider: [redacted-email], [redacted-phone]"}},
		{"With: error text scrubbed", func(l Temporal) {
			l.With("Error", errors.New("zz@example.com")).Warn("m")
		}, map[string]any{"Error": redactedEmail}},
		{"keyvals: string scrubbed", func(l Temporal) {
			l.Info("m", "Result", "sent to +34699887766")
		}, map[string]any{"Result": "sent to [redacted-phone]"}},
		{"worker identity kept", func(l Temporal) {
			l.Info("m", "WorkerID", "4242@host.example.com@certflow")
		}, map[string]any{"WorkerID": "4242@host.example.com@certflow"}},
		{"nil pointer error", func(l Temporal) {
			var err *nilErr
			l.Info("m", "Error", err)
		}, map[string]any{"Error": "<nil>"}},
	}
	// The adapter redacts on its own, on a logger without New's writer, and
	// the two layers compose on New's.
	loggers := map[string]func(io.Writer) zerolog.Logger{
		"bare zerolog": func(w io.Writer) zerolog.Logger { return zerolog.New(w) },
		"New": func(w io.Writer) zerolog.Logger {
			l, err := New(w, "debug", "json")
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
	}
	for lname, mk := range loggers {
		for _, tt := range tests {
			t.Run(lname+"/"+tt.name, func(t *testing.T) {
				var buf bytes.Buffer
				tt.log(NewTemporal(mk(&buf)))
				m := decode(t, buf.Bytes())
				for k, want := range tt.want {
					if m[k] != want {
						t.Errorf("field %s = %v, want %v (line %s)", k, m[k], want, buf.String())
					}
				}
				if caller, _ := m["caller"].(string); !strings.Contains(caller, "redact_test.go") {
					t.Errorf("caller = %q, want this test file", caller)
				}
			})
		}
	}
}

func TestZerologFieldsRedacted(t *testing.T) {
	tests := []struct {
		name string
		log  func(l zerolog.Logger)
		want map[string]any
	}{
		{"Str", func(l zerolog.Logger) { l.Info().Str("email", "zz@example.com").Msg("m") },
			map[string]any{"email": redacted}},
		{"Interface of a struct", func(l zerolog.Logger) {
			l.Info().Interface("req", struct {
				Pk      int               `json:"pk"`
				Contact map[string]string `json:"contact"`
				Note    string            `json:"note"`
			}{46000, map[string]string{"phone": "+34699887766"}, "ask zz@example.com"}).Msg("m")
		}, map[string]any{"req": map[string]any{"pk": float64(46000), "contact": redacted, "note": "ask [redacted-email]"}}},
		{"Dict", func(l zerolog.Logger) {
			l.Info().Dict("holder", zerolog.Dict().Str("given_name", "Zac").Int("pk", 7)).Msg("m")
		}, map[string]any{"holder": map[string]any{"given_name": redacted, "pk": float64(7)}}},
		{"Err and message", func(l zerolog.Logger) {
			l.Error().Err(errors.New("dup zz@example.com")).Msg("texted +34699887766")
		}, map[string]any{"error": "dup [redacted-email]", "message": "texted [redacted-phone]"}},
		{"context fields", func(l zerolog.Logger) {
			cl := l.With().Str("surname_2", "Marker").Logger()
			cl.Info().Msg("m")
		}, map[string]any{"surname_2": redacted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := New(&buf, "debug", "json")
			if err != nil {
				t.Fatal(err)
			}
			tt.log(l)
			m := decode(t, buf.Bytes())
			for k, want := range tt.want {
				if fmt.Sprint(m[k]) != fmt.Sprint(want) {
					t.Errorf("field %s = %v, want %v (line %s)", k, m[k], want, buf.String())
				}
			}
		})
	}
}

func TestConsoleFormatRedacted(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, "info", "console")
	if err != nil {
		t.Fatal(err)
	}
	l.Info().Str("email", "zz@example.com").Str("note", "call +34699887766").Msg("mail zz@example.com")
	out := buf.String()
	for _, want := range []string{"email=[redacted]", "note=\"call [redacted-phone]\"", "mail [redacted-email]"} {
		if !strings.Contains(out, want) {
			t.Errorf("console output %q lacks %q", out, want)
		}
	}
}

// TestNoPersonalDataLeaks logs recognisable personal data through every path,
// in both formats, and looks for any trace of it in the whole output, then
// checks that the fields operators need come out unchanged.
func TestNoPersonalDataLeaks(t *testing.T) {
	markers := []string{"zzmarker", "34699887766", "99887766Q", "Zacarías", "Marker"}
	issuedAt := time.Date(2024, 5, 1, 10, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	const workflowID = "uanataca-3f2a9c1e-7b4d-4e8a-9c1f-2b3d4e5f6a7b"
	run := func(l zerolog.Logger) {
		l.Info().Str("WorkflowID", workflowID).Int("pk", 46000).Str("status", "issued").
			Dur("elapsed", 1500*time.Millisecond).Str("timeout", "1m30s").Time("issued_at", issuedAt).
			Str("email", "zzmarker@example.com").Str("mobile_phone_number", "+34699887766").
			Str("serial_number", "99887766Q").Str("given_name", "Zacarías").Str("surname_1", "Marker").
			Msg("certificate issued")
		l.Warn().Interface("applicant", map[string]string{"name": "Zacarías Marker"}).
			Str("reason", "provider rejected zzmarker@example.com / +34699887766").Msg("retrying")
		tl := NewTemporal(l).With("WorkflowID", workflowID, "contact", "zzmarker@example.com")
		tl.Error("Activity error.", "ActivityType", "Issue", "Attempt", 3,
			"Error", errors.New(`uanataca: 409 {"email":"zzmarker@example.com","phone":"+34699887766"}`),
			"docId", "99887766Q", "FullName", "Zacarías Marker")
	}
	for _, format := range []string{FormatJSON, FormatConsole} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := New(&buf, "debug", format)
			if err != nil {
				t.Fatal(err)
			}
			run(l)
			out := buf.String()
			for _, m := range markers {
				if n := strings.Count(out, m); n != 0 {
					t.Errorf("%q appears %d times in the output:\n%s", m, n, out)
				}
			}
			if format == FormatConsole {
				for _, want := range []string{"WorkflowID=" + workflowID, "pk=46000", "status=issued", "elapsed=1500", "timeout=1m30s", "Attempt=3"} {
					if !strings.Contains(out, want) {
						t.Errorf("console output lacks %q:\n%s", want, out)
					}
				}
				return
			}
			lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
			if len(lines) != 3 {
				t.Fatalf("got %d lines, want 3:\n%s", len(lines), out)
			}
			first := decode(t, lines[0])
			checks := map[string]any{
				"WorkflowID": workflowID, "pk": float64(46000), "status": "issued", "elapsed": float64(1500),
				"timeout": "1m30s", "issued_at": "2024-05-01T10:00:00+02:00", "message": "certificate issued",
			}
			for k, want := range checks {
				if first[k] != want {
					t.Errorf("field %s = %v, want %v", k, first[k], want)
				}
			}
			if ts, _ := first["time"].(string); !strings.Contains(string(lines[0]), `"time":"`+ts+`"`) || ts == "" {
				t.Errorf("time = %q, want zerolog's timestamp", ts)
			} else if _, err := time.Parse(time.RFC3339, ts); err != nil {
				t.Errorf("time %q no longer parses: %v", ts, err)
			}
			last := decode(t, lines[2])
			if last["WorkflowID"] != workflowID || last["ActivityType"] != "Issue" || last["Attempt"] != float64(3) {
				t.Errorf("SDK fields changed: %s", lines[2])
			}
			if caller, _ := last["caller"].(string); !strings.Contains(caller, "redact_test.go") {
				t.Errorf("caller = %q, want this test file", caller)
			}
		})
	}
}
