package main

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"time"

	"github.com/gorilla/websocket"
)

// pipeline uploads o.bytes in o.message-sized binary messages (64 KiB by
// default; 256 KiB is what wsbridge connect sends) while reading the echo
// back: through cat (wsbridge --binary, websocketd --binary) beside cat on
// pipes, and through a TCP echo server (wsbridge --tcp, websockify) beside
// the echo server over raw TCP.
func pipeline(o opts) error {
	echoAddr, err := echoServer()
	if err != nil {
		return err
	}
	block := make([]byte, o.message)
	for i := range block {
		block[i] = byte(i * 7)
	}
	want := crcOfRepeated(block, o.bytes)
	groups := []struct {
		limit *contender
		specs []serverSpec
	}{
		{&contender{name: "cat on pipes", fetch: func() (int64, uint32, error) { return pipeThroughCat(block, o.bytes) }},
			[]serverSpec{wsbridgeSpec(o, "wsbridge cat", "--binary", "/bin/cat"), websocketdSpec(o, "--binary", "/bin/cat")}},
		{&contender{name: "raw TCP echo", fetch: func() (int64, uint32, error) { return echoOverTCP(echoAddr, block, o.bytes) }},
			[]serverSpec{wsbridgeSpec(o, "wsbridge --tcp", "--tcp", echoAddr), websockifySpec(o, echoAddr)}},
	}
	fmt.Printf("pipeline: %d bytes up in %d-byte messages and back, %d runs, contenders in turn\n", o.bytes, o.message, o.runs)
	for _, g := range groups {
		servers, err := startServers(g.specs...)
		if err != nil {
			return err
		}
		contenders := []*contender{g.limit}
		for _, s := range servers {
			contenders = append(contenders, &contender{name: s.name, peer: s.peer, fetch: func() (int64, uint32, error) { return echoOverWS(s.url(), block, o.bytes) }})
		}
		for _, c := range contenders {
			c.n, c.crc = o.bytes, want
		}
		err = compete(contenders, o.runs)
		stopAll(servers)
		if err != nil {
			return err
		}
		fmt.Println()
	}
	return nil
}

// upload writes n bytes of block, over and over, into w.
func upload(w io.Writer, block []byte, n int64) error {
	for left := n; left > 0; {
		k := min(left, int64(len(block)))
		if _, err := w.Write(block[:k]); err != nil {
			return err
		}
		left -= k
	}
	return nil
}

func crcOfRepeated(block []byte, n int64) uint32 {
	_, crc, _ := readCRC(io.LimitReader(repeatReader(block), n))
	return crc
}

// repeatReader reads block over and over.
func repeatReader(block []byte) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		k := 0
		for k < len(p) {
			k += copy(p[k:], block)
		}
		return len(p), nil
	})
}

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// pipeThroughCat writes into cat's stdin while reading its stdout.
func pipeThroughCat(block []byte, n int64) (int64, uint32, error) {
	cmd := exec.Command("/bin/cat")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	go func() {
		_ = upload(in, block, n)
		in.Close()
	}()
	got, crc, err := readCRC(out)
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	return got, crc, err
}

func echoOverTCP(addr string, block []byte, n int64) (int64, uint32, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	go func() {
		_ = upload(c, block, n)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	return readCRC(c)
}

// echoOverWS sends n bytes in binary messages and reads what comes back
// until n bytes did (then it closes) or the connection ends.
func echoOverWS(url string, block []byte, n int64) (int64, uint32, error) {
	d := websocket.Dialer{ReadBufferSize: 256 << 10, WriteBufferSize: len(block) + 16} // a message per frame
	c, _, err := d.Dial(url, nil)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	go func() {
		_ = upload(wsWriter{c}, block, n)
	}()
	return readCRC(io.LimitReader(&wsReader{c: c}, n))
}

// wsWriter sends each Write as one binary message.
type wsWriter struct{ c *websocket.Conn }

func (w wsWriter) Write(p []byte) (int, error) {
	return len(p), w.c.WriteMessage(websocket.BinaryMessage, p)
}

// stallTimeout ends a download that brings nothing for this long.
const stallTimeout = 20 * time.Second

// wsReader reads the payloads of the messages that come as one stream.
type wsReader struct {
	c *websocket.Conn
	r io.Reader
}

func (w *wsReader) Read(p []byte) (int, error) {
	for {
		if w.r == nil {
			_ = w.c.SetReadDeadline(time.Now().Add(stallTimeout))
			_, r, err := w.c.NextReader()
			if err != nil {
				return 0, err // a stall is an error; an early end shows in the count
			}
			w.r = r
		}
		n, err := w.r.Read(p)
		if err == io.EOF {
			w.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}
