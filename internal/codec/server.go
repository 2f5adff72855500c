package codec

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"go.temporal.io/sdk/converter"
)

// maxCodecBody bounds a codec server request: the UI sends a page of
// events' payloads to decode, small; a stored payload's reference is a
// few hundred bytes.
const maxCodecBody = 16 << 20

// Handler serves the codec server protocol the Temporal Web UI speaks
// (POST <prefix>/encode and <prefix>/decode with {"payloads": [...]}), so
// the UI shows clear data to whoever may see it. Browsers may call it only
// from origin (the UI's, e.g. http://localhost:8233); when token is set,
// every call must present "Authorization: Bearer <token>" (configure it in
// the UI's codec settings), compared in constant time.
//
// It is the SDK's handler for external storage (converter.
// NewPayloadHTTPHandler) with c before storage, as the clients run them:
// /decode returns a stored payload's reference as it is (whatever the
// caller asks: the UI shows the reference, and never downloads a
// document scan to render a history page); with a store, /download
// fetches and decrypts referenced payloads on demand, and /encode stores
// what reaches the threshold.
func Handler(c *Codec, storage converter.ExternalStorage, origin, token string) (http.Handler, error) {
	inner, err := converter.NewPayloadHTTPHandler(converter.PayloadHTTPHandlerOptions{
		PreStorageCodecs: []converter.PayloadCodec{c},
		ExternalStorage:  storage,
	})
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from := r.Header.Get("Origin")
		if from != "" && from != origin {
			http.Error(w, "origin not allowed to use the codec server", http.StatusForbidden)
			return
		}
		if from != "" {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			http.Error(w, "codec server: present Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/decode") {
			r = r.Clone(r.Context())
			q := r.URL.Query()
			q.Set("preserveStorageRefs", "true")
			r.URL.RawQuery = q.Encode()
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxCodecBody)
		}
		inner.ServeHTTP(w, r)
	}), nil
}
