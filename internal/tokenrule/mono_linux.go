package tokenrule

import (
	"time"

	"golang.org/x/sys/unix"
)

// monoStart pairs a Go time with CLOCK_MONOTONIC, taking the middle of two
// readings around it.
func monoStart() (time.Time, int64) {
	var a, b unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &a)
	now := time.Now()
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
	return now, (a.Nano() + b.Nano()) / 2
}
