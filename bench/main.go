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
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// scenarios are the bench's subcommands.
var scenarios = map[string]func(opts) error{
	"tcp-down":  tcpDown,
	"pty-down":  ptyDown,
	"exec-down": execDown,
}

// opts are the flags every scenario takes.
type opts struct {
	bytes      int64
	runs       int
	wsbridge   string
	websocketd string
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
	websocketd := fs.String("websocketd", "/usr/bin/websocketd", "websocketd to compare with (skipped if missing)")
	websockify := fs.String("websockify", "/usr/bin/websockify", "websockify to compare with (skipped if missing)")
	_ = fs.Parse(os.Args[2:])
	o := opts{runs: *runs, wsbridge: *wsbridge, websocketd: *websocketd, websockify: *websockify}
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

// startPeer is startServer for another tool, which may be missing: then it
// says so and returns an empty address.
func startPeer(bin string, args ...string) (addr string, stop func(), err error) {
	if _, err := os.Stat(bin); err != nil {
		fmt.Printf("(%s not found: no %s column)\n", bin, filepath.Base(bin))
		return "", nil, nil
	}
	return startServer(bin, args...)
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
