// Package devpki generates a throwaway PKI for development and tests: a CA, a
// server certificate for the loopback names and a client certificate.
//
// The Uanataca RA authenticates API users by mutual TLS only, so the sandbox
// emulator and the client tests need a CA, a server certificate and a client
// certificate that chain to each other. None of this is secret or long-lived:
// the files are meant for a git-ignored directory such as .dev/pki and are
// regenerated whenever they are missing, unreadable or about to expire.
package devpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names inside the PKI directory.
const (
	caFile         = "ca.pem"
	serverCertFile = "server.pem"
	serverKeyFile  = "server-key.pem"
	clientCertFile = "client.pem"
	clientKeyFile  = "client-key.pem"
)

// ClientCommonName is the subject CN of the generated client certificate.
const ClientCommonName = "certflow-dev-client"

// validity is how long generated certificates last. A year keeps a developer's
// .dev/pki usable across many sessions; LoadOrGenerate renews the set once
// less than renewBefore remains.
const (
	validity    = 365 * 24 * time.Hour
	renewBefore = 24 * time.Hour
)

// PKI locates the PEM files of a generated PKI.
type PKI struct {
	Dir            string
	CAFile         string
	ServerCertFile string
	ServerKeyFile  string
	ClientCertFile string
	ClientKeyFile  string
}

func paths(dir string) *PKI {
	return &PKI{
		Dir:            dir,
		CAFile:         filepath.Join(dir, caFile),
		ServerCertFile: filepath.Join(dir, serverCertFile),
		ServerKeyFile:  filepath.Join(dir, serverKeyFile),
		ClientCertFile: filepath.Join(dir, clientCertFile),
		ClientKeyFile:  filepath.Join(dir, clientKeyFile),
	}
}

// Generate writes ca.pem, server.pem, server-key.pem, client.pem and
// client-key.pem into dir (creating it), replacing any previous set, and
// returns their paths. Private keys are written with 0600 permissions. The CA
// key is not kept: nothing can be signed by this CA after Generate returns,
// which is what makes the set safe to throw away.
func Generate(dir string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("devpki: create directory %s: %w", dir, err)
	}
	now := time.Now()
	notBefore, notAfter := now.Add(-time.Hour), now.Add(validity)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devpki: generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "certflow dev CA", Organization: []string{"certflow development"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, caCert, err := sign(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("devpki: create CA certificate: %w", err)
	}

	leaf := func(tmpl *x509.Certificate) (certDER []byte, key *ecdsa.PrivateKey, err error) {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.BasicConstraintsValid = true
		certDER, _, err = sign(tmpl, caCert, &key.PublicKey, caKey)
		return certDER, key, err
	}
	serverDER, serverKey, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("devpki: create server certificate: %w", err)
	}
	clientDER, clientKey, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: ClientCommonName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("devpki: create client certificate: %w", err)
	}

	serverKeyDER, err := x509.MarshalPKCS8PrivateKey(serverKey)
	if err != nil {
		return nil, fmt.Errorf("devpki: encode server key: %w", err)
	}
	clientKeyDER, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		return nil, fmt.Errorf("devpki: encode client key: %w", err)
	}

	p := paths(dir)
	for _, f := range []struct {
		path, blockType string
		der             []byte
		mode            os.FileMode
	}{
		{p.CAFile, "CERTIFICATE", caDER, 0o644},
		{p.ServerCertFile, "CERTIFICATE", serverDER, 0o644},
		{p.ServerKeyFile, "PRIVATE KEY", serverKeyDER, 0o600},
		{p.ClientCertFile, "CERTIFICATE", clientDER, 0o644},
		{p.ClientKeyFile, "PRIVATE KEY", clientKeyDER, 0o600},
	} {
		data := pem.EncodeToMemory(&pem.Block{Type: f.blockType, Bytes: f.der})
		if err := writeFile(f.path, data, f.mode); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// LoadOrGenerate returns the PKI in dir when all five files exist, parse,
// chain to the CA and stay valid for at least another day; otherwise it
// generates a fresh set with Generate.
func LoadOrGenerate(dir string) (*PKI, error) {
	p := paths(dir)
	if p.check() == nil {
		return p, nil
	}
	return Generate(dir)
}

// check reports why the files of p cannot be reused, or nil.
func (p *PKI) check() error {
	pool, err := p.caPool()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(renewBefore)
	for _, pair := range []struct {
		cert, key string
		usage     x509.ExtKeyUsage
	}{
		{p.ServerCertFile, p.ServerKeyFile, x509.ExtKeyUsageServerAuth},
		{p.ClientCertFile, p.ClientKeyFile, x509.ExtKeyUsageClientAuth},
	} {
		kp, err := tls.LoadX509KeyPair(pair.cert, pair.key)
		if err != nil {
			return err
		}
		if kp.Leaf == nil {
			return fmt.Errorf("devpki: %s: no certificate", pair.cert)
		}
		if _, err := kp.Leaf.Verify(x509.VerifyOptions{
			Roots:       pool,
			CurrentTime: deadline,
			KeyUsages:   []x509.ExtKeyUsage{pair.usage},
		}); err != nil {
			return fmt.Errorf("devpki: %s: %w", pair.cert, err)
		}
	}
	return nil
}

// ServerTLSConfig returns a TLS configuration serving the server certificate.
// With requireClientCert, clients must present a certificate issued by the
// CA (tls.RequireAndVerifyClientCert), as the Uanataca API demands.
func (p *PKI) ServerTLSConfig(requireClientCert bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(p.ServerCertFile, p.ServerKeyFile)
	if err != nil {
		return nil, fmt.Errorf("devpki: load server key pair (regenerate %s with LoadOrGenerate): %w", p.Dir, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		pool, err := p.caPool()
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientTLSConfig returns a TLS configuration that trusts only the CA and
// presents the client certificate: what a provider client needs to reach a
// sandbox served with ServerTLSConfig(true).
func (p *PKI) ClientTLSConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(p.ClientCertFile, p.ClientKeyFile)
	if err != nil {
		return nil, fmt.Errorf("devpki: load client key pair (regenerate %s with LoadOrGenerate): %w", p.Dir, err)
	}
	pool, err := p.caPool()
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func (p *PKI) caPool() (*x509.CertPool, error) {
	data, err := os.ReadFile(p.CAFile)
	if err != nil {
		return nil, fmt.Errorf("devpki: read CA (regenerate %s with LoadOrGenerate): %w", p.Dir, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("devpki: %s holds no PEM certificate; delete %s to regenerate it", p.CAFile, p.Dir)
	}
	return pool, nil
}

func sign(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return der, cert, err
}

// writeFile replaces path atomically through a temporary file, so a reader
// never sees half a key and an existing file's looser mode is not inherited.
func writeFile(path string, data []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".devpki-*")
	if err != nil {
		return fmt.Errorf("devpki: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.Remove(tmp.Name()))
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("devpki: write %s: %w", path, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("devpki: chmod %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("devpki: write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("devpki: write %s: %w", path, err)
	}
	return nil
}
