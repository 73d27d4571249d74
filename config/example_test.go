package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExampleFile: examples/wsbridge.yaml loads and validates where it is
// meant to live, beside the files it names (made here). Without noVNC's
// Debian package its static folder stands in.
func TestExampleFile(t *testing.T) {
	text, err := os.ReadFile("../examples/wsbridge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"wsbridge.yaml": string(text),
		"term.password": "a long passphrase\n",
		"ssh.tokens":    "alice 0123456789abcdef0123456789abcdef\n",
		"api/hello.sh":  "#!/bin/sh\necho hello\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Load(filepath.Join(dir, "wsbridge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for i := range f.Routes {
		r := &f.Routes[i]
		kinds[r.Path] = r.Kind()
		if r.Static == "/usr/share/novnc" {
			if _, err := os.Stat(r.Static); err != nil {
				if os.Getenv("WSBRIDGE_REQUIRE_ALL") == "1" {
					t.Fatalf("noVNC is missing (Debian's novnc) and WSBRIDGE_REQUIRE_ALL=1: %v", err)
				}
				t.Logf("noVNC is missing (Debian's novnc): %s stands in for %s", dir, r.Static)
				r.Static = dir
			}
		}
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"/term/": "pty", "/vnc/": "tcp", "/api/": "exec", "/ssh": "tcp"}
	if len(kinds) != len(want) {
		t.Errorf("routes %v, want %v", kinds, want)
	}
	for path, kind := range want {
		if kinds[path] != kind {
			t.Errorf("route %s is %q, want %q", path, kinds[path], kind)
		}
	}
	if pw, err := f.Routes[0].Auth.Basic[0].Secret(); pw != "a long passphrase" || err != nil {
		t.Errorf("the terminal's password: %q, %v", pw, err)
	}
}
