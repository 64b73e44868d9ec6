package core

import (
	"github.com/zbauth/zbauth/internal/corehook"
	"github.com/zbauth/zbauth/internal/tokenrule"
)

// What the other surfaces need of a Client beyond this package's API; see
// package corehook.
func init() {
	corehook.WithTokenObserver = func(f func(tokenrule.Snapshot)) any { return withTokenObserver(f) }
	corehook.JoinToken = func(c any, cb func(string, error)) (string, bool, error) {
		return c.(*Client).joinToken(cb)
	}
}
