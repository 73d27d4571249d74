package main

import (
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
)

// tcpDown reads the TCP source through wsbridge --tcp and websockify,
// beside raw TCP and one plain relay in front of the source (under -tls a
// TLS relay): what any process in the path costs, the limit for a bridge.
func tcpDown(o opts) error {
	src, err := newSource(o.bytes)
	if err != nil {
		return err
	}
	defer src.Close()
	relayed, err := src.relayed()
	if err != nil {
		return err
	}
	defer relayed.Close()
	servers, err := startServers(wsbridgeSpec(o, "wsbridge", "--tcp", src.addr), websockifySpec(o, src.addr))
	if err != nil {
		return err
	}
	defer stopAll(servers)
	contenders := []*contender{src.rawTCP(), relayed.contender}
	if !benchTLS.on {
		// relayed runs in the bench's own runtime, beside the source and
		// the client; these are processes of their own, as a bridge is
		// (relayproc.go).
		addr, stop, err := startRelayProcess(src.addr, false)
		if err != nil {
			return err
		}
		defer stop()
		wsAddr, wsStop, err := startRelayProcess(src.addr, true)
		if err != nil {
			return err
		}
		defer wsStop()
		contenders = append(contenders,
			&contender{name: "TCP relay process", ref: true, n: src.n, crc: src.crc(), fetch: func() (int64, uint32, error) { return readTCP(addr, false) }},
			&contender{name: "gorilla ws relay process", n: src.n, crc: src.crc(), fetch: func() (int64, uint32, error) { return readWS("ws://"+wsAddr+"/", nil) }})
	}
	contenders = append(contenders, downloads(servers, nil)...)
	fmt.Printf("tcp-down: %d bytes per download, %d runs, contenders in turn\n", o.bytes, o.runs)
	for _, c := range contenders {
		c.n, c.crc = o.bytes, src.crc()
	}
	return compete(contenders, o.runs)
}

// source serves n bytes to every connection: a random 1 MiB block over and
// over, so writing costs nothing and a lost or repeated chunk changes the CRC.
type source struct {
	net.Listener
	addr  string
	n     int64
	block []byte
}

func newSource(n int64) (*source, error) {
	s := &source{n: n, block: make([]byte, 1<<20)}
	r := rand.NewChaCha8([32]byte{'b', 'e', 'n', 'c', 'h'})
	_, _ = r.Read(s.block)
	l, err := serveLoopback(func(c net.Conn) { _ = s.write(c) })
	if err != nil {
		return nil, err
	}
	s.Listener, s.addr = l, l.Addr().String()
	return s, nil
}

func (s *source) write(w io.Writer) error {
	for left := s.n; left > 0; {
		k := min(left, int64(len(s.block)))
		if _, err := w.Write(s.block[:k]); err != nil {
			return err
		}
		left -= k
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rawTCP is the contender that reads the source straight from its socket.
func (s *source) rawTCP() *contender {
	return &contender{name: "raw TCP", n: s.n, crc: s.crc(), fetch: func() (int64, uint32, error) { return readTCP(s.addr, false) }}
}

// relayedSource is the source behind a relay of the bench's own: plain,
// or under -tls a TLS terminator.
type relayedSource struct {
	net.Listener
	contender *contender
}

func (s *source) relayed() (*relayedSource, error) {
	l, err := relay(s.addr, benchTLS.server)
	if err != nil {
		return nil, err
	}
	name := "TCP relay"
	if benchTLS.on {
		name = "TLS relay"
	}
	return &relayedSource{l, &contender{name: name, ref: true, n: s.n, crc: s.crc(), fetch: func() (int64, uint32, error) { return readTCP(l.Addr().String(), benchTLS.on) }}}, nil
}

func (s *source) crc() uint32 {
	h := crc32.New(castagnoli)
	_ = s.write(h)
	return h.Sum32()
}

// readTCP reads a download from addr, over TLS if secure.
func readTCP(addr string, secure bool) (int64, uint32, error) {
	c, err := dialAddr(addr, secure)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	h := crc32.New(castagnoli)
	n, err := io.CopyBuffer(h, c, make([]byte, 256<<10))
	return n, h.Sum32(), err
}
