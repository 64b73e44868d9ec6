package core_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/corehook"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// joinToken is the hook the C library waits by (corehook.JoinToken).
func joinToken(c *core.Client, cb func(string, error)) (string, bool, error) {
	return corehook.JoinToken(c, cb)
}

// JoinToken: 1,000 callers on an empty cache share one token request, and
// each callback is called exactly once with its token; with the token
// cached, the answer comes back at once and no callback is called.
func TestJoinTokenSharesOneRequest(t *testing.T) {
	cl, c := clusterClient(t)
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 100, Times: 1})
	const n = 1000
	var wg sync.WaitGroup
	var calls atomic.Int32
	toks := make([]string, n)
	wg.Add(n)
	for i := range n {
		tok, pending, err := joinToken(c, func(tok string, err error) {
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
			calls.Add(1)
			wg.Done()
		})
		if !pending {
			t.Fatalf("caller %d: answered at once (%v) on an empty cache", i, err)
		}
		_ = tok
	}
	wg.Wait()
	if calls.Load() != n {
		t.Fatalf("callbacks = %d, want %d", calls.Load(), n)
	}
	for i := range toks {
		if toks[i] == "" || toks[i] != toks[0] {
			t.Fatalf("caller %d got another token", i)
		}
	}
	tok, pending, err := joinToken(c, func(string, error) { t.Error("callback called for a cached token") })
	if pending || err != nil || tok != toks[0] {
		t.Fatalf("cached: %v, pending %v (same token: %v)", err, pending, tok == toks[0])
	}
	if r := cl.Stats().TokenRequests; r != 1 {
		t.Fatalf("token requests = %d, want 1", r)
	}
	c.Close()
	if _, pending, err := joinToken(c, func(string, error) {}); pending || core.KindOf(err) != core.KindArgument {
		t.Fatalf("after Close: %v, pending %v", err, pending)
	}
}

// A refusal reaches the joined callbacks, and during its cooldown the next
// caller gets it at once, without a callback or a request.
func TestJoinTokenRefusal(t *testing.T) {
	cl, c := clusterClient(t)
	cl.AddFault(devcluster.Fault{Target: "token", Status: 401, Body: `{"error":"invalid_client"}`, Times: 1})
	done := make(chan error, 1)
	// A refusal that arrives before Join has registered the callback is
	// answered at once instead; either way, once and as AUTH.
	if _, pending, err := joinToken(c, func(_ string, err error) { done <- err }); !pending {
		done <- err
	}
	select {
	case err := <-done:
		if core.KindOf(err) != core.KindAuth {
			t.Fatalf("callback got %v, want AUTH", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("callback not called")
	}
	if _, pending, err := joinToken(c, func(string, error) { t.Error("callback called in the cooldown") }); pending || core.KindOf(err) != core.KindAuth {
		t.Fatalf("in the cooldown: %v, pending %v", err, pending)
	}
	if r := cl.Stats().TokenRequests; r != 1 {
		t.Fatalf("token requests = %d, want 1", r)
	}
}
