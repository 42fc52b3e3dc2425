package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// tlsConfig is the server's TLS from --tls-cert and --tls-key, or nil to
// serve plain HTTP (behind a TLS-terminating proxy, with --base-url). The
// pair is loaded here, at start, so a wrong file stops the server rather
// than failing every handshake.
func (c serveConfig) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" && c.TLSKey == "" {
		return nil, nil
	}
	if c.TLSCert == "" || c.TLSKey == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	// TLS 1.2 is the floor of NHS and NCSC guidance; Go's defaults choose
	// the cipher suites.
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// listen listens on cfg.Addr, with TLS when configured, and returns the
// scheme clients reach it by.
func listen(cfg serveConfig) (net.Listener, string, error) {
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, "", err
	}
	if tc == nil {
		return ln, "http", nil
	}
	return tls.NewListener(ln, tc), "https", nil
}

// hsts tells browsers to use HTTPS only for this host from now on (a
// year), so that a later plain-HTTP link cannot be downgraded.
func hsts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}
