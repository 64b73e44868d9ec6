// Package wakeup tells the WebAssembly guest when its next timer is due.
//
// Guest time only passes while a host calls into the module, so a host
// needs to know how long it may sleep (wasm/ABI.md, driving exports). The
// Go runtime has no public API for its next timer, so the code that
// creates a timer or a deadline notes it here. On native builds Note is
// an empty function the compiler removes; only the wasip1 build keeps
// anything.
package wakeup

import "time"

// capacity bounds the deadlines kept. Deadlines of work that ended early
// (a stopped timer, a request answered before its timeout) stay until they
// pass: they only cost a spurious wake-up.
const capacity = 64

// lostPoll is the delay Next answers once the kept deadlines have passed
// while a later one was discarded at capacity: the guest no longer knows
// exactly when, so the host polls until that one has passed too.
const lostPoll = 10 * time.Millisecond

// set is the soonest deadlines, sorted, and the latest one discarded. It
// is not safe for concurrent use: the guest has one thread, and neither
// method blocks, so goroutines never interleave inside them.
type set struct {
	at   []time.Time
	lost time.Time
}

// note adds deadline d, discarding the latest one when full.
func (s *set) note(d time.Time) {
	i := len(s.at)
	for i > 0 && d.Before(s.at[i-1]) {
		i--
	}
	if len(s.at) == capacity {
		if i == capacity {
			s.lost = later(s.lost, d)
			return
		}
		s.lost = later(s.lost, s.at[capacity-1])
		s.at = s.at[:capacity-1]
	}
	s.at = append(s.at, time.Time{})
	copy(s.at[i+1:], s.at[i:])
	s.at[i] = d
}

// next drops the deadlines at or before ran (the scheduler has run since,
// so their timers fired) and returns the time from now until the soonest
// of the rest, 0 when it has passed; false when none is known.
func (s *set) next(ran, now time.Time) (time.Duration, bool) {
	n := 0
	for n < len(s.at) && !s.at[n].After(ran) {
		n++
	}
	s.at = s.at[:copy(s.at, s.at[n:])]
	if len(s.at) == 0 {
		if s.lost.After(ran) {
			return min(max(s.lost.Sub(now), 0), lostPoll), true
		}
		s.lost = time.Time{}
		return 0, false
	}
	return max(s.at[0].Sub(now), 0), true
}

// reset forgets every deadline (nothing waits on them any more).
func (s *set) reset() {
	s.at, s.lost = s.at[:0], time.Time{}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
