package main

import (
	"fmt"
	"net"
)

// connectDown is issue 7's chain: a TCP source through the TCP bridge and
// `wsbridge connect --listen`, read by a plain TCP client, beside raw TCP
// and the bridge read by a Go WebSocket client.
func connectDown(o opts) error {
	src, err := newSource(o.bytes)
	if err != nil {
		return err
	}
	defer src.Close()
	bridges, err := startServers(wsbridgeSpec(o, "wsbridge", "--tcp", src.addr), websockifySpec(o, src.addr))
	if err != nil {
		return err
	}
	defer stopAll(bridges)
	var clients []serverSpec
	for _, b := range bridges {
		clients = append(clients, serverSpec{
			name: "connect → " + b.name, peer: b.peer, bin: o.wsbridge,
			args: []string{"connect", "--listen", "127.0.0.1:{port}", "--loglevel", "error", b.url()},
		})
	}
	listeners, err := startServers(clients...)
	if err != nil {
		return err
	}
	defer stopAll(listeners)
	// What any process in the path costs: plain read/write relays, one
	// and two of them.
	relay1, err := relay(src.addr, nil)
	if err != nil {
		return err
	}
	defer relay1.Close()
	relay2, err := relay(relay1.Addr().String(), nil)
	if err != nil {
		return err
	}
	defer relay2.Close()
	contenders := []*contender{src.rawTCP()}
	for i, l := range []net.Listener{relay1, relay2} {
		contenders = append(contenders, &contender{name: []string{"1 TCP relay", "2 TCP relays"}[i], fetch: func() (int64, uint32, error) { return readTCP(l.Addr().String(), false) }})
	}
	for _, l := range listeners {
		contenders = append(contenders, &contender{name: l.name, peer: l.peer, fetch: func() (int64, uint32, error) { return readTCP(l.addr, false) }})
	}
	contenders = append(contenders, downloads(bridges[:1], nil)...)
	contenders[len(contenders)-1].name = "wsbridge (Go client)"
	fmt.Printf("connect-down: %d bytes per download, %d runs, contenders in turn\n", o.bytes, o.runs)
	for _, c := range contenders {
		c.n, c.crc = o.bytes, src.crc()
	}
	return compete(contenders, o.runs)
}
