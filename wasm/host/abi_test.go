package host

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
	"github.com/zbauth/zbauth/wasm/internal/wire"
)

// rawGet asks the test guest to GET url through c's host transport,
// bypassing the core's own checks.
func rawGet(c *Client, url string) ([]byte, error) {
	var body []byte
	err := c.invoke(context.Background(), "raw", func(in *instance, h, call, ms int32) error {
		return in.withArgs([][]byte{[]byte(url)}, func(ptrs []uint32) error {
			return in.drive(in.mod.ExportedFunction("zbtest_raw"), api.EncodeI32(call), api.EncodeI32(h),
				api.EncodeU32(ptrs[0]), api.EncodeI32(int32(len(url))))
		})
	}, func(status int32, payload []byte) error {
		if status != 0 {
			e, _ := decodeError("raw", status, payload)
			return e
		}
		body = append([]byte(nil), payload...)
		return nil
	})
	return body, err
}

func TestOriginRefused(t *testing.T) {
	mine := cluster(t, devcluster.Options{})
	other := cluster(t, devcluster.Options{})
	p := load(t, testModule)
	c := newClient(t, p, configFor(mine, ""))

	// Control: the configured origin is reachable.
	if _, err := rawGet(c, mine.URL()+"/_dev/stats"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		other.URL() + "/_dev/stats",                                    // another port on the same host
		strings.Replace(mine.URL(), "127.0.0.1", "localhost", 1) + "/", // another host name
		"https://" + strings.TrimPrefix(mine.URL(), "http://") + "/",   // another scheme
		"file:///etc/passwd",
		"http://user:pw@" + strings.TrimPrefix(mine.URL(), "http://") + "/",
	} {
		_, err := rawGet(c, u)
		e := asCoreError(t, err)
		if e.Kind != core.KindTransport || !strings.Contains(e.Error(), "the host refused the request") {
			t.Fatalf("%s: want a TRANSPORT refusal, got %v", u, err)
		}
	}
	if n := other.Stats().APIRequests + other.Stats().TokenRequests; n != 0 {
		t.Fatalf("the other cluster got %d requests", n)
	}
	if st := p.Stats(); st.Refused != 5 || st.HTTPRequests != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForgedPointers: a guest passing pointers and lengths outside its
// memory gets errors; the host neither crashes nor reads out of bounds.
func TestForgedPointers(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, testModule)
	c := newClient(t, p, configFor(cl, ""))
	forge := func(what int32) (int32, bool, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		in, _, err := c.acquire(context.Background(), "forge")
		if err != nil {
			t.Fatal(err)
		}
		call := in.newCall()
		in.syncCall, in.syncDone, in.syncErr = call, false, nil
		r, err := in.callRaw(in.mod.ExportedFunction("zbtest_forge"), api.EncodeI32(call), api.EncodeI32(what))
		in.syncCall = 0
		if err != nil {
			t.Fatalf("forge %d trapped: %v", what, err)
		}
		return int32(r), in.syncDone, in.syncErr
	}
	for _, what := range []int32{1, 2} { // call_done with a bad buffer
		_, done, err := forge(what)
		if !done || core.KindOf(err) != core.KindInternal || !strings.Contains(err.Error(), "invalid result buffer") {
			t.Fatalf("forge %d: done %v, err %v", what, done, err)
		}
	}
	for _, what := range []int32{3, 4} { // http_start with a bad head or body
		rc, _, _ := forge(what)
		if rc != wire.StartInvalid {
			t.Fatalf("forge %d: http_start answered %d, want %d", what, rc, wire.StartInvalid)
		}
	}
	if st := p.Stats(); st.GuestFaults != 4 || st.Traps != 0 || st.HTTPRequests != 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := c.Topology(context.Background()); err != nil { // still healthy
		t.Fatal(err)
	}
}

// TestHostRefusesBadArguments: the guest checks the host's buffers too.
func TestGuestRefusesBadBuffers(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	err := c.invoke(context.Background(), "request", func(in *instance, h, call, ms int32) error {
		// A method "pointer" that is no zb_alloc buffer.
		return in.drive(in.f.request, api.EncodeI32(call), api.EncodeI32(h), 0,
			api.EncodeU32(0xFFFF_0000), api.EncodeI32(3), 0, 0, 0, api.EncodeI32(-1))
	}, func(status int32, payload []byte) error {
		e, _ := decodeError("request", status, payload)
		return e
	})
	if core.KindOf(err) != core.KindArgument || !strings.Contains(err.Error(), "zb_alloc") {
		t.Fatalf("want an ARGUMENT error, got %v", err)
	}
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestTrapReplacesInstance: an unrecovered panic on a guest goroutine
// aborts the Go runtime; the host discards the instance, fails what was
// pending and starts a new one with the clients recreated.
func TestTrapReplacesInstance(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, testModule)
	c := newClient(t, p, configFor(cl, ""))
	ctx := context.Background()
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	// A call waiting on the network when the trap comes.
	cl.AddFault(devcluster.Fault{Target: "api", DelayMS: 10000, Times: 1})
	pending := make(chan error, 1)
	go func() { _, err := c.Topology(ctx); pending <- err }()
	eventually(t, 5*time.Second, "the request to be in flight", func() bool { return p.Stats().InFlight == 1 })

	p.mu.Lock()
	_, err := p.inst.callRaw(p.inst.mod.ExportedFunction("zbtest_trap"))
	p.mu.Unlock()
	e := asCoreError(t, err)
	if e.Kind != core.KindInternal || !strings.Contains(e.Error(), "instance trapped") || !strings.Contains(e.Error(), "test panic on an unrecovered goroutine") {
		t.Fatalf("unexpected trap error: %v", err)
	}
	select {
	case err := <-pending:
		if core.KindOf(err) != core.KindInternal || !strings.Contains(err.Error(), "instance trapped") {
			t.Fatalf("the pending call got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the pending call was not failed")
	}
	// The next call runs on a new instance, the client recreated.
	if _, err := c.Topology(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Traps != 1 || st.Instances != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMemoryLimit: a guest that outgrows its memory limit traps and is
// replaced; the host is unaffected.
func TestMemoryLimit(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule, WithMemoryLimit(24<<20), WithMaxResponseBody(64<<20))
	c := newClient(t, p, configFor(cl, `"max_body_bytes":67108864`))
	ctx := context.Background()
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	cl.AddFault(devcluster.Fault{Target: "api", BodyBytes: 40 << 20, Times: 1})
	_, err := c.Do(ctx, "GET", "/v2/echo", nil)
	if core.KindOf(err) != core.KindInternal {
		t.Fatalf("want INTERNAL (out of memory), got %v", err)
	}
	t.Logf("40 MiB body into a 24 MiB instance: %q", err)
	if _, err := c.Topology(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Traps != 1 {
		t.Fatalf("stats %+v", st)
	}
}
