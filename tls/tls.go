// Package tls builds wsbridge's TLS configurations. Today: a static server
// certificate for --ssl. Reload, ACME and client certificates come later.
package tls

import (
	ctls "crypto/tls"
	"fmt"
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
