//go:build !wasip1

package core

// refreshTimers: a timer marks a token due for refresh (see tokenState).
const refreshTimers = true
