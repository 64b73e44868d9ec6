//go:build wasip1

package core

// refreshTimers is off in the WebAssembly guest: its timers fire only while
// the scheduler runs inside an export, and a cached-token export never
// yields, so a due flag would never be set. The guest reads the clock.
const refreshTimers = false
