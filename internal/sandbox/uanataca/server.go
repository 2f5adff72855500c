package uanataca

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/certflow/certflow/internal/sandbox/devpki"
)

// Server is an Emulator listening on a socket.
type Server struct {
	// URL is the API base URL, ending in /api/v1/, e.g.
	// https://127.0.0.1:8443/api/v1/.
	URL      string
	Emulator *Emulator

	srv  *http.Server
	done chan struct{}
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
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("uanataca sandbox: listen on %s: %w", addr, err)
	}
	scheme := "http"
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "https"
	}
	// Rejected handshakes (a client without a certificate) are expected in
	// tests; they go to the emulator's log, not to stderr.
	errLog := io.Discard
	if opts.Log != nil {
		errLog = opts.Log
	}
	s := &Server{
		URL:      fmt.Sprintf("%s://%s%s", scheme, urlHost(ln.Addr()), apiPrefix),
		Emulator: e,
		srv: &http.Server{
			Handler:           e,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          log.New(errLog, "uanataca-sandbox: http: ", log.LstdFlags),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// urlHost renders a listener address for a URL. A wildcard address becomes
// localhost, which the devpki server certificate covers.
func urlHost(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}

// Close stops listening, drops open connections, and closes the emulator
// (pending transitions and webhook deliveries stop).
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	s.Emulator.Close()
	return err
}
