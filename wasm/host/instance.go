package host

import (
	"bytes"
	"context"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/redact"
	"github.com/zbauth/zbauth/internal/tokenrule"
)

// instance is one module instance and the host's bookkeeping for it. Every
// field after bind is guarded by p.mu except the atomics.
type instance struct {
	p      *Plugin
	gen    uint64
	ctx    context.Context // passed to every call; carries the *instance; done when halted
	stop   context.CancelFunc
	mod    api.Module
	mem    api.Memory
	f      exports
	stack  [12]uint64 // CallWithStack's parameter/result area
	stderr *tailBuffer

	// The operation currently being started: its call_done is stored here
	// rather than sent to a waiter, so that a call completed within its
	// own export costs no channel and no map entry.
	syncCall    int32
	syncDone    bool
	syncStatus  int32
	syncPayload []byte // reused; valid until the next export call
	syncErr     error

	nextCall  int32
	calls     map[int32]*waiter     // operations waiting for call_done
	reqs      map[int32]*httpCall   // HTTP requests accepted and not delivered
	started   []*httpCall           // accepted during the current export; launched after it
	clients   map[int32]*Client     // guest client handle → host client
	scratch   uint32                // a zb_alloc buffer reused for arguments
	scratchN  uint32                // its size
	wake      int32                 // the last driving export's answer: ms until the guest's next timer, -1 none
	wakeTimer *time.Timer           // calls zb_step when that delay has passed; nil: none pending
	wakeSeq   uint64                // numbers the wake-ups: a superseded one does nothing
	dead      error                 // set when discarded
	enteredAt atomic.Int64          // when the running export began, ns since p.epoch (never 0); 0 outside
	halted    atomic.Pointer[error] // why halt stopped the instance; nil: it did not
}

type instKey struct{}

func newInstance(p *Plugin, gen uint64) *instance {
	in := &instance{
		p: p, gen: gen, wake: -1,
		calls:   map[int32]*waiter{},
		reqs:    map[int32]*httpCall{},
		clients: map[int32]*Client{},
		stderr:  &tailBuffer{fwd: p.opts.stderr},
	}
	in.stderr.redact = in.redact
	ctx, stop := context.WithCancel(context.Background())
	in.ctx, in.stop = context.WithValue(ctx, instKey{}, in), stop
	return in
}

// halt stops in from another goroutine (the watchdog, Close): with the
// termination checks on, wazero ends a running export when in.ctx is done,
// and refuses to start one; the export's caller then discards in with why.
// Without them, in is discarded at its next call.
func (in *instance) halt(why error) {
	if in.halted.CompareAndSwap(nil, &why) {
		in.stop()
	}
}

// redact removes from s the secrets and the tokens of the instance's
// clients and the environment's client secret: for texts the core did not
// build (the guest's stderr, a trap's crash report). p.mu must be held.
func (in *instance) redact(s string) string {
	for _, c := range in.clients {
		s = c.redact(s)
	}
	return redact.Redact(s, in.p.envSecrets...)
}

func (in *instance) bind(mod api.Module) {
	in.mod, in.mem = mod, mod.Memory()
	fn := mod.ExportedFunction
	in.f = exports{
		version: fn("zb_abi_version"), alloc: fn("zb_alloc"), free: fn("zb_free"),
		clientNew: fn("zb_client_new"), clientClose: fn("zb_client_close"),
		token: fn("zb_token"), topology: fn("zb_topology"), request: fn("zb_request"),
		cancel: fn("zb_cancel"), step: fn("zb_step"),
		httpDone: fn("zb_http_done"), httpFail: fn("zb_http_fail"),
	}
}

// callRaw calls an export and returns its first result. On failure (a
// trap, the watchdog) the instance is discarded and its error returned.
// p.mu must be held.
func (in *instance) callRaw(f api.Function, args ...uint64) (uint64, error) {
	if in.dead != nil {
		return 0, in.dead
	}
	if in.halted.Load() != nil {
		in.p.trap(in, nil)
		return 0, in.dead
	}
	st := in.stack[:]
	copy(st, args)
	p := in.p
	if p.opts.exportTimeout > 0 {
		in.enteredAt.Store(int64(time.Since(p.epoch)) | 1)
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.stats.ExportCalls++
	err := f.CallWithStack(in.ctx, st)
	if p.opts.exportTimeout > 0 {
		in.enteredAt.Store(0)
	}
	if err != nil {
		in.started = in.started[:0]
		in.p.trap(in, err)
		return 0, in.dead
	}
	return st[0], nil
}

// drive calls a driving export, launches the HTTP requests the guest
// issued during the call and arranges to call zb_step when the delay the
// export returned has passed (guest time only passes inside exports; an
// HTTP answer or another call may come first, and then replaces it).
// p.mu must be held.
func (in *instance) drive(f api.Function, args ...uint64) error {
	r, err := in.callRaw(f, args...)
	if err != nil {
		return err
	}
	for _, h := range in.started {
		go in.p.runHTTP(in, h)
	}
	clear(in.started)
	in.started = in.started[:0]
	in.schedule(int32(r))
	return nil
}

// schedule arms the wake-up for a driving export's answer ms: -1 none,
// otherwise zb_step in ms milliseconds. p.mu must be held.
func (in *instance) schedule(ms int32) {
	in.wake = ms
	in.wakeSeq++
	if in.wakeTimer != nil {
		in.wakeTimer.Stop()
		in.wakeTimer = nil
	}
	if ms < 0 || in.dead != nil {
		return
	}
	seq := in.wakeSeq
	in.wakeTimer = time.AfterFunc(time.Duration(ms)*time.Millisecond, func() { in.p.wakeGuest(in, seq) })
}

// wakeGuest calls zb_step for the wake-up seq, unless a later export
// replaced it or the instance is gone.
func (p *Plugin) wakeGuest(in *instance, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if in.dead != nil || p.inst != in || in.wakeSeq != seq {
		return
	}
	in.wakeTimer = nil
	p.stats.Steps++
	in.drive(in.f.step)
}

// discard fails everything pending on in with err and closes the module.
// p.mu must be held.
func (in *instance) discard(err error) {
	if in.dead != nil {
		return
	}
	in.dead = err
	in.schedule(-1)
	// The clients' tokens went with the instance: a client attached to the
	// next one asks its guest again.
	for _, c := range in.clients {
		c.token.drop()
	}
	for id, w := range in.calls {
		delete(in.calls, id)
		w.ch <- result{err: err}
	}
	for id, h := range in.reqs {
		delete(in.reqs, id)
		h.cancel()
	}
	in.started = in.started[:0]
	in.mod.Close(context.Background())
	in.stop()
	in.stderr.flush()
}

// newCall returns a fresh call id (positive).
func (in *instance) newCall() int32 {
	in.nextCall++
	if in.nextCall <= 0 {
		in.nextCall = 1
	}
	return in.nextCall
}

// waiter receives the outcome of one call.
type waiter struct{ ch chan result }

type result struct {
	status  int32
	payload []byte // owned by the receiver
	err     error  // a host-side failure (trap, invalid buffer); status is then meaningless
}

// --- Buffers the host writes into guest memory -------------------------

// scratchMax is the largest argument area kept allocated between calls;
// larger arguments get a buffer of their own, freed after the call.
const scratchMax = 64 << 10

// withArgs writes parts contiguously into a guest buffer and calls fn with
// each part's address. Ownership: the buffer belongs to the host (it was
// made with zb_alloc); the guest only borrows it during the export that
// fn makes, and copies what it keeps. p.mu must be held.
func (in *instance) withArgs(parts [][]byte, fn func(ptrs []uint32) error) error {
	total := 0
	for _, b := range parts {
		total += len(b)
	}
	var base uint32
	own := false
	switch {
	case total == 0:
	case total <= scratchMax:
		if uint32(total) > in.scratchN {
			if in.scratch != 0 {
				if _, err := in.callRaw(in.f.free, uint64(in.scratch)); err != nil {
					return err
				}
				in.scratch, in.scratchN = 0, 0
			}
			n := uint32(max(total, 4096))
			ptr, err := in.alloc(n)
			if err != nil {
				return err
			}
			in.scratch, in.scratchN = ptr, n
		}
		base = in.scratch
	default:
		ptr, err := in.alloc(uint32(total))
		if err != nil {
			return err
		}
		base, own = ptr, true
	}
	var ptrArr [4]uint32
	ptrs := ptrArr[:0]
	off := base
	for _, b := range parts {
		if len(b) == 0 {
			ptrs = append(ptrs, 0)
			continue
		}
		if !in.mem.Write(off, b) {
			return in.guestBroken("zb_alloc returned a buffer outside memory")
		}
		ptrs = append(ptrs, off)
		off += uint32(len(b))
	}
	err := fn(ptrs)
	if own && in.dead == nil {
		if _, ferr := in.callRaw(in.f.free, uint64(base)); err == nil {
			err = ferr
		}
	}
	return err
}

func (in *instance) alloc(n uint32) (uint32, error) {
	r, err := in.callRaw(in.f.alloc, uint64(n))
	if err != nil {
		return 0, err
	}
	ptr := uint32(r)
	if ptr == 0 {
		return 0, in.guestBroken("zb_alloc failed")
	}
	if _, ok := in.mem.Read(ptr, n); !ok {
		return 0, in.guestBroken("zb_alloc returned a buffer outside memory")
	}
	return ptr, nil
}

// guestBroken discards an instance that broke the ABI.
func (in *instance) guestBroken(why string) error {
	in.p.stats.GuestFaults++
	in.p.trap(in, &core.Error{Kind: core.KindInternal, Op: "plugin", Msg: why})
	return in.dead
}

// --- Host functions (imports of module "zbauth_host") -------------------
//
// They run inside an export call, on the goroutine that holds p.mu. They
// never call back into the module. Every pointer and length from the guest
// is checked against the memory's bounds; a bad one is counted and
// answered as an error, never dereferenced.

// read returns a view of guest memory [ptr, ptr+n), or false when it is
// out of bounds or n is negative. The view is only valid until the guest
// runs again: copy it.
func (in *instance) read(ptr uint32, n int32) ([]byte, bool) {
	if n < 0 {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	return in.mem.Read(ptr, uint32(n))
}

// hostCallDone is call_done(call, status, ptr, len): the guest reports the
// outcome of an operation. The payload is copied before returning.
func (in *instance) hostCallDone(call, status int32, ptr uint32, n int32) {
	data, ok := in.read(ptr, n)
	var err error
	if !ok {
		in.p.stats.GuestFaults++
		err = &core.Error{Kind: core.KindInternal, Op: "plugin", Msg: "the plugin passed an invalid result buffer (pointer or length out of bounds)"}
	}
	if call == in.syncCall && call != 0 {
		in.syncDone, in.syncStatus, in.syncErr = true, status, err
		in.syncPayload = append(in.syncPayload[:0], data...)
		return
	}
	w := in.calls[call]
	if w == nil {
		return // a call the host gave up on, or a duplicate report
	}
	delete(in.calls, call)
	w.ch <- result{status: status, payload: bytes.Clone(data), err: err}
}

// hostTokenReport is token_report: client's cached token changed (see
// tokenCopy). A report the host cannot read drops the copy.
func (in *instance) hostTokenReport(client int32, ptr uint32, n int32, fresh, usable time.Duration) {
	// The guest measured both durations just before this call and rounded
	// them down to whole milliseconds; reading the clock first keeps the
	// copy's use within them.
	now := tokenrule.Monotonic()
	c := in.clients[client]
	if c == nil {
		return
	}
	data, ok := in.read(ptr, n)
	if !ok {
		in.p.stats.GuestFaults++
		c.token.drop()
		return
	}
	tok := string(data)
	c.scrub.NoteToken(tok) // ignores a drop's empty token
	c.token.set(now, tok, fresh, usable)
}

// hostHTTPAbort is http_abort(req): the guest no longer wants the answer.
func (in *instance) hostHTTPAbort(req int32) {
	if h := in.reqs[req]; h != nil {
		delete(in.reqs, req)
		in.p.stats.Aborted++
		h.cancel()
	}
}
