package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// fanout runs one program on a shared route (--shared) for each N of
// -fanout clients, in three runs. "lossless": the program writes numbered
// lines as fast as it can with slow=wait, so it goes at the pace of the
// clients: messages and bytes delivered per second in total and per
// client, p99 delivery latency (from the program's write to a client's
// read) and wsbridge's memory per subscriber. Then, with slow=drop, the
// program paced at half that rate, without and with one more client that
// reads at -slow-rate: the other clients' rate in each.
func fanout(o opts) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("fanout: one program writes lines of %d bytes (line framing, queue %d KiB each); the lossless run delivers %d messages over all clients; the paced runs last about 5 s; the slow client reads %d bytes/s\n\n",
		o.line, o.queue>>10, o.messages, o.slowRate)
	fmt.Printf("| clients | run | messages/s total | per client | MB/s total | p99 latency ms | memory per subscriber KiB | every client got every message, in order | the slow client |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range o.fanout {
		var lossless float64 // messages per second per client
		for _, run := range []string{"lossless", "paced", "paced + slow client"} {
			msgs, rate, policy := max(o.messages/n, 1000), 0, "slow=wait"
			if run != "lossless" {
				rate = max(int(lossless/2), 1)
				msgs, policy = max(rate*5, 100), "slow=drop"
			}
			spec := wsbridgeSpec(o, "wsbridge --shared", "--shared-options", policy+",queue="+strconv.Itoa(o.queue),
				"--", self, "fanout-writer", strconv.Itoa(msgs), strconv.Itoa(o.line), strconv.Itoa(rate))
			servers, err := startServers(spec)
			if err != nil {
				return err
			}
			withSlow := run == "paced + slow client"
			r, err := fanoutRun(servers[0], n, msgs, withSlow, o.slowRate)
			stopAll(servers)
			if err != nil {
				return fmt.Errorf("%d clients, %s: %v", n, run, err)
			}
			total := float64(r.delivered) / r.elapsed.Seconds()
			if run == "lossless" {
				lossless = total / float64(n)
			}
			slowEnd, mem := "-", "-"
			if withSlow {
				slowEnd = r.slowEnd
			}
			if n > 1 {
				mem = fmt.Sprintf("%.1f", r.perSubKiB)
			}
			fmt.Printf("| %d | %s | %.0f | %.0f | %.1f | %.1f | %s | %v | %s |\n", n, run, total, total/float64(n),
				total*float64(o.line)/1e6, r.p99.Seconds()*1e3, mem, r.complete, slowEnd)
		}
	}
	return nil
}

type fanoutResult struct {
	delivered int // messages, over the fast clients
	elapsed   time.Duration
	p99       time.Duration
	perSubKiB float64
	complete  bool   // every fast client got every message, in order
	slowEnd   string // how the slow client's session ended
}

func fanoutRun(s *server, n, msgs int, withSlow bool, slowRate int) (fanoutResult, error) {
	var r fanoutResult
	dial := func() (*websocket.Conn, error) {
		c, _, err := websocket.DefaultDialer.Dial(s.url(), nil)
		return c, err
	}
	first, err := dial()
	if err != nil {
		return r, err
	}
	conns := []*websocket.Conn{first}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond) // the program started; let it settle
	base, err := rssKiB(s.pid())
	if err != nil {
		return r, err
	}
	for len(conns) < n {
		c, err := dial()
		if err != nil {
			return r, err
		}
		conns = append(conns, c)
	}
	if n > 1 {
		now, err := rssKiB(s.pid())
		if err != nil {
			return r, err
		}
		r.perSubKiB = float64(now-base) / float64(n-1)
	}
	var slow *websocket.Conn
	if withSlow {
		if slow, err = dial(); err != nil {
			return r, err
		}
		conns = append(conns, slow)
	}

	type result struct {
		got     int
		inOrder bool
		lat     []time.Duration
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i, c := range conns[:n] {
		wg.Go(func() {
			res := result{inOrder: true}
			for {
				_, m, err := c.ReadMessage()
				if err != nil {
					break
				}
				now := time.Now()
				seq, sent, ok := parseStamp(m)
				if !ok {
					continue // "go"
				}
				res.inOrder = res.inOrder && seq == res.got+1
				res.got++
				if res.got%10 == 0 { // a sample is enough
					res.lat = append(res.lat, now.Sub(time.Unix(0, sent)))
				}
			}
			results[i] = res
		})
	}
	slowDone := make(chan string, 1)
	if withSlow {
		go func() {
			_, _, end := readPacedEnd(slow, slowRate)
			slowDone <- end
		}()
	}
	began := time.Now()
	if err := first.WriteMessage(websocket.TextMessage, []byte("go")); err != nil {
		return r, err
	}
	wg.Wait()
	r.elapsed = time.Since(began)
	if withSlow {
		slow.Close() // its rate does not count; how far it got does
	}
	r.complete = true
	var lat []time.Duration
	for _, res := range results {
		r.delivered += res.got
		r.complete = r.complete && res.inOrder && res.got == msgs
		lat = append(lat, res.lat...)
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		r.p99 = lat[len(lat)*99/100]
	}
	if withSlow {
		r.slowEnd = <-slowDone
	}
	return r, nil
}

// readPacedEnd reads at rate bytes per second until the end, and says how
// it ended: the close code and reason.
func readPacedEnd(c *websocket.Conn, rate int) (int, int64, string) {
	began := time.Now()
	var total int64
	msgs := 0
	for {
		_, m, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return msgs, total, fmt.Sprintf("closed %d %s after %d messages", ce.Code, ce.Text, msgs)
			}
			if errors.Is(err, net.ErrClosed) {
				return msgs, total, fmt.Sprintf("still connected, %d messages read", msgs)
			}
			return msgs, total, err.Error()
		}
		msgs++
		total += int64(len(m))
		if ahead := time.Duration(float64(total)/float64(rate)*1e9) - time.Since(began); ahead > 0 {
			time.Sleep(ahead)
		}
	}
}

// parseStamp reads a writer's line: "SEQ UNIXNANO padding".
func parseStamp(m []byte) (seq int, sent int64, ok bool) {
	f := strings.Fields(string(m[:min(len(m), 48)]))
	if len(f) < 2 {
		return 0, 0, false
	}
	seq, err1 := strconv.Atoi(f[0])
	sent, err2 := strconv.ParseInt(f[1], 10, 64)
	return seq, sent, err1 == nil && err2 == nil
}

// fanoutWriter is the program of bench fanout (bench fanout-writer COUNT
// SIZE RATE): after its first input line, COUNT lines of SIZE bytes with
// the "SEQ UNIXNANO" of their write, each written at once, as a tail -f
// does; RATE lines a second, or 0 for as fast as it can.
func fanoutWriter(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: bench fanout-writer COUNT SIZE RATE")
	}
	count, err1 := strconv.Atoi(args[0])
	size, err2 := strconv.Atoi(args[1])
	rate, err3 := strconv.Atoi(args[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	fmt.Println("go")
	w := bufio.NewWriterSize(os.Stdout, size+64)
	pad := strings.Repeat(".", size)
	began := time.Now()
	for i := 1; i <= count; i++ {
		if rate > 0 {
			if ahead := time.Duration(i)*time.Second/time.Duration(rate) - time.Since(began); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		line := strconv.Itoa(i) + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + " "
		line += pad[:max(size-len(line)-1, 0)]
		_, _ = w.WriteString(line + "\n")
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}
