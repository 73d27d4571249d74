package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// selfSigned writes a certificate for 127.0.0.1 valid from notBefore to
// notAfter, and returns its files and a pool that trusts it.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "wsbridge test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	now := time.Now()
	cert, key, pool := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	inst := start(t, "--ssl", "--sslcert", cert, "--sslkey", key, example("env.sh"))
	if !strings.HasPrefix(inst.URL, "wss://") {
		t.Fatalf("listening on %s", inst.URL)
	}
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}}
	c, _, err := d.Dial(inst.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := readAll(t, c)
	if !slices.Contains(r.texts, "HTTPS=on") || r.code != 1000 {
		t.Fatalf("env over wss: %q close %d", r.texts, r.code)
	}
	// TLS 1.1 is refused.
	old := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}
	if c, _, err := old.Dial(inst.URL+"/", nil); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}

	expiredCert, expiredKey, _ := selfSigned(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	bad := launch(t, "--ssl", "--sslcert", expiredCert, "--sslkey", expiredKey, "/bin/cat")
	<-bad.exited
	if out := strings.TrimSpace(bad.output()); !strings.Contains(out, "expired") || strings.Count(out, "\n") != 0 {
		t.Fatalf("expired certificate: %q", out)
	}
}
