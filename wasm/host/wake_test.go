package host

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// Guest time only passes inside exports, and every driving export says
// how long until the guest's next timer (wasm/ABI.md, section 2): the host
// calls in exactly then, or when an HTTP answer arrives, and never polls.

// TestIdleMakesNoExportCalls: a client with a cached token, after a token
// fetch and a topology call, costs no export call at all while idle.
func TestIdleMakesNoExportCalls(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	ctx := context.Background()
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Topology(ctx); err != nil {
		t.Fatal(err)
	}
	before := p.Stats()
	if before.Wake != -1 {
		t.Fatalf("the guest asks to be called in %d ms with nothing to do", before.Wake)
	}
	time.Sleep(2 * time.Second)
	after := p.Stats()
	if n := after.ExportCalls - before.ExportCalls; n != 0 {
		t.Fatalf("%d export calls over 2 s of idleness (stats %+v)", n, after)
	}
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if st := cl.Stats(); st.TokenRequests != 1 {
		t.Fatalf("%d token requests, want the cached one", st.TokenRequests)
	}
}

// TestSlowTokenEndpointFewCalls: while the token endpoint takes 1.5 s to
// answer, the host makes no call into the guest: only the HTTP answer
// wakes it (a poll every few ms would make hundreds).
func TestSlowTokenEndpointFewCalls(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 1500, Times: 1})
	before := p.Stats()
	start := time.Now()
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Fatalf("the token came after %v, before the endpoint answered", d)
	}
	after := p.Stats()
	calls, steps := after.ExportCalls-before.ExportCalls, after.Steps-before.Steps
	t.Logf("%d export calls (%d zb_step) over the wait", calls, steps)
	if calls > 4 || steps != 0 {
		t.Fatalf("%d export calls, %d of them zb_step, while waiting on the HTTP answer", calls, steps)
	}
}

// TestRetryWakesOnTime: a 503 with Retry-After: 1 makes the core wait a
// second on a guest timer before trying again; the host calls in when it
// is due (a step or two), not on a schedule of its own, and not only when
// the token request's timeout ends.
func TestRetryWakesOnTime(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	cl.AddFault(devcluster.Fault{Target: "token", Status: 503, RetryAfter: "1", Times: 1})
	before := p.Stats()
	start := time.Now()
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	steps := p.Stats().Steps - before.Steps
	t.Logf("token after %v, %d zb_step calls", d, steps)
	if d < time.Second || d > 3*time.Second {
		t.Fatalf("the retry came after %v, want about a second", d)
	}
	if steps < 1 || steps > 4 {
		t.Fatalf("%d zb_step calls for one back-off timer", steps)
	}
	if st := cl.Stats(); st.TokenRequests != 2 {
		t.Fatalf("%d token requests, want 2", st.TokenRequests)
	}
}

// TestUnnotedTimerStillFires: a guest timer nobody noted (no deadline
// known, no HTTP request outstanding) is caught by the guest's short
// poll, so a host cannot hang on it; the poll only runs then.
func TestUnnotedTimerStillFires(t *testing.T) {
	p := load(t, testModule)
	c := newClient(t, p, []byte(`{"client_id":"a","client_secret":"b","authorization_server_url":"http://127.0.0.1:1/token","rest_address":"http://127.0.0.1:1"}`))
	before := p.Stats()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := testOp(ctx, c, "zbtest_unnoted"); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	steps := p.Stats().Steps - before.Steps
	t.Logf("the unnoted 300 ms timer ended after %v, %d zb_step calls", d, steps)
	if d > 2*time.Second || steps < 3 {
		t.Fatalf("after %v with %d steps: the poll did not drive the guest", d, steps)
	}
}

// TestRefusesOtherABIVersion: a module that reports version 2 is refused
// with both numbers named.
func TestRefusesOtherABIVersion(t *testing.T) {
	fns := abiFuncs()
	for i := range fns {
		if fns[i].name == "zb_abi_version" {
			fns[i].ret = 2
		}
	}
	_, err := Load(context.Background(), tinyModule(true, nil, fns), WithEnv(map[string]string{}))
	e := asCoreError(t, err)
	if e.Kind != core.KindConfig || !strings.Contains(err.Error(), "ABI version 2, this host 3") {
		t.Fatalf("want a CONFIG error naming versions 2 and 3, got %v", err)
	}
	if ABIVersion != 3 {
		t.Fatalf("this host speaks ABI %d", ABIVersion)
	}
}
