package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/provider/uanataca"
)

// HumanosSettings verify and decrypt Humanos webhooks.
type HumanosSettings struct {
	// Secret is the webhook signature secret (x-signature's HMAC key).
	Secret string
	// Window is how far x-timestamp may be from now (default 5 minutes),
	// so a captured webhook cannot be replayed later.
	Window time.Duration
	// Key decrypts {"iv","data","tag"} bodies; nil when Humanos sends
	// them in clear.
	Key []byte
}

// humanosEvent is a Humanos webhook, in the older and newer shapes.
type humanosEvent struct {
	EventType  string `json:"eventType"`
	RequestID  string `json:"requestId"`
	InternalID string `json:"internalId"`
	User       struct {
		Contact string `json:"contact"`
	} `json:"user"`
	CredentialID string `json:"credentialId"`
	Decision     struct {
		Action  string `json:"action"`
		Success *bool  `json:"success"`
		// Date may come as text or as Unix milliseconds.
		Date uanataca.FlexString `json:"date"`
	} `json:"decision"`
	// Older versions put the decision at the top level.
	Action       string `json:"action"`
	DecisionDate string `json:"decisionDate"`
	Date         string `json:"date"`
}

// ParseHumanos reads a decrypted Humanos webhook. Its errors never quote
// the body.
func ParseHumanos(body []byte) (humanosEvent, contract.HumanosWebhook, error) {
	var ev humanosEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, contract.HumanosWebhook{}, errors.New("body is not a JSON Humanos webhook")
	}
	if ev.EventType == "" {
		return ev, contract.HumanosWebhook{}, errors.New(`missing "eventType" (credential, identity or otp.failed)`)
	}
	if ev.InternalID == "" && ev.RequestID == "" {
		return ev, contract.HumanosWebhook{}, errors.New(`neither "internalId" nor "requestId" names the request`)
	}
	hint := contract.HumanosWebhook{
		EventType: ev.EventType, RequestID: ev.RequestID, Contact: ev.User.Contact, CredentialID: ev.CredentialID,
		Action: firstOf(ev.Decision.Action, ev.Action), Success: ev.Decision.Success,
		Date: firstOf(string(ev.Decision.Date), ev.DecisionDate, ev.Date),
	}
	return ev, hint, nil
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// humanos handles POST /webhooks/humanos: the signature and timestamp are
// checked over the raw body before anything else is done with it.
func (in *Ingress) humanos(w http.ResponseWriter, r *http.Request) {
	const provider = contract.ProviderHumanos
	if in.Humanos.Secret == "" {
		in.respond(w, provider, "", fail(http.StatusServiceUnavailable, "Humanos webhooks are not configured here: set HUMANOS_WEBHOOK_SECRET"))
		return
	}
	body, err := readBody(r)
	if err != nil {
		in.respond(w, provider, "", err)
		return
	}
	window := in.Humanos.Window
	if window == 0 {
		window = 5 * time.Minute
	}
	if err := humanos.Verify(in.Humanos.Secret, r.Header.Get("x-timestamp"), r.Header.Get("x-signature"), body, in.now(), window); err != nil {
		in.respond(w, provider, "", fail(http.StatusUnauthorized, "webhook rejected: %v", err))
		return
	}
	if env, encrypted := humanos.ParseEnvelope(body); encrypted {
		if in.Humanos.Key == nil {
			in.respond(w, provider, "", fail(http.StatusBadRequest, "encrypted webhook, but no HUMANOS_WEBHOOK_ENCRYPTION_SECRET is configured"))
			return
		}
		if body, err = humanos.Open(in.Humanos.Key, env); err != nil {
			in.respond(w, provider, "", fail(http.StatusBadRequest, "%v", err))
			return
		}
	}
	ev, hint, err := ParseHumanos(body)
	if err != nil {
		in.respond(w, provider, "", fail(http.StatusBadRequest, "malformed Humanos webhook: %v", err))
		return
	}
	// internalId is the workflow ID certflow sent; requestId is the
	// fallback when it is absent or names no running workflow.
	var id string
	if ev.InternalID != "" {
		id = ev.InternalID
		err = in.signal(r.Context(), id, hint)
	}
	if (ev.InternalID == "" || isGone(err)) && ev.RequestID != "" {
		id, _, err = in.deliver(r.Context(), provider, ev.RequestID, "", hint)
	}
	if err == nil {
		in.Log.Info().Str("provider", provider).Str("event", ev.EventType).Str("request_id", ev.RequestID).
			Str("workflow_id", id).Msg("webhook delivered")
	}
	in.respond(w, provider, id, err)
}

// isGone reports whether err says the workflow has ended.
func isGone(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.status == http.StatusGone
}
