// Command bench measures wsbridge beside the tools people use today, in one
// run on one machine, so every figure can be read as a ratio.
//
//	go run ./bench tcp-down [-bytes 512MiB] [-runs 5]
//
// tcp-down streams bytes from a TCP source in this process: read directly
// (raw loopback TCP, the physical limit), through wsbridge's TCP bridge, and
// through websockify when it is installed. Every download is checked byte for
// byte (length and CRC-32C). Results are medians; see BENCHMARKS.md.
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

func main() {
	if len(os.Args) < 2 || os.Args[1] != "tcp-down" {
		fmt.Fprintln(os.Stderr, "usage: bench tcp-down [-bytes 512MiB] [-runs 5] [-wsbridge PATH] [-websockify PATH]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("tcp-down", flag.ExitOnError)
	size := fs.String("bytes", "512MiB", "bytes per download (KiB, MiB, GiB suffixes)")
	runs := fs.Int("runs", 5, "downloads per contender; the median counts")
	wsbridge := fs.String("wsbridge", "", "wsbridge binary (default: build this repository)")
	websockify := fs.String("websockify", "/usr/bin/websockify", "websockify to compare with (skipped if missing)")
	_ = fs.Parse(os.Args[2:])
	n, err := parseSize(*size)
	if err == nil {
		err = tcpDown(n, *runs, *wsbridge, *websockify)
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

// contender is one way of getting the source's bytes.
type contender struct {
	name  string
	fetch func() (int64, uint32, error) // bytes received and their CRC-32C
	mbps  []float64                     // one per run that delivered every byte
	lossy int                           // runs that did not
}

func tcpDown(n int64, runs int, wsbridgeBin, websockifyBin string) error {
	src, err := newSource(n)
	if err != nil {
		return err
	}
	defer src.Close()
	want := src.crc()

	if wsbridgeBin == "" {
		if wsbridgeBin, err = buildWsbridge(); err != nil {
			return err
		}
		defer os.RemoveAll(filepath.Dir(wsbridgeBin))
	}
	contenders := []*contender{{name: "raw TCP", fetch: func() (int64, uint32, error) { return readTCP(src.addr) }}}
	wsAddr, stop, err := startServer(wsbridgeBin, "--port", "{port}", "--address", "127.0.0.1", "--loglevel", "error", "--tcp", src.addr)
	if err != nil {
		return err
	}
	defer stop()
	contenders = append(contenders, &contender{name: "wsbridge", fetch: func() (int64, uint32, error) { return readWS("ws://" + wsAddr + "/") }})
	if _, err := os.Stat(websockifyBin); err == nil {
		addr, stop, err := startServer(websockifyBin, "127.0.0.1:{port}", src.addr)
		if err != nil {
			return err
		}
		defer stop()
		contenders = append(contenders, &contender{name: "websockify", fetch: func() (int64, uint32, error) { return readWS("ws://" + addr + "/") }})
	} else {
		fmt.Printf("(%s not found: no websockify column)\n", websockifyBin)
	}

	fmt.Printf("tcp-down: %d bytes per download, %d runs, contenders in turn\n", n, runs)
	for run := 1; run <= runs; run++ {
		for _, c := range contenders {
			began := time.Now()
			got, crc, err := c.fetch()
			secs := time.Since(began).Seconds()
			if err != nil {
				return fmt.Errorf("%s, run %d: %v", c.name, run, err)
			}
			if got != n || crc != want {
				// A peer's loss is a finding; ours fails the run.
				c.lossy++
				fmt.Printf("  run %d  %-10s LOST DATA: %d of %d bytes arrived, checksum match %v\n", run, c.name, got, n, crc == want)
				continue
			}
			c.mbps = append(c.mbps, float64(n)/secs/1e6)
			fmt.Printf("  run %d  %-10s %8.0f MB/s\n", run, c.name, c.mbps[len(c.mbps)-1])
		}
	}
	raw := median(contenders[0].mbps)
	var peer float64
	if len(contenders) > 2 {
		peer = median(contenders[2].mbps)
	}
	fmt.Printf("\n| contender | median MB/s | × raw TCP | × websockify | runs that lost data |\n|---|---|---|---|---|\n")
	for _, c := range contenders {
		m := median(c.mbps)
		vsPeer := "–"
		if peer > 0 {
			vsPeer = fmt.Sprintf("%.2f", m/peer)
		}
		fmt.Printf("| %s | %.0f | %.2f | %s | %d of %d |\n", c.name, m, m/raw, vsPeer, c.lossy, runs)
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
func readWS(url string) (int64, uint32, error) {
	d := websocket.Dialer{ReadBufferSize: 256 << 10}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	h := crc32.New(castagnoli)
	buf := make([]byte, 256<<10)
	var total int64
	for {
		_, r, err := c.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseNoStatusReceived) {
				err = nil // websockify closes without a status
			}
			return total, h.Sum32(), err
		}
		n, err := io.CopyBuffer(h, r, buf)
		total += n
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
