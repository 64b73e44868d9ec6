// Package corehook gives zbauth's other surfaces (the C library, the Wasm
// guest and host) what they need of a core.Client beyond its public API,
// without adding it to that API: the pattern gRPC uses for its internal
// hooks. This package imports nothing of core; core sets the variables in
// an init function, so they are set whenever core is linked. Their
// arguments and results that are core's own types are passed as any: each
// caller converts them (a type assertion) in one place.
package corehook

import "github.com/zbauth/zbauth/internal/tokenrule"

// WithTokenObserver returns a core.Option that has f told of every change
// of the cached token, in order, as a tokenrule.Snapshot: the token and
// the deadlines that the snapshot's Rule applies (an empty Value: none is
// cached, as after the API rejected it or Close). A caller outside Go may
// keep a copy and follow that rule: the C library and the Wasm host do, so
// that a cached token never waits for Go's scheduler or the module. f runs
// under the token cache's lock: it must return at once and must not call
// the client.
var WithTokenObserver func(f func(tokenrule.Snapshot)) any

// JoinToken is Token for callers that wait by callback, without a
// goroutine each; c is a *core.Client. When the answer is at hand (a
// usable cached token, a remembered refusal, a closed client) it returns
// it with pending false and never calls cb. Otherwise it joins the one
// token request (starting it if none runs) and returns pending true: cb is
// then called exactly once with that request's outcome, on the client's
// own goroutine (which may be before JoinToken has returned); cb must
// return promptly (it holds up the other callers' callbacks) and may call
// the client.
var JoinToken func(c any, cb func(token string, err error)) (token string, pending bool, err error)
