package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zbauth/zbauth/bench/internal/harness"
	"github.com/zbauth/zbauth/bench/internal/result"
)

// topology measures every peer, the C library too (through `cbench
// serve`, a child process), in small slices taken in turn — 20 sequential
// calls, or 64 workers for a fifth of the time — with the order rotated
// from slice to slice, so that all of them, and the floor they are
// compared with, see the same background load.
func topology(cl *harness.Cluster, p params) error {
	names := append(append([]string(nil), harness.TopoPeers...), "zbauth-do")
	cprog, lib := beside(*cbench, "cbench"), stagedLib()
	if why := cWhy(); why == "" {
		names = append(names, "c", "c-async")
	} else {
		for _, n := range []string{"topology sequential", "topology 64 workers"} {
			set.Get(result.Row{Surface: "c", Name: n, Unit: "calls/s"}).Note = why
		}
	}
	for r := 0; r < p.runs; r++ {
		if err := topologyRun(cl, names, cprog, lib, p); err != nil {
			return err
		}
	}
	return nil
}

// A topoRunner makes topology calls for one peer.
type topoRunner interface {
	// seq makes n sequential calls and returns their latencies in µs.
	seq(n int) ([]float64, error)
	// par runs workers callers for about d and returns the calls made and
	// the time taken.
	par(workers int, d time.Duration) (int64, time.Duration, error)
	close()
}

func topologyRun(cl *harness.Cluster, names []string, cprog, lib string, p params) error {
	runners := map[string]topoRunner{}
	defer func() {
		for _, r := range runners {
			r.close()
		}
	}()
	for _, n := range names {
		var r topoRunner
		var err error
		if n == "c" || n == "c-async" {
			mode := "serve"
			if n == "c-async" {
				mode = "serve-async"
			}
			r, err = startC(cl, cprog, lib, mode)
		} else {
			r, err = newGoRunner(cl, n)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		runners[n] = r
	}
	const chunk = 20
	lat := map[string][]float64{}
	for k := 0; k < (p.seqCalls+chunk-1)/chunk; k++ {
		for _, n := range rotate(names, k) {
			l, err := runners[n].seq(chunk)
			if err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			lat[n] = append(lat[n], l...)
		}
	}
	const slices = 5
	calls := map[string]int64{}
	took := map[string]time.Duration{}
	for k := 0; k < slices; k++ {
		for _, n := range rotate(names, k) {
			c, d, err := runners[n].par(64, p.workersFor/slices)
			if err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			calls[n] += c
			took[n] += d
		}
	}
	for _, n := range names {
		var sum float64
		for _, v := range lat[n] {
			sum += v
		}
		addTopologyRows(n, float64(len(lat[n]))/(sum/1e6), percentile(lat[n], 50), percentile(lat[n], 99),
			float64(calls[n])/took[n].Seconds())
	}
	return nil
}

type goRunner struct{ peer *harness.TopoPeer }

func newGoRunner(cl *harness.Cluster, name string) (*goRunner, error) {
	peer, err := cl.NewTopoPeer(name)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	for i := 0; i < 50; i++ { // token, connection, warm code paths
		if err := peer.Get(ctx); err != nil {
			peer.Close()
			return nil, err
		}
	}
	return &goRunner{peer}, nil
}

func (g *goRunner) seq(n int) ([]float64, error) {
	ctx := context.Background()
	lat := make([]float64, n)
	for i := range lat {
		t := time.Now()
		if err := g.peer.Get(ctx); err != nil {
			return nil, err
		}
		lat[i] = float64(time.Since(t).Nanoseconds()) / 1e3
	}
	return lat, nil
}

func (g *goRunner) par(n int, d time.Duration) (int64, time.Duration, error) {
	var stop atomic.Bool
	var count, failed atomic.Int64
	var wg sync.WaitGroup
	ctx := context.Background()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if g.peer.Get(ctx) != nil {
					failed.Add(1)
				}
				count.Add(1)
			}
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return 0, 0, fmt.Errorf("%d calls failed", f)
	}
	return count.Load(), time.Since(t0), nil
}

func (g *goRunner) close() { g.peer.Close() }

// addTopologyRows records the four topology figures of a surface; every
// one is compared with the floor's.
func addTopologyRows(peer string, seq, p50, p99, par float64) {
	surface, suffix := surfaceOf[peer], ""
	switch peer {
	case "zbauth-do":
		suffix = " (Do: body not parsed)"
	case "c-async":
		suffix = " (_async calls)"
	}
	seqRow := result.Row{Surface: surface, Name: "topology sequential" + suffix, Unit: "calls/s"}
	p50Row := result.Row{Surface: surface, Name: "topology p50" + suffix, Unit: "µs"}
	p99Row := result.Row{Surface: surface, Name: "topology p99" + suffix, Unit: "µs"}
	parRow := result.Row{Surface: surface, Name: "topology 64 workers" + suffix, Unit: "calls/s"}
	if surface != "go-floor" {
		for _, r := range []*result.Row{&seqRow, &p50Row, &p99Row, &parRow} {
			r.Baseline = "go-floor/" + strings.TrimSuffix(r.Name, suffix)
		}
	}
	if peer == "c-async" {
		seqRow.Note = "each call started with zbauth_client_topology_async, then waited for"
		parRow.Note = "64 calls in flight from one thread; each callback starts the next call"
	}
	// The targets ("within N%" of the floor) come from the report's table,
	// for the rows without a suffix; the others are other ways of calling.
	if surface == "c" && suffix == "" {
		parRow.Note = "64 threads sharing one client (cbench serve)"
	}
	addRows(seqRow, p50Row, p99Row, parRow, seq, p50, p99, par)
}

func addRows(seqRow, p50Row, p99Row, parRow result.Row, seq, p50, p99, par float64) {
	set.Add(seqRow, seq)
	set.Add(p50Row, p50)
	set.Add(p99Row, p99)
	set.Add(parRow, par)
}

func percentile(xs []float64, p float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
