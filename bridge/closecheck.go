package bridge

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/http"

	"github.com/gorilla/websocket"
)

// A close frame's payload is empty or starts with a 2-byte code (RFC 6455
// section 5.5.1): a 1-byte payload is a protocol error, which gorilla takes
// for a close without a code. The client's connection is read through a
// frameScan that finds it, so the session can answer 1002.

var errCloseOneByte = errors.New("a close frame with a 1-byte payload")

// frameScan follows the frames in a client's byte stream.
type frameScan struct {
	hdr  [14]byte // the current frame's header, as far as it came
	n    int      // bytes in hdr
	left uint64   // bytes of the current frame's payload still to come
	bad  bool     // a close frame with a 1-byte payload came
}

// scan reads p on from where the last call stopped and says where a close
// frame with a 1-byte payload starts in p (0 if its header began in an
// earlier p, or one was found before), or -1 if none. It is pure, for tests.
func (f *frameScan) scan(p []byte) int {
	if f.bad {
		return 0
	}
	start := 0
	for i := 0; i < len(p); {
		if f.left > 0 {
			k := min(f.left, uint64(len(p)-i))
			i += int(k)
			f.left -= k
			continue
		}
		if f.n == 0 {
			start = i
		}
		f.hdr[f.n] = p[i]
		f.n++
		i++
		if f.n < 2 {
			continue
		}
		size := uint64(f.hdr[1] & 0x7f)
		if f.n == 2 && f.hdr[0]&0x0f == websocket.CloseMessage && size == 1 {
			f.bad = true
			return start
		}
		length := 2 // of the header
		switch size {
		case 126:
			length += 2
		case 127:
			length += 8
		}
		if f.hdr[1]&0x80 != 0 {
			length += 4 // the mask
		}
		if f.n < length {
			continue
		}
		switch size {
		case 126:
			size = uint64(binary.BigEndian.Uint16(f.hdr[2:]))
		case 127:
			size = binary.BigEndian.Uint64(f.hdr[2:])
		}
		f.left, f.n = size, 0
	}
	return -1
}

// checkedRead ends a read before a close frame with a 1-byte payload, with
// errCloseOneByte, so gorilla never takes it for a clean close.
func checkedRead(f *frameScan, p []byte, n int, err error) (int, error) {
	if at := f.scan(p[:n]); at >= 0 {
		return at, errCloseOneByte
	}
	return n, err
}

// checkedTCPConn is a plain client connection read through a frameScan. It
// embeds *net.TCPConn, not net.Conn, so gorilla's large writes still go out
// with writev.
type checkedTCPConn struct {
	*net.TCPConn
	scan frameScan
}

func (c *checkedTCPConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	return checkedRead(&c.scan, p, n, err)
}

// checkedConn is any other client connection (TLS, unix) read through a
// frameScan.
type checkedConn struct {
	net.Conn
	scan frameScan
}

func (c *checkedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return checkedRead(&c.scan, p, n, err)
}

// uncheck is the connection under a checked one.
func uncheck(c net.Conn) net.Conn {
	switch c := c.(type) {
	case *checkedTCPConn:
		return c.TCPConn
	case *checkedConn:
		return c.Conn
	}
	return c
}

// checkedHijack hands gorilla's Upgrader a connection read through a
// frameScan.
type checkedHijack struct{ http.ResponseWriter }

func (w checkedHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &checkedTCPConn{TCPConn: tc}, brw, nil
	}
	return &checkedConn{Conn: c}, brw, nil
}
