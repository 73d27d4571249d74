package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gorilla/websocket"
)

// benchTLS is set by -tls: the bridges serve wss:// with a self-signed
// certificate (certFile, keyFile), the clients trust anything, and the
// limits get a Go TLS relay.
var benchTLS struct {
	on                bool
	certFile, keyFile string
	server, client    *tls.Config
}

// setUpTLS writes a self-signed certificate for 127.0.0.1 into dir.
func setUpTLS(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bench"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	benchTLS.certFile, benchTLS.keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(benchTLS.certFile, certPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(benchTLS.keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	benchTLS.on = true
	benchTLS.server = &tls.Config{Certificates: []tls.Certificate{cert}}
	benchTLS.client = &tls.Config{InsecureSkipVerify: true} // our own certificate, on loopback
	return nil
}

// wsDialer is gorilla's default dialer with these buffer sizes (0: its
// default), trusting the bench's certificate under -tls.
func wsDialer(readBuf, writeBuf int) *websocket.Dialer {
	d := *websocket.DefaultDialer
	d.ReadBufferSize, d.WriteBufferSize = readBuf, writeBuf
	d.TLSClientConfig = benchTLS.client
	return &d
}

// relay forwards each connection to upstream with plain reads and writes
// (splice between sockets measured slower here), both ways; with a server
// TLS config, it is a TLS terminator in front of upstream.
func relay(upstream string, conf *tls.Config) (net.Listener, error) {
	return serveLoopback(func(c net.Conn) {
		if conf != nil {
			c = tls.Server(c, conf)
		}
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			return
		}
		defer up.Close()
		go func() {
			_, _ = io.CopyBuffer(struct{ io.Writer }{up}, struct{ io.Reader }{c}, make([]byte, 32<<10))
			_ = up.(*net.TCPConn).CloseWrite()
		}()
		_, _ = io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{up}, make([]byte, 256<<10))
	})
}

// dialAddr connects to addr, over TLS if secure.
func dialAddr(addr string, secure bool) (net.Conn, error) {
	if secure {
		return tls.Dial("tcp", addr, benchTLS.client)
	}
	return net.Dial("tcp", addr)
}
