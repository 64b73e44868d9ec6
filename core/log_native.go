//go:build !wasip1

package core

import "log"

// defaultLog is where warnings go without WithLogger: the standard
// logger, so that a program's log.SetOutput and flags apply.
func defaultLog(msg string) { log.Print(msg) }
