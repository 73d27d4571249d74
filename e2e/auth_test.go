//go:build unix

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"
)

// whoami prints what the program learns of its client.
var whoami = []string{"/bin/sh", "-c", `echo "user=$REMOTE_USER type=$AUTH_TYPE authz=$HTTP_AUTHORIZATION"`}

// attempt dials with header (and query) and returns the program's line, or
// the HTTP status of a refused handshake as "401" and its challenge.
func attempt(t *testing.T, inst *instance, query string, header http.Header) string {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(inst.URL+"/"+query, header)
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return resp.Status[:3] + " " + strings.Join(resp.Header.Values("WWW-Authenticate"), " | ")
	}
	defer c.Close()
	r := readAll(t, c)
	return strings.Join(r.texts, "\n")
}

func basic(user, pass string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestBasicAuth(t *testing.T) {
	inst := start(t, append([]string{"--basic-auth", "alice:wonder land", "--auth-fail-delay", "300ms", "--devconsole"}, whoami...)...)
	if got := attempt(t, inst, "", nil); !strings.HasPrefix(got, `401 Basic realm="wsbridge"`) {
		t.Errorf("no credentials: %q", got)
	}
	began := time.Now()
	if got := attempt(t, inst, "", basic("alice", "wrong")); !strings.HasPrefix(got, "401") {
		t.Errorf("wrong password: %q", got)
	}
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Errorf("a wrong password was answered after %v, before --auth-fail-delay", d)
	}
	inst.waitLog(func(m map[string]any) bool {
		return m["msg"] == "authentication failed" && strings.HasPrefix(m["client"].(string), "127.0.0.1:")
	})
	// The program gets the user, never the password.
	if got := attempt(t, inst, "", basic("alice", "wonder land")); got != "user=alice type=Basic authz=" {
		t.Errorf("right password: %q", got)
	}
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" && m["user"] == "alice" })
	// Plain HTTP (here the dev console) is behind the same check.
	if status, _ := get(t, "http://"+inst.Host+"/"); status != 401 {
		t.Errorf("dev console without credentials: %d", status)
	}
	// Garbage is a 401, never a crash.
	for _, h := range []string{"Basic", "Basic !!!", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "Digest x", strings.Repeat("A", 4000)} {
		if got := attempt(t, inst, "", http.Header{"Authorization": {h}}); !strings.HasPrefix(got, "401") {
			t.Errorf("Authorization %.20q: %q", h, got)
		}
	}
	// Valid credentials never excuse another site's page.
	h := basic("alice", "wonder land")
	h.Set("Origin", "https://evil.example")
	if got := attempt(t, inst, "", h); !strings.HasPrefix(got, "403") {
		t.Errorf("cross-origin with credentials: %q", got)
	}
}

// TestAuthFailLimit: after --auth-fail-limit wrong credentials from one
// client, that client gets 429 with Retry-After, even with the right
// password, while other clients go on. The clients are told apart by
// X-Forwarded-For through a trusted proxy, the address the limit counts.
func TestAuthFailLimit(t *testing.T) {
	inst := start(t, "--basic-auth", "alice:secret", "--auth-fail-delay", "0", "--auth-fail-limit", "3",
		"--trusted-proxy", "127.0.0.1", "--address", "127.0.0.1", "/bin/echo", "in")
	from := func(client string, h http.Header) http.Header {
		h.Set("X-Forwarded-For", client)
		return h
	}
	for i := range 3 {
		if status, _ := handshakeStatus(t, inst.URL+"/", from("203.0.113.1", basic("alice", "guess"))); status != 401 {
			t.Fatalf("wrong password %d: HTTP %d, want 401", i+1, status)
		}
	}
	for _, pass := range []string{"guess", "secret"} {
		status, h := handshakeStatus(t, inst.URL+"/", from("203.0.113.1", basic("alice", pass)))
		if status != 429 || h.Get("Retry-After") == "" {
			t.Errorf("over the limit, password %q: HTTP %d, Retry-After %q; want 429 with Retry-After", pass, status, h.Get("Retry-After"))
		}
	}
	if status, _ := handshakeStatus(t, inst.URL+"/", from("203.0.113.2", basic("alice", "secret"))); status != 101 {
		t.Errorf("another client, right password: HTTP %d, want 101", status)
	}
}

func TestHtpasswd(t *testing.T) {
	hash := func(p string) string {
		h, _ := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		return string(h)
	}
	file := filepath.Join(t.TempDir(), "htpasswd")
	writeFile(t, file, "# users\nalice:"+hash("one")+"\nbroken line\nbob:$apr1$abc$def\ncarol:"+hash("three")+"\n")
	inst := start(t, append([]string{"--htpasswd", file, "--auth-fail-delay", "0"}, whoami...)...)
	for _, at := range []string{file + ":3", file + ":4"} {
		inst.waitLog(func(m map[string]any) bool { return m["msg"] == "--htpasswd: line skipped" && m["at"] == at })
	}
	for _, tc := range []struct{ user, pass, want string }{
		{"alice", "one", "user=alice type=Basic authz="},
		{"carol", "three", "user=carol type=Basic authz="},
		{"alice", "three", "401"},
		{"bob", "def", "401"},
		{"nobody", "one", "401"},
	} {
		if got := attempt(t, inst, "", basic(tc.user, tc.pass)); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s:%s: %q, want %q", tc.user, tc.pass, got, tc.want)
		}
	}
	// A changed password counts for the next connection.
	writeFile(t, file, "alice:"+hash("new")+"\n")
	if got := attempt(t, inst, "", basic("alice", "one")); !strings.HasPrefix(got, "401") {
		t.Errorf("old password after the edit: %q", got)
	}
	if got := attempt(t, inst, "", basic("alice", "new")); !strings.HasPrefix(got, "user=alice") {
		t.Errorf("new password after the edit: %q", got)
	}
}

func TestBearerTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, file, "# tokens\ns3cr3t-anon\nalice s3cr3t-alice\ntoo many fields\n")
	inst := start(t, append([]string{"--bearer-token-file", file, "--auth-cookie", "wsb", "--auth-fail-delay", "0"}, whoami...)...)
	inst.waitLog(func(m map[string]any) bool {
		return m["msg"] == "--bearer-token-file: line skipped" && m["at"] == file+":4"
	})
	cookie := http.Header{"Cookie": {"wsb=s3cr3t-alice"}}
	for _, tc := range []struct {
		name, query string
		header      http.Header
		want        string
	}{
		{"header", "", bearer("s3cr3t-alice"), "user=alice type=Bearer authz="},
		{"no user", "", bearer("s3cr3t-anon"), "user= type=Bearer"},
		{"query", "?access_token=s3cr3t-alice", nil, "user=alice type=Bearer"},
		{"cookie", "", cookie, "user=alice type=Bearer"},
		{"unknown", "", bearer("guess"), `401 Bearer realm="wsbridge"`},
		{"unknown query", "?access_token=guess", nil, "401"},
		{"none", "", nil, "401"},
		{"basic instead", "", basic("alice", "s3cr3t-alice"), "401"},
	} {
		if got := attempt(t, inst, tc.query, tc.header); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	writeFile(t, file, "bob s3cr3t-bob\n")
	if got := attempt(t, inst, "", bearer("s3cr3t-alice")); !strings.HasPrefix(got, "401") {
		t.Errorf("a token removed from the file: %q", got)
	}
	if got := attempt(t, inst, "", bearer("s3cr3t-bob")); !strings.HasPrefix(got, "user=bob") {
		t.Errorf("a token added to the file: %q", got)
	}
}

func TestJWT(t *testing.T) {
	dir := t.TempDir()
	secret := []byte("0123456789abcdef0123456789abcdef-secret")
	os.WriteFile(filepath.Join(dir, "hs.key"), append(secret, '\n'), 0o600)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, pub := range map[string]any{"rs.pem": &rsaKey.PublicKey, "es.pem": &ecKey.PublicKey} {
		der, _ := x509.MarshalPKIXPublicKey(pub)
		os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	}
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "aud": "wsbridge", "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		keyFile string
		method  jwt.SigningMethod
		key     any
	}{
		{"hs.key", jwt.SigningMethodHS256, secret},
		{"rs.pem", jwt.SigningMethodRS256, rsaKey},
		{"es.pem", jwt.SigningMethodES256, ecKey},
	} {
		t.Run(tc.method.Alg(), func(t *testing.T) {
			inst := start(t, append([]string{"--jwt-key", filepath.Join(dir, tc.keyFile), "--jwt-audience", "wsbridge", "--auth-fail-delay", "0"}, whoami...)...)
			good := sign(tc.method, tc.key, claims(nil))
			if got := attempt(t, inst, "", bearer(good)); got != "user=alice type=Bearer authz=" {
				t.Errorf("a good token: %q", got)
			}
			if got := attempt(t, inst, "?access_token="+good, nil); !strings.HasPrefix(got, "user=alice") {
				t.Errorf("a good token in the query: %q", got)
			}
			otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			for name, tok := range map[string]string{
				"expired":        sign(tc.method, tc.key, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })),
				"not yet valid":  sign(tc.method, tc.key, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })),
				"wrong audience": sign(tc.method, tc.key, claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" })),
				"wrong key":      sign(jwt.SigningMethodES256, otherKey, claims(nil)),
				"alg none":       sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)),
				"garbage":        "eyJ.garbage.!!",
				"tampered":       good[:len(good)-4] + "AAAA",
			} {
				if got := attempt(t, inst, "", bearer(tok)); !strings.HasPrefix(got, "401") {
					t.Errorf("%s: %q", name, got)
				}
			}
		})
	}
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("too short"), 0o600)
	bad := launch(t, "--jwt-key", short, "cat")
	<-bad.exited
	if out := bad.output(); !strings.Contains(out, "at least 32 bytes") {
		t.Errorf("a short HS256 secret: %q", out)
	}
}

// TestCredentialsNeverReachPrograms: once wsbridge has checked a token sent
// as ?access_token= or as the --auth-cookie, neither the program nor a CGI
// script sees it; other parameters and cookies stay as sent.
func TestCredentialsNeverReachPrograms(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, file, "alice s3cr3t-alice\n")
	inst := start(t, "--bearer-token-file", file, "--auth-cookie", "wsb", "--cgidir", cgiEnvTree(t), example("env.sh"))
	query := "?x=1&access_token=s3cr3t-alice&y=a%20b"
	cookie := http.Header{"Cookie": {"a=1; wsb=s3cr3t-alice; b=2"}}
	check := func(kind string, env map[string]string, uri string) {
		t.Helper()
		for k, want := range map[string]string{
			"QUERY_STRING": "x=1&y=a%20b",
			"REQUEST_URI":  uri + "?x=1&y=a%20b",
			"HTTP_COOKIE":  "a=1; b=2",
			"REMOTE_USER":  "alice",
		} {
			if env[k] != want {
				t.Errorf("%s: %s=%q, want %q", kind, k, env[k], want)
			}
		}
		for k, v := range env {
			if strings.Contains(v, "s3cr3t") {
				t.Errorf("%s: the token reached the program in %s=%q", kind, k, v)
			}
		}
	}
	c := inst.dial("/p"+query, cookie)
	execEnv := map[string]string{}
	for _, line := range readAll(t, c).texts {
		k, v, _ := strings.Cut(line, "=")
		execEnv[k] = v
	}
	check("exec", execEnv, "/p")
	check("cgi", cgiEnv(t, "http://"+inst.Host+"/env.sh"+query, cookie), "/env.sh")

	// Without a method that reads them, they are not credentials: they stay.
	basicOnly := start(t, "--basic-auth", "alice:pw", "--auth-cookie", "wsb", example("env.sh"))
	c = basicOnly.dial("/"+query, basic("alice", "pw"))
	var got []string
	for _, line := range readAll(t, c).texts {
		if strings.HasPrefix(line, "QUERY_STRING=") || strings.HasPrefix(line, "HTTP_AUTHORIZATION=") {
			got = append(got, line)
		}
	}
	if strings.Join(got, " ") != "QUERY_STRING=x=1&access_token=s3cr3t-alice&y=a%20b" {
		t.Errorf("with --basic-auth only: %q", got)
	}
}
