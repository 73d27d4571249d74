// Command bench measures wsbridge beside the tools people use today
// (websocketd, websockify) and the physical limit, in one run on one
// machine, so every figure can be read as a ratio:
//
//	go run ./bench exec-down  # head -c through the exec bridge, beside the pipe and raw TCP
//	go run ./bench tcp-down   # a TCP source through the TCP bridge, beside raw TCP
//	go run ./bench connect-down # the same through the TCP bridge and wsbridge connect --listen
//	go run ./bench pty-down   # cat on a terminal, beside a plain PTY reader
//	go run ./bench echo       # round-trip latency of small messages, beside cat on a pipe
//	go run ./bench pipeline   # an upload echoed back, beside cat on pipes and raw TCP
//	go run ./bench connrate   # sessions per second, beside starting and reaping cat
//	go run ./bench hold       # memory per live connection, and every one still answering
//	go run ./bench slow       # memory growth under a slow client, and every byte arriving
//	go run ./bench fanout     # one shared program to 1, 100, 1000 clients, with and without a slow one
//	go run ./bench compress   # permessage-deflate off and on: bytes on the wire, CPU, memory per session
//	go run ./bench instructions # instructions per session and per echoed message, under valgrind (-strace: system calls)
//	go run ./bench ctrlc -rate 100000 # Ctrl-C after yes in the terminal through a shaped link (Linux, root)
//	go run ./bench pty-count -bytes 16MiB # instructions per MiB through --pty with flow control (-strace: system calls)
//
// -tls serves wss:// (a self-signed certificate) in echo, exec-down,
// tcp-down, connrate and hold, with a Go TLS relay as the limit where
// there is one.
//
// Every download is checked by length and CRC-32C; results are medians over
// -runs; see BENCHMARKS.md. Peers that are not installed are left out.
package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scenarios are the bench's subcommands.
var scenarios = map[string]func(opts) error{
	"tcp-down":     tcpDown,
	"connect-down": connectDown,
	"pty-down":     ptyDown,
	"exec-down":    execDown,
	"echo":         echoLatency,
	"connrate":     connRate,
	"hold":         hold,
	"slow":         slow,
	"pipeline":     pipeline,
	"fanout":       fanout,
	"compress":     compress,
	"instructions": instructions,
	"ctrlc":        ctrlC,
	"pty-count":    ptyCount,
}

// tlsScenarios are those whose limits -tls also puts behind TLS.
var tlsScenarios = []string{"echo", "exec-down", "tcp-down", "connrate", "hold"}

// opts are the flags every scenario takes.
type opts struct {
	bytes      int64
	runs       int
	count      int           // echo: round trips per run
	clients    int           // connrate: clients at once
	duration   time.Duration // connrate: length of a run
	conns      int           // hold: connections to wsbridge
	peerConns  int           // hold: connections to a peer
	execConns  int           // hold: connections to wsbridge's exec bridge
	rate       int           // slow: bytes per second the client reads
	message    int           // pipeline: bytes per uploaded message
	fanout     []int         // fanout: clients per run
	messages   int           // fanout: messages delivered per run, in total
	line       int           // fanout: bytes per message
	queue      int           // fanout: each client's queue
	slowRate   int           // fanout: bytes per second the slow client reads
	wsbridge   string
	websocketd string
	websockify string
	sessions   int    // instructions: sessions counted
	echoes     int    // instructions: echoed messages counted
	keep       string // instructions: folder for cachegrind's files
	valgrind   string
	strace     string        // instructions: count system calls with this strace instead
	base       string        // ctrlc, pty-down: a second wsbridge to run beside
	delay      time.Duration // ctrlc: how long the client holds each ack
	linger     bool          // ctrlc, pty-down: a lasting terminal
	only       string        // echo: only the contenders whose names contain this
	loads      string        // instructions: only the loads whose names contain this
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fanout-writer" { // the program bench fanout shares
		if err := fanoutWriter(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "fanout-writer:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && (os.Args[1] == "relay-process" || os.Args[1] == "ws-relay-process") { // limits in processes of their own
		if err := relayProcess(os.Args[2:], os.Args[1] == "ws-relay-process"); err != nil {
			fmt.Fprintln(os.Stderr, os.Args[1]+":", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) < 2 || scenarios[os.Args[1]] == nil {
		names := slices.Sorted(maps.Keys(scenarios))
		fmt.Fprintf(os.Stderr, "usage: bench %s [flags]\n(bench SCENARIO -h lists the flags)\n", strings.Join(names, "|"))
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	size := fs.String("bytes", "512MiB", "bytes per download (KiB, MiB, GiB suffixes)")
	runs := fs.Int("runs", 5, "runs per contender; the median counts")
	count := fs.Int("count", 20000, "echo: round trips per run")
	clients := fs.Int("clients", 4, "connrate: clients at once")
	duration := fs.Duration("duration", 5*time.Second, "connrate: length of a run")
	conns := fs.Int("conns", 1000, "hold: live connections to wsbridge's TCP bridge; compress: sessions for the memory figures")
	execConns := fs.Int("exec-conns", 1000, "hold: live connections to wsbridge's exec bridge, at most")
	peerConns := fs.Int("peer-conns", 200, "hold: live connections to a peer (websockify forks a process for each)")
	rate := fs.Int("rate", 1_000_000, "slow: bytes per second the client reads; ctrlc: bytes per second of the link")
	base := fs.String("base", "", "ctrlc, pty-down: a second wsbridge binary to run beside (e.g. main's)")
	delay := fs.Duration("delay", 0, "ctrlc: how long the client holds each ack, as a round trip would")
	linger := fs.Bool("linger", false, "ctrlc, pty-down: a lasting terminal (--linger 1m)")
	message := fs.String("message", "64KiB", "pipeline: bytes per uploaded message")
	fanoutList := fs.String("fanout", "1,100,1000", "fanout: clients per run, comma-separated")
	messages := fs.Int("messages", 2_000_000, "fanout: messages delivered per run, over all clients (each client's share, at least 1000, is what the program writes)")
	line := fs.Int("line", 100, "fanout: bytes per message, newline included")
	queue := fs.String("queue", "256KiB", "fanout: each client's queue (--shared-options queue=)")
	slowRate := fs.Int("slow-rate", 1<<10, "fanout: bytes per second the slow client reads")
	wsbridge := fs.String("wsbridge", "", "wsbridge binary (default: build this repository)")
	websocketd := fs.String("websocketd", "/usr/bin/websocketd", "websocketd to compare with (skipped if missing)")
	websockify := fs.String("websockify", "/usr/bin/websockify", "websockify to compare with (skipped if missing)")
	useTLS := fs.Bool("tls", false, "wss:// with a self-signed certificate, and a Go TLS relay as the limit ("+strings.Join(tlsScenarios, ", ")+")")
	sessions := fs.Int("sessions", 200, "instructions: sessions counted")
	echoes := fs.Int("echoes", 2000, "instructions: echoed messages counted")
	keep := fs.String("keep", "", "instructions: keep cachegrind's output files in this folder (for cg_annotate)")
	valgrind := fs.String("valgrind", "/usr/bin/valgrind", "instructions: valgrind")
	strace := fs.String("strace", "", "instructions: count system calls with this strace (strace -f -c) instead of instructions")
	only := fs.String("only", "", "echo: only the contenders whose names contain this (\"tcp\": wsbridge --tcp, the relays and raw TCP)")
	loads := fs.String("loads", "", "instructions: only the loads whose names contain this (session, echo, cat, --tcp)")
	_ = fs.Parse(os.Args[2:])
	o := opts{runs: *runs, count: *count, clients: *clients, duration: *duration, conns: *conns, peerConns: *peerConns, execConns: *execConns, rate: *rate, wsbridge: *wsbridge, websocketd: *websocketd, websockify: *websockify,
		messages: *messages, line: *line, slowRate: *slowRate, sessions: *sessions, echoes: *echoes, keep: *keep, valgrind: *valgrind, strace: *strace, only: *only, base: *base, delay: *delay, linger: *linger, loads: *loads}
	var err error
	if *useTLS {
		if !slices.Contains(tlsScenarios, os.Args[1]) {
			err = fmt.Errorf("-tls: only with %s", strings.Join(tlsScenarios, ", "))
		} else if dir, derr := os.MkdirTemp("", "bench-tls"); derr != nil {
			err = derr
		} else {
			defer os.RemoveAll(dir)
			err = setUpTLS(dir)
		}
	}
	for _, v := range strings.Split(*fanoutList, ",") {
		n, perr := strconv.Atoi(strings.TrimSpace(v))
		if err == nil && (perr != nil || n < 1) {
			err = fmt.Errorf("-fanout %q: want client counts such as 1,100,1000", *fanoutList)
		}
		o.fanout = append(o.fanout, n)
	}
	if err == nil {
		var q int64
		q, err = parseSize("queue", *queue)
		o.queue = int(q)
	}
	if err == nil {
		o.bytes, err = parseSize("bytes", *size)
	}
	if err == nil {
		var m int64
		m, err = parseSize("message", *message)
		o.message = int(m)
	}
	if err == nil && o.wsbridge == "" {
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

func parseSize(flag, s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if rest, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = rest, m
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("-%s %q: want a positive size such as 512MiB", flag, s)
	}
	return v * mult, nil
}

// serverSpec is a bridge to start: wsbridge or a peer, a tool people use
// today that may be missing (then it is skipped, with a note).
type serverSpec struct {
	name string
	peer bool
	bin  string
	args []string // "{port}" stands for the port it gets
	env  []string // added to the bench's environment
	// startWait is how long it may take to listen (default 5 s).
	startWait time.Duration
}

func wsbridgeSpec(o opts, name string, args ...string) serverSpec {
	return serverSpec{name: name, bin: o.wsbridge, args: append(append([]string{"--port", "{port}", "--address", "127.0.0.1", "--loglevel", "error"}, sslArgs()...), args...)}
}

func websocketdSpec(o opts, args ...string) serverSpec {
	return serverSpec{name: "websocketd", peer: true, bin: o.websocketd, args: append(append([]string{"--port", "{port}", "--address", "127.0.0.1", "--loglevel", "error"}, sslArgs()...), args...)}
}

// sslArgs are wsbridge's and websocketd's flags for -tls (the same three).
func sslArgs() []string {
	if !benchTLS.on {
		return nil
	}
	return []string{"--ssl", "--sslcert", benchTLS.certFile, "--sslkey", benchTLS.keyFile}
}

func websockifySpec(o opts, target string) serverSpec {
	args := []string{"127.0.0.1:{port}", target}
	if benchTLS.on {
		args = append([]string{"--cert", benchTLS.certFile, "--key", benchTLS.keyFile, "--ssl-only"}, args...)
	}
	return serverSpec{name: "websockify", peer: true, bin: o.websockify, args: args}
}

// server is a running bridge.
type server struct {
	serverSpec
	addr string
	cmd  *exec.Cmd
}

func (s *server) url() string {
	if benchTLS.on {
		return "wss://" + s.addr + "/"
	}
	return "ws://" + s.addr + "/"
}
func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// startServers starts every spec whose binary is there, each on a free
// loopback port, and waits until each accepts connections.
func startServers(specs ...serverSpec) ([]*server, error) {
	var servers []*server
	for _, spec := range specs {
		if _, err := os.Stat(spec.bin); err != nil && spec.peer {
			fmt.Printf("(%s not found: no %s)\n", spec.bin, spec.name)
			continue
		}
		s, err := startServer(spec)
		if err != nil {
			stopAll(servers)
			return nil, err
		}
		servers = append(servers, s)
	}
	return servers, nil
}

func stopAll(servers []*server) {
	for _, s := range servers {
		s.stop()
	}
}

func startServer(spec serverSpec) (*server, error) {
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		var args []string
		for _, a := range spec.args {
			args = append(args, strings.ReplaceAll(a, "{port}", port))
		}
		s := &server{serverSpec: spec, addr: "127.0.0.1:" + port, cmd: exec.Command(spec.bin, args...)}
		s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard // websocketd logs on stdout
		if spec.env != nil {
			s.cmd.Env = append(os.Environ(), spec.env...)
		}
		if err := s.cmd.Start(); err != nil {
			return nil, err
		}
		wait := spec.startWait
		if wait == 0 {
			wait = 5 * time.Second
		}
		if listens(s.addr, wait) {
			return s, nil
		}
		s.stop() // the port was taken meanwhile, or it failed: try another
	}
	return nil, fmt.Errorf("%s did not start listening", spec.bin)
}

// listens says whether something accepts connections at addr within wait.
func listens(addr string, wait time.Duration) bool {
	for range wait / (50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
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
