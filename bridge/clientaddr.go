package bridge

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// TrustedProxies are the peers whose X-Forwarded-For and X-Real-IP headers
// count (--trusted-proxy). From anyone else they are ignored: a client could
// claim any address.
type TrustedProxies []netip.Prefix

// UnixPeers in TrustedProxies trusts every peer of a unix-socket listener.
// Those have no address to match, and only who may open the socket's file
// reaches them: normally the reverse proxy in front.
var UnixPeers = netip.Prefix{}

// ParseTrustedProxy reads a CIDR, a single address, or "unix" (UnixPeers).
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	if s == "unix" {
		return UnixPeers, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (t TrustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) { // never UnixPeers: an invalid Prefix contains nothing
			return true
		}
	}
	return false
}

// trustsPeer says whether the request came straight from a trusted proxy: an
// address in the list, or any peer of a unix socket with UnixPeers.
func (t TrustedProxies) trustsPeer(r *http.Request, peer netip.Addr) bool {
	if peer.IsValid() {
		return t.trusts(peer)
	}
	la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return la != nil && la.Network() == "unix" && slices.Contains(t, UnixPeers)
}

// ClientAddr is the request's client: the peer itself, unless the peer is a
// trusted proxy. Then X-Forwarded-For is read from the right, past every
// trusted proxy, to the first address that is not one; without it,
// X-Real-IP. An address learned from a header has no port.
func (t TrustedProxies) ClientAddr(r *http.Request) string {
	peer, _ := splitRemote(r.RemoteAddr)
	if len(t) == 0 || !t.trustsPeer(r, peer) {
		return r.RemoteAddr
	}
	if hops := r.Header.Values("X-Forwarded-For"); len(hops) > 0 {
		client := peer
		list := strings.Split(strings.Join(hops, ","), ",")
		for i := len(list) - 1; i >= 0; i-- {
			a, ok := parseHop(list[i])
			if !ok {
				break // a broken chain: keep the last hop we know
			}
			client = a
			if !t.trusts(a) {
				break
			}
		}
		if !client.IsValid() { // a unix-socket peer, and no hop we could read
			return r.RemoteAddr
		}
		return client.String()
	}
	if a, ok := parseHop(r.Header.Get("X-Real-IP")); ok {
		return a.String()
	}
	return r.RemoteAddr
}

// parseHop reads one address of X-Forwarded-For or X-Real-IP, with or
// without a port. An address with a zone is refused: the zone is another
// host's interface name, meaningless here, and any text (spaces too) that
// would end up in logs and PROXY headers.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if ap, perr := netip.ParseAddrPort(s); perr == nil {
		a, err = ap.Addr(), nil
	}
	return a.Unmap(), err == nil && a.Zone() == ""
}

// splitRemote reads a client address, "ip:port" or a bare "ip"; the port is
// 0 when there is none.
func splitRemote(s string) (netip.Addr, uint16) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), ap.Port()
	}
	a, _ := netip.ParseAddr(s)
	return a.Unmap(), 0
}

// proxyHeader is the PROXY protocol header (HAProxy's spec, version 1 or 2)
// that tells the backend who the client is and which address it reached.
// A client or listener without an IP address (a unix socket) is sent as
// unknown (v1 UNKNOWN, v2 LOCAL), which backends accept as a local connection.
func proxyHeader(version int, r *http.Request) []byte {
	src, sport := splitRemote(r.RemoteAddr)
	var dst netip.Addr
	var dport uint16
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		dst, dport = splitRemote(la.String())
	}
	// The header carries bare addresses: a link-local peer's zone has no
	// place in it (and in v1 a zone with a space would break the line).
	src, dst = src.WithZone(""), dst.WithZone("")
	known := src.IsValid() && dst.IsValid()
	if known && src.Is4() != dst.Is4() {
		// One side is IPv6: send both as IPv6, the IPv4 one mapped.
		src, dst = netip.AddrFrom16(src.As16()), netip.AddrFrom16(dst.As16())
	}
	if version == 1 {
		if !known {
			return []byte("PROXY UNKNOWN\r\n")
		}
		family := "TCP4"
		if !src.Is4() {
			family = "TCP6"
		}
		return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", family, src, dst, sport, dport)
	}
	h := []byte("\r\n\r\n\x00\r\nQUIT\n") // signature
	if !known {
		// Version 2 LOCAL, AF_UNSPEC: backends must accept it and use the
		// connection's own addresses.
		return append(h, 0x20, 0x00, 0, 0)
	}
	h = append(h, 0x21) // version 2 PROXY
	if src.Is4() {
		h = append(h, 0x11, 0, 12) // TCP over IPv4
	} else {
		h = append(h, 0x21, 0, 36) // TCP over IPv6
	}
	h = append(h, src.AsSlice()...)
	h = append(h, dst.AsSlice()...)
	h = binary.BigEndian.AppendUint16(h, sport)
	return binary.BigEndian.AppendUint16(h, dport)
}

// ParseProxyProtocol reads --proxy-protocol: v1 or v2.
func ParseProxyProtocol(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimPrefix(strings.ToLower(s), "v"))
	if err != nil || (v != 1 && v != 2) {
		return 0, fmt.Errorf("%q is not v1 or v2", s)
	}
	return v, nil
}
