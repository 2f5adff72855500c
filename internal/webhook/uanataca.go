package webhook

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/provider/uanataca"
)

// Uanataca webhooks come in two formats (provider notes, section 1):
//
//	legacy: {"status","date","previous_status","request": <pk>,"registration_authority": <ra>}
//	newer:  {"event_type","sent_at","request": {"pk","status",...},"certificates": [...]}
//
// They carry only the request pk, so the ingress finds the workflow by the
// CertflowProviderRef search attribute the workflow records.

type uanatacaLegacy struct {
	Status                string              `json:"status"`
	Date                  string              `json:"date"`
	PreviousStatus        uanataca.FlexString `json:"previous_status"`
	Request               json.RawMessage     `json:"request"`
	RegistrationAuthority uanataca.FlexString `json:"registration_authority"`
	EventType             string              `json:"event_type"`
	SentAt                string              `json:"sent_at"`
}

type uanatacaEventRequest struct {
	PK                    uanataca.FlexString `json:"pk"`
	Status                string              `json:"status"`
	RegistrationAuthority uanataca.FlexString `json:"registration_authority"`
}

// ParseUanataca reads a Uanataca webhook in either format. Its errors say
// what was wrong without quoting the body.
func ParseUanataca(body []byte) (contract.UanatacaWebhook, error) {
	var raw uanatacaLegacy
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil || dec.More() {
		return contract.UanatacaWebhook{}, errors.New("body is not one JSON object in either Uanataca webhook format")
	}
	hook := contract.UanatacaWebhook{
		Status: raw.Status, PreviousStatus: string(raw.PreviousStatus), Date: raw.Date,
		EventType: raw.EventType, RegistrationAuthority: string(raw.RegistrationAuthority),
	}
	req := bytes.TrimSpace(raw.Request)
	switch {
	case len(req) == 0 || string(req) == "null":
		return hook, errors.New(`missing "request": want the request pk (legacy format) or the request object (event format)`)
	case req[0] == '{':
		var er uanatacaEventRequest
		if err := json.Unmarshal(req, &er); err != nil {
			return hook, errors.New(`"request" object is malformed: want {"pk": <number>, "status": ...}`)
		}
		pk, err := strconv.ParseInt(string(er.PK), 10, 64)
		if err != nil {
			return hook, errors.New(`"request.pk" must be a whole-number pk`)
		}
		hook.PK, hook.Status = pk, er.Status
		hook.RegistrationAuthority = string(er.RegistrationAuthority)
		if hook.Date == "" {
			hook.Date = raw.SentAt
		}
	default:
		var pk uanataca.FlexString
		if err := json.Unmarshal(req, &pk); err != nil {
			return hook, errors.New(`"request" must be the request pk`)
		}
		n, err := strconv.ParseInt(string(pk), 10, 64)
		if err != nil {
			return hook, errors.New(`"request" must be a whole-number pk`)
		}
		hook.PK = n
	}
	if hook.PK <= 0 {
		return hook, errors.New(`"request" pk must be a positive number`)
	}
	if hook.Status == "" && hook.EventType == "" {
		return hook, errors.New(`neither "status" nor "event_type" is present`)
	}
	return hook, nil
}

// UanatacaSettings authenticate Uanataca webhooks, which Uanataca does not
// sign. Either, both or neither may be set; the workflow re-reads the RA
// before acting on any webhook all the same.
type UanatacaSettings struct {
	// Token, when set, must be the last path segment of the webhook URL
	// (/webhooks/uanataca/<token>) or its token query parameter: give
	// Uanataca the URL with it.
	Token string
	// Allow, when set, lists the networks webhooks may come from.
	Allow []netip.Prefix
}

// authenticate checks the source network and the URL token, in constant
// time, before anything is read.
func (s UanatacaSettings) authenticate(r *http.Request) error {
	if len(s.Allow) > 0 {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !slices.ContainsFunc(s.Allow, func(p netip.Prefix) bool { return p.Contains(ap.Addr().Unmap()) }) {
			return fail(http.StatusForbidden, "source address not allowed to send Uanataca webhooks")
		}
	}
	if s.Token != "" {
		got := r.PathValue("token")
		if got == "" {
			got = r.URL.Query().Get("token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) != 1 {
			return fail(http.StatusUnauthorized, "missing or wrong webhook token in the URL")
		}
	}
	return nil
}

// uanataca handles POST /webhooks/uanataca[/{token}].
func (in *Ingress) uanataca(w http.ResponseWriter, r *http.Request) {
	const provider = contract.ProviderUanataca
	if err := in.Uanataca.authenticate(r); err != nil {
		in.respond(w, provider, "", err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		in.respond(w, provider, "", err)
		return
	}
	hook, err := ParseUanataca(body)
	if err != nil {
		in.respond(w, provider, "", fail(http.StatusBadRequest, "malformed Uanataca webhook: %v", err))
		return
	}
	ref := strconv.FormatInt(hook.PK, 10)
	id, repeated, err := in.deliver(r.Context(), provider, ref, hook.Status, hook)
	word := accepted
	switch {
	case repeated:
		word = duplicate
		in.Log.Debug().Str("provider", provider).Str("pk", ref).Str("status", hook.Status).
			Str("workflow_id", id).Msg("webhook repeats a status the workflow has confirmed; not signalled")
	case err == nil:
		in.Log.Info().Str("provider", provider).Str("pk", ref).Str("status", hook.Status).
			Str("workflow_id", id).Msg("webhook delivered")
	}
	in.answer(w, provider, id, word, wrapRef(err, ref))
}

// wrapRef adds the provider reference to an ingress error's message.
func wrapRef(err error, ref string) error {
	var he *httpError
	if errors.As(err, &he) {
		return &httpError{status: he.status, msg: fmt.Sprintf("request %s: %s", ref, he.msg)}
	}
	return err
}
