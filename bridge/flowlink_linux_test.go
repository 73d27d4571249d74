package bridge

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/internal/shapedlink"
	"github.com/wsbridge/wsbridge/web"
	"golang.org/x/sys/unix"
)

// shapedLink is a link of its own to this host, at a rate tc sets: a
// network namespace joined by a veth pair, whose host end's queue (tbf)
// shapes what the host sends. The host's end has Outer; dial connects from
// inside the namespace. Both go away with the test.
type shapedLink struct{ *shapedlink.Link }

// newShapedLink makes the link, or skips the test without root, ip or tc
// (fails it under WSBRIDGE_REQUIRE_ALL=1).
func newShapedLink(t *testing.T, rate string) *shapedLink {
	t.Helper()
	missing := ""
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = tool + " is missing (Debian's iproute2)"
		}
	}
	if missing == "" && os.Geteuid() != 0 {
		missing = "a network namespace needs root"
	}
	if missing != "" {
		if os.Getenv("WSBRIDGE_REQUIRE_ALL") == "1" {
			t.Fatalf("%s and WSBRIDGE_REQUIRE_ALL=1", missing)
		}
		t.Skip(missing)
	}
	l, err := shapedlink.New("wsbf", 251, rate, shapedlink.FromHost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Remove(); err != nil {
			t.Error(err)
		}
	})
	return &shapedLink{l}
}

// dial connects to addr from inside the namespace: the socket is made on
// a thread that joined it (a socket stays in the namespace it was made in).
func (l *shapedLink) dial(addr string) (net.Conn, error) {
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer self.Close()
	ns, err := os.Open("/run/netns/" + l.NS)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread() // else the thread ends with the goroutine
	}
	return c, err
}

// TestTerminalCtrlCOnSlowLink: a terminal's client over a 100 KB/s link
// (800 kbit/s) runs yes, and after output has flowed a while types Ctrl-C.
// What it receives after that is what was on its way: the flow window, and
// what the terminal held. With the window sized by the client's rate it is
// a quarter second's worth (or flowFloor); with a fixed 256 KiB it was
// 2.6 s of output. The client speaks the page's protocol: its size with flow
// control on, an ack of each message once it has it (the page acks when
// all it was given is drawn, or each 32 KiB).
func TestTerminalCtrlCOnSlowLink(t *testing.T) { ctrlCOnSlowLink(t, 0) }

// TestLastingTerminalCtrlCOnSlowLink: the same with a lasting terminal
// (Linger), whose output goes through a hub and each client's queue: the
// program waits once the client's queue holds its pace (here lastingPace),
// and the hub reads no more than that, as without Linger the flow window
// makes it wait (the
// queue of scrollback + 256 KiB it filled first brought 1.3 MiB after
// Ctrl-C, 14 s at this rate).
func TestLastingTerminalCtrlCOnSlowLink(t *testing.T) { ctrlCOnSlowLink(t, time.Minute) }

func ctrlCOnSlowLink(t *testing.T, linger time.Duration) {
	link := newShapedLink(t, "800kbit")
	addr, _ := serve(t, func(s *Server) {
		s.Listeners = []Listener{{Addresses: []string{link.Outer}}}
		s.Routes[0].Backend = &Pty{Program: Program{Command: "/bin/sh", Log: s.Log}, Linger: linger}
		s.Routes[0].Framing, s.Routes[0].Terminal = Terminal, &web.Terminal{}
	})
	d := websocket.Dialer{NetDial: func(_, addr string) (net.Conn, error) { return link.dial(addr) }}
	c, _, err := d.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Minute)) // a hang's end, not a measure
	send := func(mt int, msg string) {
		t.Helper()
		if err := c.WriteMessage(mt, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	received := 0
	var tail []byte
	// until reads output, acknowledging each message, until done says so.
	until := func(what string, done func() bool) {
		t.Helper()
		for !done() {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %s: %v (%d bytes received)", what, err, received)
			}
			if mt != websocket.BinaryMessage {
				continue
			}
			received += len(msg)
			tail = append(tail, msg...)
			tail = tail[max(0, len(tail)-64):]
			send(websocket.TextMessage, fmt.Sprintf(`{"type":"ack","bytes":%d}`, len(msg)))
		}
	}
	send(websocket.TextMessage, `{"type":"size","cols":80,"rows":24,"flow":true}`)
	until("the prompt", func() bool { return received > 0 })
	send(websocket.BinaryMessage, "yes\r")
	// Long enough for the window to follow the rate, and as long in both
	// cases: 1.5 fixed windows.
	const before = 384 << 10
	until("yes's output", func() bool { return received >= before })
	atCtrlC := received
	send(websocket.BinaryMessage, "\x03")
	send(websocket.BinaryMessage, "echo END$((6*7))\r")
	until("the shell's answer after Ctrl-C", func() bool { return bytes.Contains(tail, []byte("END42")) })
	after := received - atCtrlC
	t.Logf("%d bytes after Ctrl-C", after)
	// A window of 64 KiB (flowFloor: a quarter second at this rate is less)
	// and as much again for the terminal's own buffers, which a fixed
	// window of 256 KiB exceeds on its own (250 KB came after Ctrl-C).
	if bound := 128 << 10; after > bound {
		t.Fatalf("%d bytes came after Ctrl-C, want at most %d", after, bound)
	}
}
