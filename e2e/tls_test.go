//go:build unix

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// replace writes content over name by rename, as a renewal tool does.
func replace(t *testing.T, name string, content []byte) {
	t.Helper()
	tmp := name + ".new"
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// TestCertificateReload: a certificate replaced on disk serves the next
// handshake while a session on the old one goes on; a broken replacement
// keeps the last good certificate.
func TestCertificateReload(t *testing.T) {
	ca := newCA(t, "reload CA")
	first, firstKey := ca.issue(t, "first", false)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for src, dst := range map[string]string{first: cert, firstKey: key} {
		data, _ := os.ReadFile(src)
		replace(t, dst, data)
	}
	inst := start(t, "--ssl", "--tls-cert", cert, "--tls-key", key, "/bin/cat")
	cfg := &tls.Config{RootCAs: ca.Pool}
	if cn := peerCN(t, inst.Host, cfg); cn != "first" {
		t.Fatalf("serving %q, want first", cn)
	}
	d := websocket.Dialer{TLSClientConfig: cfg}
	old, _, err := d.Dial(inst.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	second, secondKey := ca.issue(t, "second", false)
	for src, dst := range map[string]string{second: cert, secondKey: key} {
		data, _ := os.ReadFile(src)
		replace(t, dst, data)
	}
	if cn := peerCN(t, inst.Host, cfg); cn != "second" {
		t.Fatalf("after the renewal serving %q, want second", cn)
	}
	old.WriteMessage(websocket.TextMessage, []byte("still here"))
	expectMessage(t, old, websocket.TextMessage, "still here")

	replace(t, cert, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"))
	if cn := peerCN(t, inst.Host, cfg); cn != "second" {
		t.Fatalf("after a broken renewal serving %q, want the last good one", cn)
	}
	inst.waitLog(func(m map[string]any) bool {
		return m["msg"] == "certificate not reloaded; the previous one stays in use" && strings.Contains(fmt.Sprint(m["err"]), cert)
	})
}

// TestSNIChoosesCertificate: several pairs, chosen by the name the client asks for.
func TestSNIChoosesCertificate(t *testing.T) {
	ca := newCA(t, "SNI CA")
	aCert, aKey := ca.issue(t, "a", false, "a.test")
	bCert, bKey := ca.issue(t, "b", false, "b.test")
	inst := start(t, "--ssl", "--sslcert", aCert, "--sslkey", aKey, "--sslcert", bCert, "--sslkey", bKey, "/bin/cat")
	for name, want := range map[string]string{"a.test": "a", "b.test": "b", "": "a"} {
		cfg := &tls.Config{RootCAs: ca.Pool, ServerName: name}
		if name == "" {
			cfg.ServerName = "127.0.0.1" // an IP sends no SNI: the first pair
		}
		if cn := peerCN(t, inst.Host, cfg); cn != want {
			t.Errorf("SNI %q: got certificate %q, want %q", name, cn, want)
		}
	}
}

// TestClientCertificates: --sslca requires a certificate from that CA, its
// identity reaches the program and the access log, and --client-cn narrows
// who may connect.
func TestClientCertificates(t *testing.T) {
	ca := newCA(t, "server CA")
	clients := newCA(t, "client CA")
	stranger := newCA(t, "another CA")
	cert, key := ca.issue(t, "server", false)
	prog := []string{"/bin/sh", "-c", "echo $SSL_CLIENT_VERIFY $SSL_CLIENT_S_DN_CN $SSL_CLIENT_SERIAL; echo $SSL_CLIENT_S_DN"}
	inst := start(t, append([]string{"--ssl", "--sslcert", cert, "--sslkey", key, "--sslca", clients.File}, prog...)...)
	dial := func(inst *instance, certs ...tls.Certificate) (received, error) {
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: certs}}
		c, _, err := d.Dial(inst.URL+"/", nil)
		if err != nil {
			return received{}, err
		}
		defer c.Close()
		return readAll(t, c), nil
	}
	r, err := dial(inst, clients.clientCert(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.texts) != 2 || !regexp.MustCompile(`^SUCCESS alice [0-9A-F]+$`).MatchString(r.texts[0]) || r.texts[1] != "CN=alice,O=wsbridge tests" {
		t.Fatalf("the program saw %q", r.texts)
	}
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" && m["user"] == "cn=alice" })
	if _, err := dial(inst); err == nil {
		t.Error("a client without a certificate got in")
	}
	if _, err := dial(inst, stranger.clientCert(t, "mallory")); err == nil {
		t.Error("a certificate from another CA got in")
	}

	only := start(t, append([]string{"--ssl", "--sslcert", cert, "--sslkey", key, "--sslca", clients.File, "--client-cn", "bob"}, prog...)...)
	if _, err := dial(only, clients.clientCert(t, "alice")); err == nil {
		t.Error("--client-cn bob let alice in")
	}
	if r, err := dial(only, clients.clientCert(t, "bob")); err != nil || !strings.HasPrefix(r.texts[0], "SUCCESS bob ") {
		t.Errorf("--client-cn bob: %q %v", r.texts, err)
	}
}

// TestRedirPortToHTTPS: with TLS, --redirport sends plain HTTP to https://
// with the path and query.
func TestRedirPortToHTTPS(t *testing.T) {
	cert, key, _ := selfSigned(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	var redir int
	inst := startOnFreePort(t, func(port int) []string {
		redir = port
		return []string{"--ssl", "--sslcert", cert, "--sslkey", key, "--redirport", fmt.Sprint(port), "/bin/cat"}
	})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/a/b?c=d", redir))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://" + inst.Host + "/a/b?c=d"; resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Fatalf("%d to %q, want 301 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

// TestPythonOverWSS: Python's websocket-client verifies wsbridge's
// certificate and talks over wss.
func TestPythonOverWSS(t *testing.T) {
	ca := newCA(t, "python CA")
	cert, key := ca.issue(t, "server", false)
	inst := start(t, "--ssl", "--sslcert", cert, "--sslkey", key, example("greeter.sh"))
	script := `
import ssl, sys, websocket
ws = websocket.create_connection(sys.argv[1], sslopt={"ca_certs": sys.argv[2]})
print(ws.recv())
ws.send("Python")
print(ws.recv())
`
	requireTool(t, "/usr/lib/python3/dist-packages/websocket/__init__.py", "Debian package python3-websocket")
	out, err := exec.Command("/usr/bin/python3", "-c", script, inst.URL+"/", ca.File).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Hello, Python!") {
		t.Fatalf("python over wss: %v\n%s", err, out)
	}
}
