package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/api/serviceerror"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/humanos"
)

// The fuzz targets below check the webhook ingress's robustness
// properties: the parsers and the handler never panic, never quote a body
// (webhook bodies carry personal data) in an error, and the handler always
// answers with one of its documented statuses and a JSON body.
//
// Seeds embed fuzzMarker where personal data sits in real webhooks (the
// subject's contact, names): an error or response that contains it has
// quoted the body.
const fuzzMarker = "PERSONALDATA"

// quotesBody reports how msg quotes body, or "" when it does not: it
// contains fuzzMarker (when body does), or the whole body (when body is
// longer than 20 bytes), or — unless msg is one of the fixed messages in
// vocabulary — any 12-byte piece of the body.
func quotesBody(msg string, body []byte, vocabulary []string) string {
	if bytes.Contains(body, []byte(fuzzMarker)) && strings.Contains(msg, fuzzMarker) {
		return "the personal-data marker"
	}
	if len(body) > 20 && strings.Contains(msg, string(body)) {
		return "the whole body"
	}
	if slices.Contains(vocabulary, msg) || len(body) > 4<<10 {
		return ""
	}
	for i := 0; i+12 <= len(body); i++ {
		if piece := body[i : i+12]; strings.Contains(msg, string(piece)) {
			return "the body piece " + string(piece)
		}
	}
	return ""
}

// vocabularyOf collects the error messages parse gives for probes: bodies
// that hit each of its rejections without quoting anything.
func vocabularyOf(parse func([]byte) error, probes ...string) []string {
	var vocabulary []string
	for _, p := range probes {
		if err := parse([]byte(p)); err != nil && !slices.Contains(vocabulary, err.Error()) {
			vocabulary = append(vocabulary, err.Error())
		}
	}
	return vocabulary
}

// uanatacaSeeds are Uanataca webhook bodies: both real formats and their
// malformed variants.
var uanatacaSeeds = []string{
	// Legacy format (provider notes, section 1).
	`{"status":"VIDEOINCOMPLETE","date":"2021-07-20T08:08:21.132394","previous_status":"VIDEOPENDING","request":46760,"registration_authority":455}`,
	`{"status":"ENROLLREADY","date":"2021-07-20T08:08:21.132394","previous_status":"CREATED","request":"46760","registration_authority":"455"}`,
	`{"status":"ISSUED","date":null,"previous_status":null,"request":46760,"registration_authority":null}`,
	`{"status":"ISSUED","request":46760}`,
	`{"status":"ISSUED","request":" 46760 "}`,
	`{"status":"ISSUED","request":0}`,
	`{"status":"ISSUED","request":-5}`,
	`{"status":"ISSUED","request":46760.0}`,
	`{"status":"ISSUED","request":4.676e4}`,
	`{"status":"ISSUED","request":9223372036854775807}`,
	`{"status":"ISSUED","request":9223372036854775808}`,
	`{"status":"ISSUED","request":99999999999999999999999999999999999999}`,
	`{"status":"ISSUED","request":1e400}`,
	`{"status":"ISSUED","request":"abc"}`,
	`{"status":"ISSUED","request":true}`,
	`{"status":"ISSUED","request":[46760]}`,
	`{"status":"ISSUED","request":null}`,
	`{"status":"ISSUED"}`,
	`{"request":46760}`,
	`{"status":"","event_type":"","request":46760}`,
	`{"status":5,"request":46760}`,
	`{"status":"ISSUED","request":46760,"registration_authority":{"nested":[1,2,{"x":null}]}}`,
	`{"status":"ISSUED","request":46760,"previous_status":[]}`,
	`{"status":"ISSUED","request":46760} trailing garbage PERSONALDATA`,
	`{"status":"ISSUED","request":46760,"status":"CANCELLED","request":7}`,
	`{"STATUS":"ISSUED","Request":46760}`,
	`{"status":"PERSONALDATA ana@example.com","request":"PERSONALDATA 12345678Z"}`,
	// Event format.
	`{"event_type":"REQUEST_ENROLLED","sent_at":"20240207101500","request":{"pk":46760,"status":"ISSUED","profile":"PFnubeAFCiudadano","registration_authority":455,"scratchcard":"1256948"},"certificates":[{"status":"VALID","serial_number":"PERSONALDATA","valid_from":"x","valid_to":"y"}]}`,
	`{"event_type":"REQUEST_CREATED","sent_at":"20240207101500","request":{"pk":"46760","status":"CREATED","registration_authority":"455"},"certificates":[]}`,
	`{"event_type":"CERTIFICATE_REVOKED","request":{"pk":46760},"certificates":null}`,
	`{"event_type":"REQUEST_CANCELED","request":{"pk":0,"status":"CANCELLED"}}`,
	`{"event_type":"REQUEST_CANCELED","request":{"pk":-1}}`,
	`{"event_type":"VIDEOID_FAILED","request":{"pk":1e3}}`,
	`{"event_type":"VIDEOID_FAILED","request":{"pk":99999999999999999999999}}`,
	`{"event_type":"VIDEOID_FAILED","request":{}}`,
	`{"event_type":"VIDEOID_FAILED","request":{"pk":46760,"given_name":"PERSONALDATA","status":{"deep":{"deeper":[[[[]]]]}}}}`,
	`{"status":"ISSUED","request":{"pk":46760}}`,
	`{"event_type":null,"sent_at":null,"request":{"pk":46760,"status":null}}`,
	`{"event_type":"REQUEST_ENROLLED","request":{"pk":46760,"status":"ISSUED"`,
	// Not JSON objects.
	``, ` `, `null`, `true`, `0`, `"PERSONALDATA"`, `[]`, `[{"status":"ISSUED","request":46760}]`,
	`status=ISSUED&request=46760&email=PERSONALDATA%40example.com`,
	"\xff\xfe\x00{",
	`{"status":"ISSUED","request":46760,"x":"\ud800"}`,
	`{"a":` + strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200) + `}`,
}

func FuzzParseUanataca(f *testing.F) {
	for _, s := range uanatacaSeeds {
		f.Add([]byte(s))
	}
	parse := func(b []byte) error { _, err := ParseUanataca(b); return err }
	vocabulary := vocabularyOf(parse, `x`, `{}`, `{"request":"x"}`, `{"request":1.5}`, `{"request":{"pk":"x"}}`,
		`{"request":0}`, `{"request":1}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		hook, err := ParseUanataca(body)
		if err != nil {
			if how := quotesBody(err.Error(), body, vocabulary); how != "" {
				t.Fatalf("error %q quotes %s", err, how)
			}
			return
		}
		if hook.PK <= 0 {
			t.Fatalf("accepted a webhook with pk %d", hook.PK)
		}
		if hook.Status == "" && hook.EventType == "" {
			t.Fatalf("accepted a webhook with neither status nor event type: %+v", hook)
		}
		// What was accepted, re-sent in the legacy format, reads the same.
		again, err := json.Marshal(map[string]any{
			"status": hook.Status, "previous_status": hook.PreviousStatus, "date": hook.Date,
			"event_type": hook.EventType, "registration_authority": hook.RegistrationAuthority, "request": hook.PK,
		})
		if err != nil {
			t.Fatal(err)
		}
		if hook2, err := ParseUanataca(again); err != nil || hook2 != hook {
			t.Fatalf("re-encoded as %s it reads %+v, %v; want %+v", again, hook2, err, hook)
		}
	})
}

// humanosSeeds are plain (decrypted) Humanos webhook bodies.
var humanosSeeds = []string{
	// credential, newer decision shape.
	`{"eventType":"credential","requestId":"507f1f77bcf86cd799439011","internalId":"wf-h","issuerDid":"did:x","user":{"contact":"PERSONALDATA@example.com","did":"did:y","internalId":"u1"},"credentialId":"c1","decision":{"action":"accept","date":"2026-11-22T10:00:00Z"},"api_version":"2025-01-01"}`,
	`{"eventType":"credential","requestId":"507f1f77bcf86cd799439011","user":{"contact":"+34600000000","id":"did:y"},"credentialId":"c1","decision":{"action":"reject","date":"2026-11-22T10:00:00Z"}}`,
	// credential, older top-level action and decisionDate.
	`{"eventType":"credential","requestId":"507f1f77bcf86cd799439011","internalId":"wf-h","user":{"contact":"PERSONALDATA@example.com"},"credentialId":"c1","action":"reject","decisionDate":"d0"}`,
	// identity (KYC).
	`{"eventType":"identity","internalId":"wf-h","user":{"contact":"PERSONALDATA@example.com"},"decision":{"success":true,"isFraud":false,"date":"2026-11-22T10:00:00Z","riskScore":0.12,"message":"ok","outcome":"APPROVED"}}`,
	`{"eventType":"identity","requestId":"507f1f77bcf86cd799439011","decision":{"success":false,"isFraud":true,"riskScore":97,"message":"PERSONALDATA document mismatch"}}`,
	`{"eventType":"identity","requestId":"r","decision":{"success":"true"}}`,
	`{"eventType":"identity","requestId":"r","decision":{"success":null,"date":1795000000000}}`,
	// otp.failed.
	`{"eventType":"otp.failed","requestId":"507f1f77bcf86cd799439011","user":{"contact":"PERSONALDATA@example.com"}}`,
	`{"eventType":"otp.failed","requestId":"507f1f77bcf86cd799439011","date":"2026-11-22T10:00:00Z"}`,
	// Missing, null and mistyped fields.
	`{"eventType":"credential"}`,
	`{"requestId":"r","internalId":"wf-h"}`,
	`{"eventType":"","requestId":"r"}`,
	`{"eventType":"credential","requestId":"","internalId":""}`,
	`{"eventType":null,"requestId":null,"internalId":null,"user":null,"decision":null}`,
	`{"eventType":5,"requestId":"r"}`,
	`{"eventType":"credential","requestId":["r"]}`,
	`{"eventType":"credential","requestId":"r","user":"PERSONALDATA@example.com"}`,
	`{"eventType":"credential","requestId":"r","decision":"accept"}`,
	`{"eventType":"credential","requestId":"r","decision":{"action":{"deep":[[[{}]]]}}}`,
	`{"eventType":"credential","requestId":"r","requestId":"s","EVENTTYPE":"identity"}`,
	`{"eventType":"credential","requestId":"r"} trailing PERSONALDATA`,
	`{"eventType":"credential","requestId":"r","user":{"contact":"PERSONALDATA`,
	// An encrypted envelope reaching the parser undecrypted.
	`{"iv":"AAAAAAAAAAAAAAAA","data":"UEVSU09OQUxEQVRB","tag":"AAAAAAAAAAAAAAAAAAAAAA=="}`,
	// Not JSON objects.
	``, `null`, `[]`, `"PERSONALDATA"`, `12`, "\xff\xfe", `eventType=credential&contact=PERSONALDATA`,
	`{"a":` + strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 101),
}

func FuzzParseHumanos(f *testing.F) {
	for _, s := range humanosSeeds {
		f.Add([]byte(s))
	}
	parse := func(b []byte) error { _, _, err := ParseHumanos(b); return err }
	vocabulary := vocabularyOf(parse, `x`, `{}`, `{"eventType":"x"}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, hint, err := ParseHumanos(body)
		if err != nil {
			if how := quotesBody(err.Error(), body, vocabulary); how != "" {
				t.Fatalf("error %q quotes %s", err, how)
			}
			if hint != (contract.HumanosWebhook{}) {
				t.Fatalf("rejected, but returned the hint %+v", hint)
			}
			return
		}
		if hint.EventType == "" || hint.EventType != ev.EventType {
			t.Fatalf("accepted with event type %q (event %q)", hint.EventType, ev.EventType)
		}
		if ev.InternalID == "" && ev.RequestID == "" {
			t.Fatalf("accepted a webhook that names no request: %+v", ev)
		}
		if hint.RequestID != ev.RequestID || hint.Contact != ev.User.Contact || hint.CredentialID != ev.CredentialID {
			t.Fatalf("hint %+v does not carry the event %+v", hint, ev)
		}
		// The newer decision shape wins over the older top-level fields.
		if ev.Decision.Action != "" && hint.Action != ev.Decision.Action {
			t.Fatalf("action %q, want decision.action %q", hint.Action, ev.Decision.Action)
		}
		if ev.Decision.Date != "" && hint.Date != string(ev.Decision.Date) {
			t.Fatalf("date %q, want decision.date %q", hint.Date, ev.Decision.Date)
		}
		// What was accepted, re-sent in the newer shape, reads the same.
		again, err := json.Marshal(map[string]any{
			"eventType": hint.EventType, "requestId": hint.RequestID, "internalId": ev.InternalID,
			"user": map[string]any{"contact": hint.Contact}, "credentialId": hint.CredentialID,
			"decision": map[string]any{"action": hint.Action, "success": hint.Success, "date": hint.Date},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, hint2, err := ParseHumanos(again)
		if err != nil || !sameHumanosHint(hint, hint2) {
			t.Fatalf("re-encoded as %s it reads %+v, %v; want %+v", again, hint2, err, hint)
		}
	})
}

func sameHumanosHint(a, b contract.HumanosWebhook) bool {
	if (a.Success == nil) != (b.Success == nil) || a.Success != nil && *a.Success != *b.Success {
		return false
	}
	a.Success, b.Success = nil, nil
	return a == b
}

// Fuzzed ingress requests go to one of these routes. routed is yes when
// the ingress serves the route, no when the mux answers 404 or 405 itself,
// and maybe for routes that depend on optional settings (the Uanataca URL
// token path).
const (
	routedNo = iota
	routedYes
	routedMaybe
)

var fuzzRoutes = []struct {
	method, target string
	routed         int
}{
	{http.MethodPost, "/webhooks/uanataca", routedYes},
	{http.MethodPost, "/webhooks/humanos", routedYes},
	{http.MethodPost, "/webhooks/humanos?x=1", routedYes},
	{http.MethodGet, "/webhooks/uanataca", routedNo},
	{http.MethodPut, "/webhooks/humanos", routedNo},
	{http.MethodPost, "/webhooks/uanataca/", routedMaybe},
	{http.MethodPost, "/webhooks/universign", routedNo},
	{http.MethodPost, "/webhooks/uanataca/t0ken", routedMaybe},
	{http.MethodPost, "/webhooks/uanataca?token=t0ken", routedYes},
	{http.MethodDelete, "/webhooks/uanataca/t0ken", routedNo},
}

const (
	fuzzSign           = 1 << iota // sign the body validly (Humanos)
	fuzzWithKey                    // configure the Humanos decryption key
	fuzzNoSecret                   // leave the Humanos secret unset
	fuzzListFails                  // Temporal visibility is unreachable
	fuzzSignalFails                // Temporal refuses signals...
	fuzzSignalNotFound             // ... as workflow not found
	fuzzOversize                   // pad the body beyond maxBody
)

const fuzzSecret = "whsec-fuzz"

var fuzzNow = time.UnixMilli(1_795_000_000_000)

func FuzzIngress(f *testing.F) {
	key, err := humanos.KeyDerivation{Secret: "enc-fuzz", Salt: "salt", Iterations: 1000, Digest: "sha256"}.Key()
	if err != nil {
		f.Fatal(err)
	}
	const appJSON = "application/json"
	ts := humanos.Timestamp(fuzzNow)
	for _, s := range uanatacaSeeds {
		f.Add(byte(0), byte(0), appJSON, "", "", []byte(s))
	}
	for _, s := range humanosSeeds {
		f.Add(byte(1), byte(fuzzSign), appJSON, "", "", []byte(s))
		f.Add(byte(1), byte(0), appJSON, ts, humanos.Sign(fuzzSecret, ts, []byte(s)), []byte(s))
	}
	credential := []byte(humanosSeeds[0])
	env, err := humanos.Seal(key, credential)
	if err != nil {
		f.Fatal(err)
	}
	encrypted, err := json.Marshal(env)
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range []struct {
		route, mode          byte
		contentType, ts, sig string
		body                 []byte
	}{
		{1, fuzzSign | fuzzWithKey, appJSON, "", "", encrypted},
		{1, fuzzSign, appJSON, "", "", encrypted},
		{2, fuzzSign | fuzzWithKey, "application/json; charset=utf-8", "", "", encrypted},
		{1, fuzzSign, appJSON, "", "", credential},
		{1, 0, appJSON, ts, "forged", credential},
		{1, 0, appJSON, humanos.Timestamp(fuzzNow.Add(-time.Hour)), humanos.Sign(fuzzSecret, humanos.Timestamp(fuzzNow.Add(-time.Hour)), credential), credential},
		{1, 0, appJSON, "PERSONALDATA", "", credential},
		{1, 0, appJSON, "", "", credential},
		{1, fuzzSign | fuzzNoSecret, appJSON, "", "", credential},
		{1, fuzzSign | fuzzListFails, appJSON, "", "", []byte(humanosSeeds[7])},
		{1, fuzzSign | fuzzSignalFails, appJSON, "", "", credential},
		{1, fuzzSign | fuzzSignalFails | fuzzSignalNotFound, appJSON, "", "", credential},
		{1, fuzzSign | fuzzOversize, appJSON, "", "", credential},
		{1, fuzzSign, "text/plain", "", "", credential},
		{1, fuzzSign, "", "", "", credential},
		{0, 0, "", "", "", []byte(uanatacaSeeds[0])},
		{0, 0, "application/x-www-form-urlencoded", "", "", []byte(uanatacaSeeds[0])},
		{0, 0, "application/JSON ; charset=UTF-8", "", "", []byte(uanatacaSeeds[0])},
		{0, 0, "application/json; charset=", "", "", []byte(uanatacaSeeds[0])},
		{0, fuzzListFails, appJSON, "", "", []byte(uanatacaSeeds[0])},
		{0, fuzzSignalFails, appJSON, "", "", []byte(uanatacaSeeds[0])},
		{0, fuzzSignalFails | fuzzSignalNotFound, appJSON, "", "", []byte(uanatacaSeeds[0])},
		{0, fuzzOversize, appJSON, "", "", []byte(uanatacaSeeds[0])},
		{0, 0, appJSON, "", "", []byte(`{"status":"ISSUED","request":1}`)},
		{3, 0, "", "", "", nil},
		{4, fuzzSign, appJSON, "", "", credential},
		{5, 0, appJSON, "", "", []byte(uanatacaSeeds[0])},
		{6, 0, appJSON, "", "", []byte(uanatacaSeeds[0])},
		{7, 0, appJSON, "", "", []byte(uanatacaSeeds[0])},
		{8, 0, appJSON, "", "", []byte(uanatacaSeeds[0])},
		{9, 0, appJSON, "", "", []byte(uanatacaSeeds[0])},
	} {
		f.Add(c.route, c.mode, c.contentType, c.ts, c.sig, c.body)
	}

	f.Fuzz(func(t *testing.T, route, mode byte, contentType, timestamp, signature string, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		humanosRoute := strings.HasPrefix(rt.target, "/webhooks/humanos")
		fake := &fakeTemporal{
			running: map[string]string{"46760": "wf-1", "507f1f77bcf86cd799439011": "wf-r", "ref-h": "wf-h"},
		}
		if humanosRoute {
			fake.provider = "humanos"
		}
		if mode&fuzzListFails != 0 {
			fake.listErr = errors.New("connection refused")
		}
		if mode&fuzzSignalFails != 0 {
			fake.signalErr = errors.New("unavailable")
			if mode&fuzzSignalNotFound != 0 {
				fake.signalErr = serviceerror.NewNotFound("gone")
			}
		}
		// Zero values for every other setting (Content-Type policy, URL
		// token, allow-lists), so the properties hold whatever they default to.
		in := &Ingress{Temporal: fake, Log: zerolog.Nop(), LookupAttempts: 1,
			Humanos: HumanosSettings{Secret: fuzzSecret}, Now: func() time.Time { return fuzzNow }}
		if mode&fuzzNoSecret != 0 {
			in.Humanos.Secret = ""
		}
		if mode&fuzzWithKey != 0 {
			in.Humanos.Key = key
		}
		if mode&fuzzOversize != 0 {
			body = append(slices.Clip(body), bytes.Repeat([]byte(" "), maxBody+1-min(len(body), maxBody))...)
		}
		validlySigned := mode&fuzzSign != 0
		if validlySigned {
			timestamp = humanos.Timestamp(fuzzNow)
			signature = humanos.Sign(fuzzSecret, timestamp, body)
		}

		mux := http.NewServeMux()
		in.Register(mux)
		req := httptest.NewRequest(rt.method, rt.target, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("x-timestamp", timestamp)
		req.Header.Set("x-signature", signature)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)

		switch rec.Code {
		case 200, 400, 401, 404, 405, 410, 413, 415, 503:
		default:
			t.Fatalf("%s %s answered %d: %s", rt.method, rt.target, rec.Code, rec.Body)
		}
		routed := rt.routed == routedYes ||
			rt.routed == routedMaybe && rec.Header().Get("Content-Type") == "application/json"
		if !routed {
			if rec.Code != 404 && rec.Code != 405 {
				t.Fatalf("%s %s (no such route) answered %d", rt.method, rt.target, rec.Code)
			}
			if len(fake.signals) != 0 || fake.lists != 0 {
				t.Fatalf("%s %s (no such route) reached Temporal", rt.method, rt.target)
			}
			return
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("answered %d with Content-Type %q: %s", rec.Code, ct, rec.Body)
		}
		var answer map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("answered %d with a body that is not a JSON object of strings (%v): %s", rec.Code, err, rec.Body)
		}
		// 2xx exactly when Temporal accepted one signal: a sender that
		// retries on errors never loses an event, and a rejection never
		// reaches the workflow.
		if rec.Code == 200 {
			if answer["status"] != "accepted" || answer["workflow_id"] == "" || len(answer) != 2 {
				t.Fatalf("200 with body %s", rec.Body)
			}
			if len(fake.signals) != 1 || fake.signalled[0] != answer["workflow_id"] {
				t.Fatalf("200 for %s after signals %+v to %v", answer["workflow_id"], fake.signals, fake.signalled)
			}
		} else {
			if answer["error"] == "" || len(answer) != 1 {
				t.Fatalf("%d with body %s", rec.Code, rec.Body)
			}
			if len(fake.signals) != 0 {
				t.Fatalf("%d, yet signalled %+v", rec.Code, fake.signals)
			}
		}
		if humanosRoute && validlySigned && rec.Code == http.StatusUnauthorized {
			t.Fatalf("validly signed Humanos webhook answered 401: %s", rec.Body)
		}
		// The answer quotes no body. The Humanos identifiers are echoed in
		// "no workflow" answers; the headers (x-timestamp) may be echoed.
		msg := answer["error"]
		if strings.Contains(strings.Join([]string{contentType, timestamp, signature}, "\n"), fuzzMarker) {
			return
		}
		if humanosRoute {
			if ev, _, err := ParseHumanos(body); err == nil && strings.Contains(ev.InternalID+"\n"+ev.RequestID, fuzzMarker) {
				return
			}
		}
		if bytes.Contains(body, []byte(fuzzMarker)) && strings.Contains(msg, fuzzMarker) {
			t.Fatalf("%d answer %q quotes the body's personal-data marker", rec.Code, msg)
		}
	})
}
