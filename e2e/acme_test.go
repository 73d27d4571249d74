//go:build unix

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pebbleTool finds a Pebble binary built from the Go module proxy (.ci/run
// installs them with go install).
func pebbleTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gobin, _ := exec.Command("go", "env", "GOBIN").Output()
	dir := strings.TrimSpace(string(gobin))
	if dir == "" {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		dir = filepath.Join(strings.TrimSpace(string(gopath)), "bin")
	}
	p := filepath.Join(dir, name)
	requireTool(t, p, "go install github.com/letsencrypt/pebble/v2/cmd/"+name+"@v2.10.1")
	return p
}

// freePort returns a loopback port free at the time of the call; "dns":
// free for TCP and UDP alike, as a DNS server listens on both.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "dns" {
		for range 20 {
			port := freePort(t, "tcp")
			if c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				return port
			}
		}
		t.Fatal("no loopback port free for both TCP and UDP")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runTool runs a helper server (Pebble, sshd, tinyproxy) until the test
// ends, or until stop; out may be read while it runs.
func runTool(t *testing.T, bin string, env []string, args ...string) (out *lockedBuffer, stop func()) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) }
	t.Cleanup(stop)
	return out, stop
}

// listeningTool is runTool for a server that should listen at addr (sshd,
// tinyproxy); its log is shown if the test fails. false: the port was taken
// before the tool bound it, so the caller tries another.
func listeningTool(t *testing.T, addr, bin string, args ...string) (log *lockedBuffer, ok bool) {
	t.Helper()
	log, stop := runTool(t, bin, nil, args...)
	if answers(addr) {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log:\n%s", filepath.Base(bin), log.String())
			}
		})
		return log, true
	}
	stop()
	if !strings.Contains(log.String(), "in use") {
		t.Fatalf("%s did not listen at %s:\n%s", bin, addr, log.String())
	}
	return log, false
}

// pebble is an ACME CA on loopback: Pebble with its DNS test server, which
// answers 127.0.0.1 for every name. Challenges go to httpPort (HTTP-01) and
// tlsPort (TLS-ALPN-01).
type pebble struct {
	directory string
	caFile    string // trusts the ACME server's own HTTPS certificate
	roots     *x509.CertPool
}

func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	pebbleBin, challBin := pebbleTool(t, "pebble"), pebbleTool(t, "pebble-challtestsrv")
	ca := newCA(t, "pebble HTTPS CA")
	cert, key := ca.issue(t, "pebble", false, "localhost")
	var failure string
	// Ports picked free may be taken before the servers bind them: retry.
	for range 3 {
		dns, challMgmt := fmt.Sprintf("127.0.0.1:%d", freePort(t, "dns")), fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))
		chall, stopChall := runTool(t, challBin, nil, "-dnsserver", dns, "-defaultIPv6", "", "-http01", "", "-https01", "",
			"-tlsalpn01", "", "-doh", "", "-management", challMgmt)
		// Without its DNS server every validation fails: make sure it
		// answers (it exits when a port it wants was taken meanwhile, and its
		// management port may be up before its DNS port: a validation sent
		// then fails at once, and autocert refuses the name for a minute).
		// Pebble asks over TCP, and the TCP server may come up after the
		// UDP one, or not at all when its port was taken: ask over TCP.
		if !answers(challMgmt) || !resolves(dns, "wsbridge.test") {
			stopChall()
			failure = chall.String()
			continue
		}
		api, mgmt := freePort(t, "tcp"), freePort(t, "tcp")
		cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
			"listenAddress":           fmt.Sprintf("127.0.0.1:%d", api),
			"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmt),
			"certificate":             cert,
			"privateKey":              key,
			"httpPort":                httpPort,
			"tlsPort":                 tlsPort,
		}})
		cfgFile := filepath.Join(t.TempDir(), "pebble.json")
		os.WriteFile(cfgFile, cfg, 0o644)
		out, stop := runTool(t, pebbleBin, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, "-config", cfgFile, "-dnsserver", dns)
		p := &pebble{directory: fmt.Sprintf("https://127.0.0.1:%d/dir", api), caFile: ca.File}
		if p.roots = pebbleRoots(ca.Pool, mgmt); p.roots != nil {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("pebble's log:\n%s", out.String())
				}
			})
			return p
		}
		stop()
		stopChall()
		failure = out.String() + chall.String()
	}
	t.Fatalf("pebble did not come up:\n%s", failure)
	return nil
}

// resolves says whether the DNS server at addr answers over TCP, as
// Pebble asks, for name within 5 s.
func resolves(addr, name string) bool {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}}
	for range 50 {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		ips, err := r.LookupHost(ctx, name)
		cancel()
		if err == nil && len(ips) > 0 {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// answers says whether something accepts connections at addr within 5 s.
func answers(addr string) bool {
	for range 50 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// pebbleRoots fetches the root Pebble signs with from its management port,
// waiting for it to come up; nil if it does not.
func pebbleRoots(trust *x509.CertPool, mgmt int) *x509.CertPool {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trust}}, Timeout: 5 * time.Second}
	for range 50 {
		resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmt))
		if err == nil {
			pemRoot, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			roots := x509.NewCertPool()
			if resp.StatusCode == 200 && roots.AppendCertsFromPEM(pemRoot) {
				return roots
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// startACME starts Pebble and wsbridge, with ports picked again if one was
// taken meanwhile; args gets the HTTP-01 and TLS-ALPN-01 ports.
func startACME(t *testing.T, args func(httpPort, tlsPort int) []string) (*instance, *pebble) {
	t.Helper()
	for range 3 {
		httpPort, tlsPort := freePort(t, "tcp"), freePort(t, "tcp")
		ca := startPebble(t, httpPort, tlsPort)
		inst, err := tryStart(t, []string{"SSL_CERT_FILE=" + ca.caFile}, append(args(httpPort, tlsPort),
			"--acme-domain", "wsbridge.test", "--acme-directory", ca.directory, "/bin/cat")...)
		if err == nil {
			return inst, ca
		}
		if !strings.Contains(inst.output(), "address already in use") {
			t.Fatalf("%v\n%s", err, inst.output())
		}
	}
	t.Fatal("no free ports for wsbridge and Pebble after 3 tries")
	return nil, nil
}

// acmeSession connects to wsbridge by name; the first handshake makes it
// fetch the certificate. The chain must lead to Pebble's root.
func acmeSession(t *testing.T, inst *instance, name string, roots *x509.CertPool) {
	t.Helper()
	d := websocket.Dialer{
		TLSClientConfig:  &tls.Config{ServerName: name, RootCAs: roots},
		HandshakeTimeout: 60 * time.Second,
	}
	c, _, err := d.Dial(inst.URL+"/", nil)
	if err != nil {
		t.Fatalf("wss to %s: %v\nwsbridge log:\n%s", name, err, inst.output())
	}
	defer c.Close()
	if issuer := c.NetConn().(*tls.Conn).ConnectionState().PeerCertificates[0].Issuer.CommonName; !strings.Contains(issuer, "Pebble") {
		t.Errorf("certificate issued by %q", issuer)
	}
	c.WriteMessage(websocket.TextMessage, []byte("via acme"))
	expectMessage(t, c, websocket.TextMessage, "via acme")
}

// TestACMETLSALPN: a certificate from Pebble by the TLS-ALPN-01 challenge,
// answered on wsbridge's own TLS port.
func TestACMETLSALPN(t *testing.T) {
	cache := t.TempDir()
	inst, ca := startACME(t, func(_, tlsPort int) []string { // nothing listens for HTTP-01
		return []string{"--port", fmt.Sprint(tlsPort), "--acme-cache", cache, "--acme-email", "ops@wsbridge.test"}
	})
	acmeSession(t, inst, "wsbridge.test", ca.roots)
	if entries, _ := os.ReadDir(cache); len(entries) == 0 {
		t.Error("nothing was kept in --acme-cache")
	}
}

// TestACMEHTTP01: with the TLS-ALPN-01 port unreachable, the HTTP-01
// challenge is answered on --redirport.
func TestACMEHTTP01(t *testing.T) {
	inst, ca := startACME(t, func(httpPort, _ int) []string { // nothing listens for TLS-ALPN-01
		return []string{"--redirport", fmt.Sprint(httpPort), "--acme-cache", t.TempDir(), "--loglevel", "debug"}
	})
	acmeSession(t, inst, "wsbridge.test", ca.roots)
}

// TestACMEChallengeFailed: when the CA cannot validate, the log says which
// challenge failed and the CA's reason, not only autocert's "no viable
// challenge type found".
func TestACMEChallengeFailed(t *testing.T) {
	inst, ca := startACME(t, func(_, _ int) []string { // nothing listens for either challenge
		return []string{"--acme-cache", t.TempDir()}
	})
	d := websocket.Dialer{TLSClientConfig: &tls.Config{ServerName: "wsbridge.test", RootCAs: ca.roots}, HandshakeTimeout: 60 * time.Second}
	if c, _, err := d.Dial(inst.URL+"/", nil); err == nil {
		c.Close()
		t.Fatal("a certificate was issued with no challenge reachable")
	}
	line, err := inst.awaitLog(func(m map[string]any) bool { return m["msg"] == "ACME challenge failed" })
	if err != nil {
		t.Fatalf("%v\n%s", err, inst.output())
	}
	if line["domain"] != "wsbridge.test" || line["challenge"] != "tls-alpn-01" || !strings.Contains(fmt.Sprint(line["detail"]), "connect") {
		t.Errorf("the failure is logged as %v; want the domain, tls-alpn-01 and that the CA could not connect", line)
	}
}
