// Package tokenrule is the hand-out rule of a cached token, stated once
// (docs/token-cache.md): a Snapshot of the token with its deadlines on the
// Monotonic clock, and Rule, what a holder does with it at a given time.
// core publishes a Snapshot on every change of its cache and follows the
// rule itself; the C library and the Wasm host keep copies and follow the
// same rule. Read loads the table of the rule's cases (testdata/tokenrule.tsv)
// that every copy is tested against.
package tokenrule

import "time"

// Snapshot is a client's cached token as it may be handed out, with
// absolute deadlines on the Monotonic clock.
type Snapshot struct {
	Value       string // "": none cached
	FreshUntil  int64  // until then, hand it out
	UsableUntil int64  // until then, hand it out while one caller asks the client; never before FreshUntil
}

// Rule is what a holder of a Snapshot does at a given time.
type Rule int

const (
	// Fresh: hand the token out.
	Fresh Rule = iota
	// Usable: hand the token out, except to one caller at a time, who
	// asks the client instead (which answers at once and refreshes).
	Usable
	// Ask: no token to hand out; ask the client.
	Ask
)

// Rule is the hand-out rule: what to do with s at now (a Monotonic
// reading).
func (s Snapshot) Rule(now int64) Rule {
	switch {
	case s.Value == "" || now >= s.UsableUntil:
		return Ask
	case now < s.FreshUntil:
		return Fresh
	}
	return Usable
}

// monoBase is a reading of Go's monotonic clock, and monoOffset what
// Monotonic reads at that instant (see monoStart), so that Monotonic is one
// monotonic clock read: cheaper than time.Now.
var monoBase, monoOffset = monoStart()

// Monotonic is the clock of Snapshot's deadlines, in nanoseconds. On
// Linux it is CLOCK_MONOTONIC, so that C compares clock_gettime's reading
// with them directly (to within the microsecond of reading both clocks at
// start-up); elsewhere its origin is arbitrary.
func Monotonic() int64 { return monoOffset + int64(time.Since(monoBase)) }

// MonotonicAt is t on Monotonic's clock (exactly, when t has a monotonic
// reading; by the wall clock otherwise, as for a token from a disk cache).
func MonotonicAt(t time.Time) int64 { return monoOffset + int64(t.Sub(monoBase)) }
