package bridge

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// OriginPolicy decides which browser pages may open a WebSocket. A handshake
// without an Origin header (not a browser) always passes: origin checks guard
// against other sites' pages, not against clients that can set any header.
type OriginPolicy struct {
	AllowAll bool            // --origin='*'
	Allowed  []originPattern // --origin entries, allowed besides the same origin
}

type originPattern struct {
	scheme string // empty: any
	host   string
	port   string // empty: any
}

// ParseOrigins reads --origin values: '*' or a comma-separated list of
// host[:port] or scheme://host[:port].
func ParseOrigins(values []string) (OriginPolicy, error) {
	var p OriginPolicy
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			switch {
			case item == "":
				continue
			case item == "*":
				p.AllowAll = true
				continue
			}
			pat := originPattern{}
			hostport := item
			if i := strings.Index(item, "://"); i >= 0 {
				pat.scheme, hostport = strings.ToLower(item[:i]), item[i+3:]
			}
			if strings.ContainsAny(hostport, "/?#@ ") {
				return p, fmt.Errorf("origin %q: want host[:port] or scheme://host[:port]", item)
			}
			if h, port, err := net.SplitHostPort(hostport); err == nil {
				pat.host, pat.port = h, port
			} else {
				pat.host = strings.Trim(hostport, "[]")
			}
			if pat.host == "" {
				return p, fmt.Errorf("origin %q has no host", item)
			}
			pat.host = strings.ToLower(pat.host)
			p.Allowed = append(p.Allowed, pat)
		}
	}
	return p, nil
}

// Check reports whether the handshake's origin is allowed.
func (p OriginPolicy) Check(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || p.AllowAll {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	host, port := splitHost(u.Host, scheme == "https")
	host = strings.ToLower(host)
	// Same origin: the page came from this very host and port (a Host the
	// server answers to, see HostPolicy). A list adds origins to it.
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range p.Allowed {
		if (a.scheme == "" || a.scheme == scheme) && a.host == host && (a.port == "" || a.port == port) {
			return true
		}
	}
	return false
}
