package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// roundTripper sends one message and waits for it to come back.
type roundTripper interface {
	roundTrip(msg []byte) error
	Close() error
}

// latencyContender opens a fresh connection for each run.
type latencyContender struct {
	name string
	dial func() (roundTripper, error)
	p50  []float64 // microseconds, one per run
	p99  []float64
}

// echoLatency times round trips of a 32-byte text message through cat (and
// through a TCP echo server for the TCP bridge), one at a time, beside the
// limits: cat on a pipe, the echo server over raw TCP, and the echo server
// behind one plain relay (under -tls a TLS relay): the limit for a bridge.
func echoLatency(o opts) error {
	echoAddr, err := echoServer()
	if err != nil {
		return err
	}
	relayed, err := relay(echoAddr, benchTLS.server)
	if err != nil {
		return err
	}
	defer relayed.Close()
	relayName := "relay → TCP echo"
	if benchTLS.on {
		relayName = "TLS relay → TCP echo"
	}
	contenders := []*latencyContender{
		{name: "cat on a pipe", dial: dialPipe},
		{name: "raw TCP echo", dial: func() (roundTripper, error) { return dialTCP(echoAddr, false) }},
		{name: relayName, dial: func() (roundTripper, error) { return dialTCP(relayed.Addr().String(), benchTLS.on) }},
	}
	if !benchTLS.on {
		// The relay above runs in the bench's own runtime, beside the
		// client and the echo server; these are processes of their own,
		// as a bridge is (relayproc.go).
		addr, stop, err := startRelayProcess(echoAddr, false)
		if err != nil {
			return err
		}
		defer stop()
		wsAddr, wsStop, err := startRelayProcess(echoAddr, true)
		if err != nil {
			return err
		}
		defer wsStop()
		contenders = append(contenders,
			&latencyContender{name: "relay process → TCP echo", dial: func() (roundTripper, error) { return dialTCP(addr, false) }},
			&latencyContender{name: "gorilla ws relay process → TCP echo", dial: func() (roundTripper, error) { return dialWS("ws://"+wsAddr+"/", true) }})
	}
	servers, err := startServers(
		wsbridgeSpec(o, "wsbridge cat", "/bin/cat"),
		websocketdSpec(o, "/bin/cat"),
		wsbridgeSpec(o, "wsbridge --tcp", "--tcp", echoAddr),
		websockifySpec(o, echoAddr),
	)
	if err != nil {
		return err
	}
	defer stopAll(servers)
	for _, s := range servers {
		// websockify takes binary messages only; the TCP bridges get binary.
		binary := s.name == "websockify" || s.name == "wsbridge --tcp"
		contenders = append(contenders, &latencyContender{name: s.name, dial: func() (roundTripper, error) { return dialWS(s.url(), binary) }})
	}
	if o.only != "" {
		contenders = slices.DeleteFunc(contenders, func(c *latencyContender) bool {
			return !strings.Contains(strings.ToLower(c.name), strings.ToLower(o.only))
		})
	}
	msg := []byte("0123456789abcdef0123456789abcdef")
	fmt.Printf("echo: %d round trips of a %d-byte message per run, after 1,000 to warm up, %d runs, contenders in turn\n", o.count, len(msg), o.runs)
	for run := 1; run <= o.runs; run++ {
		for _, c := range contenders {
			p50, p99, err := timeRoundTrips(c.dial, msg, o.count)
			if err != nil {
				return fmt.Errorf("%s, run %d: %v", c.name, run, err)
			}
			c.p50, c.p99 = append(c.p50, p50), append(c.p99, p99)
			fmt.Printf("  run %d  %-20s p50 %6.1f µs  p99 %6.1f µs\n", run, c.name, p50, p99)
		}
	}
	fmt.Printf("\n| contender | p50 µs | p99 µs |\n|---|---|---|\n")
	for _, c := range contenders {
		fmt.Printf("| %s | %.1f | %.1f |\n", c.name, median(c.p50), median(c.p99))
	}
	return nil
}

func timeRoundTrips(dial func() (roundTripper, error), msg []byte, count int) (p50, p99 float64, err error) {
	rt, err := dial()
	if err != nil {
		return 0, 0, err
	}
	defer rt.Close()
	for range 1000 {
		if err := rt.roundTrip(msg); err != nil {
			return 0, 0, err
		}
	}
	times := make([]float64, count)
	for i := range times {
		began := time.Now()
		if err := rt.roundTrip(msg); err != nil {
			return 0, 0, err
		}
		times[i] = float64(time.Since(began).Nanoseconds()) / 1e3
	}
	slices.Sort(times)
	return times[count/2], times[count*99/100], nil
}

// echoServer echoes every connection to a loopback port until the bench ends.
func echoServer() (string, error) {
	l, err := serveLoopback(func(c net.Conn) {
		// Plain reads and writes: io.Copy between sockets splices through a
		// pipe, two more descriptors a connection.
		_, _ = io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 32<<10))
	})
	if err != nil {
		return "", err
	}
	return l.Addr().String(), nil
}

// serveLoopback listens on a loopback port and runs handle for each
// connection, until the listener is closed.
func serveLoopback(handle func(net.Conn)) (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return l, nil
}

// wsRT sends text messages, or binary ones.
type wsRT struct {
	*websocket.Conn
	binary bool
}

func dialWS(url string, binary bool) (roundTripper, error) {
	c, _, err := wsDialer(0, 0).Dial(url, nil)
	if err != nil {
		return nil, err
	}
	return wsRT{c, binary}, nil
}

// roundTrip sends a message and reads until as many bytes came back (a TCP
// echo may return them in pieces).
func (c wsRT) roundTrip(msg []byte) error {
	mt := websocket.TextMessage
	if c.binary {
		mt = websocket.BinaryMessage
	}
	if err := c.WriteMessage(mt, msg); err != nil {
		return err
	}
	for got := 0; got < len(msg); {
		_, data, err := c.ReadMessage()
		if err != nil {
			return err
		}
		got += len(data)
	}
	return nil
}

type tcpRT struct {
	net.Conn
	buf []byte
}

func dialTCP(addr string, secure bool) (roundTripper, error) {
	c, err := dialAddr(addr, secure)
	if err != nil {
		return nil, err
	}
	return &tcpRT{Conn: c, buf: make([]byte, 64)}, nil
}

func (c *tcpRT) roundTrip(msg []byte) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(c.Conn, c.buf[:len(msg)])
	return err
}

// pipeRT is cat on a pipe: a line written, the line read back.
type pipeRT struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	msg []byte
}

func dialPipe() (roundTripper, error) {
	cmd := exec.Command("/bin/cat")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &pipeRT{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

func (p *pipeRT) roundTrip(msg []byte) error {
	p.msg = append(append(p.msg[:0], msg...), '\n')
	if _, err := p.in.Write(p.msg); err != nil {
		return err
	}
	line, err := p.out.ReadSlice('\n')
	if err == nil && !bytes.Equal(line, p.msg) {
		err = fmt.Errorf("cat answered %q", line)
	}
	return err
}

func (p *pipeRT) Close() error {
	p.in.Close()
	return p.cmd.Wait()
}
