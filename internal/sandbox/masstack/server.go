package masstack

import (
	"github.com/certflow/certflow/internal/sandbox"
)

// Server is an Emulator listening on a socket: the token endpoint and the
// API share one listener, as a single sandbox host is simpler to run.
type Server struct {
	// URL is the API base URL, ending in /v1, e.g. http://127.0.0.1:8444/v1.
	URL string
	// TokenURL is the token endpoint, e.g. http://127.0.0.1:8444/oauth/token.
	TokenURL string
	Emulator *Emulator

	srv *sandbox.Server
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves a new
// Emulator configured by opts over plain HTTP: the real API's TLS adds
// nothing to what the emulator tests.
func Start(addr string, opts Options) (*Server, error) {
	e, err := New(opts)
	if err != nil {
		return nil, err
	}
	srv, err := sandbox.Serve(addr, e, nil, e.log)
	if err != nil {
		e.Close()
		return nil, err
	}
	return &Server{
		URL:      srv.URL + APIPrefix,
		TokenURL: srv.URL + TokenPath,
		Emulator: e,
		srv:      srv,
	}, nil
}

// Close stops listening, drops open connections and closes the emulator.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.Emulator.Close()
	return err
}
