package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zbauth/zbauth/bench/internal/harness"
	"github.com/zbauth/zbauth/bench/internal/result"
)

// refreshStall gives each library a token whose refresh window opens a
// second or two later, delays every token response, and has 64 callers
// (each calling about every millisecond) ask for a token from before the
// window opens until the refresh has finished: the longest any call took
// is the stall. zbauth's window is the end of the token's life (its last
// quarter, less a clock-skew allowance), so it gets a 4 s token and the
// callers start at 2 s; x/oauth2 and zbc treat a token as expired 10 s
// before its expiry, so theirs lives 12 s and the callers start at 1 s.
// No token expires during the test.
//
// The floor is a token fetched once and never refreshed (the hand-made
// single flight of the cold burst), watched for as long: its longest wait
// is what the machine and the harness add to any call.
func refreshStall(cl *harness.Cluster, p params) error {
	tag := delayTag(int(p.stallDelay / time.Millisecond))
	peers := tokenPeersFor("refresh stall: longest wait"+tag, "refresh stall: calls blocked"+tag)
	for r := 0; r < p.runs; r++ {
		for _, name := range rotate(peers, r) {
			if err := stallOnce(cl, name, p); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return nil
}

func stallOnce(cl *harness.Cluster, name string, p params) error {
	// enter: surely before the window opens (x/oauth2, zbc: at life-10s;
	// zbauth: not before half the lifetime).
	life := p.stallLifeX
	enter := (life - 10*time.Second) / 2
	switch name {
	case "zbauth", "c-tokens", "wasm": // zbauth's core
		life = p.stallLifeZ
		enter = life / 2
	case "floor":
		enter = 0
	}
	if err := cl.Reset(); err != nil {
		return err
	}
	if err := cl.SetTokenLifetime(life); err != nil {
		return err
	}
	peer, err := newTokenPeer(cl, name)
	if err != nil {
		return err
	}
	defer peer.close()
	filled := time.Now()
	if err := peer.tok(context.Background()); err != nil {
		return err
	}
	if err := cl.AddFault(harness.Fault{Target: "token", DelayMS: int(p.stallDelay / time.Millisecond)}); err != nil {
		return err
	}
	time.Sleep(time.Until(filled.Add(enter)))
	before, err := cl.Stats()
	if err != nil {
		return err
	}
	// Stop once a new token has been issued (the refresh is over) and a
	// little more; the floor, which never refreshes, is watched for as
	// long as a refresh takes.
	stop := make(chan struct{})
	refreshed := make(chan error, 1)
	go func() {
		if name == "floor" {
			time.Sleep(p.stallWatch)
			close(stop)
			refreshed <- nil
			return
		}
		limit := time.Now().Add(life - enter)
		for time.Now().Before(limit) {
			time.Sleep(10 * time.Millisecond)
			if st, err := cl.Stats(); err == nil && st.TokensIssued > before.TokensIssued {
				time.Sleep(p.stallDelay / 5)
				close(stop)
				refreshed <- nil
				return
			}
		}
		close(stop)
		refreshed <- errors.New("no refresh happened before the token expired")
	}()
	var worst time.Duration
	var blocked, n, failed int
	if peer.watch != nil {
		worst, blocked, n, failed, err = peer.watch(64, stop, p.stallDelay/2)
	} else {
		worst, blocked, n, failed = watch(peer.tok, 64, stop, p.stallDelay/2)
	}
	watched := time.Since(filled.Add(enter))
	if rerr := <-refreshed; rerr != nil {
		return rerr
	}
	if err != nil {
		return err
	}
	if err := cl.ClearFaults(); err != nil {
		return err
	}
	after, err := cl.Stats()
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d calls failed", failed, n)
	}
	surface := surfaceOf[name]
	tag := delayTag(int(p.stallDelay / time.Millisecond))
	row := result.Row{Surface: surface, Name: "refresh stall: longest wait" + tag, Unit: "ms",
		Note: "64 callers, one call per ms each, from before the refresh window opens until the refresh is over"}
	set.Add(row, ms(worst))
	set.Add(result.Row{Surface: surface, Name: "refresh stall: calls blocked" + tag, Unit: "calls",
		Note: fmt.Sprintf("calls that took at least half the delay (%v)", p.stallDelay/2)}, float64(blocked))
	set.Add(result.Row{Surface: surface, Name: "refresh stall: calls made" + tag, Unit: "calls"}, float64(n))
	set.Add(result.Row{Surface: surface, Name: "refresh stall: time watched" + tag, Unit: "ms"}, ms(watched))
	set.Add(result.Row{Surface: surface, Name: "refresh stall: token requests" + tag, Unit: "requests"},
		float64(after.TokenRequests-before.TokenRequests))
	return nil
}

// watch runs callers goroutines, each calling f about once a millisecond
// until stop, and returns the longest single call, the number of calls
// that took at least slow, and the number of calls and failures.
func watch(f func(context.Context) error, callers int, stop <-chan struct{}, slow time.Duration) (time.Duration, int, int, int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var worst time.Duration
	var n, failed, blocked int
	ctx := context.Background()
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w time.Duration
			var k, bad, slowCalls int
			for {
				select {
				case <-stop:
					mu.Lock()
					if w > worst {
						worst = w
					}
					n += k
					failed += bad
					blocked += slowCalls
					mu.Unlock()
					return
				default:
				}
				t := time.Now()
				if f(ctx) != nil {
					bad++
				}
				e := time.Since(t)
				if e > w {
					w = e
				}
				if e >= slow {
					slowCalls++
				}
				k++
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	return worst, blocked, n, failed
}
