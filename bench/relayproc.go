package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"

	"github.com/gorilla/websocket"
)

// The limits for a bridge in a process of its own. relay's goroutines
// share the bench's runtime with its client and its echo server or
// source: a hop between them is a hop between goroutines, which pay no
// switch between processes and find the runtime awake. A bridge is a
// process of its own; so are these:
//
//   - "bench relay-process UPSTREAM": relay (plain), the TCP limit;
//   - "bench ws-relay-process UPSTREAM": the least WebSocket to TCP bridge
//     in Go, with gorilla/websocket as wsbridge has it (512-byte read
//     buffer, one binary message per read from upstream, of up to 256 KiB,
//     each message written upstream as it comes): what the WebSocket
//     protocol costs beside the TCP relay, with nothing of wsbridge's
//     (no pools, no idle-memory care, no close-status bookkeeping).
//
// Each prints its address, then serves until its standard input closes.
func relayProcess(args []string, ws bool) error {
	if len(args) != 1 {
		return errors.New("usage: bench relay-process|ws-relay-process UPSTREAM")
	}
	var l net.Listener
	var err error
	if ws {
		l, err = wsRelay(args[0])
	} else {
		l, err = relay(args[0], nil)
	}
	if err != nil {
		return err
	}
	fmt.Println(l.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return l.Close()
}

// wsRelay serves WebSocket connections, each relayed to its own connection
// to upstream.
func wsRelay(upstream string) (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	up := websocket.Upgrader{ReadBufferSize: 512}
	go func() {
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			b, err := net.Dial("tcp", upstream)
			if err != nil {
				return
			}
			defer b.Close()
			go func() {
				buf := make([]byte, 256<<10)
				for {
					n, err := b.Read(buf)
					if err != nil || c.WriteMessage(websocket.BinaryMessage, buf[:n]) != nil {
						c.Close()
						return
					}
				}
			}()
			buf := make([]byte, 4<<10)
			for {
				_, r, err := c.NextReader()
				if err != nil {
					return
				}
				if _, err := io.CopyBuffer(struct{ io.Writer }{b}, r, buf); err != nil {
					return
				}
			}
		}))
	}()
	return l, nil
}

// startRelayProcess starts relay-process (or ws-relay-process) in front of
// upstream. Stop ends it.
func startRelayProcess(upstream string, ws bool) (addr string, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	name := "relay-process"
	if ws {
		name = "ws-relay-process"
	}
	cmd := exec.Command(self, name, upstream)
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { in.Close(); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("%s: %v", name, err)
	}
	return strings.TrimSpace(line), stop, nil
}
