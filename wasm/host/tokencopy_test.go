package host

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
	"github.com/zbauth/zbauth/internal/tokenrule"
)

// tokenWhileBusy calls c.Token while the instance lock is held, as it is
// during any export (a slow guest, its garbage collector), and returns
// what it got; it fails the test when Token waited for the lock.
func tokenWhileBusy(t *testing.T, p *Plugin, c *Client) string {
	t.Helper()
	type got struct {
		tok string
		err error
	}
	ch := make(chan got, 1)
	p.mu.Lock()
	go func() {
		tok, err := c.Token(context.Background())
		ch <- got{tok, err}
	}()
	var g got
	select {
	case g = <-ch:
	case <-time.After(5 * time.Second):
		p.mu.Unlock()
		<-ch
		t.Fatal("a cached token waited for the instance")
	}
	p.mu.Unlock()
	if g.err != nil {
		t.Fatal(g.err)
	}
	return g.tok
}

// TestTokenCopy: the host answers a cached token from its copy of the
// guest's cache (token_report), without the instance; the copy follows the
// cache through a refresh, and goes with the instance after a trap.
func TestTokenCopy(t *testing.T) {
	// expires_in 4 s: refreshed in the background from 3 s on.
	cl := cluster(t, devcluster.Options{TokenLifetime: 4 * time.Second})
	p := load(t, testModule)
	c := newClient(t, p, configFor(cl, ""))
	ctx := context.Background()
	t0 := time.Now()
	first, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok := tokenWhileBusy(t, p, c); tok != first {
		t.Fatal("the copy is not the cached token")
	}
	calls := p.Stats().TokenCalls
	for i := 0; i < 100; i++ {
		if tok, err := c.Token(ctx); err != nil || tok != first {
			t.Fatalf("cached call %d: %v", i, err)
		}
	}
	if n := p.Stats().TokenCalls - calls; n != 0 {
		t.Fatalf("100 cached tokens made %d zb_token calls", n)
	}

	// In the refresh window, one caller asks the guest, which returns the
	// cached token and starts the (slow) refresh; while it runs, the copy
	// is fresh again and nobody else asks.
	time.Sleep(time.Until(t0.Add(3300 * time.Millisecond)))
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 1500, Times: 1})
	if tok, err := c.Token(ctx); err != nil || tok != first {
		t.Fatalf("in the refresh window: %v, same token %v", err, tok == first)
	}
	if tok := tokenWhileBusy(t, p, c); tok != first {
		t.Fatal("during the refresh the copy changed before the new token came")
	}
	eventually(t, 10*time.Second, "the refreshed token in the copy", func() bool {
		tok, err := c.Token(ctx)
		return err == nil && tok != first
	})
	second := tokenWhileBusy(t, p, c)
	if second == first {
		t.Fatal("the copy still holds the old token")
	}
	if n := cl.Stats().TokenRequests; n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}

	// A trap loses the guest's cache; the copy goes with it, so the client
	// recreated on the next instance gets a token of its own.
	p.mu.Lock()
	_, err = p.inst.callRaw(p.inst.mod.ExportedFunction("zbtest_trap"))
	p.mu.Unlock()
	if err == nil {
		t.Fatal("zbtest_trap did not trap")
	}
	third, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if third == second || cl.Stats().TokenRequests != 3 {
		t.Fatalf("after the trap: new token %v, %d token requests (want 3)", third != second, cl.Stats().TokenRequests)
	}

	// A closed client gets no token from its copy.
	c.Close()
	if _, err := c.Token(ctx); err == nil {
		t.Fatal("a closed client returned a token")
	}
}

// TestTokenFlight: callers with no token share one zb_token call, which
// no caller's deadline ends for the others: the one that gives up first
// gets a TIMEOUT, and the rest still get the token of the guest's one
// request.
func TestTokenFlight(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 1500, Times: 1})

	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	first := make(chan error, 1)
	go func() { _, err := c.Token(short); first <- err }()
	eventually(t, 5*time.Second, "the token request in flight", func() bool { return p.Stats().InFlight == 1 })

	const n = 50
	got := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			tok, err := c.Token(context.Background())
			if err == nil && tok == "" {
				err = errors.New("an empty token")
			}
			got <- err
		}()
	}
	if err := <-first; core.KindOf(err) != core.KindTimeout {
		t.Fatalf("the caller with 300 ms got %v, want a TIMEOUT", err)
	}
	for i := 0; i < n; i++ {
		if err := <-got; err != nil {
			t.Fatalf("a caller without a deadline: %v", err)
		}
	}
	st := p.Stats()
	if st.TokenCalls != 1 {
		t.Fatalf("%d zb_token calls for %d callers, want 1", st.TokenCalls, n+1)
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
}

// TestTokenCopyRuleTable: the copy hands out what the shared table of the
// core's rule says, and in the usable window sends one caller at a time to
// the guest.
func TestTokenCopyRuleTable(t *testing.T) {
	cases, err := tokenrule.Read(filepath.Join("..", "..", "testdata", "tokenrule.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range cases {
		var c tokenCopy
		if k.HasToken {
			c.cur.Store(&tokenrule.Snapshot{Value: "tok", FreshUntil: k.Fresh, UsableUntil: k.Usable})
		}
		tok, ok, ask := c.getAt(k.Now)
		switch k.Want {
		case "fresh":
			if !ok || ask || tok != "tok" {
				t.Errorf("line %d: got (%v, %v), want the token", k.Line, ok, ask)
			}
		case "usable":
			if ok || !ask {
				t.Errorf("line %d: first caller got (%v, %v), want it sent to ask", k.Line, ok, ask)
			}
			if tok, ok, ask := c.getAt(k.Now); !ok || ask || tok != "tok" {
				t.Errorf("line %d: second caller got (%v, %v), want the token", k.Line, ok, ask)
			}
			c.asked()
			if _, ok, ask := c.getAt(k.Now); ok || !ask {
				t.Errorf("line %d: after asked, got (%v, %v), want the next caller sent to ask", k.Line, ok, ask)
			}
		case "ask":
			if ok || ask {
				t.Errorf("line %d: got (%v, %v), want to ask the guest", k.Line, ok, ask)
			}
		}
	}
}

// TestTokenCopyBeyondTheCap: a token without expiry reaches the host with
// its deadlines capped (i32 milliseconds, about 24 days). When the host's
// copy runs out there while the guest's token stands, one zb_token call
// has the guest report it again, and the copy serves it once more.
func TestTokenCopyBeyondTheCap(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	cl.AddFault(devcluster.Fault{Target: "token", Status: 200, Body: `{"access_token":"no-expiry-token","token_type":"Bearer"}`, Times: 1})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	ctx := context.Background()
	tok, err := c.Token(ctx)
	if err != nil || tok != "no-expiry-token" {
		t.Fatalf("Token = %q, %v", tok, err)
	}
	s := c.token.cur.Load()
	if s == nil || s.UsableUntil-tokenrule.Monotonic() < int64(24*24*time.Hour) {
		t.Fatalf("the copy after the first token: %+v; want about 24 days", s)
	}
	// As if the 24 days had passed: the copy is spent, the guest's token is not.
	now := tokenrule.Monotonic()
	c.token.cur.Store(&tokenrule.Snapshot{Value: s.Value, FreshUntil: now - 1, UsableUntil: now - 1})
	calls := p.Stats().TokenCalls
	for range 100 {
		if tok, err := c.Token(ctx); err != nil || tok != "no-expiry-token" {
			t.Fatalf("Token = %q, %v", tok, err)
		}
	}
	if n := p.Stats().TokenCalls - calls; n != 1 {
		t.Errorf("%d zb_token calls for 100 tokens after the copy ran out; want 1", n)
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}
