package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/wsbridge/wsbridge/auth"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/config"
)

// printConfig runs wsbridge print-config args and returns its stdout and
// stderr.
func printConfig(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errs bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errs
	err := app.Run(append([]string{"wsbridge", "print-config"}, args...))
	return out.String(), errs.String(), err
}

// sameAuth compares two routes' auth checkers, leaving out loggers.
func sameAuth(t *testing.T, what string, flags, file *auth.Checker) {
	t.Helper()
	if (flags == nil) != (file == nil) {
		t.Errorf("%s: auth from flags %v, from the file %v", what, flags, file)
		return
	}
	if flags == nil {
		return
	}
	if flags.FailDelay != file.FailDelay || !reflect.DeepEqual(flags.Limit, file.Limit) || len(flags.Methods) != len(file.Methods) {
		t.Errorf("%s: auth from flags %+v, from the file %+v", what, flags, file)
		return
	}
	for i := range flags.Methods {
		a, b := flags.Methods[i], file.Methods[i]
		if fmt.Sprintf("%T", a) != fmt.Sprintf("%T", b) {
			t.Errorf("%s: auth method %d from flags %T, from the file %T", what, i, a, b)
		}
		if basic, ok := a.(*auth.Basic); ok && !reflect.DeepEqual(basic, b) {
			t.Errorf("%s: basic user from flags %+v, from the file %+v", what, basic, b)
		}
	}
}

// listening is what srv's listeners say, flattened for comparison: the
// command line fills one listener with every --address, a file one listener
// per address, all alike but for it.
func listening(srv *bridge.Server) []any {
	var addrs []string
	var alike []any
	for _, l := range srv.Listeners {
		addrs = append(addrs, l.Addresses...)
		port := l.Port
		if l.Unix != "" {
			port = -1 // a unix socket has no port
		}
		alike = append(alike, []any{port, l.Unix, l.RedirPort, l.TLS != nil})
	}
	for i := 1; i < len(alike); i++ {
		if !reflect.DeepEqual(alike[i], alike[0]) {
			return []any{addrs, alike} // differ: the comparison shows them all
		}
	}
	if len(alike) > 0 {
		alike = alike[:1]
	}
	return []any{addrs, alike}
}

// sameServer compares the servers flags and a file build: the listener,
// the server's settings and the one route.
func sameServer(t *testing.T, what string, flags, file *bridge.Server) {
	t.Helper()
	sameFields(t, what, []field{
		{"listeners", listening(flags), listening(file)},
		{"trusted proxies", flags.TrustedProxies, file.TrustedProxies},
		{"allowed hosts", []any{flags.Hosts.AllowAll, flags.Hosts.Names, flags.Hosts.HostTokens, len(flags.Hosts.Also)},
			[]any{file.Hosts.AllowAll, file.Hosts.Names, file.Hosts.HostTokens, len(file.Hosts.Also)}},
		{"shutdown grace", flags.ShutdownGrace, file.ShutdownGrace},
		{"drain", []any{flags.DrainTimeout, flags.DrainDelay}, []any{file.DrainTimeout, file.DrainDelay}},
		{"routes", len(flags.Routes), len(file.Routes)},
	})
	if len(flags.Routes) != 1 || len(file.Routes) != 1 {
		return
	}
	a, b := flags.Routes[0], file.Routes[0]
	for _, r := range []*bridge.Route{a, b} {
		if len(r.CGIEnv) == 0 {
			r.CGIEnv = nil // none either way
		}
	}
	sameRoute(t, what, a, b)
	sameAuth(t, what, a.Auth, b.Auth)
	sameFields(t, what, []field{
		{"path", a.Path, b.Path},
		{"origins", a.Origins, b.Origins},
		{"idle timeout", a.IdleTimeout, b.IdleTimeout},
		{"static", a.StaticDir, b.StaticDir},
		{"CGI", a.CGIDir, b.CGIDir},
		{"CGI env", a.CGIEnv, b.CGIEnv},
		{"CGI grace", a.CGIGrace, b.CGIGrace},
		{"dev console", a.DevConsole, b.DevConsole},
		{"headers ws", a.HeaderWS, b.HeaderWS},
		{"headers http", a.HeaderHTTP, b.HeaderHTTP},
	})
}

// TestPrintConfigRoundTrip: the file print-config prints for a command
// line builds the same server as the command line.
func TestPrintConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := write("tokens", "vnc: 127.0.0.1:5900\n")
	bearer := write("bearer", "alice s3cret-token\n")
	index := write("index.html", "<html></html>\n")
	jwtKey := write("jwt", strings.Repeat("k", 40)+"\n")
	cert, key := selfSignedFiles(t, dir)
	t.Setenv("WSBRIDGE_PASSWORD_AL", "pw")
	t.Setenv("WSBRIDGE_PASSWORD_BOB_X", "pw2")

	for _, args := range [][]string{
		{"cat"},
		{"--port", "0", "--dir", dir},
		{"--port", "0", "--binary", "cat"},
		{"--framing", "raw", "--maxframesize", "0", "cat", "-n"},
		{"--stderr", "json", "cat"},
		{"--unbuffer", "--framing", "raw", "cat"},
		{"--unbuffer", "--shared", "cat"},
		{"--passstderr", "--passenv", "PATH,HOME", "--url-args", "--reverselookup", "--", "sh", "-c", "cat"},
		{"--tcp", "127.0.0.1:5900", "--staticdir", dir},
		{"--token-file", tokens},
		{"--token-file", tokens, "--host-token", "--staticdir", dir, "--port", "6080"},
		{"--token-redis", "127.0.0.1:6390:1::vnc", "--host-token", "--dial-timeout", "3s"},
		{"--token-redis", "redis://:pw@[::1]:6390/2?namespace=a:b"},
		{"--tcp", "127.0.0.1:5900", "--dial-timeout", "2.5", "--proxy-protocol", "v1", "--tcp-tls", "--tcp-servername", "vnc.example"},
		{"--unix", filepath.Join(dir, "sock"), "--framing", "binary", "--subprotocol", "x,y"},
		{"--pty", "--readonly", "--title", "T", "--term-option", "fontSize=20", "--term-option", `theme={"background":"#202020"}`, "bash"},
		{"--pty", "--url-term-options", "", "--index", index, "--record", dir, "--record-max", "5MB", "--base-path", "/term", "sh"},
		{"--pty", "--url-term-options", "fontSize", "--passenv", "", "sh", "-l"},
		{"--pty", "--linger", "10m", "sh"},
		{"--pty", "--linger", "10m", "--writers", "one", "sh"},
		{"--pty", "--linger", "90", "--scrollback", "64KiB", "--record", dir, "sh"},
		{"--basic-auth", "al:pw", "--basic-auth", "bob.x:pw2", "--auth-fail-limit", "0", "--auth-fail-delay", "0", "cat"},
		{"--bearer-token-file", bearer, "--auth-query", "", "--auth-cookie", "tok", "--jwt-key", jwtKey, "--jwt-audience", "me", "cat"},
		{"--origin", "https://a.example,b.example:8443", "--origin", "c.example", "--allowed-host", "*.example.com", "--trusted-proxy", "10.0.0.0/8", "cat"},
		{"--origin", "*", "--allowed-host", "*", "--header", "X-A: 1", "--header-ws", "X-B: two, three", "--header-http", "Cache-Control: no-store", "cat"},
		{"--maxforks", "3", "--pingms", "1500", "--idle-timeout", "5m", "--closems", "200", "--cgidir", dir, "cat"},
		{"--devconsole", "--address", "127.0.0.1", "--redirport", "0", "--loglevel", "DEBUG", "--logformat", "json", "cat"},
		{"--unixsocket", filepath.Join(dir, "ws.sock"), "--trusted-proxy", "unix", "cat"},
		{"--unixsocket", filepath.Join(dir, "ws.sock"), "--ssl", "--sslcert", cert, "--sslkey", key, "cat"},
		{"--ssl", "--tls-cert", cert, "--tls-key", key, "--sslca", cert, "--client-cn", "bob,carol", "--redirport", "8081", "cat"},
		{"--acme-domain", "a.example", "--acme-cache", dir, "--acme-email", "me@a.example", "--acme-directory", "https://ca.example/dir", "cat"},
		{"--address", "::1", "--port", "0", "--dial-timeout", "10", "--unix", filepath.Join(dir, "sock")},
		{"--drain-timeout", "2m", "--drain-delay", "1.5", "cat"},
		{"--shared", "cat"},
		{"--compression", "on", "cat"},
		{"--pty", "--compression", "off", "sh"},
		{"--pty", "--compression", "auto", "sh"},
		{"--shared-options", "start=first,linger=2s,restart=always,replay=10,queue=1MiB,slow=wait,input=none", "--framing", "binary", "cat"},
		{"--bearer-token-file", bearer, "--shared-options", "writers=alice:bob", "cat"},
	} {
		what := strings.Join(args, " ")
		out, _, err := printConfig(t, args...)
		if err != nil {
			t.Errorf("print-config %s: %v", what, err)
			continue
		}
		file, err := fileServer(t, out)
		if err != nil {
			t.Errorf("print-config %s:\n%s\n%v", what, out, err)
			continue
		}
		sameServer(t, what, flagServer(t, args...), file)
	}
}

// selfSignedFiles writes a self-signed certificate for 127.0.0.1 and its
// key into dir.
func selfSignedFiles(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, cert, key, time.Now().Add(time.Hour))
	return cert, key
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1, valid
// from an hour ago until notAfter, and its key into the files.
func writeSelfSigned(t *testing.T, cert, key string, notAfter time.Time) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "print-config"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(k)
	for file, b := range map[string]*pem.Block{cert: {Type: "CERTIFICATE", Bytes: der}, key: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(file, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPrintConfigAdmin: --admin-address becomes admin: {address: ...},
// which the file serves with.
func TestPrintConfigAdmin(t *testing.T) {
	out, _, err := printConfig(t, "--admin-address", "127.0.0.1:9090", "cat")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "\nadmin:\n  address: 127.0.0.1:9090\n") {
		t.Errorf("no admin address in\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "wsbridge.yaml")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err == nil {
		err = f.Validate()
	}
	if err != nil || f.Admin.Address != "127.0.0.1:9090" {
		t.Errorf("the file's admin: %+v %v", f.Admin, err)
	}
}

// TestPrintConfigShort: the file holds what differs from the defaults, and
// the port.
func TestPrintConfigShort(t *testing.T) {
	out, _, err := printConfig(t, "--pty", "bash")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(out, "\n") {
		if k, _, ok := strings.Cut(strings.TrimLeft(line, " -"), ":"); ok && !strings.HasPrefix(line, "#") && !strings.Contains(line, "#") {
			keys = append(keys, k)
		}
	}
	if want := "listen port routes path pty command"; strings.Join(keys, " ") != want {
		t.Errorf("keys %q, want %q:\n%s", keys, want, out)
	}
}

// TestPrintConfigNoFileForm: what a config file cannot say yet is refused
// with exit 2, not left out.
func TestPrintConfigNoFileForm(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--once", "cat"}, "--once has no config file key yet"},
		{[]string{"--exit-no-conn", "cat"}, "--exit-no-conn has no config file key yet"},
		{[]string{"--header", "X-A: 1", "--header", "x-a: 2", "cat"}, "--header X-A twice"},
		{[]string{"--pty", "--dir", dir}, "--pty with --dir has no config file key"},
		{[]string{"--tcp", "127.0.0.1:9", "--framing", "line"}, "--framing line with a TCP backend"},
		{[]string{"--tcp", "127.0.0.1:9", "--passenv", "HOME"}, "--passenv with a TCP backend"},
	} {
		out, _, err := printConfig(t, tc.args...)
		var ec cli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != exitUsage || !strings.Contains(err.Error(), tc.want) || out != "" {
			t.Errorf("print-config %q: %v, printed %q; want exit 2 and %q", tc.args, err, out, tc.want)
		}
	}
}

// TestPrintConfigKnowsEveryFlag: a server flag added later must be given
// its place in print-config (or a refusal) before this test passes again:
// print-config must never drop a setting silently.
func TestPrintConfigKnowsEveryFlag(t *testing.T) {
	known := strings.Fields(`port address unixsocket redirport ssl sslcert sslkey sslca client-cn
		acme-domain acme-cache acme-email acme-directory dir framing binary passenv stderr passstderr
		reverselookup url-args tcp unix token-file token-redis host-token dial-timeout tcp-tls tcp-ca tcp-servername
		proxy-protocol pty title term-option url-term-options index readonly record record-max origin
		sameorigin allowed-host trusted-proxy basic-auth htpasswd bearer-token-file jwt-key jwt-audience
		auth-query auth-cookie auth-fail-limit auth-fail-delay maxforks once exit-no-conn maxframesize
		pingms idle-timeout closems subprotocol staticdir cgidir devconsole base-path header header-ws
		header-http loglevel logformat drain-timeout drain-delay admin-address shared shared-options unbuffer
		linger scrollback writers compression`)
	for _, f := range printConfigCommand().Flags {
		if name := f.Names()[0]; !slices.Contains(known, name) {
			t.Errorf("--%s: print-config does not write it into the file; give it its key, or refuse it", name)
		}
	}
}
