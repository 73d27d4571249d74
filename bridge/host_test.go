package bridge

import (
	"strings"
	"testing"
)

func TestHostPolicy(t *testing.T) {
	p, err := ParseAllowedHosts([]string{"Shell.Example.com.", "*.apps.example", " "})
	if err != nil {
		t.Fatal(err)
	}
	p.Also = []HostSource{{What: "host tokens", Has: func(h string) bool { return h == "vm-a.example" }}}
	for host, want := range map[string]bool{
		"localhost":                  true,
		"localhost:8080":             true,
		"LocalHost.:8080":            true,
		"term.localhost:8080":        true,
		"127.0.0.1:8080":             true,
		"[::1]:8080":                 true,
		"192.0.2.7":                  true,
		"shell.example.com":          true,
		"SHELL.EXAMPLE.COM:443":      true,
		"a.apps.example":             true,
		"a.b.apps.example:1":         true,
		"apps.example":               false,
		"evil.example":               false,
		"evil.example:8080":          false,
		"127.0.0.1.evil.example":     false,
		"localhost.evil.example":     false,
		"shell.example.com.evil.net": false,
		"vm-a.example:6080":          true,
		"":                           false,
		":8080":                      false,
	} {
		if got := p.Allows(host); got != want {
			t.Errorf("Allows(%q) = %v, want %v", host, got, want)
		}
	}
	if s := p.String(); !strings.Contains(s, "shell.example.com") || !strings.Contains(s, "host tokens") {
		t.Errorf("String() = %q", s)
	}

	all, err := ParseAllowedHosts([]string{"*"})
	if err != nil || !all.AllowAll || !all.Allows("evil.example") {
		t.Errorf("'*': %+v, %v", all, err)
	}
	for _, bad := range []string{"host:80", "http://host", "a*.example", ".example", "[::1]", "*" + "*.x"} {
		if _, err := ParseAllowedHosts([]string{bad}); err == nil {
			t.Errorf("ParseAllowedHosts(%q): no error", bad)
		}
	}
}
