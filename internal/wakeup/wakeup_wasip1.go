//go:build wasip1

package wakeup

import "time"

var deadlines set

// Note records that a timer or a context deadline of the guest, just
// created with delay, expires. Called after the timer is made, it reads
// the clock after the runtime did, so the noted deadline is never earlier
// than the runtime's own.
func Note(delay time.Duration) { deadlines.note(time.Now().Add(delay)) }

// Next returns how long from now until the soonest noted deadline that
// the scheduler has not yet passed (it ran at or after ran), 0 when one is
// due; false when none is known.
func Next(ran, now time.Time) (time.Duration, bool) { return deadlines.next(ran, now) }

// Reset forgets every deadline: call it when no goroutine is left to wait
// on one.
func Reset() { deadlines.reset() }
