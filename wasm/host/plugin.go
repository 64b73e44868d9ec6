// Package host loads the zbauth WebAssembly plugin (zbauth.wasm, built
// from wasm/guest by `make wasm`) with wazero and offers the core's
// operations through it: create a client from config JSON, Token,
// Topology, Do (a general authenticated request) and Close.
//
// The guest has no sockets. It hands every HTTP request to this package
// through the zbauth_host imports; the host checks it (only the configured
// token URL's and REST address's origins are reachable), performs it with
// net/http outside the module, and delivers the answer back. wasm/ABI.md
// is the contract; docs/wasm-design.md explains the design.
//
// # Concurrency
//
// A Plugin runs one module instance, shared by all its clients, so they
// share nothing but the instance while each client keeps its own token
// cache in the guest. A wazero instance is not safe for concurrent calls,
// so a per-Plugin mutex serialises every call into the module — and is held
// only for the duration of an export call, a few microseconds. Network I/O
// happens in host goroutines with the mutex released: 16 goroutines asking
// for a token wait together on the core's single token request instead of
// queueing behind each other's network waits. Goroutines in the guest run
// only while an export runs, so the host steps the guest (zb_step) every
// StepInterval while guest goroutines are alive, which lets guest timers
// (retry back-off, the token rate limit, deadlines) fire.
//
// # Failure
//
// Every export recovers panics. A trap (an unrecovered panic on a guest
// goroutine, running out of memory, the export watchdog) discards the
// instance: calls in progress fail with an INTERNAL *core.Error, and the
// next call instantiates a fresh module and recreates the clients in it
// (their cached tokens are lost).
//
// # Errors
//
// Every error is a *core.Error whose Kind is the guest's (the Kind numbers
// are the ABI's error codes) and whose text is the guest's, byte for byte.
// Failures of the host machinery itself are INTERNAL (a trap), ARGUMENT (a
// closed plugin or client) or CONFIG (a module that cannot be loaded).
package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/wasm/internal/wire"
)

// ABIVersion is the zb_abi_version this host speaks.
const ABIVersion = wire.ABIVersion

// Defaults of the Options.
const (
	DefaultMemoryLimit     = 256 << 20 // bytes of linear memory per instance
	DefaultMaxResponseBody = core.DefaultMaxBody
	DefaultMaxRequestBody  = 64 << 20
	DefaultMaxInFlight     = 256
	DefaultStepInterval    = 5 * time.Millisecond
	DefaultExportTimeout   = 0 // watchdog off; see WithExportTimeout
	DefaultHTTPTimeout     = 5 * time.Minute
)

// Option adjusts a Plugin.
type Option func(*options)

type options struct {
	memoryLimit     uint64
	maxResponseBody int64
	maxRequestBody  int64
	maxInFlight     int
	step            time.Duration
	exportTimeout   time.Duration
	httpTimeout     time.Duration
	cache           wazero.CompilationCache
	cacheDir        string
	env             map[string]string
	stderr          io.Writer
}

// WithMemoryLimit caps each instance's linear memory (default 256 MiB,
// rounded down to 64 KiB pages). A guest that needs more traps, and the
// instance is replaced.
func WithMemoryLimit(bytes uint64) Option { return func(o *options) { o.memoryLimit = bytes } }

// WithMaxResponseBody caps every response body the host hands to the guest
// (default 16 MiB, at most core.MaxBodyLimit), whatever the guest asks
// for. A larger body fails the request with a TRANSPORT error
// (core.ErrBodyTooLarge).
func WithMaxResponseBody(n int64) Option { return func(o *options) { o.maxResponseBody = n } }

// WithMaxRequestBody caps a request body the guest may send (default 64 MiB).
func WithMaxRequestBody(n int64) Option { return func(o *options) { o.maxRequestBody = n } }

// WithMaxInFlight caps the HTTP requests one instance may have in flight
// (default 256); beyond it http_start answers "busy".
func WithMaxInFlight(n int) Option { return func(o *options) { o.maxInFlight = n } }

// WithStepInterval sets how often the host steps a guest that has live
// goroutines (default 5 ms): the latency added to guest timers.
func WithStepInterval(d time.Duration) Option { return func(o *options) { o.step = d } }

// WithExportTimeout arms a watchdog: an export call that runs longer than d
// is terminated and the instance replaced. It needs wazero's termination
// checks, which cost about a microsecond per export call (wazero starts a
// goroutine per call), so it is off by default: no export of zbauth.wasm
// waits for anything, network waits happen outside the module and honour
// the callers' contexts.
func WithExportTimeout(d time.Duration) Option { return func(o *options) { o.exportTimeout = d } }

// WithHTTPTimeout bounds an HTTP request for which the guest gave no
// deadline (default 5 minutes; the core always gives one).
func WithHTTPTimeout(d time.Duration) Option { return func(o *options) { o.httpTimeout = d } }

// WithCompilationCache shares compiled code between runtimes (for example
// wazero.NewCompilationCache() for several Plugins in one process).
func WithCompilationCache(c wazero.CompilationCache) Option { return func(o *options) { o.cache = c } }

// WithCompilationCacheDir keeps compiled code in dir, so that the next
// process's Load does not compile the module again.
func WithCompilationCacheDir(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// WithEnv sets the guest's environment, which the core reads for settings
// the config JSON leaves empty (ZEEBE_CLIENT_ID, ...). The host resolves
// the same configuration from the same map to learn the allowed origins.
// Default: the host process's variables whose names start with ZEEBE_,
// CAMUNDA_ or ZBAUTH_, as they are when Load runs.
func WithEnv(env map[string]string) Option {
	return func(o *options) {
		o.env = make(map[string]string, len(env))
		for k, v := range env {
			o.env[k] = v
		}
	}
}

// WithStderr receives the guest's standard error and output (the Go
// runtime's crash reports, the core's rare warnings), line by line, with
// the client secrets and the access tokens the host knows removed: a crash
// report prints a panic's value as it is. Default os.Stderr. The headline
// of a crash report is quoted in the trap error anyway (redacted too).
func WithStderr(w io.Writer) Option { return func(o *options) { o.stderr = w } }

// Plugin is a loaded zbauth.wasm: a wazero runtime, the compiled module
// and (at most) one live instance. It is safe for concurrent use.
type Plugin struct {
	opts     options
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	ownCache wazero.CompilationCache // closed with the Plugin
	hostCtx  context.Context         // parent of every HTTP request; done on Close
	stopHost context.CancelFunc

	// mu is the instance lock: held while calling into the module and
	// while touching the instance's bookkeeping, never during network I/O.
	mu     sync.Mutex
	inst   *instance
	gen    uint64
	closed bool
	stats  Stats

	cur          atomic.Pointer[instance] // inst, for the watchdog
	stopWatchdog chan struct{}

	// envSecrets is ZEEBE_CLIENT_SECRET of the guest's environment, raw
	// and escaped: removed from guest stderr and trap errors.
	envSecrets []string
}

// Stats are counters for tests and monitoring.
type Stats struct {
	Instances     int // instances created (1 + replacements)
	Traps         int // instances discarded after a trap
	HTTPRequests  int // requests the guest asked for and the host accepted
	Refused       int // requests refused (origin, malformed, too many)
	GuestFaults   int // invalid pointers or lengths passed by the guest
	StepsByPacer  int // zb_step calls made for guest timers
	InFlight      int // requests being performed now
	LiveGoroutine int // guest goroutines alive after the last export
	TokenCalls    int // zb_token calls: a token Client.Token could not answer from its copy
}

// Load compiles the module wasm and starts an instance. ctx bounds the
// compilation and instantiation only. Errors are *core.Error of kind
// CONFIG (not a zbauth module, or a different ABI version).
func Load(ctx context.Context, wasm []byte, opts ...Option) (*Plugin, error) {
	o := options{
		memoryLimit: DefaultMemoryLimit, maxResponseBody: DefaultMaxResponseBody,
		maxRequestBody: DefaultMaxRequestBody, maxInFlight: DefaultMaxInFlight,
		step: DefaultStepInterval, exportTimeout: DefaultExportTimeout,
		httpTimeout: DefaultHTTPTimeout, stderr: os.Stderr,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.env == nil {
		o.env = envSnapshot()
	}
	if o.step <= 0 {
		o.step = DefaultStepInterval
	}
	if o.maxResponseBody <= 0 {
		o.maxResponseBody = DefaultMaxResponseBody
	}
	pages := uint32(min(o.memoryLimit/65536, 65536))
	if pages == 0 {
		pages = 1
	}
	p := &Plugin{opts: o, envSecrets: core.SecretForms(o.env["ZEEBE_CLIENT_SECRET"])}
	rc := wazero.NewRuntimeConfig().WithMemoryLimitPages(pages).WithCloseOnContextDone(o.exportTimeout > 0)
	switch {
	case o.cache != nil:
		rc = rc.WithCompilationCache(o.cache)
	case o.cacheDir != "":
		c, err := wazero.NewCompilationCacheWithDir(o.cacheDir)
		if err != nil {
			return nil, loadError("cannot open the compilation cache directory", err)
		}
		p.ownCache = c
		rc = rc.WithCompilationCache(c)
	}
	p.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	fail := func(msg string, err error) (*Plugin, error) {
		p.rt.Close(context.Background())
		if p.ownCache != nil {
			p.ownCache.Close(context.Background())
		}
		return nil, loadError(msg, err)
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return fail("cannot instantiate WASI", err)
	}
	if err := instantiateHostModule(ctx, p.rt); err != nil {
		return fail("cannot instantiate the zbauth_host module", err)
	}
	compiled, err := p.rt.CompileModule(ctx, wasm)
	if err != nil {
		return fail("cannot compile the module", err)
	}
	p.compiled = compiled
	for _, name := range requiredExports {
		if _, ok := compiled.ExportedFunctions()[name]; !ok {
			return fail("the module does not export "+name+"; is it zbauth.wasm?", nil)
		}
	}
	p.hostCtx, p.stopHost = context.WithCancel(context.Background())
	p.mu.Lock()
	_, err = p.instance(ctx)
	p.mu.Unlock()
	if err != nil {
		p.stopHost()
		return fail("cannot start the module", err)
	}
	if o.exportTimeout > 0 {
		p.stopWatchdog = make(chan struct{})
		go p.watchdog()
	}
	return p, nil
}

// LoadFile reads and loads a module file.
func LoadFile(ctx context.Context, path string, opts ...Option) (*Plugin, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, loadError("cannot read the module", err)
	}
	return Load(ctx, b, opts...)
}

func loadError(msg string, err error) error {
	return &core.Error{Kind: core.KindConfig, Op: "load", Msg: msg, Err: err}
}

// envSnapshot copies the variables the core may read.
func envSnapshot() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ZEEBE_") || strings.HasPrefix(k, "CAMUNDA_") || strings.HasPrefix(k, "ZBAUTH_") {
			env[k] = v
		}
	}
	return env
}

func (p *Plugin) lookupEnv(k string) (string, bool) {
	v, ok := p.opts.env[k]
	return v, ok
}

// String describes p without the guest's environment, which may hold a
// client secret (ZEEBE_CLIENT_SECRET). It takes no lock.
func (p *Plugin) String() string {
	return fmt.Sprintf("host.Plugin{memory_limit:%d max_response_body:%d env_vars:%d}",
		p.opts.memoryLimit, p.opts.maxResponseBody, len(p.opts.env))
}

// GoString makes %#v as safe as %v.
func (p *Plugin) GoString() string { return p.String() }

// Stats returns a snapshot of the counters.
func (p *Plugin) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	if in := p.inst; in != nil {
		s.InFlight = len(in.reqs)
		s.LiveGoroutine = int(in.busy)
	}
	return s
}

// Close ends every client and the instance, cancels requests in flight and
// releases the runtime. Calls in progress fail with ARGUMENT; later calls
// too. Close is idempotent.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if in := p.inst; in != nil {
		in.discard(&core.Error{Kind: core.KindArgument, Op: "plugin", Msg: "the plugin is closed"})
		p.inst = nil
		p.cur.Store(nil)
	}
	p.stopHost()
	if p.stopWatchdog != nil {
		close(p.stopWatchdog)
	}
	p.mu.Unlock()
	err := p.rt.Close(ctx)
	if p.ownCache != nil {
		p.ownCache.Close(ctx)
	}
	return err
}

// instance returns the live instance, starting one if there is none.
// p.mu must be held.
func (p *Plugin) instance(ctx context.Context) (*instance, error) {
	if p.closed {
		return nil, &core.Error{Kind: core.KindArgument, Op: "plugin", Msg: "the plugin is closed"}
	}
	if p.inst != nil {
		return p.inst, nil
	}
	p.gen++
	in := newInstance(p, p.gen)
	// Host functions find their instance through the context passed to
	// every call; instantiation runs no zbauth code that calls them.
	mod, err := p.rt.InstantiateModule(in.ctx, p.compiled, p.moduleConfig(in.stderr))
	if err != nil {
		return nil, &core.Error{Kind: core.KindInternal, Op: "plugin", Msg: "cannot instantiate the module", Err: withTail(err, in.stderr)}
	}
	in.bind(mod)
	v, err := in.callRaw(in.f.version)
	if err != nil {
		mod.Close(context.Background())
		return nil, err
	}
	if int32(v) != ABIVersion {
		mod.Close(context.Background())
		return nil, &core.Error{Kind: core.KindConfig, Op: "load", Msg: fmt.Sprintf("the module speaks ABI version %d, this host %d", int32(v), ABIVersion)}
	}
	p.inst = in
	p.cur.Store(in)
	p.stats.Instances++
	return in, nil
}

// moduleConfig is the configuration of every instance: a WASI reactor
// (_initialize), anonymous so that a replacement can coexist with its
// predecessor, with the real clocks, real sleeps and crypto/rand: wazero's
// defaults are a fake clock starting at 2022-01-01 and a deterministic
// random source, which would break token expiry.
func (p *Plugin) moduleConfig(stderr io.Writer) wazero.ModuleConfig {
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStderr(stderr).WithStdout(stderr)
	for k, v := range p.opts.env {
		mc = mc.WithEnv(k, v)
	}
	return mc
}

// trap discards in after an export call failed, and fails its calls.
// p.mu must be held.
func (p *Plugin) trap(in *instance, cause error) {
	if in.dead != nil {
		return
	}
	msg := "the plugin instance trapped and was discarded; the next call starts a new one"
	if in.watchdogFired.Load() {
		msg = fmt.Sprintf("an export ran longer than %v and was stopped; the instance was discarded", p.opts.exportTimeout)
	}
	in.discard(&core.Error{Kind: core.KindInternal, Op: "plugin", Msg: msg, Err: withTail(cause, in.stderr)})
	if p.inst == in {
		p.inst = nil
		p.cur.Store(nil)
	}
	p.stats.Traps++
}

// watchdog stops an export that runs longer than opts.exportTimeout by
// closing the module; wazero's termination checks end the running code,
// the call returns an error and the instance is discarded as after a trap.
func (p *Plugin) watchdog() {
	tick := max(p.opts.exportTimeout/4, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-p.stopWatchdog:
			return
		case <-t.C:
		}
		in := p.cur.Load()
		if in == nil {
			continue
		}
		if since := in.enteredAt.Load(); since != 0 && time.Since(time.Unix(0, since)) > p.opts.exportTimeout {
			in.watchdogFired.Store(true)
			in.mod.CloseWithExitCode(context.Background(), exitWatchdog)
		}
	}
}

const exitWatchdog = 0x7a62 // "zb"

// withTail is err's first line followed by the headline of the guest's
// last crash report (or the end of its stderr).
func withTail(err error, t *tailBuffer) error {
	tail := t.String()
	start := max(strings.LastIndex(tail, "panic: "), strings.LastIndex(tail, "fatal error: "))
	if start >= 0 {
		tail = tail[start:]
		if i := strings.Index(tail, "\ngoroutine "); i > 0 { // the headline, not every stack
			tail = tail[:i]
		}
	} else if len(tail) > 512 {
		tail = tail[len(tail)-512:]
	}
	tail = strings.TrimSpace(tail)
	msg := ""
	if err != nil { // wazero appends a wasm stack trace: keep its first line
		msg, _, _ = strings.Cut(err.Error(), "\n")
		if t.redact != nil {
			msg = t.redact(msg)
		}
	}
	switch {
	case tail == "":
		return errors.New(msg)
	case msg == "":
		return errors.New("guest stderr: " + tail)
	}
	return errors.New(msg + "; guest stderr: " + tail)
}

// requiredExports are the exports Load insists on.
var requiredExports = []string{
	"_initialize", "zb_abi_version", "zb_alloc", "zb_free", "zb_client_new", "zb_client_close",
	"zb_token", "zb_topology", "zb_request", "zb_cancel", "zb_step", "zb_http_done", "zb_http_fail",
}

// exports holds the instance's export functions.
type exports struct {
	version, alloc, free, clientNew, clientClose api.Function
	token, topology, request, cancel, step       api.Function
	httpDone, httpFail                           api.Function
}

// tailBuffer receives the guest's stderr. It forwards it line by line,
// with every known secret and token removed (a panic's value is printed
// as it is, and the Go runtime prints it before aborting), and keeps the
// last 16 KiB of what it forwarded for the trap error. The guest writes
// only during export calls, so redact runs with p.mu held.
type tailBuffer struct {
	mu      sync.Mutex
	fwd     io.Writer
	redact  func(string) string
	buf     []byte // the tail, redacted
	pending []byte // an unfinished line, not yet redacted nor forwarded
}

// maxPendingLine is the longest unfinished line held back; a longer one is
// forwarded in pieces.
const maxPendingLine = 4 << 10

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	t.pending = append(t.pending, b...)
	var out []byte
	if i := bytes.LastIndexByte(t.pending, '\n'); i >= 0 {
		out = t.take(i + 1)
	} else if len(t.pending) > maxPendingLine {
		out = t.take(len(t.pending))
	}
	t.mu.Unlock()
	if len(out) > 0 && t.fwd != nil {
		t.fwd.Write(out)
	}
	return len(b), nil
}

// take redacts and moves the first n pending bytes to the tail, and
// returns them. t.mu must be held.
func (t *tailBuffer) take(n int) []byte {
	s := string(t.pending[:n])
	t.pending = append(t.pending[:0], t.pending[n:]...)
	if t.redact != nil {
		s = t.redact(s)
	}
	t.buf = append(t.buf, s...)
	if len(t.buf) > 16<<10 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-16<<10:]...)
	}
	return []byte(s)
}

// flush forwards an unfinished last line (when the instance is discarded).
func (t *tailBuffer) flush() {
	t.mu.Lock()
	var out []byte
	if len(t.pending) > 0 {
		out = t.take(len(t.pending))
	}
	t.mu.Unlock()
	if len(out) > 0 && t.fwd != nil {
		t.fwd.Write(out)
	}
}

// String is the redacted tail, an unfinished line included.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.buf) + string(t.pending)
	if t.redact != nil {
		s = t.redact(s)
	}
	return s
}
