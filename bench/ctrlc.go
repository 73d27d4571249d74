package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/internal/shapedlink"
)

// ctrlC runs yes in wsbridge --pty's shell through a link of -rate bytes per
// second (a network namespace joined by a veth pair, its queue shaped by
// tc's tbf; Linux, as root, with iproute2), and once output has flowed
// for three seconds types Ctrl-C as the terminal page does: it measures
// the time from the Ctrl-C to the last of yes's output, and to the shell's
// answer to a command typed after it, and the bytes on their way meanwhile.
// The client acknowledges each message as it arrives, as the page does
// when it draws faster than the link brings output; -delay holds each ack
// that long, as a longer round trip would (this kernel has no netem).
// -base is a second wsbridge to run beside (main's, with its fixed window);
// -linger makes the terminal a lasting one (--linger 1m).
func ctrlC(o opts) error {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		return errors.New("ctrlc needs Linux and root (a network namespace, tc)")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("ctrlc needs %s (Debian's iproute2)", tool)
		}
	}
	link, err := shapedlink.New("wsbb", 252, fmt.Sprintf("%dbps", o.rate), shapedlink.FromNamespace)
	if err != nil {
		return err
	}
	defer link.Remove()
	bins := []struct{ name, bin string }{{"wsbridge", o.wsbridge}}
	if o.base != "" {
		bins = append([]struct{ name, bin string }{{"base", o.base}}, bins...)
	}
	type result struct {
		name                    string
		toLast, toPrompt, after []float64
		rate                    []float64
	}
	var results []*result
	var servers []*exec.Cmd
	defer func() {
		for _, s := range servers {
			_ = s.Process.Kill()
			_ = s.Wait()
		}
	}()
	var addrs []string
	for i, b := range bins {
		port := strconv.Itoa(18700 + i)
		args := []string{"netns", "exec", link.NS, b.bin, "--address", link.Inner, "--port", port, "--loglevel", "error", "--pty"}
		if o.linger {
			args = append(args, "--linger", "1m")
		}
		cmd := exec.Command("ip", append(args, "--", "/bin/sh")...)
		if err := cmd.Start(); err != nil {
			return err
		}
		servers = append(servers, cmd)
		addrs = append(addrs, net.JoinHostPort(link.Inner, port))
		results = append(results, &result{name: b.name})
	}
	for _, a := range addrs {
		if !listens(a, 5*time.Second) {
			return fmt.Errorf("nothing listens on %s", a)
		}
	}
	before := int64(3 * o.rate)
	fmt.Printf("ctrlc: yes through a link of %d bytes/s (tbf), acks held %v, --linger %v; Ctrl-C after %d bytes; %d runs, contenders in turn\n", o.rate, o.delay, o.linger, before, o.runs)
	for run := 1; run <= o.runs; run++ {
		for i, r := range results {
			m, err := ctrlCRun("ws://"+addrs[i]+"/", before, o.delay)
			if err != nil {
				return fmt.Errorf("%s, run %d: %v", r.name, run, err)
			}
			r.toLast = append(r.toLast, m.toLast.Seconds()*1e3)
			r.toPrompt = append(r.toPrompt, m.toPrompt.Seconds()*1e3)
			r.after = append(r.after, float64(m.after)/1024)
			r.rate = append(r.rate, m.rate/1e3)
			fmt.Printf("  run %d  %-9s Ctrl-C to the last y %5.0f ms, to the prompt %5.0f ms, %6.1f KiB after it; %5.1f KB/s before\n",
				run, r.name, r.toLast[len(r.toLast)-1], r.toPrompt[len(r.toPrompt)-1], r.after[len(r.after)-1], r.rate[len(r.rate)-1])
		}
	}
	fmt.Println()
	fmt.Println("| contender | Ctrl-C to the last output (ms) | Ctrl-C to the prompt (ms) | KiB after Ctrl-C | KB/s before it |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %s | %.0f | %.0f | %.1f | %.1f |\n", r.name, median(r.toLast), median(r.toPrompt), median(r.after), median(r.rate))
	}
	return nil
}

type ctrlCMeasure struct {
	toLast, toPrompt time.Duration
	after            int64
	rate             float64 // bytes per second of yes's output before the Ctrl-C
}

// ctrlCRun is one session: the page's size message with flow control on,
// yes, Ctrl-C after before bytes of its output, then a command whose
// answer says the shell is back.
func ctrlCRun(url string, before int64, delay time.Duration) (ctrlCMeasure, error) {
	var m ctrlCMeasure
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return m, err
	}
	defer c.Close()
	var mu sync.Mutex
	write := func(mt int, msg []byte) error {
		mu.Lock()
		defer mu.Unlock()
		return c.WriteMessage(mt, msg)
	}
	type ack struct {
		n   int
		due time.Time
	}
	acks := make(chan ack, 1<<16)
	defer close(acks)
	go func() {
		for a := range acks {
			time.Sleep(time.Until(a.due))
			_ = write(websocket.TextMessage, fmt.Appendf(nil, `{"type":"ack","bytes":%d}`, a.n))
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Minute))
	var received int64
	var tail []byte
	var lastY time.Time
	until := func(done func() bool) error {
		for !done() {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return fmt.Errorf("%v after %d bytes", err, received)
			}
			if mt != websocket.BinaryMessage {
				continue
			}
			received += int64(len(msg))
			tail = append(tail, msg...)
			tail = tail[max(0, len(tail)-64):]
			if bytes.Contains(msg, []byte("y\r\n")) {
				lastY = time.Now()
			}
			acks <- ack{len(msg), time.Now().Add(delay)}
		}
		return nil
	}
	if err := write(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24,"flow":true}`)); err != nil {
		return m, err
	}
	if err := until(func() bool { return received > 0 }); err != nil {
		return m, err
	}
	if err := write(websocket.BinaryMessage, []byte("yes\r")); err != nil {
		return m, err
	}
	if err := until(func() bool { return received > 4096 }); err != nil {
		return m, err
	}
	began, from := time.Now(), received
	if err := until(func() bool { return received >= before }); err != nil {
		return m, err
	}
	m.rate = float64(received-from) / time.Since(began).Seconds()
	at := received
	sent := time.Now()
	for _, in := range []string{"\x03", "echo END$((6*7))\r"} {
		if err := write(websocket.BinaryMessage, []byte(in)); err != nil {
			return m, err
		}
	}
	if err := until(func() bool { return bytes.Contains(tail, []byte("END42")) }); err != nil {
		return m, err
	}
	m.toPrompt, m.toLast, m.after = time.Since(sent), lastY.Sub(sent), received-at
	return m, nil
}
