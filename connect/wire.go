package connect

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/gorilla/websocket"
)

// maxHead bounds the answer to a handshake, and a proxy's answer to
// CONNECT: status line and headers. Real answers take well under 1 KiB;
// gorilla/websocket and http.ReadResponse read headers without end, so a
// hostile server, proxy or man in the middle could otherwise fill the memory
// (net/http's Transport bounds them with MaxResponseHeaderBytes).
const maxHead = 64 << 10

var errHeadTooLarge = errors.New("its headers go on past 64 KiB")

// headReader reads at most left bytes, then fails with errHeadTooLarge.
type headReader struct {
	r    io.Reader
	left int
}

func (h *headReader) Read(p []byte) (int, error) {
	if h.left <= 0 {
		return 0, errHeadTooLarge
	}
	if len(p) > h.left {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	h.left -= n
	return n, err
}

// wireConn is the connection under gorilla/websocket, in plain text (TLS is
// below it, dialConn). It reads the server's bytes for two things gorilla
// does not do: it bounds the handshake's answer to maxHead, and it keeps the
// server's close frame, whose code gorilla may refuse (refusedClose). One
// goroutine reads at a time (gorilla's rule).
type wireConn struct {
	net.Conn
	head   headReader // the handshake's answer, until its empty line
	inHead bool
	line   byte // what the answer's current line holds so far: 0 nothing, '\r' a CR alone, 'x' more
	frames frameScan
}

func newWireConn(c net.Conn) *wireConn {
	return &wireConn{Conn: c, head: headReader{c, maxHead}, inHead: true}
}

func (c *wireConn) Read(p []byte) (int, error) {
	if !c.inHead {
		n, err := c.Conn.Read(p)
		c.frames.scan(p[:n])
		return n, err
	}
	n, err := c.head.Read(p)
	for i, b := range p[:n] {
		// The answer ends at its first empty line, as textproto reads it:
		// "\n" or "\r\n" at the start of a line.
		switch {
		case b == '\n' && c.line != 'x':
			c.inHead = false
			c.frames.scan(p[i+1 : n])
			return n, err
		case b == '\n':
			c.line = 0
		case b == '\r' && c.line == 0:
			c.line = '\r'
		default:
			c.line = 'x'
		}
	}
	return n, err
}

// frameScan follows the frames the server sends (never masked, but their
// lengths are read as they come) to keep its close frame.
type frameScan struct {
	hdr     [14]byte // the current frame's header as it arrives
	nhdr    int
	left    uint64 // payload bytes of the current frame still to come
	inClose bool   // the current frame is a close frame; its payload goes to payload
	payload []byte
	closed  *websocket.CloseError // the last whole close frame with a code
}

func (f *frameScan) scan(p []byte) {
	for len(p) > 0 {
		if f.left > 0 {
			n := min(uint64(len(p)), f.left)
			if f.inClose {
				f.payload = append(f.payload, p[:n]...)
			}
			p, f.left = p[n:], f.left-n
			if f.left == 0 && f.inClose {
				f.endClose()
			}
			continue
		}
		f.hdr[f.nhdr] = p[0]
		f.nhdr++
		p = p[1:]
		size, length := frameHeader(f.hdr[:f.nhdr])
		if f.nhdr < size {
			continue
		}
		f.nhdr, f.left = 0, length
		// A close frame's payload is at most 125 bytes (RFC 6455 5.5); a
		// server's is never masked (gorilla fails the connection then).
		f.inClose = f.hdr[0]&0xf == websocket.CloseMessage && f.hdr[1]&0x80 == 0 && length <= 125
		f.payload = f.payload[:0]
		if f.inClose && length == 0 {
			f.endClose()
		}
	}
}

func (f *frameScan) endClose() {
	f.inClose = false
	if len(f.payload) >= 2 {
		f.closed = &websocket.CloseError{
			Code: int(binary.BigEndian.Uint16(f.payload)),
			Text: strings.ToValidUTF8(string(f.payload[2:]), "\uFFFD"),
		}
	}
}

// frameHeader reads the size of a frame header from its first bytes (h) and,
// once h holds all of it, the payload's length.
func frameHeader(h []byte) (size int, length uint64) {
	if len(h) < 2 {
		return 2, 0
	}
	size = 2
	switch h[1] & 0x7f {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if h[1]&0x80 != 0 { // masked
		size += 4
	}
	if len(h) < size {
		return size, 0
	}
	switch l := h[1] & 0x7f; l {
	case 126:
		return size, uint64(binary.BigEndian.Uint16(h[2:]))
	case 127:
		return size, binary.BigEndian.Uint64(h[2:])
	default:
		return size, uint64(l)
	}
}

// refusedClose is err, or the server's close frame when gorilla/websocket
// failed the connection over it: gorilla refuses close codes missing from
// its table, among them 1014 (bad gateway, registered after that table was
// written), the code a wsbridge TCP bridge closes with when its backend
// fails. Only codes RFC 6455 and IANA allow on the wire are taken.
func refusedClose(ws *websocket.Conn, err error) error {
	var ce *websocket.CloseError
	wc, ok := ws.NetConn().(*wireConn)
	if !ok || wc.frames.closed == nil || errors.As(err, &ce) {
		return err
	}
	switch c := wc.frames.closed.Code; {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014, c >= 3000 && c <= 4999:
		return wc.frames.closed
	}
	return err
}
