package bridge

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gorilla/websocket"
)

// HostPolicy decides which Host names the server answers to. It stops DNS
// rebinding: a page of another site whose name is re-pointed at this machine
// reaches the server with the page's own name as Host (and as Origin, so the
// same-origin check alone passes it).
//
// Always answered: localhost and *.localhost (browsers resolve them to
// loopback themselves), and IP literals: a Host that is an address names
// the machine the browser really connected to, which a rebinding page cannot
// choose. Any other name must be given: Names, or a name Also accepts (a
// certificate's names, ACME domains, host tokens).
type HostPolicy struct {
	AllowAll bool         // --allowed-host '*': no check
	Names    []string     // lower-case names; "*.example.com" is any name under example.com
	Also     []HostSource // more names the server answers to, asked in turn
	// HostTokens: the backend takes the Host name as a token (websockify's
	// --host-token) and refuses an unknown one on upgrades itself, with 404.
	HostTokens bool
}

// HostSource is a set of names the server answers to that may change while
// it runs, such as a certificate's names or a token file's host tokens.
type HostSource struct {
	What string // for the log: "certificate names"
	Has  func(host string) bool
}

// ParseAllowedHosts reads --allowed-host values: names, "*.example.com" for
// the names under example.com, or "*" for any Host.
func ParseAllowedHosts(values []string) (HostPolicy, error) {
	var p HostPolicy
	for _, v := range values {
		v = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(v), "."))
		switch {
		case v == "":
			continue
		case v == "*":
			p.AllowAll = true
			continue
		}
		name := strings.TrimPrefix(v, "*.")
		if h, _, err := net.SplitHostPort(name); err == nil {
			return p, fmt.Errorf("%q: give the name without a port (%s)", v, h)
		}
		if strings.ContainsAny(name, "*/:?#@[] ") || strings.HasPrefix(name, ".") {
			return p, fmt.Errorf("%q: want a host name, *.domain or '*'", v)
		}
		p.Names = append(p.Names, v)
	}
	return p, nil
}

// Allows reports whether the server answers to the request's Host (a name
// with an optional port).
func (p *HostPolicy) Allows(hostport string) bool {
	if p.AllowAll {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, n := range p.Names {
		if n == host || (strings.HasPrefix(n, "*.") && strings.HasSuffix(host, n[1:])) {
			return true
		}
	}
	for _, also := range p.Also {
		if also.Has(host) {
			return true
		}
	}
	return false
}

// String lists the names answered, for the log.
func (p *HostPolicy) String() string {
	names := append([]string{"localhost", "*.localhost", "IP addresses"}, p.Names...)
	for _, also := range p.Also {
		names = append(names, also.What)
	}
	return strings.Join(names, ", ")
}

// guard answers 421 to a request whose Host the server does not answer to,
// before anything else sees it: no page, no upgrade, no backend.
func (p *HostPolicy) guard(next http.Handler, obs Observer, trusted TrustedProxies) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A CONNECT request's Host is where it wants a tunnel to, not a
		// name of ours, and a broken handshake is answered 400 as it is
		// (checkHandshake): neither gets a page or a session either way.
		upgrade := websocket.IsWebSocketUpgrade(r)
		exempt := (r.Method == http.MethodConnect && !upgrade) ||
			(upgrade && (p.HostTokens || checkHandshake(r) != nil))
		if !exempt && !p.Allows(r.Host) {
			obs.Refused(RefusedEvent{Reason: RefusedHost, Client: trusted.ClientAddr(r), Path: r.URL.Path, Upgrade: upgrade, Request: r})
			http.Error(w, "this server does not answer to that host name", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}
