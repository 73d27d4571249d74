package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/creack/pty"
	"github.com/gorilla/websocket"
)

// ptyDown compares `cat FILE` on a terminal read by a plain program with
// the same through wsbridge --pty; -linger adds a lasting terminal's (its
// output goes through a hub), -base a second wsbridge's of each.
func ptyDown(o opts) error {
	dir, err := os.MkdirTemp("", "wsbridge-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "text")
	n, want, err := writeText(file, o.bytes)
	if err != nil {
		return err
	}
	specs := []serverSpec{wsbridgeSpec(o, "wsbridge", "--pty", "--", "/bin/cat", file)}
	if o.linger {
		specs = append(specs, wsbridgeSpec(o, "--linger", "--pty", "--linger", "1m", "--", "/bin/cat", file))
	}
	if o.base != "" {
		for _, sp := range slices.Clone(specs) {
			sp.name, sp.bin = "base "+sp.name, o.base
			specs = append(specs, sp)
		}
	}
	servers, err := startServers(specs...)
	if err != nil {
		return err
	}
	defer stopAll(servers)
	contenders := append([]*contender{
		{name: "plain PTY", fetch: func() (int64, uint32, error) { return readPTY(exec.Command("/bin/cat", file)) }},
	}, downloads(servers, acknowledge)...)
	fmt.Printf("pty-down: cat of %d bytes of text (%d through the terminal), %d runs, contenders in turn\n", o.bytes, n, o.runs)
	for _, c := range contenders {
		c.n, c.crc = n, want
	}
	return compete(contenders, o.runs)
}

// writeText writes size bytes of printable lines and returns the length and
// CRC of what a terminal makes of them ("\n" becomes "\r\n").
func writeText(path string, size int64) (int64, uint32, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/ "
	r := rand.New(rand.NewChaCha8([32]byte{'p', 't', 'y'}))
	var text []byte
	for int64(len(text)) < size {
		for range 79 {
			text = append(text, alphabet[r.IntN(len(alphabet))])
		}
		text = append(text, '\n')
	}
	text = text[:size]
	if err := os.WriteFile(path, text, 0o600); err != nil {
		return 0, 0, err
	}
	shown := bytes.ReplaceAll(text, []byte("\n"), []byte("\r\n"))
	return int64(len(shown)), crc32.Checksum(shown, castagnoli), nil
}

// readPTY runs cmd on a terminal and reads it to the end, as any program
// that drives a terminal does.
func readPTY(cmd *exec.Cmd) (int64, uint32, error) {
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 80, Rows: 24})
	if err != nil {
		return 0, 0, err
	}
	defer tty.Close()
	h := crc32.New(castagnoli)
	n, err := io.CopyBuffer(h, tty, make([]byte, 256<<10))
	if errors.Is(err, syscall.EIO) {
		err = nil // the terminal's other side is closed: cat is done
	}
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	return n, h.Sum32(), err
}

// acknowledge starts a terminal session as the page does: its size with flow
// control on, then an acknowledgement per 32 KiB received.
func acknowledge(c *websocket.Conn) func(int) error {
	start, _ := json.Marshal(map[string]any{"type": "size", "cols": 80, "rows": 24, "flow": true})
	if err := c.WriteMessage(websocket.TextMessage, start); err != nil {
		return func(int) error { return err }
	}
	pending := 0
	return func(n int) error {
		if pending += n; pending < 32<<10 {
			return nil
		}
		ack := fmt.Appendf(nil, `{"type":"ack","bytes":%d}`, pending)
		pending = 0
		return c.WriteMessage(websocket.TextMessage, ack)
	}
}
