// Command bench measures wsbridge beside the tools people use today, in one
// run on one machine, so every figure can be read as a ratio.
//
//	go run ./bench tcp-down [-bytes 512MiB] [-runs 5]
//	go run ./bench pty-down [-bytes 256MiB] [-runs 5]
//
// tcp-down streams bytes from a TCP source in this process: read directly
// (raw loopback TCP, the physical limit), through wsbridge's TCP bridge, and
// through websockify when it is installed. pty-down cats a large text file
// on a terminal: read from the PTY by a plain program (the limit), and
// through wsbridge --pty by a client that acknowledges output as the page
// does. Every download is checked byte for byte (length and CRC-32C).
// Results are medians; see BENCHMARKS.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// scenarios are the bench's subcommands.
var scenarios = map[string]func(opts) error{
	"tcp-down": tcpDown,
	"pty-down": ptyDown,
}

// opts are the flags every scenario takes.
type opts struct {
	bytes      int64
	runs       int
	wsbridge   string
	websockify string
}

func main() {
	if len(os.Args) < 2 || scenarios[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: bench tcp-down|pty-down [-bytes 512MiB] [-runs 5] [-wsbridge PATH] [-websockify PATH]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	size := fs.String("bytes", "512MiB", "bytes per download (KiB, MiB, GiB suffixes)")
	runs := fs.Int("runs", 5, "downloads per contender; the median counts")
	wsbridge := fs.String("wsbridge", "", "wsbridge binary (default: build this repository)")
	websockify := fs.String("websockify", "/usr/bin/websockify", "tcp-down: websockify to compare with (skipped if missing)")
	_ = fs.Parse(os.Args[2:])
	o := opts{runs: *runs, wsbridge: *wsbridge, websockify: *websockify}
	var err error
	if o.bytes, err = parseSize(*size); err == nil && o.wsbridge == "" {
		if o.wsbridge, err = buildWsbridge(); err == nil {
			defer os.RemoveAll(filepath.Dir(o.wsbridge))
		}
	}
	if err == nil {
		err = scenarios[os.Args[1]](o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if rest, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = rest, m
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("-bytes %q: want a positive size such as 512MiB", s)
	}
	return v * mult, nil
}

// contender is one way of getting the bytes.
type contender struct {
	name  string
	fetch func() (int64, uint32, error) // bytes received and their CRC-32C
	mbps  []float64                     // one per run that delivered every byte
	lossy int                           // runs that did not
}

func tcpDown(o opts) error {
	src, err := newSource(o.bytes)
	if err != nil {
		return err
	}
	defer src.Close()
	contenders := []*contender{{name: "raw TCP", fetch: func() (int64, uint32, error) { return readTCP(src.addr) }}}
	wsAddr, stop, err := startServer(o.wsbridge, "--port", "{port}", "--address", "127.0.0.1", "--loglevel", "error", "--tcp", src.addr)
	if err != nil {
		return err
	}
	defer stop()
	contenders = append(contenders, &contender{name: "wsbridge", fetch: func() (int64, uint32, error) { return readWS("ws://"+wsAddr+"/", nil) }})
	if _, err := os.Stat(o.websockify); err == nil {
		addr, stop, err := startServer(o.websockify, "127.0.0.1:{port}", src.addr)
		if err != nil {
			return err
		}
		defer stop()
		contenders = append(contenders, &contender{name: "websockify", fetch: func() (int64, uint32, error) { return readWS("ws://"+addr+"/", nil) }})
	} else {
		fmt.Printf("(%s not found: no websockify column)\n", o.websockify)
	}
	fmt.Printf("tcp-down: %d bytes per download, %d runs, contenders in turn\n", o.bytes, o.runs)
	return compete(contenders, o.runs, o.bytes, src.crc())
}

// compete runs every contender in turn, runs times, checks each download
// against n bytes with CRC want, and prints a table of medians as ratios to
// the first contender (the physical limit) and to the third (a peer), if any.
// A peer's loss is a finding; the limit's or wsbridge's fails the run.
func compete(contenders []*contender, runs int, n int64, want uint32) error {
	for run := 1; run <= runs; run++ {
		for _, c := range contenders {
			began := time.Now()
			got, crc, err := c.fetch()
			secs := time.Since(began).Seconds()
			if err != nil {
				return fmt.Errorf("%s, run %d: %v", c.name, run, err)
			}
			if got != n || crc != want {
				c.lossy++
				fmt.Printf("  run %d  %-10s LOST DATA: %d of %d bytes arrived, checksum match %v\n", run, c.name, got, n, crc == want)
				continue
			}
			c.mbps = append(c.mbps, float64(n)/secs/1e6)
			fmt.Printf("  run %d  %-10s %8.0f MB/s\n", run, c.name, c.mbps[len(c.mbps)-1])
		}
	}
	limit := median(contenders[0].mbps)
	var peer float64
	header := "| contender | median MB/s | × " + contenders[0].name + " |"
	if len(contenders) > 2 {
		peer = median(contenders[2].mbps)
		header += " × " + contenders[2].name + " |"
	}
	fmt.Printf("\n%s runs that lost data |\n|%s\n", header, strings.Repeat("---|", strings.Count(header, "|")))
	for _, c := range contenders {
		m := median(c.mbps)
		fmt.Printf("| %s | %.0f | %.2f |", c.name, m, m/limit)
		if peer > 0 {
			fmt.Printf(" %.2f |", m/peer)
		}
		fmt.Printf(" %d of %d |\n", c.lossy, runs)
	}
	for _, c := range contenders[:2] {
		if c.lossy > 0 {
			return fmt.Errorf("%s lost data", c.name)
		}
	}
	return nil
}

// median of v; 0 when v is empty.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &source{Listener: l, addr: l.Addr().String(), n: n, block: make([]byte, 1<<20)}
	r := rand.NewChaCha8([32]byte{'b', 'e', 'n', 'c', 'h'})
	_, _ = r.Read(s.block)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = s.write(c)
			}()
		}
	}()
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

func (s *source) crc() uint32 {
	h := crc32.New(castagnoli)
	_ = s.write(h)
	return h.Sum32()
}

func readTCP(addr string) (int64, uint32, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	h := crc32.New(castagnoli)
	n, err := io.CopyBuffer(h, c, make([]byte, 256<<10))
	return n, h.Sum32(), err
}

// readWS reads binary messages until the close frame; a clean end is 1000.
// hello, if set, starts the session and is told of every message's size.
func readWS(url string, hello func(c *websocket.Conn) func(n int) error) (int64, uint32, error) {
	d := websocket.Dialer{ReadBufferSize: 256 << 10}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	received := func(int) error { return nil }
	if hello != nil {
		received = hello(c)
	}
	h := crc32.New(castagnoli)
	buf := make([]byte, 256<<10)
	var total int64
	for {
		mt, r, err := c.NextReader()
		if err == nil && mt == websocket.TextMessage {
			continue // a terminal's control messages are not output
		}
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseNoStatusReceived) {
				err = nil // websockify closes without a status
			}
			return total, h.Sum32(), err
		}
		n, err := io.CopyBuffer(h, r, buf)
		total += n
		if err == nil {
			err = received(int(n))
		}
		if err != nil {
			return total, h.Sum32(), err
		}
	}
}

// startServer runs a server on a free loopback port ("{port}" in its
// arguments) and waits until it accepts connections.
func startServer(bin string, args ...string) (addr string, stop func(), err error) {
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		var a []string
		for _, s := range args {
			a = append(a, strings.ReplaceAll(s, "{port}", port))
		}
		cmd := exec.Command(bin, a...)
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			return "", nil, err
		}
		stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
		addr := "127.0.0.1:" + port
		for range 100 {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return addr, stop, nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop() // the port was taken meanwhile, or it failed: try another
	}
	return "", nil, fmt.Errorf("%s did not start listening", bin)
}

func buildWsbridge() (string, error) {
	dir, err := os.MkdirTemp("", "wsbridge-bench")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "wsbridge")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/wsbridge/wsbridge")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building wsbridge: %v", err)
	}
	return bin, nil
}
