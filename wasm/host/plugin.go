// Package host loads the zbauth WebAssembly plugin (zbauth.wasm, built
// from wasm/guest by `make wasm`) with wazero and offers the core's
// operations through it: create a client from config JSON, Token,
// Topology, Do (a general authenticated request) and Close.
//
// The guest has no sockets. It hands every HTTP request to this package
// through the zbauth_host imports; the host checks it (only the origins the
// configuration names are reachable: the REST address's, the token URL's,
// or the discovery document's and the token endpoint it names), performs
// it with net/http outside the module, and delivers the answer back. Its
// only files are the private_key_jwt credentials its clients' resolved
// configurations name, read-only. wasm/ABI.md is the contract;
// docs/wasm-design.md explains the design.
//
// # Concurrency
//
// A Plugin runs one module instance, shared by all its clients, so they
// share nothing but the instance while each client keeps its own token
// cache in the guest. A wazero instance is not safe for concurrent calls,
// so a per-Plugin mutex serialises every call into the module — and is held
// only for the duration of an export call, which never waits. Network I/O
// happens in host goroutines with the mutex released: 16 goroutines asking
// for a token wait together on the core's single token request instead of
// queueing behind each other's network waits. Goroutines in the guest run
// only while an export runs: every driving export answers how long until
// the guest's next timer (retry back-off, the token rate limit, deadlines)
// is due, and the host calls zb_step exactly then, unless an HTTP answer or
// another call comes first. An idle instance costs no export calls.
//
// Every entry point honours its ctx: a caller waiting for the lock, or for
// the guest's answer, gives up when ctx ends (TIMEOUT).
//
// # Failure
//
// Every export recovers panics. A trap (an unrecovered panic on a guest
// goroutine, running out of memory) discards the instance: calls in
// progress fail with an INTERNAL *core.Error, and the next call
// instantiates a fresh module and recreates the clients in it (their
// cached tokens are lost). The watchdog (WithExportTimeout, on by default)
// stops an export that runs too long, or that still runs after its caller
// gave up, the same way, with a TIMEOUT error; it also bounds the wait for
// an answer the guest never gives.
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
	"github.com/zbauth/zbauth/internal/redact"
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
	DefaultExportTimeout   = time.Minute // see WithExportTimeout
	DefaultHTTPTimeout     = 5 * time.Minute
)

// Option adjusts a Plugin.
type Option func(*options)

type options struct {
	memoryLimit     uint64
	maxResponseBody int64
	maxRequestBody  int64
	maxInFlight     int
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

// WithExportTimeout sets the watchdog's bound (default one minute; d <= 0
// turns the watchdog off). An export call that runs longer than d, or
// longer than abandonGrace (1 s) after the caller it runs for gave up, is
// stopped: the instance is discarded, the calls in progress fail with
// TIMEOUT and the next call starts a new instance. The watchdog also fails
// a call whose answer the guest has not given long after the guest's own
// deadlines (answerBound). No export of zbauth.wasm waits for anything, so
// only a broken or hostile module meets it.
//
// The watchdog needs wazero's termination checks (WithCloseOnContextDone),
// which add to every export call (docs/wasm-design.md); a cached token makes none.
// Without it, an export that never returns holds the instance lock for
// good: callers with a deadline give up, the others wait.
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
// CAMUNDA_ or ZBAUTH_, as they are when Load runs. PWD is always the host's
// working directory when Load runs: host and guest resolve a relative
// credential path against it.
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
	mu     ctxMutex
	inst   *instance
	gen    uint64
	closed bool
	stats  Stats

	cur          atomic.Pointer[instance]        // inst, for the watchdog
	caller       atomic.Pointer[context.Context] // ctx of the entry point holding mu; nil: none or not cancellable
	closing      atomic.Bool                     // Close has begun
	epoch        time.Time                       // origin of instance.enteredAt (monotonic)
	wake         chan struct{}                   // an export began (the watchdog sleeps until then)
	stopWatchdog chan struct{}

	// envSecrets are the secrets of the guest's environment (the
	// variables of core.SecretEnvNames), raw and escaped: removed from
	// guest stderr and trap errors.
	envSecrets []string

	// files is the guest's file system: the credential files its clients
	// name (credentialFS). wd is the working directory the guest is given,
	// against which host and guest resolve relative paths.
	files *credentialFS
	wd    string
}

// Stats are counters for tests and monitoring.
type Stats struct {
	Instances    int // instances created (1 + replacements)
	Traps        int // instances discarded after a trap
	HTTPRequests int // requests the guest asked for and the host accepted
	Refused      int // requests refused (origin, malformed, too many)
	Aborted      int // accepted requests the guest aborted (http_abort): its caller left
	GuestFaults  int // invalid pointers or lengths passed by the guest
	Steps        int // zb_step calls made when the delay the guest asked for had passed
	ExportCalls  int // calls into the module, of every export
	InFlight     int // requests being performed now
	Wake         int // the last driving export's answer: ms until the guest's next timer, -1 none
	TokenCalls   int // zb_token calls: a token Client.Token could not answer from its copy
}

// Load compiles the module wasm, checks that it has every export and
// import of the ABI with its signature, and starts an instance. ctx bounds
// the compilation and instantiation only. Errors are *core.Error of kind
// CONFIG (not a zbauth module, with a *ModuleError cause naming what does
// not match; a different ABI version; _initialize stopped by ctx or the
// watchdog).
func Load(ctx context.Context, wasm []byte, opts ...Option) (*Plugin, error) {
	o := options{
		memoryLimit: DefaultMemoryLimit, maxResponseBody: DefaultMaxResponseBody,
		maxRequestBody: DefaultMaxRequestBody, maxInFlight: DefaultMaxInFlight,
		exportTimeout: DefaultExportTimeout,
		httpTimeout:   DefaultHTTPTimeout, stderr: os.Stderr,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.env == nil {
		o.env = envSnapshot()
	}
	if o.maxResponseBody <= 0 {
		o.maxResponseBody = DefaultMaxResponseBody
	}
	pages := uint32(min(o.memoryLimit/65536, 65536))
	if pages == 0 {
		pages = 1
	}
	p := &Plugin{opts: o, envSecrets: envSecrets(o.env), mu: make(ctxMutex, 1),
		epoch: time.Now(), wake: make(chan struct{}, 1), files: newCredentialFS()}
	if wd, err := os.Getwd(); err == nil {
		p.wd = wd
	}
	// The termination checks let the watchdog stop running code.
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
	if err := p.checkModule(); err != nil {
		return fail(fmt.Sprintf("the module is not zbauth.wasm (ABI version %d)", ABIVersion), err)
	}
	p.hostCtx, p.stopHost = context.WithCancel(context.Background())
	if o.exportTimeout > 0 {
		p.stopWatchdog = make(chan struct{})
		go p.watchdog()
	}
	err = p.lockFor(ctx) // free: nobody else has p yet
	if err == nil {
		_, err = p.instance(ctx)
		p.unlockFor()
	}
	if err != nil {
		p.stopHost()
		if p.stopWatchdog != nil {
			close(p.stopWatchdog)
		}
		return fail("cannot start the module", err)
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

// envSecrets are the secret values of env, in every form SecretForms gives.
func envSecrets(env map[string]string) []string {
	var out []string
	for _, name := range core.SecretEnvNames() {
		if v := env[name]; v != "" {
			out = append(out, redact.SecretForms(v)...)
		}
	}
	return out
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
	s.Wake = -1
	if in := p.inst; in != nil {
		s.InFlight = len(in.reqs)
		s.Wake = int(in.wake)
	}
	return s
}

// Close ends every client and the instance, cancels requests in flight and
// releases the runtime. Calls in progress fail with ARGUMENT; later calls
// too; a running export is stopped. With the watchdog off, Close waits for
// a running export to return, or for ctx (then it returns a TIMEOUT error
// and the plugin is unusable but not released). Close is idempotent.
func (p *Plugin) Close(ctx context.Context) error {
	p.closing.Store(true)
	if in := p.cur.Load(); in != nil {
		in.halt(errPluginClosed())
	}
	if err := p.mu.lockCtx(ctx); err != nil {
		return gaveUp("close", ctx)
	}
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if in := p.inst; in != nil {
		in.discard(errPluginClosed())
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

func errPluginClosed() error {
	return &core.Error{Kind: core.KindArgument, Op: "plugin", Msg: "the plugin is closed"}
}

// instance returns the live instance, starting one if there is none (or
// if the watchdog stopped the live one between two exports). ctx is the
// caller's: it and the watchdog's bound limit the instantiation.
// p.mu must be held.
func (p *Plugin) instance(ctx context.Context) (*instance, error) {
	if p.closed || p.closing.Load() {
		return nil, errPluginClosed()
	}
	if in := p.inst; in != nil {
		if in.halted.Load() == nil {
			return in, nil
		}
		p.trap(in, nil)
	}
	p.gen++
	in := newInstance(p, p.gen)
	// Host functions find their instance through the context passed to
	// every call; instantiation runs no zbauth code that calls them (and
	// they ignore an instance not yet bound). With the termination checks
	// on, wazero stops _initialize when ictx ends.
	ictx := context.WithValue(ctx, instKey{}, in)
	if d := p.opts.exportTimeout; d > 0 {
		var cancel context.CancelFunc
		ictx, cancel = context.WithTimeout(ictx, d)
		defer cancel()
	}
	mod, err := p.rt.InstantiateModule(ictx, p.compiled, p.moduleConfig(in.stderr))
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, gaveUp("plugin", ctx)
		case ictx.Err() != nil:
			return nil, &core.Error{Kind: core.KindTimeout, Op: "plugin", Msg: fmt.Sprintf("the module's _initialize ran longer than %v and was stopped", p.opts.exportTimeout)}
		}
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
// random source, which would break token expiry. Its only file system is
// p.files at "/", and PWD is the host's working directory, from which the
// Go runtime in the guest resolves relative paths as the host does.
func (p *Plugin) moduleConfig(stderr io.Writer) wazero.ModuleConfig {
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStderr(stderr).WithStdout(stderr).
		WithFSConfig(wazero.NewFSConfig().WithFSMount(p.files, "/"))
	for k, v := range p.opts.env {
		if k != "PWD" {
			mc = mc.WithEnv(k, v)
		}
	}
	if p.wd != "" {
		mc = mc.WithEnv("PWD", p.wd)
	}
	return mc
}

// trap discards in after an export call failed (or the watchdog stopped
// it), and fails its calls. p.mu must be held.
func (p *Plugin) trap(in *instance, cause error) {
	if in.dead != nil {
		return
	}
	if why := in.halted.Load(); why != nil {
		in.discard(*why)
	} else {
		in.discard(&core.Error{Kind: core.KindInternal, Op: "plugin", Msg: "the plugin instance trapped and was discarded; the next call starts a new one", Err: withTail(cause, in.stderr)})
	}
	if p.inst == in {
		p.inst = nil
		p.cur.Store(nil)
	}
	if !p.closing.Load() {
		p.stats.Traps++
	}
}

// abandonGrace is how long an export may still run after the caller it
// runs for gave up. Not zero: the instance is shared, and a deadline that
// passes during an ordinary export (microseconds) must not cost every
// client its cached token.
const abandonGrace = time.Second

// watchdog stops an export that runs longer than opts.exportTimeout, or
// longer than abandonGrace while its caller's ctx has ended, by halting
// its instance (cancelling the context the export runs with: wazero's
// termination checks then end the running code). The call returns an
// error and the instance is discarded as after a trap. It sleeps while no
// export runs.
func (p *Plugin) watchdog() {
	bound := p.opts.exportTimeout
	grace := min(abandonGrace, bound)
	tick := min(max(bound/20, 5*time.Millisecond), 250*time.Millisecond)
	t := time.NewTimer(tick)
	defer t.Stop()
	for {
		select {
		case <-p.stopWatchdog:
			return
		case <-p.wake:
		}
		for { // while exports run
			t.Reset(tick)
			select {
			case <-p.stopWatchdog:
				return
			case <-t.C:
			}
			in := p.cur.Load()
			if in == nil {
				break
			}
			start := in.enteredAt.Load()
			if start == 0 {
				break
			}
			ran := time.Since(p.epoch) - time.Duration(start)
			var why error
			if ran > bound {
				why = &core.Error{Kind: core.KindTimeout, Op: "plugin",
					Msg: fmt.Sprintf("an export ran longer than %v and was stopped; the instance was discarded, the next call starts a new one", bound)}
			} else if c := p.caller.Load(); c != nil && ran > grace && (*c).Err() != nil {
				why = &core.Error{Kind: core.KindTimeout, Op: "plugin",
					Msg: "an export was still running after its caller gave up and was stopped; the instance was discarded, the next call starts a new one", Err: (*c).Err()}
			}
			if why != nil && in.enteredAt.Load() == start { // still that export
				in.halt(why)
			}
		}
	}
}

// lockFor takes the instance lock for an entry point, or gives up when
// ctx ends first (ctx's error), and tells the watchdog whose exports run.
// Release it with unlockFor.
func (p *Plugin) lockFor(ctx context.Context) error {
	if err := p.mu.lockCtx(ctx); err != nil {
		return err
	}
	if ctx.Done() != nil {
		p.caller.Store(&ctx)
	}
	return nil
}

func (p *Plugin) unlockFor() {
	p.caller.Store(nil)
	p.mu.Unlock()
}

// ctxMutex is a mutex whose waiters can give up (sync.Mutex's cannot): a
// caller must not wait longer than its ctx for an export that may be stuck.
type ctxMutex chan struct{}

func (m ctxMutex) Lock()   { m <- struct{}{} }
func (m ctxMutex) Unlock() { <-m }

// lockCtx takes m, or returns ctx's error if ctx ends first. A free m is
// taken whatever ctx's state: the caller decides what a done ctx means.
func (m ctxMutex) lockCtx(ctx context.Context) error {
	select {
	case m <- struct{}{}:
		return nil
	default:
	}
	select {
	case m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lockWithin takes m unless that takes longer than d.
func (m ctxMutex) lockWithin(d time.Duration) bool {
	select {
	case m <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case m <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

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

// abiExports are the function exports of the ABI (wasm/ABI.md section 4):
// name, number of i32 parameters, number of i32 results.
var abiExports = []struct {
	name            string
	params, results int
}{
	{"_initialize", 0, 0}, {"zb_abi_version", 0, 1}, {"zb_alloc", 1, 1}, {"zb_free", 1, 0},
	{"zb_client_new", 3, 1}, {"zb_client_close", 1, 1}, {"zb_token", 3, 1}, {"zb_topology", 3, 1},
	{"zb_request", 9, 1}, {"zb_cancel", 1, 1}, {"zb_step", 0, 1}, {"zb_http_done", 6, 1}, {"zb_http_fail", 4, 1},
}

// ModuleError is the cause of Load's CONFIG error for a module that does
// not have the ABI's shape: it would fail at its first call, or crash a
// host that trusted it (a module without a memory export).
type ModuleError struct {
	Missing    []string // exports the ABI requires that the module lacks ("memory", "zb_alloc", ...)
	Mismatched []string // exports or imports whose signature is not the ABI's, imports this host does not provide
}

func (e *ModuleError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, "missing exports: "+strings.Join(e.Missing, ", "))
	}
	parts = append(parts, e.Mismatched...)
	return strings.Join(parts, "; ")
}

// maxModuleProblems bounds the list in a ModuleError: a hostile module may
// have any number of imports.
const maxModuleProblems = 16

// checkModule compares p.compiled with the ABI: the exports of section 4
// with their signatures, the memory export, and every import against the
// host modules instantiated in p.rt (zbauth_host, WASI).
func (p *Plugin) checkModule() error {
	c := p.compiled
	e := &ModuleError{}
	mismatch := func(format string, args ...any) {
		if len(e.Mismatched) < maxModuleProblems {
			e.Mismatched = append(e.Mismatched, fmt.Sprintf(format, args...))
		}
	}
	fns := c.ExportedFunctions()
	for _, x := range abiExports {
		d, ok := fns[x.name]
		if !ok {
			e.Missing = append(e.Missing, x.name)
			continue
		}
		if !allI32(d.ParamTypes(), x.params) || !allI32(d.ResultTypes(), x.results) {
			mismatch("export %s is %s, the ABI's is %s", x.name, signature(d.ParamTypes(), d.ResultTypes()),
				signature(i32s(x.params), i32s(x.results)))
		}
	}
	if _, ok := c.ExportedMemories()["memory"]; !ok {
		e.Missing = append(e.Missing, "memory")
	}
	for _, d := range c.ImportedFunctions() {
		mod, name, _ := d.Import()
		var want api.FunctionDefinition
		if m := p.rt.Module(mod); m != nil && mod != "" {
			want = m.ExportedFunctionDefinitions()[name]
		}
		switch {
		case want == nil:
			mismatch("import %.64q.%.64q is not provided by this host", mod, name)
		case !sameTypes(d.ParamTypes(), want.ParamTypes()) || !sameTypes(d.ResultTypes(), want.ResultTypes()):
			mismatch("import %s.%s is %s, the host's is %s", mod, name,
				signature(d.ParamTypes(), d.ResultTypes()), signature(want.ParamTypes(), want.ResultTypes()))
		}
	}
	if len(c.ImportedMemories()) > 0 {
		mismatch("the module imports a memory; it must define and export its own")
	}
	if len(e.Missing) == 0 && len(e.Mismatched) == 0 {
		return nil
	}
	return e
}

func allI32(ts []api.ValueType, n int) bool {
	return sameTypes(ts, i32s(n))
}

func i32s(n int) []api.ValueType {
	ts := make([]api.ValueType, n)
	for i := range ts {
		ts[i] = api.ValueTypeI32
	}
	return ts
}

func sameTypes(a, b []api.ValueType) bool {
	return bytes.Equal(a, b)
}

// signature is "(i32, i32) -> i32".
func signature(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(params) + ") -> (" + names(results) + ")"
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
// forwarded in pieces, redacted whole first, less its last keepPending
// bytes, which stay pending: a secret or token cut there is still whole
// when it is redacted. keepPending is more than any bearer token a server
// takes in a header.
const (
	maxPendingLine = 32 << 10
	keepPending    = 16 << 10
)

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	t.pending = append(t.pending, b...)
	var out []byte
	if i := bytes.LastIndexByte(t.pending, '\n'); i >= 0 {
		out = t.take(i + 1)
	} else if len(t.pending) > maxPendingLine {
		if t.redact != nil {
			t.pending = append(t.pending[:0], t.redact(string(t.pending))...)
		}
		if n := len(t.pending) - keepPending; n > 0 {
			out = t.take(n)
		}
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
