package devpki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestGenerate(t *testing.T) {
	p, err := Generate(filepath.Join(t.TempDir(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{p.ServerKeyFile, p.ClientKeyFile} {
		fi, err := os.Stat(key)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %o, want 600", key, mode)
		}
	}
	pool, err := p.caPool()
	if err != nil {
		t.Fatal(err)
	}
	server, err := tls.LoadX509KeyPair(p.ServerCertFile, p.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := server.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	client, err := tls.LoadX509KeyPair(p.ClientCertFile, p.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if cn := client.Leaf.Subject.CommonName; cn != ClientCommonName {
		t.Errorf("client CN %q, want %q", cn, ClientCommonName)
	}
	if _, err := client.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
}

func TestLoadOrGenerate(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrGenerate(dir)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(first.CAFile)

	again, err := LoadOrGenerate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ca2, _ := os.ReadFile(again.CAFile); !bytes.Equal(ca, ca2) {
		t.Error("LoadOrGenerate regenerated a valid PKI")
	}

	if err := os.WriteFile(first.ClientKeyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	fixed, err := LoadOrGenerate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ca3, _ := os.ReadFile(fixed.CAFile); bytes.Equal(ca, ca3) {
		t.Error("LoadOrGenerate kept a PKI whose client key does not parse")
	}
	if err := fixed.check(); err != nil {
		t.Errorf("regenerated PKI does not check: %v", err)
	}
}

// TestMutualTLS checks that the two TLS configurations fit each other and
// that a client without a certificate is turned away.
func TestMutualTLS(t *testing.T) {
	p, err := Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverCfg, err := p.ServerTLSConfig(true)
	if err != nil {
		t.Fatal(err)
	}
	clientCfg, err := p.ClientTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte("ok"))
			}()
		}
	}()

	dial := func(cfg *tls.Config) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		// With TLS 1.3 a missing client certificate surfaces on first read.
		_, err = io.ReadAll(c)
		return err
	}
	if err := dial(clientCfg); err != nil {
		t.Errorf("client with certificate: %v", err)
	}
	noCert := clientCfg.Clone()
	noCert.Certificates = nil
	if err := dial(noCert); err == nil {
		t.Error("client without certificate was accepted")
	}
}
