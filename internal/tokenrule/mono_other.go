//go:build !linux

package tokenrule

import "time"

// monoStart: outside Linux, Monotonic counts from start-up (plus one, so
// that 0 is never a reading).
func monoStart() (time.Time, int64) { return time.Now(), 1 }
