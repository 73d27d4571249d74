package main

import (
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// slow downloads o.bytes from a fast source through each bridge with a client
// that reads o.rate bytes per second, and reports how far the server's
// memory (resident, its children's included) grew above where it started,
// and whether every byte arrived.
func slow(o opts) error {
	src, err := newSource(o.bytes)
	if err != nil {
		return err
	}
	defer src.Close()
	command := []string{"/usr/bin/head", "-c", strconv.FormatInt(o.bytes, 10), "/dev/zero"}
	specs := []serverSpec{
		wsbridgeSpec(o, "wsbridge --tcp", "--tcp", src.addr),
		websockifySpec(o, src.addr),
		wsbridgeSpec(o, "wsbridge --binary", append([]string{"--binary", "--"}, command...)...),
		websocketdSpec(o, append([]string{"--binary"}, command...)...),
	}
	zeros := crc32.Checksum(make([]byte, o.bytes), castagnoli)
	fmt.Printf("slow: %d bytes read at %d bytes/s from a fast source\n\n", o.bytes, o.rate)
	fmt.Printf("| server | source | memory growth, peak | bytes arrived | all, unchanged |\n|---|---|---|---|---|\n")
	for i, spec := range specs {
		servers, err := startServers(spec)
		if err != nil {
			return err
		}
		if len(servers) == 0 {
			continue
		}
		s := servers[0]
		want, source := src.crc(), "TCP"
		if i >= 2 {
			want, source = zeros, "head -c"
		}
		grew, n, crc, err := slowDownload(s, o.rate)
		stopAll(servers)
		if err != nil {
			return fmt.Errorf("%s: %v", s.name, err)
		}
		fmt.Printf("| %s | %s | %.1f MiB | %d of %d | %v |\n", s.name, source, float64(grew)/1024, n, o.bytes, n == o.bytes && crc == want)
	}
	return nil
}

// slowDownload reads from s at rate bytes per second while sampling its
// memory every 100 ms; it returns the peak growth in KiB.
func slowDownload(s *server, rate int) (grewKiB int, n int64, crc uint32, err error) {
	base, err := treeRSS(s.pid())
	if err != nil {
		return 0, 0, 0, err
	}
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if k, err := treeRSS(s.pid()); err == nil && int64(k) > peak.Load() {
					peak.Store(int64(k))
				}
			}
		}
	}()
	n, crc, err = readPaced(s.url(), rate)
	close(stop)
	<-sampled
	return max(int(peak.Load())-base, 0), n, crc, err
}

// treeRSS is the resident memory of pid and everything below it.
func treeRSS(pid int) (int, error) {
	total, err := rssKiB(pid)
	for _, p := range descendants(pid) {
		if k, err := rssKiB(p); err == nil {
			total += k
		}
	}
	return total, err
}

// readPaced reads a download at rate bytes per second, 16 KiB at a time.
func readPaced(url string, rate int) (int64, uint32, error) {
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	h := crc32.New(castagnoli)
	buf := make([]byte, 16<<10)
	began := time.Now()
	var total int64
	for {
		_, r, err := c.NextReader()
		if err != nil {
			return total, h.Sum32(), nil // the end: the count tells what was lost
		}
		for {
			k, err := r.Read(buf)
			h.Write(buf[:k])
			total += int64(k)
			if ahead := time.Duration(float64(total)/float64(rate)*1e9) - time.Since(began); ahead > 0 {
				time.Sleep(ahead)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return total, h.Sum32(), nil
			}
		}
	}
}
