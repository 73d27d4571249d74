//go:build unix

package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/internal/redistest"
)

// TestTokenRedis: two wsbridge instances, one from flags (the source with
// its password in the environment) and one from a config file (the
// password in a file), route tokens from one real Redis alike: to real TCP
// targets, 404 for an unknown token, 502 for a bad value; a change in Redis
// reaches both; Redis stopped is 503 for both, and both recover when it is
// back on its port.
func TestTokenRedis(t *testing.T) {
	requireTool(t, redistest.Binary, "Redis token targets")
	srv := redistest.Start(t, "--requirepass", "s3cret")
	a := backend(t, "tcp", "127.0.0.1:0", says("A"))
	b := backend(t, "tcp", "127.0.0.1:0", says("B"))
	set := func(key, value string) { srv.Do(1, "SET", key, value) }
	set("vnc:vm-a", fmt.Sprintf(`{"host": %q}`, a.Addr().String()))
	set("vnc:vm-b", b.Addr().String())
	set("vnc:bad", "no port here")

	flags := startEnv(t, []string{"WSBRIDGE_TOKEN_REDIS=" + srv.Addr() + ":1:s3cret:vnc"})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "redis.password"), "s3cret\n")
	writeFile(t, filepath.Join(dir, "wsbridge.yaml"), fmt.Sprintf(`listen: [{port: 0}]
routes:
  - path: /websockify
    tokens: {redis: "redis://%s/1?namespace=vnc", password_file: redis.password}
`, srv.Addr()))
	file := launchConfig(t, filepath.Join(dir, "wsbridge.yaml"))

	both := func(what string, want map[string]string) {
		t.Helper()
		for _, inst := range []*instance{flags, file} {
			for token, w := range want {
				if got := greeting(t, inst.URL+"/websockify?token="+token, nil); got != w {
					t.Errorf("%s, %s: token %s got %s, want %s", what, inst.URL, token, got, w)
				}
			}
		}
	}
	// eventually is both, once the cached answers are gone.
	eventually := func(what string, want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for _, inst := range []*instance{flags, file} {
			for token, w := range want {
				for greeting(t, inst.URL+"/websockify?token="+token, nil) != w {
					if time.Now().After(deadline) {
						t.Fatalf("%s, %s: token %s is not %s after a minute", what, inst.URL, token, w)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
	}

	both("at start", map[string]string{"vm-a": "A", "vm-b": "B", "nope": "404", "bad": "502"})
	for _, inst := range []*instance{flags, file} {
		inst.waitLog(func(m map[string]any) bool { return m["msg"] == "token store: bad value" && m["key"] == "vnc:bad" })
	}
	set("vnc:vm-a", b.Addr().String())
	srv.Do(1, "DEL", "vnc:vm-b")
	eventually("after an edit in Redis", map[string]string{"vm-a": "B", "vm-b": "404"})

	srv.Stop()
	eventually("with Redis stopped", map[string]string{"vm-a": "503"})
	for _, inst := range []*instance{flags, file} {
		inst.waitLog(func(m map[string]any) bool { return m["msg"] == "token store unavailable" })
	}
	srv.Restart() // empty, on the same port
	set("vnc:vm-a", a.Addr().String())
	eventually("with Redis back", map[string]string{"vm-a": "A", "vm-b": "404"})
}
