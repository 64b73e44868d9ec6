package host

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// --- A hand-written module, for the shapes zbauth.wasm never has --------

// wasmFunc is a function of a hand-written module: i32 parameters and
// results only; a function with a result returns ret.
type wasmFunc struct {
	name            string
	params, results int
	ret             int32
}

// wasmImport is an imported function (i32 only).
type wasmImport struct {
	module, name    string
	params, results int
}

// tinyModule encodes a module (the binary format, by hand) that imports
// imports, defines and exports fns, and defines and exports a one-page
// memory "memory" if memory is set.
func tinyModule(memory bool, imports []wasmImport, fns []wasmFunc) []byte {
	u := func(n int) []byte { // unsigned LEB128
		var b []byte
		for {
			c := byte(n & 0x7f)
			n >>= 7
			if n == 0 {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	name := func(s string) []byte { return append(u(len(s)), s...) }
	section := func(id byte, count int, body []byte) []byte {
		body = append(u(count), body...)
		return append(append([]byte{id}, u(len(body))...), body...)
	}
	var types []byte
	ntypes := 0
	typeOf := func(params, results int) []byte {
		types = append(types, 0x60)
		types = append(types, u(params)...)
		for range params {
			types = append(types, 0x7f)
		}
		types = append(types, u(results)...)
		for range results {
			types = append(types, 0x7f)
		}
		ntypes++
		return u(ntypes - 1)
	}
	var imps, funcs, exps, code []byte
	for _, im := range imports {
		imps = append(append(append(imps, name(im.module)...), name(im.name)...), 0x00)
		imps = append(imps, typeOf(im.params, im.results)...)
	}
	for i, f := range fns {
		funcs = append(funcs, typeOf(f.params, f.results)...)
		exps = append(append(append(exps, name(f.name)...), 0x00), u(len(imports)+i)...)
		body := []byte{0x00} // no locals
		if f.results == 1 {
			body = append(body, 0x41) // i32.const ret (signed LEB128; small values only)
			body = append(body, byte(f.ret&0x3f))
		}
		body = append(body, 0x0b)
		code = append(append(code, u(len(body))...), body...)
	}
	nexps := len(fns)
	if memory {
		exps = append(append(exps, name("memory")...), 0x02, 0x00)
		nexps++
	}
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, section(1, ntypes, types)...)
	if len(imports) > 0 {
		m = append(m, section(2, len(imports), imps)...)
	}
	m = append(m, section(3, len(fns), funcs)...)
	if memory {
		m = append(m, section(5, 1, []byte{0x00, 0x01})...)
	}
	m = append(m, section(7, nexps, exps)...)
	return append(m, section(10, len(fns), code)...)
}

// abiFuncs are the ABI's exports with the right signatures; zb_alloc
// returns a buffer inside the first page and zb_abi_version the version.
func abiFuncs() []wasmFunc {
	var fns []wasmFunc
	for _, x := range abiExports {
		f := wasmFunc{name: x.name, params: x.params, results: x.results}
		switch x.name {
		case "zb_abi_version":
			f.ret = ABIVersion
		case "zb_alloc":
			f.ret = 16 // an address: 16, within the first page
		}
		fns = append(fns, f)
	}
	return fns
}

func without(fns []wasmFunc, name string) []wasmFunc {
	var out []wasmFunc
	for _, f := range fns {
		if f.name != name {
			out = append(out, f)
		}
	}
	return out
}

func moduleError(t *testing.T, err error) *ModuleError {
	t.Helper()
	e := asCoreError(t, err)
	var me *ModuleError
	if e.Kind != core.KindConfig || e.Op != "load" || !errors.As(err, &me) {
		t.Fatalf("want a CONFIG load error with a *ModuleError, got %v", err)
	}
	return me
}

// TestLoadChecksModule: Load refuses a module whose exports or imports
// are not the ABI's, naming them, instead of failing (or crashing) at the
// first call: a module without a memory export once passed Load and made
// NewClient dereference a nil memory.
func TestLoadChecksModule(t *testing.T) {
	ctx := context.Background()
	quiet := []Option{WithEnv(map[string]string{})}

	_, err := Load(ctx, tinyModule(false, nil, abiFuncs()), quiet...)
	if me := moduleError(t, err); strings.Join(me.Missing, ",") != "memory" || len(me.Mismatched) != 0 {
		t.Fatalf("no memory: got %+v", me)
	}
	if !strings.Contains(err.Error(), "missing exports: memory") {
		t.Fatalf("the text does not name the export: %v", err)
	}

	fns := without(without(abiFuncs(), "zb_step"), "zb_token")
	fns = append(fns, wasmFunc{name: "zb_token", params: 1, results: 1})
	_, err = Load(ctx, tinyModule(true, nil, fns), quiet...)
	me := moduleError(t, err)
	if strings.Join(me.Missing, ",") != "zb_step" || len(me.Mismatched) != 1 ||
		me.Mismatched[0] != "export zb_token is (i32) -> (i32), the ABI's is (i32, i32, i32) -> (i32)" {
		t.Fatalf("missing and mistyped exports: got %+v", me)
	}

	imports := []wasmImport{
		{"zbauth_host", "call_done", 1, 0},  // the host's takes 4
		{"zbauth_host", "exfiltrate", 0, 0}, // not the host's
		{"env", "f", 0, 0},                  // no such module
		{"zbauth_host", "http_abort", 1, 0}, // right
	}
	_, err = Load(ctx, tinyModule(true, imports, abiFuncs()), quiet...)
	me = moduleError(t, err)
	want := []string{
		"import zbauth_host.call_done is (i32) -> (), the host's is (i32, i32, i32, i32) -> ()",
		`import "zbauth_host"."exfiltrate" is not provided by this host`,
		`import "env"."f" is not provided by this host`,
	}
	if len(me.Missing) != 0 || strings.Join(me.Mismatched, "\n") != strings.Join(want, "\n") {
		t.Fatalf("imports: got %+v", me)
	}

	// Control: the right shape loads; it is no zbauth.wasm, and the
	// host says so at the first call rather than crashing.
	p, err := Load(ctx, tinyModule(true, imports[3:], abiFuncs()), quiet...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	_, err = p.NewClient(ctx, []byte(`{}`))
	if core.KindOf(err) != core.KindInternal || !strings.Contains(err.Error(), "did not answer zb_client_new") {
		t.Fatalf("NewClient on a module that never answers: %v", err)
	}
}

// --- The watchdog, and callers' contexts ---------------------------------

// testOp runs the test export name(call) as an operation of c, the way
// Token, Topology and Do run theirs.
func testOp(ctx context.Context, c *Client, name string) error {
	return c.invoke(ctx, "test", func(in *instance, h, call, ms int32) error {
		return in.drive(in.mod.ExportedFunction(name), api.EncodeI32(call))
	}, func(status int32, payload []byte) error {
		if status != 0 {
			e, _ := decodeError("test", status, payload)
			return e
		}
		return nil
	})
}

// spinning waits until an export has been running for a while (the
// spinning one: no other export takes that long).
func spinning(t *testing.T, p *Plugin) {
	t.Helper()
	eventually(t, 10*time.Second, "an export to spin", func() bool {
		in := p.cur.Load()
		if in == nil {
			return false
		}
		start := in.enteredAt.Load()
		return start != 0 && time.Since(p.epoch)-time.Duration(start) > 100*time.Millisecond
	})
}

// TestWatchdog: an export that never returns is stopped at the bound with
// a TIMEOUT; meanwhile it holds the instance, yet callers with a deadline
// give up at their deadline, NewClient included, and a cached token is
// still answered; afterwards the same client works on a new instance.
func TestWatchdog(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	const bound = 3 * time.Second // generous: a loaded machine can stall an ordinary export
	p := load(t, testModule, WithExportTimeout(bound))
	c := newClient(t, p, configFor(cl, ""))
	bg := context.Background()
	if _, err := c.Token(bg); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	spun := make(chan error, 1)
	go func() { spun <- testOp(bg, c, "zbtest_spin") }()
	spinning(t, p)

	short := func() context.Context {
		ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	t0 := time.Now()
	if _, err := c.Topology(short()); core.KindOf(err) != core.KindTimeout {
		t.Fatalf("Topology while the instance is stuck: want TIMEOUT, got %v", err)
	}
	if _, err := p.NewClient(short(), configFor(cl, "")); core.KindOf(err) != core.KindTimeout {
		t.Fatalf("NewClient while the instance is stuck: want TIMEOUT, got %v", err)
	}
	if _, err := c.Token(short()); err != nil { // from the host's copy
		t.Fatalf("a cached token while the instance is stuck: %v", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("the callers with 200 ms took %v", d)
	}

	err := <-spun
	if e := asCoreError(t, err); e.Kind != core.KindTimeout || !strings.Contains(e.Error(), "ran longer than 3s") {
		t.Fatalf("want the watchdog's TIMEOUT, got %v", err)
	}
	if d := time.Since(start); d < bound || d > bound+5*time.Second {
		t.Fatalf("the watchdog stopped the export after %v (bound %v)", d, bound)
	}
	if _, err := c.Topology(bg); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Traps != 1 || st.Instances != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestAbandonedExport: with the default options, an export still running
// after its caller gave up is stopped (it would otherwise hold the instance
// for good), and the caller gets a TIMEOUT soon after its deadline.
func TestAbandonedExport(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, testModule)
	c := newClient(t, p, configFor(cl, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- testOp(ctx, c, "zbtest_spin") }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the abandoned export was not stopped") // and the test binary hangs
	}
	if e := asCoreError(t, err); e.Kind != core.KindTimeout || !strings.Contains(e.Error(), "after its caller gave up") {
		t.Fatalf("want a TIMEOUT for the abandoned export, got %v", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond+abandonGrace+3*time.Second {
		t.Fatalf("the caller with 300 ms waited %v", d)
	}
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Traps != 1 || st.Instances != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestGuestNeverAnswers: with the default options, a call whose answer
// the guest never gives, waited for without a deadline, ends with a TIMEOUT
// once the guest's own bounds (the client's timeout) are long past; the
// instance, which did nothing wrong otherwise, stays.
func TestGuestNeverAnswers(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, testModule)
	c := newClient(t, p, configFor(cl, `"timeout_ms":100`))
	bound := c.answerBound("test") // 14 × 100 ms + 2 s
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- testOp(context.Background(), c, "zbtest_silent") }()
	var err error
	select {
	case err = <-done:
	case <-time.After(bound + 20*time.Second):
		t.Fatal("the call is still waiting")
	}
	if e := asCoreError(t, err); e.Kind != core.KindTimeout || !strings.Contains(e.Error(), "did not answer within 3.4s") {
		t.Fatalf("want a TIMEOUT, got %v", err)
	}
	if d := time.Since(start); d < bound || d > bound+5*time.Second {
		t.Fatalf("the call ended after %v (bound %v)", d, bound)
	}
	if _, err := c.Topology(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Traps != 0 || st.Instances != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestNewClientContext: NewClient with a context that has ended creates
// nothing and says TIMEOUT.
func TestNewClientContext(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.NewClient(ctx, configFor(cl, "")); core.KindOf(err) != core.KindTimeout || !errors.Is(err, context.Canceled) {
		t.Fatalf("want TIMEOUT (context canceled), got %v", err)
	}
	p.mu.Lock()
	n := len(p.inst.clients)
	p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d clients in the guest", n)
	}
	newClient(t, p, configFor(cl, "")) // control
}

// TestCloseStopsExport: Close does not wait for a stuck export: it stops
// it, and its caller gets the closed plugin's ARGUMENT error.
func TestCloseStopsExport(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, testModule)
	c := newClient(t, p, configFor(cl, ""))
	done := make(chan error, 1)
	go func() { done <- testOp(context.Background(), c, "zbtest_spin") }()
	spinning(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; core.KindOf(err) != core.KindArgument || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("want ARGUMENT (closed), got %v", err)
	}
}
