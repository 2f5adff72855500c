package codec

import (
	"crypto/subtle"
	"net/http"

	"go.temporal.io/sdk/converter"
)

// Handler serves the codec server protocol the Temporal Web UI speaks
// (POST <prefix>/encode and <prefix>/decode with {"payloads": [...]}), so
// the UI shows clear data to whoever may see it. Browsers may call it only
// from origin (the UI's, e.g. http://localhost:8233); when token is set,
// every call must present "Authorization: Bearer <token>" (configure it in
// the UI's codec settings), compared in constant time.
func Handler(c *Codec, origin, token string) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(c)
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
		inner.ServeHTTP(w, r)
	})
}
