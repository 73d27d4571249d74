package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// connRate counts sessions per second with o.clients clients at once, each
// session a new connection, one round trip through cat and a clean close,
// beside the bare rate: starting cat, one round trip through it and reaping
// it, with as many workers.
func connRate(o opts) error {
	type rater struct {
		name  string
		once  func() error
		rates []float64
	}
	raters := []*rater{{name: "bare cat", once: func() error {
		p, err := dialPipe()
		if err == nil {
			err = p.roundTrip([]byte("hello"))
			if cerr := p.Close(); err == nil {
				err = cerr
			}
		}
		return err
	}}}
	servers, err := startServers(wsbridgeSpec(o, "wsbridge", "/bin/cat"), websocketdSpec(o, "/bin/cat"))
	if err != nil {
		return err
	}
	defer stopAll(servers)
	for _, s := range servers {
		raters = append(raters, &rater{name: s.name, once: func() error { return wsSession(s.url(), false) }})
	}
	fmt.Printf("connrate: %d clients for %v per run, %d runs, contenders in turn\n", o.clients, o.duration, o.runs)
	for run := 1; run <= o.runs; run++ {
		for _, r := range raters {
			rate, err := measureRate(r.once, o.clients, o.duration)
			if err != nil {
				return fmt.Errorf("%s, run %d: %v", r.name, run, err)
			}
			r.rates = append(r.rates, rate)
			fmt.Printf("  run %d  %-10s %6.0f sessions/s\n", run, r.name, rate)
		}
	}
	bare := median(raters[0].rates)
	fmt.Printf("\n| contender | median sessions/s | × bare cat |\n|---|---|---|\n")
	for _, r := range raters {
		fmt.Printf("| %s | %.0f | %.2f |\n", r.name, median(r.rates), median(r.rates)/bare)
	}
	return nil
}

// measureRate runs once from clients goroutines for d and returns how many
// finished per second. Any failure fails the run.
func measureRate(once func() error, clients int, d time.Duration) (float64, error) {
	var done atomic.Int64
	var firstErr error
	var mu sync.Mutex
	deadline := time.Now().Add(d)
	began := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := once(); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(began).Seconds(), firstErr
}

// wsSession is one session: connect, one round trip (binary or text), a
// clean close.
func wsSession(url string, binary bool) error {
	c, _, err := wsDialer(0, 0).Dial(url, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := (wsRT{Conn: c, binary: binary}).roundTrip([]byte("hello")); err != nil {
		return err
	}
	if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return nil // the server's close, or its drop (websocketd)
		}
	}
}
