package main

import (
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// contender is one way of getting the bytes.
type contender struct {
	name  string
	peer  bool                          // another tool: its loss is a finding, not a failure
	ref   bool                          // a limit that gets a ratio column of its own, beside the first
	n     int64                         // the bytes it must deliver
	crc   uint32                        // and their CRC-32C
	fetch func() (int64, uint32, error) // bytes received and their CRC-32C
	mbps  []float64                     // one per run that delivered every byte
	lossy int                           // runs that did not
}

// downloads are the contenders that read from servers.
func downloads(servers []*server, hello func(c *websocket.Conn) func(n int) error) []*contender {
	var cs []*contender
	for _, s := range servers {
		cs = append(cs, &contender{name: s.name, peer: s.peer, fetch: func() (int64, uint32, error) { return readWS(s.url(), hello) }})
	}
	return cs
}

// compete runs every contender in turn, runs times, checks each download
// against the bytes it must deliver, and prints a table of medians as ratios to
// the first contender (the physical limit), to every ref and to the first
// peer, if any.
// A peer's loss is a finding; anyone else's fails the run.
func compete(contenders []*contender, runs int) error {
	for run := 1; run <= runs; run++ {
		for _, c := range contenders {
			began := time.Now()
			got, crc, err := c.fetch()
			secs := time.Since(began).Seconds()
			if err != nil && !c.peer {
				return fmt.Errorf("%s, run %d: %v", c.name, run, err)
			}
			if err != nil {
				c.lossy++
				fmt.Printf("  run %d  %-10s FAILED after %d of %d bytes: %v\n", run, c.name, got, c.n, err)
				continue
			}
			if got != c.n || crc != c.crc {
				c.lossy++
				fmt.Printf("  run %d  %-10s LOST DATA: %d of %d bytes arrived, checksum match %v\n", run, c.name, got, c.n, crc == c.crc)
				continue
			}
			c.mbps = append(c.mbps, float64(c.n)/secs/1e6)
			fmt.Printf("  run %d  %-10s %8.0f MB/s\n", run, c.name, c.mbps[len(c.mbps)-1])
		}
	}
	refs := []*contender{contenders[0]}
	header := "| contender | median MB/s |"
	for _, c := range contenders[1:] {
		if c.ref {
			refs = append(refs, c)
		}
	}
	for _, c := range contenders {
		if c.peer && len(c.mbps) > 0 {
			refs = append(refs, c)
			break
		}
	}
	for _, r := range refs {
		header += " × " + r.name + " |"
	}
	fmt.Printf("\n%s runs that lost data |\n|%s\n", header, strings.Repeat("---|", strings.Count(header, "|")))
	for _, c := range contenders {
		m := median(c.mbps)
		fmt.Printf("| %s | %.0f |", c.name, m)
		for _, r := range refs {
			fmt.Printf(" %.2f |", m/median(r.mbps))
		}
		fmt.Printf(" %d of %d |\n", c.lossy, runs)
	}
	for _, c := range contenders {
		if c.lossy > 0 && !c.peer {
			return fmt.Errorf("%s lost data", c.name)
		}
	}
	return nil
}

// readWS reads binary messages until the close frame; a clean end is 1000.
// hello, if set, starts the session and is told of every message's size.
func readWS(url string, hello func(c *websocket.Conn) func(n int) error) (int64, uint32, error) {
	return readWSWith(wsDialer(256<<10, 0), url, hello)
}

// readWSWith is readWS through d.
func readWSWith(d *websocket.Dialer, url string, hello func(c *websocket.Conn) func(n int) error) (int64, uint32, error) {
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
		if err != nil {
			// The end, clean or not (websocketd drops the connection): the
			// byte count and checksum tell whether anything was lost.
			return total, h.Sum32(), nil
		}
		if mt == websocket.TextMessage {
			continue // a terminal's control messages are not output
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
