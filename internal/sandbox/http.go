package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// ErrorWriter answers status with msg in a provider's own error body
// format. Each emulator keeps its own, so that a client's error decoding is
// tested against the shape that provider really sends; the helpers here
// take it to answer the errors they detect.
type ErrorWriter func(w http.ResponseWriter, status int, msg string)

// WriteJSON answers status with v encoded as JSON. Emulators answer with
// their own views and maps, which always encode; should one not (a bug in
// the emulator), the answer is a 500 with fallback, a body in the
// provider's error format, so that the client fails on a server error
// rather than on a body it cannot decode.
func WriteJSON(w http.ResponseWriter, status int, v any, fallback []byte) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, fallback
	}
	WriteBody(w, status, body)
}

// WriteBody answers status with body, JSON already encoded: an answer an
// emulator keeps, so that a replay of it is the same to the byte.
func WriteBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// MethodNotAllowed answers 405 with the Allow header that RFC 9110 requires
// on it, so that a client calling a path with the wrong method learns
// which methods it takes.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request, writeError ErrorWriter, allowed ...string) {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %s not allowed.", r.Method))
}

// ReadBody reads r's body whole, up to limit bytes, for a handler that
// needs the raw bytes (to check a signature over them, or to parse them
// itself). On failure it has answered with writeError — 413 naming the
// limit when the body is larger, 400 when it could not be read — and
// returns false.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64, writeError ErrorWriter) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Body larger than %d KiB.", limit>>10))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "Could not read the body.")
		return nil, false
	}
	return body, true
}

// MediaType returns the media type r's Content-Type declares, without its
// parameters ("" when it is missing or malformed), so that
// "application/json; charset=utf-8" is accepted as JSON, as real APIs
// accept it. A malformed parameter is ignored, as lenient servers do.
func MediaType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt
}
