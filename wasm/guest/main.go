//go:build wasip1

// Command guest is the zbauth WebAssembly plugin: the core (package
// github.com/zbauth/zbauth/core) built as a WASI reactor module,
// zbauth.wasm. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o zbauth.wasm ./wasm/guest
//
// or `make wasm`. The module has no sockets: every HTTP exchange is handed
// to the host through the zbauth_host imports, and the host answers through
// exports. wasm/ABI.md is the complete contract; docs/wasm-design.md says
// why it is shaped this way.
//
// The guest is a request/response state machine. An operation export
// (zb_token, zb_topology, zb_request) starts the core call on a goroutine
// and runs the guest's goroutines until none can make progress without the
// host; it then returns. Goroutines that need the network have recorded an
// HTTP request with zbauth_host.http_start and wait on a channel; the host
// performs the request outside the module and delivers the answer with
// zb_http_done or zb_http_fail, which again runs the goroutines. Results
// leave through zbauth_host.call_done. No export ever blocks: a Go wasm
// export that blocks with nothing else runnable is a fatal "all goroutines
// are asleep" error, and one that waits on a timer sleeps the host thread.
//
// Nothing here duplicates core logic: the guest only wraps core.Client and
// moves bytes.
package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/corehook"
	"github.com/zbauth/zbauth/internal/errjson"
	"github.com/zbauth/zbauth/internal/jsonx"
	"github.com/zbauth/zbauth/internal/redact"
	"github.com/zbauth/zbauth/internal/tokenrule"
	"github.com/zbauth/zbauth/internal/wakeup"
	"github.com/zbauth/zbauth/wasm/internal/wire"
)

func main() {}

// abiVersion is returned by zb_abi_version. Bump it on any incompatible
// change to an export, an import or a payload layout (wasm/ABI.md).
const abiVersion = wire.ABIVersion

// Host imports (module "zbauth_host"). Pointers are offsets into this
// module's memory; the host copies what it needs before returning.

//go:wasmimport zbauth_host http_start
func hostHTTPStart(req, client int32, headPtr uint32, headLen int32, bodyPtr uint32, bodyLen int32, maxBody, timeoutMS int32) int32

//go:wasmimport zbauth_host http_abort
func hostHTTPAbort(req int32)

//go:wasmimport zbauth_host call_done
func hostCallDone(call, status int32, ptr uint32, n int32)

//go:wasmimport zbauth_host token_report
func hostTokenReport(client int32, ptr uint32, n int32, freshMS, usableMS int32)

// reported[h] is the snapshot last reported for client h. A deadline more
// than the i32 cap away (a token without expiry, or living longer than 24
// days) reaches the host capped, so the host's copy runs out while the
// core's snapshot stands; the host then asks with zb_token, and the
// snapshot is reported again (reportAgain). Touched as clients is.
var reported = []*tokenrule.Snapshot{nil}

// reportSnapshot tells the host of client h's snapshot s.
func reportSnapshot(h int32, s tokenrule.Snapshot) {
	// The host's clock is not the guest's: the deadlines cross as the time
	// left until them, and the host puts them back on its own clock.
	now := tokenrule.Monotonic()
	hostTokenReport(h, ptrOf(stringBytes(s.Value)), int32(len(s.Value)), reportMS(time.Duration(s.FreshUntil-now)), reportMS(time.Duration(s.UsableUntil-now)))
}

// reportAgain reports client h's snapshot again when it holds tok and its
// usability reached the host capped.
func reportAgain(h int32, tok string) {
	if h <= 0 || int(h) >= len(reported) {
		return
	}
	if s := reported[h]; s != nil && s.Value == tok && s.UsableUntil-tokenrule.Monotonic() > int64(math.MaxInt32)*int64(time.Millisecond) {
		reportSnapshot(h, *s)
	}
}

// reportMS is d in whole milliseconds (rounded down, so a copy is never
// used longer than the core would), capped at the i32 maximum (24 days).
func reportMS(d time.Duration) int32 {
	return int32(min(max(d.Milliseconds(), 0), math.MaxInt32))
}

// state is everything the guest keeps between exports. The module is
// single-threaded and Go on wasm never preempts, but goroutines interleave
// at every blocking point, so the maps are guarded anyway.
var state struct {
	mu      sync.Mutex
	calls   map[int32]*opCall // running operations, by host call id
	reqs    map[int32]*pendingHTTP
	nextReq int32
}

// clients[h] is the client with handle h (nil: closed or never made).
// Only exports touch it, and never across a blocking point, so it needs no
// lock: the cached-token path is a slice index, not a mutex and a map.
var clients = []*core.Client{nil}

// progress counts events that can wake another goroutine or that the host
// must see (a request issued, a reply delivered, a call finished). quiesce
// watches it.
var progress uint64

// baseGoroutines is the goroutine count with nothing running: the one
// goroutine the runtime keeps for executing exports.
var baseGoroutines = runtime.NumGoroutine()

func init() {
	state.calls = map[int32]*opCall{}
	state.reqs = map[int32]*pendingHTTP{}
}

// busy is how many guest goroutines are alive besides the export's own
// and the idle workers (which wait on their channel and need no timer).
func busy() int32 { return int32(runtime.NumGoroutine() - baseGoroutines - len(idleWorkers)) }

// idleWorkers holds the operation goroutines waiting for their next
// operation. A goroutine starts with a small stack, and a core call grows
// it by copying (each frame's pointers adjusted) every time; a worker that
// is reused keeps its grown stack, so an operation starts without that
// cost. Idle workers wait on their channel, need no timer and are not
// counted as busy. Only exports and workers touch the slice, never across
// a blocking point.
var idleWorkers []chan func()

// maxIdleWorkers bounds the workers kept; a burst of operations beyond it
// ends its extra goroutines when they finish.
const maxIdleWorkers = 4

// runOp runs fn on an idle worker, or on a new one.
func runOp(fn func()) {
	if n := len(idleWorkers); n > 0 {
		w := idleWorkers[n-1]
		idleWorkers = idleWorkers[:n-1]
		w <- fn // buffered: the worker takes it when it runs next
		return
	}
	go worker(make(chan func(), 1), fn)
}

func worker(w chan func(), fn func()) {
	for {
		fn()
		if len(idleWorkers) >= maxIdleWorkers {
			return
		}
		fn = nil // the finished operation's closure must not stay reachable
		idleWorkers = append(idleWorkers, w)
		fn = <-w
	}
}

// ranAt is when quiesce last began to run the scheduler: every timer due
// by then has fired. unfinished is set when quiesce stopped at its bound
// with goroutines still runnable.
var (
	ranAt      time.Time
	unfinished bool
)

// pollNet is the delay a driving export returns when goroutines are alive
// but neither a noted deadline nor an HTTP answer will wake them: a timer
// the core forgot to note must never hang a host.
const pollNet = 10 * time.Millisecond

// wake is what every driving export returns (wasm/ABI.md, section 2): the
// milliseconds until the guest's next timer is due, 0 when the host should
// call zb_step again at once, -1 when only an HTTP answer (or a new call)
// can make progress. Guest time only passes inside exports, so the host
// sleeps exactly that long. With no goroutine left nothing waits on a
// timer, and the fast path reads no clock.
func wake() int32 {
	if busy() <= 0 {
		wakeup.Reset()
		return -1
	}
	if unfinished {
		unfinished = false
		return 0
	}
	d, ok := wakeup.Next(ranAt, time.Now())
	if !ok {
		state.mu.Lock()
		waiting := len(state.reqs) > 0
		state.mu.Unlock()
		if waiting {
			return -1
		}
		d = pollNet
	}
	// Rounded up: a host that wakes early only calls again.
	return int32(min((d+time.Millisecond-1)/time.Millisecond, math.MaxInt32))
}

// quiesce runs the other goroutines until none of them can proceed: it
// yields until two yields in a row changed nothing observable. A yield puts
// this goroutine behind every runnable one, so when it comes back they
// have all run until they blocked again; the first one also fires every
// timer due by then. The bound only guards against a goroutine that spins;
// wake then asks the host to call again at once.
func quiesce() {
	if busy() == 0 {
		return
	}
	ranAt = time.Now()
	idle := 0
	for rounds := 0; idle < 2 && rounds < 10000; rounds++ {
		p, g := progress, runtime.NumGoroutine()
		runtime.Gosched()
		b := busy()
		if b == 0 {
			return // nothing alive can run: no second look needed
		}
		if progress == p && runtime.NumGoroutine() == g {
			idle++
			if b == hostWaits {
				return // a quiet yield, and every live goroutine waits for the host
			}
		} else {
			idle = 0
		}
	}
	unfinished = idle < 2
}

// hostWaits counts goroutines parked in RoundTrip for the host's answer.
// A delivery takes its goroutine off at once (it is then runnable, not
// waiting), so the count never includes a goroutine that can run, except
// one whose context just ended; quiesce only trusts it after a quiet yield.
var hostWaits int32

// opCall is one running operation.
type opCall struct {
	cancel context.CancelFunc
}

// payloadFunc runs a core operation and encodes its successful result.
// On failure it may still return a response to attach to the error.
type payloadFunc func(ctx context.Context) ([]byte, *core.Response, error)

// startOp runs fn for call on its own goroutine and quiesces; the result
// reaches the host through call_done, possibly before startOp returns.
func startOp(call int32, op string, timeoutMS int32, fn payloadFunc) {
	// One context, not a timeout on top of a cancel: each layer is a
	// cancelCtx to propagate and tear down on every call.
	var ctx context.Context
	var cancel context.CancelFunc
	if timeoutMS > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), msDuration(timeoutMS))
		wakeup.Note(msDuration(timeoutMS))
	} else {
		ctx, cancel = context.WithCancel(context.Background())
	}
	state.mu.Lock()
	if _, dup := state.calls[call]; dup {
		state.mu.Unlock()
		cancel()
		finish(call, nil, nil, &core.Error{Kind: core.KindArgument, Op: op, Msg: "call id is already in use"})
		return
	}
	state.calls[call] = &opCall{cancel: cancel}
	state.mu.Unlock()
	runOp(func() {
		var payload []byte
		var resp *core.Response
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = panicError(op, r)
				}
			}()
			payload, resp, err = fn(ctx)
		}()
		state.mu.Lock()
		delete(state.calls, call)
		state.mu.Unlock()
		cancel()
		finish(call, payload, resp, err)
	})
	quiesce()
}

// panicError reports a recovered panic. The core cleans every text it
// builds of secrets, but a panic's value is nobody's text: it is cleaned
// here of every client's secret and of the tokens the guest has seen.
func panicError(op string, r any) error {
	return &core.Error{Kind: core.KindInternal, Op: op, Msg: "internal error in the plugin (recovered panic)", Err: errors.New(scrub(fmt.Sprintf("%v", r)))}
}

// known[h] is what must never leave the guest in a text the core did not
// build (a panic's value) for client handle h: its secrets (the client
// secret, Basic password, static token, keystore passwords) as typed and
// escaped, and the last access tokens it used. Kept after the client is
// closed (an operation of it may still be running). Only exports and
// guest goroutines touch it, never across a blocking point, and Go on
// wasm never preempts.
var known = []*redact.Scrubber{nil}

// noteToken remembers tok as client h's current token. The cached-token
// path calls it too: comparing a token with itself is a pointer check.
func noteToken(h int32, tok string) {
	if h <= 0 || int(h) >= len(known) || known[h] == nil {
		return
	}
	known[h].NoteToken(tok)
}

// scrub removes every known secret and token from s.
func scrub(s string) string {
	for _, k := range known {
		if k == nil {
			continue
		}
		s = k.Scrub(s)
	}
	return s
}

// finish reports a call's outcome to the host. The payload is only
// borrowed by the host for the duration of call_done.
func finish(call int32, payload []byte, resp *core.Response, err error) {
	status := int32(core.KindOK)
	if err != nil {
		status = int32(core.KindOf(err))
		payload = errorPayload(err, resp)
	}
	progress++
	hostCallDone(call, status, ptrOf(payload), int32(len(payload)))
	runtime.KeepAlive(payload)
}

func errorPayload(err error, resp *core.Response) []byte {
	w := wire.Error{Details: errjson.New(err)}
	if resp != nil {
		w.Response = &wire.Response{Status: resp.Status, Header: resp.Header, Body: resp.Body}
	}
	b, merr := jsonx.Marshal(w)
	if merr != nil {
		b = []byte(`{"kind":7,"code":"INTERNAL","msg":"cannot encode the error","message":"zbauth: cannot encode the error"}`)
	}
	return b
}

func lookupClient(h int32) *core.Client {
	if h <= 0 || int(h) >= len(clients) {
		return nil
	}
	return clients[h]
}

// badCall refuses a call id that is not positive (wasm/ABI.md): a host
// marks "no call" with 0, so a report for it would reach nobody. The
// refusal is reported for that id all the same, within the export.
func badCall(call int32, op string) bool {
	if call > 0 {
		return false
	}
	finish(call, nil, nil, &core.Error{Kind: core.KindArgument, Op: op, Msg: "call id must be positive"})
	return true
}

func badClient(op string) error {
	return &core.Error{Kind: core.KindArgument, Op: op, Msg: "unknown client handle"}
}

// recoverExport ends every export: a panic must not unwind into the host
// (it would trap and leave the runtime unusable).
func recoverExport(call int32, op string) {
	if r := recover(); r != nil {
		if call != 0 {
			finish(call, nil, nil, panicError(op, r))
		}
	}
}

//go:wasmexport zb_abi_version
func zbABIVersion() int32 { return abiVersion }

// zb_client_new(call, cfg_ptr, cfg_len): parse the config JSON and create a
// client. Result payload: wire.ClientNew, {"client":N,"config":{...resolved,
// redacted...},"origins":[...],"tls":{...}}, and "discovery_url" when the
// token endpoint is found by discovery.
//
//go:wasmexport zb_client_new
func zbClientNew(call int32, cfgPtr uint32, cfgLen int32) int32 {
	defer recoverExport(call, "config")
	if badCall(call, "config") {
		return wake()
	}
	cfgJSON, ok := borrow(cfgPtr, cfgLen)
	if !ok {
		finish(call, nil, nil, badBuffer("config"))
		return wake()
	}
	cfg, err := core.ParseConfigJSON(cfgJSON)
	if err != nil {
		finish(call, nil, nil, err)
		return wake()
	}
	h := int32(len(clients))
	// The host keeps a copy of the cached token (wasm/ABI.md, token_report).
	last := new(tokenrule.Snapshot)
	c, err := core.New(cfg, core.WithTransport(hostTransport{client: h}),
		corehook.WithTokenObserver(func(s tokenrule.Snapshot) {
			*last = s
			reportSnapshot(h, s)
		}).(core.Option))
	if err != nil {
		finish(call, nil, nil, err)
		return wake()
	}
	resolved, _ := c.Config().MarshalJSON()
	clients = append(clients, c)
	reported = append(reported, last)
	known = append(known, redact.NewScrubber(c.Config().Secrets()...))
	// What the host enforces comes from the core's resolution, here, so a
	// host never re-derives it from key names (wasm/ABI.md, zb_client_new).
	res := wire.ClientNew{Client: h, Config: resolved}
	res.Origins, res.DiscoveryURL, res.TLS = wire.Policy(c.Config())
	out, err := jsonx.Marshal(res)
	if err != nil {
		finish(call, nil, nil, &core.Error{Kind: core.KindInternal, Op: "config", Msg: "cannot encode the result", Err: err})
		return wake()
	}
	finish(call, out, nil, nil)
	return wake()
}

// zb_client_close(client): close a client and forget its handle. Calls of
// the client still running end with an ARGUMENT error ("client is closed").
//
//go:wasmexport zb_client_close
func zbClientClose(client int32) int32 {
	defer recoverExport(0, "close")
	c := lookupClient(client)
	if c != nil {
		clients[client] = nil
		c.Close()
		quiesce()
	}
	return wake()
}

// zb_token(call, client, timeout_ms): result payload is the access token.
//
//go:wasmexport zb_token
func zbToken(call, client, timeoutMS int32) int32 {
	defer recoverExport(call, "token")
	if badCall(call, "token") {
		return wake()
	}
	c := lookupClient(client)
	if c == nil {
		finish(call, nil, nil, badClient("token"))
		return wake()
	}
	n := runtime.NumGoroutine()
	// TryToken never waits: a cached token (or a remembered refusal) comes
	// back at once; otherwise it starts (or joins) the one token request and
	// the export continues on the slow path.
	tok, err := c.TryToken()
	if err != core.ErrWouldBlock {
		// The fast path: a cached token (or an immediate error). An early
		// refresh may have started a background request: let it issue it.
		if err == nil {
			noteToken(client, tok)
			reportAgain(client, tok)
			finish(call, stringBytes(tok), nil, nil)
		} else {
			finish(call, nil, nil, err)
		}
		if runtime.NumGoroutine() != n {
			quiesce()
		}
		return wake()
	}
	startOp(call, "token", timeoutMS, func(ctx context.Context) ([]byte, *core.Response, error) {
		tok, err := c.Token(ctx)
		if err == nil {
			noteToken(client, tok)
		}
		return []byte(tok), nil, err
	})
	return wake()
}

// zb_topology(call, client, timeout_ms): result payload is the topology
// JSON in the REST API's own field names.
//
//go:wasmexport zb_topology
func zbTopology(call, client, timeoutMS int32) int32 {
	defer recoverExport(call, "topology")
	if badCall(call, "topology") {
		return wake()
	}
	c := lookupClient(client)
	if c == nil {
		finish(call, nil, nil, badClient("topology"))
		return wake()
	}
	startOp(call, "topology", timeoutMS, func(ctx context.Context) ([]byte, *core.Response, error) {
		b, err := c.TopologyJSON(ctx)
		if err != nil {
			return nil, nil, err
		}
		return b, nil, nil
	})
	return wake()
}

// zb_request(call, client, timeout_ms, method, path, body): an
// authenticated REST request (core.Client.Do). body_len -1 means no body.
// Result payload: see encodeResponse.
//
//go:wasmexport zb_request
func zbRequest(call, client, timeoutMS int32, methodPtr uint32, methodLen int32, pathPtr uint32, pathLen int32, bodyPtr uint32, bodyLen int32) int32 {
	defer recoverExport(call, "request")
	if badCall(call, "request") {
		return wake()
	}
	c := lookupClient(client)
	if c == nil {
		finish(call, nil, nil, badClient("request"))
		return wake()
	}
	method, ok1 := borrow(methodPtr, methodLen)
	path, ok2 := borrow(pathPtr, pathLen)
	var body []byte
	ok3 := true
	if bodyLen != -1 {
		var b []byte
		b, ok3 = borrow(bodyPtr, bodyLen)
		body = append(make([]byte, 0, len(b)), b...) // never nil: "a body was given"
	}
	if !ok1 || !ok2 || !ok3 {
		finish(call, nil, nil, badBuffer("request"))
		return wake()
	}
	m, p := string(method), string(path)
	startOp(call, "request", timeoutMS, func(ctx context.Context) ([]byte, *core.Response, error) {
		resp, err := c.Do(ctx, m, p, body)
		if err != nil {
			return nil, resp, err
		}
		return encodeResponse(resp), nil, nil
	})
	return wake()
}

// encodeResponse is the zb_request result: "STATUS\n", the headers as
// "Name: value\n" lines, an empty line, then the body.
func encodeResponse(resp *core.Response) []byte {
	n := 8 + len(resp.Body)
	for k, v := range resp.Header {
		n += len(k) + len(v) + 3
	}
	out := make([]byte, 0, n)
	out = append(strconv.AppendInt(out, int64(resp.Status), 10), '\n')
	out = wire.AppendHeaderLines(out, resp.Header) // what cannot be represented is never produced by the host
	out = append(out, '\n')
	return append(out, resp.Body...)
}

// zb_cancel(call): the host's caller gave up. Due guest timers fire first
// (so a passed deadline reads as such), then the call's context is
// cancelled; its call_done normally arrives before zb_cancel returns.
//
//go:wasmexport zb_cancel
func zbCancel(call int32) int32 {
	defer recoverExport(0, "cancel")
	quiesce()
	state.mu.Lock()
	oc := state.calls[call]
	state.mu.Unlock()
	if oc != nil {
		oc.cancel()
		progress++
		quiesce()
	}
	return wake()
}

// zb_step(): run the guest's goroutines (and due timers) until quiescent.
//
//go:wasmexport zb_step
func zbStep() int32 {
	defer recoverExport(0, "step")
	quiesce()
	return wake()
}
