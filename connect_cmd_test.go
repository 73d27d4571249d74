package main

import (
	"net/url"
	"testing"
)

// Without --proxy, the proxy variables decide, by the URL's scheme (ws: like
// http, wss: like https), and NO_PROXY and loopback hosts go direct.
// connectProxy reads the variables each time it is called.
func TestConnectProxyFromEnvironment(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://secure-proxy.example:3128")
	t.Setenv("HTTP_PROXY", "http://plain-proxy.example:8080")
	t.Setenv("NO_PROXY", "inside.example")
	proxyFor, err := connectProxy("", false)
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{
		"wss://remote.example/ssh": "http://secure-proxy.example:3128",
		"ws://remote.example/ssh":  "http://plain-proxy.example:8080",
		"wss://inside.example/":    "",
		"ws://127.0.0.1:8080/":     "",
	} {
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

// ALL_PROXY (a SOCKS5 proxy, say) is taken where HTTPS_PROXY or HTTP_PROXY
// are not set, under the same NO_PROXY.
func TestConnectAllProxy(t *testing.T) {
	for _, name := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "REQUEST_METHOD"} {
		t.Setenv(name, "")
	}
	t.Setenv("HTTPS_PROXY", "http://secure-proxy.example:3128")
	t.Setenv("ALL_PROXY", "socks5h://user:pw@socks.example:1080")
	t.Setenv("NO_PROXY", "inside.example")
	proxyFor, err := connectProxy("", false)
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{
		"wss://remote.example/": "http://secure-proxy.example:3128",
		"ws://remote.example/":  "socks5h://user:pw@socks.example:1080",
		"ws://inside.example/":  "",
		"ws://localhost:8080/":  "",
	} {
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
