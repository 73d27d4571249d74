package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// compress measures permessage-deflate (--compression): `cat FILE` of the
// output of `ls -lR /usr` and of as many random bytes, through the exec
// bridge (--binary) and a terminal (--pty), with compression off and on.
// Each download is checked by length and CRC-32C; it gives the bytes on the
// wire (counted under the client's WebSocket) and MB/s, medians over -runs,
// and wsbridge's own CPU time (utime+stime from /proc/PID/stat, not cat's)
// over all runs.
// Then the memory per session with it: -conns sessions that each had one
// compressed round trip and are idle, and -conns sessions whose output (of
// random bytes) is blocked on a client that does not read, each beside the
// same with compression off.
func compress(o opts) error {
	dir, err := os.MkdirTemp("", "wsbridge-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	text, random := filepath.Join(dir, "ls-lR"), filepath.Join(dir, "random")
	ls, _ := exec.Command("ls", "-lR", "/usr").Output() // unreadable folders only leave lines out
	if int64(len(ls)) > o.bytes {
		ls = ls[:o.bytes]
	}
	noise := make([]byte, len(ls))
	_, _ = rand.Read(noise)
	for _, f := range []struct {
		path string
		data []byte
	}{{text, ls}, {random, noise}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return err
		}
	}
	fmt.Printf("compress: cat of %d bytes (ls -lR /usr; random), %d runs, contenders in turn; CPU is wsbridge's own\n\n", len(ls), o.runs)
	fmt.Printf("| backend | output | compression | bytes of messages | bytes on the wire | wire / messages | wsbridge CPU ms, all runs | CPU ms per MB | MB/s |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, b := range []struct {
		name  string
		args  []string
		hello func(c *websocket.Conn) func(n int) error
		shown func([]byte) []byte // what the client gets of the file
	}{
		{"exec --binary", []string{"--binary", "--", "/bin/cat"}, nil, func(b []byte) []byte { return b }},
		{"pty", []string{"--pty", "--", "/bin/cat"}, acknowledge, func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }},
	} {
		for _, f := range []struct {
			name, path string
			data       []byte
		}{{"ls -lR /usr", text, ls}, {"random", random, noise}} {
			shown := b.shown(f.data)
			want := crc32.Checksum(shown, castagnoli)
			for _, mode := range []string{"off", "on"} {
				args := append([]string{"--compression", mode}, b.args...)
				servers, err := startServers(wsbridgeSpec(o, "wsbridge", append(args, f.path)...))
				if err != nil {
					return err
				}
				s := servers[0]
				var wires, cpus, mbps []float64
				for run := 0; run < o.runs; run++ {
					cpu0, err := cpuTime(s.pid())
					if err != nil {
						s.stop()
						return err
					}
					began := time.Now()
					n, crc, wire, err := readCounted(s.url(), b.hello, mode == "on")
					secs := time.Since(began).Seconds()
					cpu1, _ := cpuTime(s.pid())
					if err == nil && (n != int64(len(shown)) || crc != want) {
						err = fmt.Errorf("lost data: %d of %d bytes, checksum match %v", n, len(shown), crc == want)
					}
					if err != nil {
						s.stop()
						return fmt.Errorf("%s, %s, compression %s: %v", b.name, f.name, mode, err)
					}
					wires = append(wires, float64(wire))
					cpus = append(cpus, (cpu1-cpu0).Seconds()*1000)
					mbps = append(mbps, float64(n)/secs/1e6)
				}
				s.stop()
				// CPU time comes in ticks of 10 ms: summed over the runs, not a median.
				w, c := median(wires), sum(cpus)
				fmt.Printf("| %s | %s | %s | %d | %.0f | %.3f | %.0f | %.2f | %.0f |\n", b.name, f.name, mode,
					len(shown), w, w/float64(len(shown)), c, c/(float64(len(shown))/1e6*float64(o.runs)), median(mbps))
			}
		}
	}

	fmt.Printf("\nmemory: %d sessions each (cat), server KiB per session (PSS, /proc)\n\n", o.conns)
	fmt.Printf("| sessions | compression off | compression on |\n|---|---|---|\n")
	for _, blocked := range []bool{false, true} {
		what := "idle, after a 64 KiB round trip"
		args := []string{"--binary", "--", "/bin/cat"}
		if blocked {
			// Random bytes: text would deflate into the socket buffers
			// whole, and nothing would block.
			what = "output (random) blocked on a client that does not read"
			args = []string{"--binary", "--", "/bin/cat", random}
		}
		fmt.Printf("| %s |", what)
		for _, mode := range []string{"off", "on"} {
			servers, err := startServers(wsbridgeSpec(o, "wsbridge", append([]string{"--compression", mode}, args...)...))
			if err != nil {
				return err
			}
			kib, err := holdCompressed(servers[0], o.conns, blocked)
			stopAll(servers)
			if err != nil {
				return fmt.Errorf("memory, compression %s: %v", mode, err)
			}
			fmt.Printf(" %.1f |", kib)
		}
		fmt.Println()
	}
	return nil
}

func sum(v []float64) (s float64) {
	for _, x := range v {
		s += x
	}
	return s
}

// cpuTime is the user and system time of a process, without its children's.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command's name, which is in parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick, nil
}

// countConn counts the bytes read from the server.
type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// compressingDialer offers permessage-deflate if compress, counting the
// bytes that come from the server into wire.
func compressingDialer(compress bool, wire *atomic.Int64) *websocket.Dialer {
	return &websocket.Dialer{
		ReadBufferSize:    256 << 10,
		EnableCompression: compress,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countConn{c, wire}, nil
		},
	}
}

// readCounted is readWS that offers compression and counts the bytes on
// the wire.
func readCounted(url string, hello func(c *websocket.Conn) func(n int) error, compress bool) (n int64, crc uint32, wire int64, err error) {
	var w atomic.Int64
	n, crc, err = readWSWith(compressingDialer(compress, &w), url, hello)
	return n, crc, w.Load(), err
}

// holdCompressed opens n sessions and returns the server's memory (PSS)
// per session beyond one session's. Each idle session has one round trip
// of 64 KiB of text first; a blocked one reads nothing, so its output
// blocks the server's write.
func holdCompressed(s *server, n int, blocked bool) (float64, error) {
	var wire atomic.Int64
	d := compressingDialer(true, &wire)
	msg := bytes.Repeat([]byte("drwxr-xr-x 2 root root 4096 Jan  1 00:00 share\n"), 64<<10/48)
	open := func() (*websocket.Conn, error) {
		c, _, err := d.Dial(s.url(), nil)
		if err != nil || blocked {
			return c, err
		}
		return c, wsRT{Conn: c, binary: true}.roundTrip(msg)
	}
	first, err := open()
	if err != nil {
		return 0, err
	}
	defer first.Close()
	time.Sleep(time.Second)
	base, _, err := treePSS(s.pid())
	if err != nil {
		return 0, err
	}
	conns := make([]*websocket.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err := forEach(n, func(i int) (err error) {
		conns[i], err = open()
		return err
	}); err != nil {
		return 0, fmt.Errorf("opening %d sessions: %v", n, err)
	}
	time.Sleep(2 * time.Second) // let output fill the sockets, and the children settle
	own, _, err := treePSS(s.pid())
	return float64(own-base) / float64(n), err
}
