package humanos

import (
	"fmt"

	"github.com/certflow/certflow/internal/sandbox"
)

// Server is an Emulator listening on a socket.
type Server struct {
	// URL is the API base URL, without /v1 and without a trailing slash,
	// e.g. http://127.0.0.1:8445: the v1 reference's paths start with /v1,
	// the dated API's do not, so the client adds the prefix it speaks.
	URL      string
	Emulator *Emulator

	srv *sandbox.Server
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves a new
// Emulator configured by opts over plain HTTP: Humanos authenticates each
// call with an API key and a signature, which TLS would not add to.
func Start(addr string, opts Options) (*Server, error) {
	e, err := New(opts)
	if err != nil {
		return nil, err
	}
	srv, err := sandbox.Serve(addr, e, nil, e.log)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("humanos sandbox: %w", err)
	}
	return &Server{URL: srv.URL, Emulator: e, srv: srv}, nil
}

// Close stops listening, drops open connections, and closes the emulator
// (simulated subjects and webhook deliveries stop).
func (s *Server) Close() error {
	err := s.srv.Close()
	s.Emulator.Close()
	return err
}
