//go:build !wasip1

package wakeup

import "time"

// Note does nothing outside the WebAssembly guest, where timers fire by
// themselves; the call compiles to nothing.
func Note(time.Duration) {}

// Next knows no deadline outside the WebAssembly guest.
func Next(ran, now time.Time) (time.Duration, bool) { return 0, false }

// Reset does nothing outside the WebAssembly guest.
func Reset() {}
