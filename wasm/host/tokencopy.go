package host

import (
	"sync/atomic"
	"time"

	"github.com/zbauth/zbauth/internal/tokenrule"
)

// tokenCopy is the host's copy of one client's cached token, kept from the
// guest core's reports (corehook.WithTokenObserver, through the token_report
// import), so that Client.Token answers a cached token without entering
// the module and without the instance lock. It holds a tokenrule.Snapshot
// on the host's clock and applies the core's rule to it (Rule,
// docs/token-cache.md), as capi/mirror.c does for C. docs/wasm-design.md
// has the figures.
type tokenCopy struct {
	cur    atomic.Pointer[tokenrule.Snapshot]
	asking atomic.Bool // tokenrule.Usable's one caller is asking the guest
}

// set records a report read at now (tokenrule.Monotonic): tok ("" for none) is
// fresh for fresh and usable for usable from then. The guest's clock is
// not the host's, so the deadlines cross as durations.
func (t *tokenCopy) set(now int64, tok string, fresh, usable time.Duration) {
	if tok == "" || usable <= 0 {
		t.cur.Store(nil)
		return
	}
	t.cur.Store(&tokenrule.Snapshot{Value: tok, FreshUntil: now + int64(min(fresh, usable)), UsableUntil: now + int64(usable)})
}

// drop forgets the copy (a closed client, a discarded instance).
func (t *tokenCopy) drop() { t.cur.Store(nil) }

// get returns the token when the caller may use the copy. Otherwise the
// caller asks the guest; when ask is true it is the one caller doing so
// for a copy past its refresh point, and calls asked when its call is over.
func (t *tokenCopy) get() (tok string, ok, ask bool) { return t.getAt(tokenrule.Monotonic()) }

func (t *tokenCopy) getAt(now int64) (tok string, ok, ask bool) {
	s := t.cur.Load()
	if s == nil {
		return "", false, false
	}
	switch s.Rule(now) {
	case tokenrule.Fresh:
		return s.Value, true, false
	case tokenrule.Usable:
		if t.asking.CompareAndSwap(false, true) {
			return "", false, true
		}
		return s.Value, true, false
	}
	return "", false, false
}

func (t *tokenCopy) asked() { t.asking.Store(false) }
