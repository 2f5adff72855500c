package uanataca

import (
	"crypto/tls"
	"fmt"

	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/sandbox/devpki"
)

// Server is an Emulator listening on a socket.
type Server struct {
	// URL is the API base URL, ending in /api/v1/, e.g.
	// https://127.0.0.1:8443/api/v1/.
	URL      string
	Emulator *Emulator

	srv *sandbox.Server
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves a new
// Emulator configured by opts. With a PKI it serves TLS with pki's server
// certificate and, iff opts.RequireClientCert, demands a client certificate
// issued by pki's CA during the handshake; with pki nil it serves plain HTTP
// (and with RequireClientCert every call is answered 401).
func Start(addr string, opts Options, pki *devpki.PKI) (*Server, error) {
	var tlsCfg *tls.Config
	if pki != nil {
		var err error
		if tlsCfg, err = pki.ServerTLSConfig(opts.RequireClientCert); err != nil {
			return nil, err
		}
	}
	e := New(opts)
	srv, err := sandbox.Serve(addr, e, tlsCfg, e.log)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("uanataca sandbox: %w", err)
	}
	return &Server{URL: srv.URL + apiPrefix, Emulator: e, srv: srv}, nil
}

// Close stops listening, drops open connections, and closes the emulator
// (pending transitions and webhook deliveries stop).
func (s *Server) Close() error {
	err := s.srv.Close()
	s.Emulator.Close()
	return err
}
