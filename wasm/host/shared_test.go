package host

import (
	"context"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// TestSharedWorkOutlivesItsCallers: the token request is shared work.
// When every caller waiting on it has left, the guest does not abort it
// (no http_abort): the host keeps driving the instance, the token arrives
// and is cached, and the next call gets it without a token request. A
// REST request is its caller's own: it is aborted when its caller leaves.
func TestSharedWorkOutlivesItsCallers(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 600, Times: 1})

	// Two callers, both gone before the token arrives.
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		_, err := c.Topology(ctx)
		cancel()
		if e := asCoreError(t, err); e.Kind != core.KindTimeout {
			t.Fatalf("want TIMEOUT, got %v", err)
		}
	}
	eventually(t, 5*time.Second, "the token request to complete", func() bool { return p.Stats().InFlight == 0 })
	if st := p.Stats(); st.Aborted != 0 || st.HTTPRequests != 1 {
		t.Fatalf("stats %+v: want the one token request, not aborted", st)
	}
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Fatalf("%d token requests: the fetched token was not cached", n)
	}

	// The REST request of a caller who leaves (cancels: a deadline would
	// also bound the host's request, which could end it first) is aborted.
	cl.AddFault(devcluster.Fault{Target: "api", DelayMS: 2000, Times: 1})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	if _, err := c.Topology(ctx); core.KindOf(err) != core.KindTimeout {
		t.Fatalf("want TIMEOUT, got %v", err)
	}
	if st := p.Stats(); st.Aborted != 1 || st.HTTPRequests != 2 {
		t.Fatalf("stats %+v: want the REST request aborted", st)
	}
}
