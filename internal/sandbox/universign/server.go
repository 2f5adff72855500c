package universign

import (
	"fmt"

	"github.com/certflow/certflow/internal/sandbox"
)

// Server is an Emulator listening on a socket.
type Server struct {
	// URL is the API base URL, without /v1 and without a trailing slash,
	// e.g. http://127.0.0.1:8444: what the client's BaseURL takes.
	URL      string
	Emulator *Emulator

	srv *sandbox.Server
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves a new
// Emulator configured by opts over plain HTTP: Universign authenticates
// with an API key, not with TLS client certificates, so TLS would add
// nothing the emulator could check.
func Start(addr string, opts Options) (*Server, error) {
	e := New(opts)
	srv, err := sandbox.Serve(addr, e, nil, e.log)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("universign sandbox: %w", err)
	}
	return &Server{URL: srv.URL, Emulator: e, srv: srv}, nil
}

// Close stops listening, drops open connections, and closes the emulator
// (pending completions and expiries stop).
func (s *Server) Close() error {
	err := s.srv.Close()
	s.Emulator.Close()
	return err
}
