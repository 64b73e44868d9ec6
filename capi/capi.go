// Command capi is libzbauth, the C shared library over zbauth's Go core.
// Build it with -buildmode=c-shared; its contract is the hand-written
// header zbauth.h beside this file (the header cgo generates is not
// shipped: it lacks const and the enum).
//
// Everything here only converts: C strings to Go and back, core errors to
// zbauth_status codes. Behaviour lives in package core. What the library
// keeps of its own: the handles, the error strings it handed out (for
// zbauth_error_details), and mirror.c's copy of each client's cached
// token, which core's snapshots govern (tokenrule.Snapshot, with its rule;
// core reports them through corehook.WithTokenObserver).
// Token calls waiting together join core's one request once (joinToken);
// core alone decides when to make it. Linux (glibc) only: eventfd, and
// glibc's writer-first rwlock initialiser.
package main

/*
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "free.h"
#include "mirror.h"
#include "wait.h"

// Static strings for zbauth_version and zbauth_status_name, filled once
// from Go at load time (index -1 the version, ZB_NAMES the unknown name).
// They are copies in free.c's block of statics (zb_static_string), which
// zbauth_free leaves alone; they are never freed.
#define ZB_NAMES 8
static const char *zb_names[ZB_NAMES + 1];
static const char *zb_version_str;
static void zb_set_static(int i, char *s) {
	const char *c = zb_static_string(s);
	free(s);
	if (i < 0) zb_version_str = c; else zb_names[i] = c;
}
static char *zb_status_name(int s) {
	if (s < 0 || s >= ZB_NAMES || !zb_names[s]) return (char *)zb_names[ZB_NAMES];
	return (char *)zb_names[s];
}
static char *zb_version(void) { return (char *)zb_version_str; }

// zbauth_callback of zbauth.h, and its call from Go.
typedef void (*zb_callback)(void *user_data, int status, int http_status, char *result, char *err);
// cb and user_data travel through Go as integers: user_data is whatever
// the caller chose (often not an address at all), and Go must never take
// it for a pointer.
static void zb_invoke(uintptr_t cb, uintptr_t user_data, int status, int http_status, char *result, char *err) {
	((zb_callback)cb)((void *)user_data, status, http_status, result, err);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/corehook"
	"github.com/zbauth/zbauth/internal/errjson"
	"github.com/zbauth/zbauth/internal/jsonx"
	"github.com/zbauth/zbauth/internal/tokenrule"
)

func main() {}

func init() {
	C.zb_set_static(-1, C.CString(core.Version))
	for k := core.KindOK; k <= core.KindInternal; k++ {
		name := "ZBAUTH_ERR_" + k.String()
		if k == core.KindOK {
			name = "ZBAUTH_OK"
		}
		C.zb_set_static(C.int(k), C.CString(name))
	}
	C.zb_set_static(C.ZB_NAMES, C.CString("ZBAUTH_UNKNOWN"))
	if fd := C.zb_calls_open(); fd >= 0 {
		go drainQueue(os.NewFile(uintptr(fd), "zbauth-calls"))
	}
}

// Status codes are core.Kind numbers (see zbauth.h).
const (
	statusOK       = C.int(core.KindOK)
	statusArgument = C.int(core.KindArgument)
	statusInternal = C.int(core.KindInternal)
)

// handles maps the opaque zbauth_client values handed to C onto clients.
// IDs are never reused, so a freed or forged handle is simply not found
// (runtime/cgo.Handle would panic on it instead).
var handles struct {
	sync.RWMutex
	next uintptr
	m    map[uintptr]*core.Client
}

// lookup resolves a handle. The C side passes zbauth_client pointers; they
// arrive here as integers (same size and calling convention) and are never
// dereferenced.
func lookup(h C.uintptr_t) *core.Client {
	handles.RLock()
	defer handles.RUnlock()
	return handles.m[uintptr(h)]
}

//export zbauth_version
func zbauth_version() *C.char { return C.zb_version() }

//export zbauth_status_name
func zbauth_status_name(s C.int) *C.char { return C.zb_status_name(s) }

// call runs f with panics recovered, writes the error text to errOut (when
// not NULL) and returns the status.
func call(errOut **C.char, f func() error) C.int {
	if errOut != nil {
		*errOut = nil
	}
	return setErr(errOut, protect(f))
}

// protect runs f and turns a panic into an INTERNAL error. The panic value
// is not shown: it could hold anything.
func protect(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &core.Error{Kind: core.KindInternal, Msg: fmt.Sprintf("internal error (recovered panic of type %T)", r)}
		}
	}()
	return f()
}

func setErr(errOut **C.char, err error) C.int {
	if err == nil {
		return statusOK
	}
	if errOut != nil {
		*errOut = C.CString(err.Error())
		var e *core.Error
		if errors.As(err, &e) {
			// Counted before anyone can free the string. A key already
			// there (a string released with free() rather than zbauth_free,
			// its address now reused) is replaced, not counted twice.
			if _, had := details.Swap(uintptr(unsafe.Pointer(*errOut)), e); !had {
				C.zb_details_add(1)
			}
		}
	}
	return C.int(core.KindOf(err))
}

// details remembers the *core.Error behind each error string handed out,
// until zbauth_free releases the string, for zbauth_error_details. free.c
// counts the entries (zb_details_add), so that zbauth_free enters Go only
// while there are some.
var details sync.Map // uintptr → *core.Error

//export zbauth_error_details
func zbauth_error_details(errStr *C.char, out **C.char) C.int {
	return call(nil, func() error {
		if out == nil {
			return argError("details_json is NULL")
		}
		*out = nil
		v, ok := details.Load(uintptr(unsafe.Pointer(errStr)))
		if errStr == nil || !ok {
			return argError("not a live error string from this library")
		}
		b, err := jsonx.Marshal(errjson.New(v.(*core.Error)))
		if err != nil {
			return err
		}
		*out = cBytes(b)
		return nil
	})
}

// cLookupEnv reads the environment through C's getenv, so that variables a
// host program sets after loading the library (Python's os.environ, Node's
// process.env) are seen: Go's own copy is taken once at start-up.
func cLookupEnv(key string) (string, bool) {
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	v := C.getenv(k)
	if v == nil {
		return "", false
	}
	return C.GoString(v), true
}

func argError(msg string) error { return &core.Error{Kind: core.KindArgument, Msg: msg} }

var errBadHandle = argError("invalid client handle (NULL, freed or never created)")

//export zbauth_client_new
func zbauth_client_new(configJSON *C.char, out *C.uintptr_t, errOut **C.char) C.int {
	return call(errOut, func() error {
		if out == nil {
			return argError("out is NULL")
		}
		*out = 0
		var cfg core.Config
		if configJSON != nil {
			var err error
			// Copy no more than ParseConfigJSON accepts, plus one byte
			// to tell that there was more.
			n := C.strnlen(configJSON, C.size_t(core.MaxConfigBytes+1))
			if cfg, err = core.ParseConfigJSON(C.GoBytes(unsafe.Pointer(configJSON), C.int(n))); err != nil {
				return err
			}
		}
		// Handles are small integers, 1 mod 4, never valid addresses a
		// caller could confuse with memory they own, nor queue handles
		// (3 mod 4, queue.c). The id is taken first, for the token mirror.
		handles.Lock()
		handles.next += 4
		id := handles.next + 0x2af1
		handles.Unlock()
		C.zb_mirror_add(C.uintptr_t(id)) // before the core can tell it anything
		c, err := core.New(cfg, core.WithLookupEnv(cLookupEnv), corehook.WithTokenObserver(mirror(id)).(core.Option))
		if err != nil {
			C.zb_mirror_drop(C.uintptr_t(id))
			return err
		}
		handles.Lock()
		defer handles.Unlock()
		if handles.m == nil {
			handles.m = map[uintptr]*core.Client{}
		}
		handles.m[id] = c
		*out = C.uintptr_t(id)
		return nil
	})
}

// mirror keeps mirror.c's copy of client id's cached token up to date:
// each snapshot the core publishes, whose deadlines are on CLOCK_MONOTONIC.
func mirror(id uintptr) func(tokenrule.Snapshot) {
	return func(s tokenrule.Snapshot) {
		var p *C.char // C copies the bytes before returning
		if s.Value != "" {
			p = (*C.char)(unsafe.Pointer(unsafe.StringData(s.Value)))
		}
		C.zb_mirror_set(C.uintptr_t(id), p, C.size_t(len(s.Value)), C.int64_t(s.FreshUntil), C.int64_t(s.UsableUntil))
	}
}

//export zbauth_client_free
func zbauth_client_free(h C.uintptr_t) {
	defer func() { recover() }()
	handles.Lock()
	c := handles.m[uintptr(h)]
	delete(handles.m, uintptr(h))
	handles.Unlock()
	if c != nil {
		C.zb_mirror_drop(h)
		c.Close()
	}
}

// zbgo_error is how the library's C parts (queue.c) report a failure:
// *errOut becomes an error string like any other (with details), and the
// status is returned.
//
//export zbgo_error
func zbgo_error(status C.int, msg *C.char, errOut **C.char) C.int {
	return setErr(errOut, &core.Error{Kind: core.Kind(status), Msg: C.GoString(msg)})
}

// zbgo_forget is zbauth_free's Go half (free.c), called while error
// details are kept: it drops s's, if any. free.c frees s.
//
//export zbgo_forget
func zbgo_forget(s *C.char) {
	if _, ok := details.LoadAndDelete(uintptr(unsafe.Pointer(s))); ok {
		C.zb_details_add(-1)
	}
}

// zbgo_client_token_nowait is zbauth_client_token_nowait when mirror.c
// has no fresh copy of the token (wait.c).
//
//export zbgo_client_token_nowait
func zbgo_client_token_nowait(h C.uintptr_t, buf *C.char, capacity C.size_t, length *C.size_t, errOut **C.char) C.int {
	return call(errOut, func() error {
		if length != nil {
			*length = 0
		}
		if buf == nil && capacity > 0 {
			return argError("buf is NULL")
		}
		c := lookup(h)
		if c == nil {
			return errBadHandle
		}
		t, err := c.TryToken()
		if err != nil {
			return err
		}
		if length != nil {
			*length = C.size_t(len(t))
		}
		if uint64(capacity) < uint64(len(t))+1 {
			return argError("buf is too small for the token; *len holds its length")
		}
		dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), len(t)+1)
		copy(dst, t)
		dst[len(t)] = 0
		return nil
	})
}

// ---- calls that may wait on the network --------------------------------
//
// zbauth_client_token, _topology and _request block; their _async twins
// call back. Both kinds share the same parts: a prepare function checks
// the arguments (on the caller's thread, or on drainQueue's goroutine for
// a blocking call that wait.c queued) and returns the work, which runs on
// an async worker (runAsync); a token call joins the core's token request
// instead (joinToken). The blocking calls are C functions in wait.c:
// each has its zbgo_* half below run and then waits in C until the worker
// reports (see wait.h and docs/capi-calls.md).

// work is what a call does once its arguments are checked: run, on an
// async worker, returning the HTTP status (requests only), the result
// (nil: none) and the error (a request's failure may come with a
// response too); or, for a token call, join the core's token request.
type work struct {
	run   func(c *core.Client) (httpStatus int, result []byte, err error)
	token bool // run is nil: the outcome comes from the core's token request
}

var tokenWork = work{token: true}

// done receives a call's outcome.
type done func(httpStatus int, result []byte, err error)

// waiting holds each client's token calls that did not get a token at
// once — blocking calls that found none usable, and every _async call —
// until the core's token request ends. The first of them joins that
// request (corehook.JoinToken), which calls back once for them all: a
// cold burst of 1,000 callers costs no goroutine each, and wakes one
// worker, not 1,000, when the token arrives (docs/capi-calls.md).
var waiting struct {
	sync.Mutex
	m map[*core.Client]*waiters
}

type waiters struct {
	blocking  []done // write through the waiting caller's pointers and wake it
	callbacks []done // call an _async caller's callback: user code
}

// joinToken has d called with c's token, or the error that ended the wait
// for it. callback says that d calls user code (an _async call's
// callback): those run one after another on an async worker, after every
// blocking caller has been woken, so that a slow callback holds up no
// blocking caller (zbauth.h asks callbacks to return promptly).
func joinToken(c *core.Client, d done, callback bool) {
	waiting.Lock()
	w, joined := waiting.m[c]
	if !joined {
		if waiting.m == nil {
			waiting.m = map[*core.Client]*waiters{}
		}
		w = &waiters{}
		waiting.m[c] = w
	}
	if callback {
		w.callbacks = append(w.callbacks, d)
	} else {
		w.blocking = append(w.blocking, d)
	}
	waiting.Unlock()
	if joined {
		return
	}
	var t string
	var pending bool
	err := protect(func() (err error) {
		t, pending, err = corehook.JoinToken(c, func(t string, err error) { deliver(c, t, err) })
		return err
	})
	if !pending {
		deliver(c, t, err)
	}
}

// deliver ends the wait of c's token calls. Callers who joined after the
// core's answer get it too: a token just cached, or an error just met.
// Later ones join the next request.
func deliver(c *core.Client, t string, err error) {
	waiting.Lock()
	w := waiting.m[c]
	delete(waiting.m, c)
	waiting.Unlock()
	var res []byte
	if err == nil {
		res = []byte(t) // read by every done, never written
	}
	for _, d := range w.blocking {
		d(0, res, err)
	}
	if len(w.callbacks) > 0 {
		// Never on the thread of an _async call (zbauth.h), nor holding
		// up the core's goroutine with user code.
		runAsync(func() {
			for _, d := range w.callbacks {
				d(0, res, err)
			}
		})
	}
}

var topologyWork = work{run: func(c *core.Client) (int, []byte, error) {
	b, err := c.TopologyJSON(context.Background())
	if err != nil {
		return 0, nil, err
	}
	return 0, b, nil
}}

// requestWork checks a request's arguments and copies them (they are
// borrowed for the call only) into its work.
func requestWork(method, path, bodyJSON *C.char) (work, error) {
	if method == nil || path == nil {
		return work{}, argError("method and path are required")
	}
	m, p := C.GoString(method), C.GoString(path)
	var body []byte
	if bodyJSON != nil {
		body = []byte(C.GoString(bodyJSON))
	}
	return work{run: func(c *core.Client) (int, []byte, error) {
		resp, err := c.Do(context.Background(), m, p, body)
		if resp == nil {
			return 0, nil, err
		}
		if resp.Body == nil { // a body, empty or not, is never NULL
			return resp.Status, []byte{}, err
		}
		return resp.Status, resp.Body, err
	}}, nil
}

// start is what the blocking and asynchronous calls share: prepare checks
// the arguments (before the handle, as the header promises), then the
// handle is resolved; fast, when given, may finish the call at once on the
// caller's thread; otherwise d receives the work's outcome on an async
// worker (for a token, see joinToken; callback: d calls user code).
// It returns the status of a call that ended here, or ok == false when d
// will be called. Everything runs under call's panic recovery.
func start(errOut **C.char, h C.uintptr_t, prepare func() (work, error), fast func(*core.Client) (bool, error),
	d done, callback bool) (status C.int, ok bool) {
	var w work
	var c *core.Client
	var finished bool
	st := call(errOut, func() (err error) {
		if w, err = prepare(); err != nil {
			return err
		}
		if c = lookup(h); c == nil {
			return errBadHandle
		}
		if fast != nil {
			finished, err = fast(c)
		}
		return err
	})
	if st != statusOK || finished {
		return st, true
	}
	if w.token {
		joinToken(c, d, callback)
		return 0, false
	}
	runAsync(func() {
		var hs int
		var res []byte
		err := protect(func() (err error) {
			hs, res, err = w.run(c)
			return err
		})
		d(hs, res, err)
	})
	return 0, false
}

// begin is the Go half of a blocking call: put writes the outcome through
// the caller's pointers, which stay valid while the caller waits in wait.c.
func begin(errOut **C.char, wt *C.zb_wait, h C.uintptr_t, prepare func() (work, error),
	fast func(*core.Client) (bool, error), put func(httpStatus int, result []byte)) C.int {
	st, ended := start(errOut, h, prepare, fast, func(hs int, res []byte, err error) {
		put(hs, res)
		C.zb_wait_done(wt, setErr(errOut, err))
	}, false)
	if ended {
		return st
	}
	return C.ZB_PENDING
}

//export zbgo_client_token
func zbgo_client_token(h C.uintptr_t, token **C.char, errOut **C.char, wt *C.zb_wait) C.int {
	return begin(errOut, wt, h, func() (work, error) {
		if token == nil {
			return work{}, argError("token is NULL")
		}
		*token = nil
		return tokenWork, nil
	}, func(c *core.Client) (bool, error) {
		// A cached token is returned at once, with no worker.
		t, err := c.TryToken()
		if errors.Is(err, core.ErrWouldBlock) {
			return false, nil
		}
		if err == nil {
			*token = C.CString(t)
		}
		return true, err
	}, func(_ int, res []byte) {
		if res != nil {
			*token = cBytes(res)
		}
	})
}

//export zbgo_client_topology
func zbgo_client_topology(h C.uintptr_t, out **C.char, errOut **C.char, wt *C.zb_wait) C.int {
	return begin(errOut, wt, h, func() (work, error) {
		if out == nil {
			return work{}, argError("topology_json is NULL")
		}
		*out = nil
		return topologyWork, nil
	}, nil, func(_ int, res []byte) {
		if res != nil {
			*out = cBytes(res)
		}
	})
}

//export zbgo_client_request
func zbgo_client_request(h C.uintptr_t, method, path, bodyJSON *C.char, httpStatus *C.int, respBody **C.char, errOut **C.char, wt *C.zb_wait) C.int {
	return begin(errOut, wt, h, func() (work, error) {
		if httpStatus != nil {
			*httpStatus = 0
		}
		if respBody != nil {
			*respBody = nil
		}
		return requestWork(method, path, bodyJSON)
	}, nil, func(hs int, res []byte) {
		if httpStatus != nil {
			*httpStatus = C.int(hs)
		}
		if respBody != nil && res != nil {
			*respBody = cBytes(res)
		}
	})
}

// startAsync is the Go side of the _async calls: the callback owns the
// result and the error as C strings (a nil result: NULL).
func startAsync(errOut **C.char, h, cb, userData C.uintptr_t, prepare func() (work, error)) C.int {
	if cb == 0 {
		return setErr(errOut, argError("cb is NULL"))
	}
	st, _ := start(errOut, h, prepare, nil, func(hs int, res []byte, err error) {
		var errStr, out *C.char
		st := setErr(&errStr, err)
		if res != nil {
			out = cBytes(res)
		}
		C.zb_invoke(cb, userData, st, C.int(hs), out, errStr)
	}, true)
	return st
}

func fixed(w work) func() (work, error) { return func() (work, error) { return w, nil } }

//export zbauth_client_token_async
func zbauth_client_token_async(h, cb, userData C.uintptr_t, errOut **C.char) C.int {
	return startAsync(errOut, h, cb, userData, fixed(tokenWork))
}

//export zbauth_client_topology_async
func zbauth_client_topology_async(h, cb, userData C.uintptr_t, errOut **C.char) C.int {
	return startAsync(errOut, h, cb, userData, fixed(topologyWork))
}

//export zbauth_client_request_async
func zbauth_client_request_async(h C.uintptr_t, method, path, bodyJSON *C.char, cb, userData C.uintptr_t, errOut **C.char) C.int {
	return startAsync(errOut, h, cb, userData, func() (work, error) { return requestWork(method, path, bodyJSON) })
}

// cBytes copies b into a new NUL-terminated C string, which the caller
// frees with zbauth_free: one copy, where C.CString(string(b)) makes two.
func cBytes(b []byte) *C.char {
	p := C.malloc(C.size_t(len(b) + 1))
	dst := unsafe.Slice((*byte)(p), len(b)+1)
	copy(dst, b)
	dst[len(b)] = 0
	return (*C.char)(p)
}

// drainQueue runs the calls that wait.c queued (see wait.h): woken through
// the queue's eventfd by the network poller, it takes every queued call and
// starts each as its blocking Go half would have, on this goroutine instead
// of the caller's thread.
func drainQueue(f *os.File) {
	var buf [8]byte
	for {
		w := C.zb_calls_take()
		if w == nil {
			// zb_calls_take found the queue empty, so the next call
			// queued writes to the eventfd.
			if _, err := f.Read(buf[:]); err != nil {
				// Not expected from an eventfd read into 8 bytes; should
				// it happen, the queue is polled rather than left to
				// stall.
				time.Sleep(time.Millisecond)
			}
			continue
		}
		for w != nil {
			next := w.next // w may be gone once its call is over
			var st C.int
			switch w.kind {
			case C.ZB_CALL_TOKEN:
				st = zbgo_client_token(w.h, w.out, w.err, w)
			case C.ZB_CALL_TOPOLOGY:
				st = zbgo_client_topology(w.h, w.out, w.err, w)
			case C.ZB_CALL_REQUEST:
				st = zbgo_client_request(w.h, w.method, w.path, w.body, w.http_status, w.out, w.err, w)
			default:
				st = setErr(w.err, &core.Error{Kind: core.KindInternal, Msg: "internal error (unknown queued call)"})
			}
			if st != C.ZB_PENDING {
				C.zb_wait_done(w, st)
			}
			w = next
		}
	}
}

// runAsync runs f on a goroutine that outlives the call: an idle worker if
// one is waiting, else a new one. A new goroutine starts with a small
// stack, and a REST call through net/http grows it several times; with 64
// calls in flight, growing and copying stacks (morestack, copystack) took
// a tenth of the process's CPU. A worker keeps its grown stack and waits
// workerIdle for more work before it exits.
func runAsync(f func()) {
	select {
	case asyncWork <- f:
	default:
		go asyncWorker(f)
	}
}

var asyncWork = make(chan func())

const workerIdle = 10 * time.Second

func asyncWorker(f func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		f()
		f = nil // let the finished call's data go while idle
		idle.Reset(workerIdle)
		select {
		case f = <-asyncWork:
		case <-idle.C:
			return
		}
	}
}
