package main

import (
	"bytes"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// Without --proxy, the proxy variables decide, by the URL's scheme (ws: like
// http, wss: like https), and NO_PROXY and loopback hosts go direct.
// connectProxy reads the variables each time it is called.
func TestConnectProxyFromEnvironment(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://secure-proxy.example:3128")
	t.Setenv("HTTP_PROXY", "http://plain-proxy.example:8080")
	t.Setenv("NO_PROXY", "inside.example")
	expectProxies(t, map[string]string{
		"wss://remote.example/ssh": "http://secure-proxy.example:3128",
		"ws://remote.example/ssh":  "http://plain-proxy.example:8080",
		"wss://inside.example/":    "",
		"ws://127.0.0.1:8080/":     "",
	})
}

// ALL_PROXY (a SOCKS5 proxy, say) is taken where HTTPS_PROXY or HTTP_PROXY
// are not set, under the same NO_PROXY.
func TestConnectAllProxy(t *testing.T) {
	for _, name := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "REQUEST_METHOD"} {
		t.Setenv(name, "")
	}
	t.Setenv("HTTPS_PROXY", "http://secure-proxy.example:3128")
	t.Setenv("ALL_PROXY", "socks5h://user:pw@socks.example:1080")
	t.Setenv("NO_PROXY", "inside.example")
	expectProxies(t, map[string]string{
		"wss://remote.example/": "http://secure-proxy.example:3128",
		"ws://remote.example/":  "socks5h://user:pw@socks.example:1080",
		"ws://inside.example/":  "",
		"ws://localhost:8080/":  "",
	})
}

// `wsbridge connect --help` lists every flag under the heading of its
// category, in lines of at most 100 columns.
func TestConnectHelp(t *testing.T) {
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, io.Discard
	if err := app.Run([]string{"wsbridge", "connect", "--help"}); err != nil {
		t.Fatal(err)
	}
	under := map[string]string{} // a flag's names: the heading above them
	heading := ""
	for i, line := range strings.Split(out.String(), "\n") {
		if len(line) > 100 {
			t.Errorf("line %d has %d columns: %q", i+1, len(line), line)
		}
		if h, ok := strings.CutSuffix(line, ":"); ok && !strings.HasPrefix(line, " ") {
			heading = h
		}
		if names, ok := strings.CutPrefix(line, "   -"); ok {
			for _, n := range strings.Split(strings.Fields("-" + names + " ")[0], ",") {
				under[n] = heading
			}
		}
	}
	for _, f := range connectCommand().Flags {
		name := "--" + f.Names()[0]
		if cat := f.(cli.CategorizableFlag).GetCategory(); cat == "" || under[name] != cat {
			t.Errorf("%s is under %q, want its category %q", name, under[name], cat)
		}
	}
}

// expectProxies checks the proxy the variables choose for each URL (none: "").
func expectProxies(t *testing.T, want map[string]string) {
	t.Helper()
	proxyFor, err := connectProxy("", false)
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range want {
		u, _ := url.Parse(target)
		got, err := proxyFor(u)
		if err != nil {
			t.Fatal(err)
		}
		if (got == nil && want != "") || (got != nil && got.String() != want) {
			t.Errorf("%s: proxy %v, want %q", target, got, want)
		}
	}
}
