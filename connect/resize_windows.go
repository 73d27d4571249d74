package connect

import (
	"os"
	"time"

	"golang.org/x/term"
)

// resizePoll is how often the console's size is looked at: Windows tells
// of a resize only as an input record, which reading stdin would consume.
const resizePoll = 250 * time.Millisecond

// watchResize calls send with the console's new size when it changes,
// until done closes or stop is called.
func watchResize(f *os.File, done <-chan struct{}, send func(cols, rows int)) (stop func()) {
	quit := make(chan struct{})
	go func() {
		t := time.NewTicker(resizePoll)
		defer t.Stop()
		cols, rows, _ := term.GetSize(int(f.Fd()))
		for {
			select {
			case <-done:
				return
			case <-quit:
				return
			case <-t.C:
			}
			if c, r, err := term.GetSize(int(f.Fd())); err == nil && (c != cols || r != rows) {
				cols, rows = c, r
				send(c, r)
			}
		}
	}()
	return func() { close(quit) }
}
