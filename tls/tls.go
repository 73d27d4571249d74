// Package tls builds wsbridge's TLS configurations: a static server
// certificate for --ssl, and the client side for TLS backends (--tcp-tls).
// Reload, ACME and client certificates come later.
package tls

import (
	ctls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// ServerConfig loads the --sslcert/--sslkey pair and refuses one that cannot
// serve: unreadable, mismatched, or out of its validity period.
func ServerConfig(certFile, keyFile string) (*ctls.Config, error) {
	cert, err := ctls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--sslcert %s / --sslkey %s: %w", certFile, keyFile, err)
	}
	now := time.Now()
	if leaf := cert.Leaf; leaf != nil {
		if now.After(leaf.NotAfter) {
			return nil, fmt.Errorf("--sslcert %s: certificate expired on %s", certFile, leaf.NotAfter.Format(time.DateOnly))
		}
		if now.Before(leaf.NotBefore) {
			return nil, fmt.Errorf("--sslcert %s: certificate not valid before %s", certFile, leaf.NotBefore.Format(time.DateOnly))
		}
	}
	return &ctls.Config{
		Certificates: []ctls.Certificate{cert},
		MinVersion:   ctls.VersionTLS12,
		// WebSockets here run over HTTP/1.1; never offer h2.
		NextProtos: []string{"http/1.1"},
	}, nil
}

// BackendConfig is the client side of --tcp-tls: the backend's certificate is
// verified against caFile (PEM; empty: the system's roots) and serverName
// (empty: the target's host name, filled in per dial).
func BackendConfig(caFile, serverName string) (*ctls.Config, error) {
	cfg := &ctls.Config{ServerName: serverName, MinVersion: ctls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--tcp-ca %s: %w", caFile, errors.Unwrap(err))
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tcp-ca %s: no PEM certificate in it", caFile)
	}
	return cfg, nil
}
