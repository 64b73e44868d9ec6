package core

import "time"

// monoBase is a reading of Go's monotonic clock, and monoOffset what
// Monotonic reads at that instant (see monoStart), so that Monotonic is one
// monotonic clock read: cheaper than time.Now.
var monoBase, monoOffset = monoStart()

// Monotonic is the clock of TokenSnapshot's deadlines, in nanoseconds. On
// Linux it is CLOCK_MONOTONIC, so that C compares clock_gettime's reading
// with them directly (to within the microsecond of reading both clocks at
// start-up); elsewhere its origin is arbitrary.
func Monotonic() int64 { return monoOffset + int64(time.Since(monoBase)) }

// monoAt is t on Monotonic's clock (exactly, when t has a monotonic
// reading; by the wall clock otherwise, as for a token from the disk cache).
func monoAt(t time.Time) int64 { return monoOffset + int64(t.Sub(monoBase)) }
