package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zbauth/zbauth/bench/internal/harness"
	"github.com/zbauth/zbauth/bench/internal/result"
)

// delayTag names a variant with every token response delayed ms ("": none).
func delayTag(ms int) string {
	if ms <= 0 {
		return ""
	}
	return fmt.Sprintf(" (token endpoint +%d ms)", ms)
}

func coldBurst(cl *harness.Cluster, p params) error {
	var names []string
	for _, delay := range p.burstVariants {
		tag := delayTag(delay)
		names = append(names, "cold: single caller"+tag, "cold burst: token requests"+tag, "cold burst: time to all"+tag)
	}
	peers := tokenPeersFor(names...)
	for _, delay := range p.burstVariants {
		tag := delayTag(delay)
		for r := 0; r < p.runs; r++ {
			for _, name := range rotate(peers, r) {
				if err := coldOnce(cl, name, delay, tag, p.burst); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
		}
	}
	return nil
}

func coldOnce(cl *harness.Cluster, name string, delay int, tag string, n int) error {
	surface := surfaceOf[name]
	prepare := func() error {
		if err := cl.Reset(); err != nil {
			return err
		}
		if delay > 0 {
			return cl.AddFault(harness.Fault{Target: "token", DelayMS: delay})
		}
		return nil
	}
	// One caller, empty cache: the time of a single token request (new
	// connection included, as in the burst).
	if err := prepare(); err != nil {
		return err
	}
	single, err := newTokenPeer(cl, name)
	if err != nil {
		return err
	}
	var one time.Duration
	if single.timed != nil {
		one, err = single.timed()
	} else {
		t0 := time.Now()
		err = single.tok(context.Background())
		one = time.Since(t0)
	}
	single.close()
	if err != nil {
		return err
	}
	// n callers released at once on an empty cache.
	if err := prepare(); err != nil {
		return err
	}
	peer, err := newTokenPeer(cl, name)
	if err != nil {
		return err
	}
	var all, released time.Duration
	var failed int
	if peer.burst != nil {
		all, failed, err = peer.burst(n)
	} else {
		all, failed = burst(peer.tok, n)
	}
	if err == nil && peer.release != nil && delay == 0 {
		released, err = peer.release(n)
	}
	peer.close()
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d callers failed", failed, n)
	}
	st, err := cl.Stats()
	if err != nil {
		return err
	}
	singleRow := result.Row{Surface: surface, Name: "cold: single caller" + tag, Unit: "ms"}
	reqRow := result.Row{Surface: surface, Name: "cold burst: token requests" + tag, Unit: "requests",
		Note: fmt.Sprintf("%d concurrent callers, empty cache", n)}
	switch name {
	case "c-tokens":
		reqRow.Note = fmt.Sprintf("%d C threads released at once (each had already called into the library once), empty cache", n)
	case "wasm":
		reqRow.Note = fmt.Sprintf("%d goroutines calling one client of zbauth.wasm (wazero), empty cache", n)
	}
	allRow := result.Row{Surface: surface, Name: "cold burst: time to all" + tag, Unit: "ms",
		Baseline: singleRow.Name, Note: fmt.Sprintf("until all %d callers have a token; ratio vs the same library's single caller", n)}
	set.Add(singleRow, ms(one))
	set.Add(reqRow, float64(st.TokenRequests))
	set.Add(allRow, ms(all))
	if released > 0 {
		set.Add(result.Row{Surface: surface, Name: "cold burst: releasing the callers alone", Unit: "ms",
			Note: fmt.Sprintf("%d threads released from the same barrier, making no call: what waking them costs on this machine, whatever the library", n)}, ms(released))
	}
	return nil
}

// burst releases n goroutines at once, each calling f, and returns the
// time until the last one returned.
func burst(f func(context.Context) error, n int) (time.Duration, int) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var t0 time.Time
	ends := make([]time.Duration, n)
	var failed atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			if f(ctx) != nil {
				failed.Add(1)
			}
			ends[i] = time.Since(t0)
		}()
	}
	ready.Wait()
	time.Sleep(20 * time.Millisecond) // let every caller park on start
	t0 = time.Now()
	close(start)
	done.Wait()
	var max time.Duration
	for _, d := range ends {
		if d > max {
			max = d
		}
	}
	return max, int(failed.Load())
}
