package host

import (
	"sync/atomic"
	"time"
)

// tokenCopy is the host's copy of one client's cached token, kept from the
// guest core's reports (core.WithTokenObserver, through the token_report
// import), so that Client.Token answers a cached token without entering
// the module and without the instance lock. It follows the rules the core
// gives its observers, as capi/mirror.c does for C: a fresh copy is handed
// out; a copy that is usable but no longer fresh is handed out too, except
// to one caller at a time, who asks the guest (which starts the refresh);
// with no usable copy every caller asks the guest. docs/wasm-design.md has
// the figures.
type tokenCopy struct {
	cur    atomic.Pointer[copiedToken]
	asking atomic.Bool
}

type copiedToken struct {
	tok           string
	fresh, usable time.Time // monotonic
}

// set records a report read at now: tok ("" for none) is fresh for fresh
// and usable for usable from then.
func (t *tokenCopy) set(now time.Time, tok string, fresh, usable time.Duration) {
	if tok == "" || usable <= 0 {
		t.cur.Store(nil)
		return
	}
	fresh = min(fresh, usable)
	t.cur.Store(&copiedToken{tok: tok, fresh: now.Add(fresh), usable: now.Add(usable)})
}

// drop forgets the copy (a closed client, a discarded instance).
func (t *tokenCopy) drop() { t.cur.Store(nil) }

// get returns the token when the caller may use the copy. Otherwise the
// caller asks the guest; when ask is true it is the one caller doing so
// for a copy past its refresh point, and calls asked when its call is over.
func (t *tokenCopy) get() (tok string, ok, ask bool) {
	c := t.cur.Load()
	if c == nil {
		return "", false, false
	}
	now := time.Now()
	if now.Before(c.fresh) {
		return c.tok, true, false
	}
	if !now.Before(c.usable) {
		return "", false, false
	}
	if t.asking.CompareAndSwap(false, true) {
		return "", false, true
	}
	return c.tok, true, false
}

func (t *tokenCopy) asked() { t.asking.Store(false) }
