//go:build unix

package systemd

import "golang.org/x/sys/unix"

// monotonicMicros is CLOCK_MONOTONIC in microseconds, as systemd wants it.
func monotonicMicros() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return ts.Nano() / 1000, nil
}
