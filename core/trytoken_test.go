package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// TryToken never waits: with nothing cached it starts the request and says
// so; the caller that then waits with Token shares that same request.
func TestTryTokenStartsTheRequest(t *testing.T) {
	cl, c := clusterClient(t)
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 200, Times: 1})
	if _, err := c.TryToken(); err != core.ErrWouldBlock {
		t.Fatalf("TryToken with nothing cached = %v, want ErrWouldBlock", err)
	}
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.TryToken(); err != nil || got != tok {
		t.Fatalf("TryToken after Token = %q, %v; want the cached token", got, err)
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Fatalf("token requests = %d, want 1", n)
	}
}

// A request that TryToken started and that failed before anyone waited is
// not lost: the next waiter gets its error at once instead of a second
// request a second later.
func TestFailureOfABackgroundRequestReachesTheNextWaiter(t *testing.T) {
	cl, c := clusterClient(t)
	cl.AddFault(devcluster.Fault{Target: "token", Status: 200, Body: "{not json", Times: 1})
	if _, err := c.TryToken(); err != core.ErrWouldBlock {
		t.Fatalf("TryToken = %v, want ErrWouldBlock", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for cl.Stats().TokenRequests == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the failure land
	_, err := c.Token(context.Background())
	if core.KindOf(err) != core.KindAuth {
		t.Fatalf("Token after a failed background request = %v, want that AUTH error", err)
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Fatalf("token requests = %d, want 1", n)
	}
}
