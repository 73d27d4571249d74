package connect

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/wire"
	"go.uber.org/goleak"
)

// hostileMax is the most a hostile server sends before it gives up.
const hostileMax = 32 << 20

// hostileServer answers one connection's request (a handshake or a CONNECT)
// with answer, then sends fill again and again, pause apart, until the
// client hangs up or it has sent hostileMax bytes.
type hostileServer struct {
	addr      string
	answering chan struct{} // closed once the answer has begun
	done      chan struct{}
	n         int64
}

func hostile(t *testing.T, answer, fill string, pause time.Duration) *hostileServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostileServer{addr: l.Addr().String(), answering: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		c, err := l.Accept()
		l.Close()
		if err != nil {
			return
		}
		defer c.Close()
		// A small send buffer keeps what the client left unread small.
		c.(*net.TCPConn).SetWriteBuffer(16 << 10)
		br := bufio.NewReader(c)
		for line := ""; line != "\r\n"; {
			if line, err = br.ReadString('\n'); err != nil {
				return
			}
		}
		n, err := io.WriteString(c, answer)
		h.n += int64(n)
		close(h.answering)
		for err == nil && h.n < hostileMax {
			time.Sleep(pause)
			n, err = io.WriteString(c, fill)
			h.n += int64(n)
		}
	}()
	t.Cleanup(func() { l.Close(); <-h.done })
	return h
}

// sent waits until the server has stopped and says how much it sent.
func (h *hostileServer) sent() int64 {
	<-h.done
	return h.n
}

// options reach h as the server or, with proxy, as the HTTP proxy.
func (h *hostileServer) options(proxy bool) *Options {
	o := &Options{URL: &url.URL{Scheme: "ws", Host: h.addr, Path: "/"}, DialTimeout: time.Minute}
	if proxy {
		o.URL.Host = "server.invalid:80"
		o.Proxy = func(*url.URL) (*url.URL, error) { return &url.URL{Scheme: "http", Host: h.addr}, nil }
	}
	return o
}

func wantError(t *testing.T, name string, err error, code int, msg string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code || !strings.Contains(e.Msg, msg) {
		t.Errorf("%s: got %#v, want exit %d and %q", name, err, code, msg)
	}
}

// An answer to the handshake or to CONNECT that goes on without end is
// refused once it passes maxHead: the client hangs up, having read little.
func TestDialBoundsTheAnswer(t *testing.T) {
	defer goleak.VerifyNone(t)
	headers := strings.Repeat("X-Pad: "+strings.Repeat("x", 1000)+"\r\n", 64)
	for _, tc := range []struct {
		name, answer, fill string
		proxy              bool
		code               int
		want               string
	}{
		{"endless headers", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", headers, false, ExitProtocol, "answer to the handshake is too long"},
		{"endless status line", "HTTP/1.1 101 ", strings.Repeat("x", 64<<10), false, ExitProtocol, "answer to the handshake is too long"},
		{"endless proxy answer", "HTTP/1.1 200 Connection established\r\n", headers, true, ExitUnreachable, "answer to CONNECT is too long"},
	} {
		h := hostile(t, tc.answer, tc.fill, 0)
		_, _, err := h.options(tc.proxy).Dial(context.Background())
		wantError(t, tc.name, err, tc.code, tc.want)
		// What the client did not read is in socket buffers: a few MiB at most.
		sent := h.sent()
		t.Logf("%s: the server sent %d bytes", tc.name, sent)
		if sent > 4<<20 {
			t.Errorf("%s: the server sent %d MiB before the client hung up", tc.name, sent>>20)
		}
	}
}

// A server or proxy that trickles its answer is given up at the dial
// timeout, and an interrupt (ctx) ends the wait at once.
func TestDialTrickle(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, tc := range []struct {
		name      string
		proxy     bool
		interrupt bool
	}{
		{"server, timed out", false, false},
		{"proxy, timed out", true, false},
		{"server, interrupted", false, true},
		{"proxy, interrupted", true, true},
	} {
		answer := "HTTP/1.1 101 Switching Protocols\r\n"
		if tc.proxy {
			answer = "HTTP/1.1 200 Connection established\r\n"
		}
		h := hostile(t, answer, "X-Slow: y\r\n", 5*time.Millisecond)
		o := h.options(tc.proxy)
		ctx, cancel := context.WithCancel(context.Background())
		if tc.interrupt {
			o.DialTimeout = 30 * time.Second // never reached
			go func() {
				select {
				case <-h.answering:
					cancel()
				case <-h.done:
				}
			}()
		} else {
			o.DialTimeout = 200 * time.Millisecond
		}
		_, _, err := o.Dial(ctx)
		cancel()
		if tc.interrupt && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: got %v, want ctx's cause", tc.name, err)
		}
		if !tc.interrupt {
			wantError(t, tc.name, err, ExitUnreachable, "timed out")
		}
		h.sent()
	}
}

// 1014 (the bridge's bad gateway), which gorilla/websocket refuses, is
// read from the close frame: exit 68 with the bridge's reason, on ws:// and
// on wss:// (where the frame is under TLS).
func TestRefusedCloseCode(t *testing.T) {
	defer goleak.VerifyNone(t)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.WriteMessage(websocket.BinaryMessage, []byte("partial"))
		c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(int(wire.BadGateway), "backend reset the connection"), time.Now().Add(5*time.Second))
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	})
	for _, secure := range []bool{false, true} {
		var srv *httptest.Server
		o := &Options{DialTimeout: 10 * time.Second}
		if secure {
			srv = httptest.NewTLSServer(handler)
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			o.TLS = &tls.Config{RootCAs: roots}
		} else {
			srv = httptest.NewServer(handler)
		}
		u, _ := url.Parse(srv.URL)
		u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
		o.URL = u
		var out bytes.Buffer
		err := o.Stdio(context.Background(), strings.NewReader(""), &out)
		wantError(t, u.Scheme, err, ExitBackend, "the bridge's backend failed: backend reset the connection")
		if out.String() != "partial" {
			t.Errorf("%s: got %q before the close", u.Scheme, out.String())
		}
		srv.Close()
	}
}

// The real bridge, whose TCP backend resets the connection: exit 68.
func TestBackendResetExits68(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.WriteString(c, "partial")
		c.Read(make([]byte, 1)) // the client's go-ahead
		c.(*net.TCPConn).SetLinger(0)
		c.Close() // with linger 0: a reset
	}()
	defer func() { l.Close(); <-done }()
	u, stopBridge := bridgeTo(t, l.Addr().String())
	defer stopBridge()
	var out bytes.Buffer
	o := &Options{URL: u, DialTimeout: 10 * time.Second}
	err = o.Stdio(context.Background(), strings.NewReader("!"), &out)
	wantError(t, "reset", err, ExitBackend, "the bridge's backend failed: backend reset the connection")
}

// The frames after the handshake's answer are followed however the bytes
// arrive, and the close frame is kept.
func TestWireConnFindsTheCloseFrame(t *testing.T) {
	head := "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\r\n \r\nX-Empty:\r\n\r\n" // a folded line, mixed line ends
	frames := []byte{0x82, 126, 0, 200}
	frames = append(frames, bytes.Repeat([]byte{0x88}, 200)...) // a binary message that looks like close frames
	frames = append(frames, 0x89, 2, 'h', 'i', 0x82, 0)         // a ping, an empty message
	frames = append(frames, 0x88, 16, 0x03, 0xf6)               // close 1014 "backend failed"
	frames = append(frames, "backend failed"...)
	frames = append(frames, 0x88, 0) // an empty close frame after it does not replace it
	wire := append([]byte(head), frames...)
	for name, r := range map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
	} {
		c := newWireConn(readerConn{r: r(bytes.NewReader(wire))})
		br := bufio.NewReaderSize(c, 16)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("%s: %v %v", name, resp, err)
		}
		io.Copy(io.Discard, br)
		if got := c.frames.closed; got == nil || got.Code != 1014 || got.Text != "backend failed" {
			t.Errorf("%s: got %v, want close 1014 \"backend failed\"", name, got)
		}
	}
}

type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// A server out of room (429, or 503 with Retry-After, as when it has no
// descriptors left) means busy: exit 75.
func TestDialBusy(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "try later", status)
		}))
		u, _ := url.Parse(srv.URL)
		u.Scheme = "ws"
		_, _, err := (&Options{URL: u, DialTimeout: 10 * time.Second}).Dial(context.Background())
		wantError(t, http.StatusText(status), err, ExitBusy, http.StatusText(status)+": try later")
		srv.Close()
	}
}
