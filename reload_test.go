package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/internal/redistest"
)

// redisWithToken starts a real redis-server (or skips, see redistest) in
// which the token "tok" names a target, and has newTokenRedis record the
// Redis token sources that builds make from now on in made.
func redisWithToken(t *testing.T) (srv *redistest.Server, made *[]*bridge.TokenRedis) {
	srv = redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	err := c.Set(context.Background(), "tok", "127.0.0.1:1", 0).Err()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	made = new([]*bridge.TokenRedis)
	t.Cleanup(func() { newTokenRedis = bridge.NewTokenRedis })
	newTokenRedis = func(source, password string, log *slog.Logger) (*bridge.TokenRedis, error) {
		tr, err := bridge.NewTokenRedis(source, password, log)
		if err == nil {
			*made = append(*made, tr)
			t.Cleanup(func() { tr.Close() })
		}
		return tr, err
	}
	return srv, made
}

// wantClosed fails unless exactly one token source was made, and it is
// closed: with Redis up and the token there, it answers nothing.
func wantClosed(t *testing.T, made []*bridge.TokenRedis) {
	t.Helper()
	if len(made) != 1 {
		t.Fatalf("the build made %d Redis token sources, want 1", len(made))
	}
	if target, err := made[0].Target(context.Background(), "tok", false); err == nil {
		t.Fatalf("the failed build's Redis token source is still open: it found %v", target)
	}
}

// TestFailedReloadClosesRedis: a reload whose build fails after it made a
// Redis token source (here: at a listener's ACME cache, which only the
// build looks at, after the routes) closes that source.
func TestFailedReloadClosesRedis(t *testing.T) {
	srv, made := redisWithToken(t)
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	path := filepath.Join(dir, "wsbridge.yaml")
	text := "listen: [{port: 0, tls: {acme: {domains: [a.example], cache: " + notDir + "/acme}}}]\n" +
		"routes: [{path: /, tokens: {redis: \"" + srv.Addr() + "\"}}]\n"
	for _, file := range []struct{ name, text string }{{notDir, "not a folder\n"}, {path, text}} {
		if err := os.WriteFile(file.name, []byte(file.text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var logged strings.Builder
	rl := &reloader{path: path, srv: &bridge.Server{}, log: slog.New(slog.NewTextHandler(&logged, nil))}
	rl.reload()
	if !strings.Contains(logged.String(), "reload failed") || !strings.Contains(logged.String(), "listen[0].tls.acme.cache") {
		t.Fatalf("want the reload failed at listen[0].tls.acme.cache, logged:\n%s", logged.String())
	}
	wantClosed(t, *made)
}

// TestFailedBuildClosesRedis: a build that fails after a route's Redis
// token source was made closes it, wherever it fails: in that route's
// backend (its TLS CA), in its auth, or in a later route.
func TestFailedBuildClosesRedis(t *testing.T) {
	for _, tc := range []struct{ name, route, key string }{
		{"backend", "tokens: {redis: ADDR, tls: {ca: FILE}}", "routes[0].tokens.tls.ca"},
		{"auth", "tokens: {redis: ADDR}, auth: {htpasswd: FILE}", "routes[0].auth.htpasswd"},
		{"later route", "tokens: {redis: ADDR}}, {path: /b, exec: {command: cat}, auth: {htpasswd: FILE}", "routes[1].auth.htpasswd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, made := redisWithToken(t)
			file := filepath.Join(t.TempDir(), "file")
			if tc.name == "backend" {
				writeSelfSigned(t, file, file+".key", time.Now().Add(time.Hour))
			} else if err := os.WriteFile(file, []byte("# nobody\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			route := strings.NewReplacer("ADDR", `"`+srv.Addr()+`"`, "FILE", file).Replace(tc.route)
			f := fileConfig(t, "routes: [{path: /, "+route+"}]\n")
			if err := os.Remove(file); err != nil { // after Validate: only the build sees it gone
				t.Fatal(err)
			}
			_, err := buildConfigServer(f, discard)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("build: %v, want an error at %s", err, tc.key)
			}
			wantClosed(t, *made)
		})
	}
}
