//go:build wasip1

package core

// refreshTimers is off in the WebAssembly guest: its timers fire only while
// the scheduler runs inside an export, and a cached-token export never
// yields, so a due flag would never be set. The guest reads the clock.
//
// For the same reason every timer and deadline the core creates (the token
// request's pacing delay and timeout, the retry back-off, a request's
// timeout) is noted with wakeup.Note right after it is made: the guest
// tells its host how long it may sleep before calling in (wasm/ABI.md).
const refreshTimers = false
