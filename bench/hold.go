package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// hold opens many live connections to each bridge, one round trip each, then
// reads the server's memory (proportional set size, /proc) and apart that of
// its children, per connection, and checks that every connection still
// answers. Peers fork a process per connection (websockify) or start one
// (websocketd), so they hold o.peerConns connections; wsbridge's TCP bridge
// holds o.conns, its exec bridge at most o.execConns.
func hold(o opts) error {
	echoAddr, err := echoServer()
	if err != nil {
		return err
	}
	specs := []serverSpec{
		wsbridgeSpec(o, "wsbridge --tcp", "--tcp", echoAddr),
		websockifySpec(o, echoAddr),
		wsbridgeSpec(o, "wsbridge cat", "--binary", "/bin/cat"),
		websocketdSpec(o, "--binary", "/bin/cat"),
	}
	fmt.Printf("hold: %d connections (peers %d), one round trip each, then memory and a second round trip on each\n\n", o.conns, o.peerConns)
	fmt.Printf("| server | connections | server KiB per connection | children KiB per connection | all answered |\n|---|---|---|---|---|\n")
	for _, spec := range specs {
		servers, err := startServers(spec)
		if err != nil {
			return err
		}
		if len(servers) == 0 {
			continue
		}
		n := o.conns
		switch {
		case spec.peer:
			n = o.peerConns
		case spec.name == "wsbridge cat":
			n = min(n, o.execConns) // a cat each
		}
		err = holdOne(servers[0], n)
		stopAll(servers)
		if err != nil {
			return fmt.Errorf("%s: %v", spec.name, err)
		}
	}
	return nil
}

func holdOne(s *server, n int) error {
	msg := []byte("are you there?")
	// One session first, so what any first session sets up is in the base.
	if err := wsSession(s.url(), true); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	baseOwn, baseBelow, err := treePSS(s.pid())
	if err != nil {
		return err
	}
	conns := make([]*websocket.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err := forEach(n, func(i int) error {
		c, _, err := wsDialer(0, 0).Dial(s.url(), nil)
		if err != nil {
			return err
		}
		conns[i] = c
		return wsRT{Conn: c, binary: true}.roundTrip(msg)
	}); err != nil {
		return fmt.Errorf("opening %d connections: %v", n, err)
	}
	time.Sleep(time.Second) // let the children settle
	own, below, err := treePSS(s.pid())
	if err != nil {
		return err
	}
	answered := forEach(n, func(i int) error { return wsRT{Conn: conns[i], binary: true}.roundTrip(msg) }) == nil
	fmt.Printf("| %s | %d | %.1f | %.1f | %v |\n", s.name, n,
		float64(own-baseOwn)/float64(n), float64(below-baseBelow)/float64(n), answered)
	return nil
}

// forEach runs fn for 0..n-1 from 8 goroutines and returns the first error.
func forEach(n int, fn func(i int) error) error {
	var mu sync.Mutex
	var first error
	next := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}
