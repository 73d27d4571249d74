package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestCheckConfig: check-config prints what a good file serves and exits 0;
// a bad file is one line naming FILE:LINE:COLUMN and the key, exit 2.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("tokens", "alice 0123456789abcdef\n")
	good := write("good.yaml", `
listen: [{port: 9000}, {unix: ws.sock}]
routes:
  - {path: /ssh, tcp: {target: "127.0.0.1:22"}, auth: {bearer_token_file: tokens}}
  - path: /echo/
    name: echo
    exec: {command: cat}
    origins: [https://app.example.com]
`)
	if got, want := runApp(t, "check-config", good), good+`: ok
listeners:
  127.0.0.1:9000 and [::1]:9000 (loopback)
  unix:`+dir+`/ws.sock
routes:
  /ssh -> tcp 127.0.0.1:22
      auth: bearer tokens `+dir+`/tokens; origins: same origin only
  /echo/ (echo) -> exec cat (line)
      auth: none (anyone who reaches it); origins: same origin and https://app.example.com
`; got != want {
		t.Errorf("check-config:\n%s\nwant:\n%s", got, want)
	}

	admin := write("admin.yaml", "admin: {address: \"9090\"}\nroutes: [{path: /, exec: {command: cat}}]\n")
	if got, want := runApp(t, "check-config", admin), admin+`: ok
listeners:
  127.0.0.1:8080 and [::1]:8080 (loopback)
admin: 9090 (/metrics, /healthz, /readyz; no auth)
routes:
  / -> exec cat (line)
      auth: none (anyone who reaches it); origins: same origin only
`; got != want {
		t.Errorf("check-config with admin:\n%s\nwant:\n%s", got, want)
	}

	bad := write("bad.yaml", "routes:\n  - path: /x\n    exec: {command: cat}\n    tcp: {target: \"127.0.0.1:22\"}\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check-config", bad}, bad + `:4:10: routes[0].tcp: a route has one backend; this one has exec and tcp`},
		{[]string{"check-config", filepath.Join(dir, "none.yaml")}, filepath.Join(dir, "none.yaml") + `: no such file or directory`},
		{[]string{"check-config"}, `check-config: name one config file`},
	} {
		var out bytes.Buffer
		app := newApp()
		app.Writer, app.ErrWriter = &out, &out
		err := app.Run(append([]string{"wsbridge"}, tc.args...))
		var ec cli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != exitUsage || err.Error() != tc.want || out.Len() > 0 {
			t.Errorf("%v: %v (printed %q), want exit %d and %q", tc.args, err, out.String(), exitUsage, tc.want)
		}
	}
}

// TestCheckConfigUnbuffer: check-config says which programs get a terminal
// for their stdout.
func TestCheckConfigUnbuffer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "unbuffer.yaml")
	if err := os.WriteFile(path, []byte("routes: [{path: /, exec: {command: cat, framing: raw, unbuffer: true}}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := runApp(t, "check-config", path); !strings.Contains(got, "  / -> exec cat (raw, unbuffered)\n") {
		t.Errorf("check-config:\n%s\nwant the route as \"exec cat (raw, unbuffered)\"", got)
	}
}

// TestCheckConfigRedis: check-config names the Redis a route's tokens come
// from, and never its password.
func TestCheckConfigRedis(t *testing.T) {
	path := filepath.Join(t.TempDir(), "redis.yaml")
	text := "routes:\n  - {path: /vnc, tokens: {redis: \"redis://:s3cret@10.0.0.2:6390/1?namespace=vnc\"}}\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got := runApp(t, "check-config", path)
	if !strings.Contains(got, "/vnc -> tokens from Redis at 10.0.0.2:6390/1 (namespace vnc)\n") || strings.Contains(got, "s3cret") {
		t.Errorf("check-config:\n%s", got)
	}
}
