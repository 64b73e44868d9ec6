// Command measure takes the benchmark measurements that testing.B cannot:
// cold burst, refresh stall, topology latency and throughput, resident
// memory and process start-up, for zbauth and its peers. It writes rows in
// the format of bench/README.md.
//
//	measure [-quick] [-runs N] [-only cold,stall,topology,rss,startup] [-root DIR] [-out FILE]
//
// It runs beside rsschild and cbench (build/bench-bin/; -rsschild and
// -cbench name them elsewhere). Memory is measured in 3 runs and start-up
// in 10, whatever -runs says.
//
// Run it under `zbauth dev-cluster --` (as `make bench-go` does) so that it
// measures against the same out-of-process dev cluster as the other
// surfaces; without ZBAUTH_DEV_URL it starts an embedded one. All traffic
// stays on loopback. Nothing here fails on a timing: only errors fail.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zbauth/zbauth/bench/internal/harness"
	"github.com/zbauth/zbauth/bench/internal/result"
	"github.com/zbauth/zbauth/bench/internal/zbcpeer"
	"github.com/zbauth/zbauth/wasm/host"
)

var (
	quick    = flag.Bool("quick", false, "a smoke run: one short run of everything")
	runs     = flag.Int("runs", 5, "runs of each measurement")
	only     = flag.String("only", "", "comma-separated sections to run (cold,stall,topology,rss,startup); default all")
	root     = flag.String("root", "..", "the repository root (for bin/, build/ and bindings/)")
	out      = flag.String("out", "", "write the rows here (JSON); default stdout")
	rsschild = flag.String("rsschild", "", "the rsschild program (default: beside this one)")
	cbench   = flag.String("cbench", "", "the C benchmark program (default: beside this one)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}

type params struct {
	runs          int
	burst         int
	stallLifeZ    time.Duration // zbauth's token lifetime in the stall test
	stallLifeX    time.Duration // x/oauth2's and zbc's
	stallDelay    time.Duration
	stallWatch    time.Duration // how long the floor is watched
	seqCalls      int
	workersFor    time.Duration
	rssCalls      int
	rssRuns       int
	startupRuns   int
	burstVariants []int
}

func paramsFor(quick bool, runs int) params {
	if quick {
		return params{runs: 1, burst: 1000, stallLifeZ: 2 * time.Second, stallLifeX: 11 * time.Second,
			stallDelay: 100 * time.Millisecond, stallWatch: 300 * time.Millisecond,
			seqCalls: 200, workersFor: 200 * time.Millisecond, rssCalls: 300, rssRuns: 1, startupRuns: 1,
			burstVariants: []int{0}}
	}
	return params{runs: runs, burst: 1000, stallLifeZ: 4 * time.Second, stallLifeX: 12 * time.Second,
		stallDelay: 500 * time.Millisecond, stallWatch: 1500 * time.Millisecond,
		seqCalls: 2000, workersFor: time.Second, rssCalls: 10000, rssRuns: 3, startupRuns: 10,
		burstVariants: []int{0, 50}}
}

var set result.Set

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "measure: "+format+"\n", args...) }

func run() error {
	p := paramsFor(*quick, *runs)
	cl, err := harness.Connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	if cl.Embedded {
		logf("no ZBAUTH_DEV_URL: using an embedded dev cluster at %s", cl.DevURL)
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}
	do := func(name string, f func(*harness.Cluster, params) error) error {
		if len(want) > 0 && !want[name] {
			return nil
		}
		start := time.Now()
		sampleLoad()
		err := f(cl, p)
		logf("%s done in %.1fs", name, time.Since(start).Seconds())
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return cl.Reset()
	}
	for _, s := range []struct {
		name string
		f    func(*harness.Cluster, params) error
	}{
		{"cold", coldBurst}, {"stall", refreshStall}, {"topology", topology}, {"rss", rss}, {"startup", startup},
	} {
		if err := do(s.name, s.f); err != nil {
			return err
		}
	}
	if *out == "" {
		b, _ := json.MarshalIndent(set.Rows, "", "  ")
		fmt.Println(string(b))
		return nil
	}
	return result.Write(*out, set.Rows)
}

// sampleLoad records the 1-minute load average: figures taken on a busy
// machine are noisy, and the report says so.
func sampleLoad() {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return
	}
	if v, err := strconv.ParseFloat(f[0], 64); err == nil {
		set.Add(result.Row{Surface: "machine", Name: "load average (1 min) during the Go measurements", Unit: ""}, v)
	}
}

// beside returns the program name beside this one, unless flagged.
func beside(flagged, name string) string {
	if flagged != "" {
		return flagged
	}
	exe, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(exe), name)
}

// ---- the peers ---------------------------------------------------------

// A token peer is a fresh client of one library; tok is its token call.
// The C peer's callers are threads of its own process: it sets timed (one
// call, timed there), burst and watch, which then replace the goroutines
// of this process.
type tokenPeer struct {
	tok   func(ctx context.Context) error
	close func()
	timed func() (time.Duration, error)
	burst func(n int) (time.Duration, int, error)
	// release, when set, times releasing n callers that make no call: the
	// part of a burst's time no library can save.
	release func(n int) (time.Duration, error)
	watch   func(callers int, stop <-chan struct{}, slow time.Duration) (worst time.Duration, blocked, n, failed int, err error)
}

// The token peers, and the floor: a hand-made single flight (cold burst)
// or a token that is never refreshed (refresh stall). tokenPeersFor adds
// the C library and the Wasm plugin when they are built.
var tokenPeers = []string{"zbauth", "xoauth2", "zbc", "floor"}

var surfaceOf = map[string]string{"zbauth": "go", "zbauth-do": "go", "xoauth2": "go-xoauth2", "zbc": "go-zbc", "floor": "go-floor", "c": "c", "c-async": "c", "c-tokens": "c", "wasm": "wasm"}

// tokenPeersFor returns the token peers to measure: the Go ones, and C and
// Wasm when built (otherwise their rows say "not built").
func tokenPeersFor(names ...string) []string {
	peers := append([]string(nil), tokenPeers...)
	for _, extra := range []struct{ name, why string }{
		{"c-tokens", cWhy()},
		{"wasm", missing(wasmModule(), "make wasm")},
	} {
		if extra.why == "" {
			peers = append(peers, extra.name)
			continue
		}
		for _, n := range names {
			set.Get(result.Row{Surface: surfaceOf[extra.name], Name: n}).Note = extra.why
		}
	}
	return peers
}

// cWhy says why the C library cannot be measured ("": it can).
func cWhy() string {
	return missing(beside(*cbench, "cbench"), "make bench-tools") + missing(stagedLib(), "make lib")
}

func wasmModule() string {
	abs, _ := filepath.Abs(filepath.Join(*root, "build", "zbauth.wasm"))
	return abs
}

// wasmPlugin is zbauth.wasm, loaded once: each Wasm token peer is a new
// client of it (an empty cache).
var wasmPlugin struct {
	once sync.Once
	p    *host.Plugin
	err  error
}

func newWasmPeer(cl *harness.Cluster) (*tokenPeer, error) {
	wasmPlugin.once.Do(func() {
		wasmPlugin.p, wasmPlugin.err = host.LoadFile(context.Background(), wasmModule(),
			host.WithEnv(map[string]string{}), host.WithStderr(io.Discard))
	})
	if wasmPlugin.err != nil {
		return nil, wasmPlugin.err
	}
	cfg, err := json.Marshal(map[string]string{
		"client_id": cl.ClientID, "client_secret": cl.ClientSecret, "audience": cl.Audience,
		"authorization_server_url": cl.TokenURL, "rest_address": cl.RESTAddress,
	})
	if err != nil {
		return nil, err
	}
	c, err := wasmPlugin.p.NewClient(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return clientPeer(c), nil
}

// clientPeer is the token peer of a zbauth client (the Go core's, or the
// Wasm plugin's).
func clientPeer(c interface {
	Token(context.Context) (string, error)
	Close() error
}) *tokenPeer {
	return &tokenPeer{
		tok:   func(ctx context.Context) error { _, err := c.Token(ctx); return err },
		close: func() { c.Close() },
	}
}

// cBurst sends cbench a burst command and returns its answer: the time
// until the last caller was done, and how many failed.
func cBurst(c *cRunner, cmd string) (time.Duration, int, error) {
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		return 0, 0, err
	}
	f, err := c.answer("burst")
	if err != nil {
		return 0, 0, err
	}
	v, err := floats(f, 2)
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(v[0]), int(v[1]), nil
}

// newCTokenPeer starts `cbench LIB tokens`: a client with an empty cache,
// driven through cbench's token, burst and watch commands.
func newCTokenPeer(cl *harness.Cluster) (*tokenPeer, error) {
	c, err := startC(cl, beside(*cbench, "cbench"), stagedLib(), "tokens")
	if err != nil {
		return nil, err
	}
	timed := func() (time.Duration, error) {
		if _, err := fmt.Fprintln(c.in, "token"); err != nil {
			return 0, err
		}
		f, err := c.answer("token")
		if err != nil {
			return 0, err
		}
		if len(f) != 2 || f[1] != "0" {
			return 0, fmt.Errorf("cbench: the token call failed: %v", f)
		}
		ns, err := strconv.ParseFloat(f[0], 64)
		return time.Duration(ns), err
	}
	return &tokenPeer{
		tok:   func(context.Context) error { _, err := timed(); return err },
		close: c.close,
		timed: timed,
		burst: func(n int) (time.Duration, int, error) { return cBurst(c, fmt.Sprintf("burst %d", n)) },
		release: func(n int) (time.Duration, error) {
			d, _, err := cBurst(c, fmt.Sprintf("burst %d nocall", n))
			return d, err
		},
		watch: func(callers int, stop <-chan struct{}, slow time.Duration) (time.Duration, int, int, int, error) {
			if _, err := fmt.Fprintf(c.in, "watch %d %d\n", callers, slow.Milliseconds()); err != nil {
				return 0, 0, 0, 0, err
			}
			if _, err := c.answer("watching"); err != nil {
				return 0, 0, 0, 0, err
			}
			<-stop
			if _, err := fmt.Fprintln(c.in, "stop"); err != nil {
				return 0, 0, 0, 0, err
			}
			f, err := c.answer("watch")
			if err != nil {
				return 0, 0, 0, 0, err
			}
			v, err := floats(f, 4)
			if err != nil {
				return 0, 0, 0, 0, err
			}
			return time.Duration(v[0]), int(v[1]), int(v[2]), int(v[3]), nil
		},
	}, nil
}

// floats parses an answer of n numbers.
func floats(f []string, n int) ([]float64, error) {
	if len(f) != n {
		return nil, fmt.Errorf("cbench: want %d numbers, got %v", n, f)
	}
	v := make([]float64, n)
	for i, s := range f {
		var err error
		if v[i], err = strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("cbench: %v", err)
		}
	}
	return v, nil
}

func newTokenPeer(cl *harness.Cluster, name string) (*tokenPeer, error) {
	switch name {
	case "zbauth":
		c, err := cl.Zbauth()
		if err != nil {
			return nil, err
		}
		return clientPeer(c), nil
	case "floor":
		// The ideal single flight, by hand: the first caller starts one raw
		// token request, every caller waits for it on a channel.
		rt := harness.Transport()
		hc := &http.Client{Transport: rt}
		var once sync.Once
		done := make(chan struct{})
		var ferr error
		return &tokenPeer{
			tok: func(ctx context.Context) error {
				once.Do(func() {
					go func() { _, ferr = cl.FetchToken(hc); close(done) }()
				})
				select {
				case <-done:
					return ferr
				case <-ctx.Done():
					return ctx.Err()
				}
			},
			close: rt.CloseIdleConnections,
		}, nil
	case "xoauth2":
		rt := harness.Transport()
		ts := cl.XOAuth2(rt)
		return &tokenPeer{
			tok:   func(context.Context) error { _, err := ts.Token(); return err },
			close: rt.CloseIdleConnections,
		}, nil
	case "zbc":
		dir, err := os.MkdirTemp("", "zbauth-bench-zbc-")
		if err != nil {
			return nil, err
		}
		zp, err := zbcpeer.New(cl, dir)
		if err != nil {
			return nil, err
		}
		return &tokenPeer{
			// zbc's gRPC interceptor passes a new map per call, as here.
			tok: func(ctx context.Context) error { return zp.ApplyCredentials(ctx, map[string]string{}) },
			close: func() {
				http.DefaultTransport.(*http.Transport).CloseIdleConnections() // zbc uses it
				os.RemoveAll(dir)
			},
		}, nil
	case "c-tokens":
		return newCTokenPeer(cl)
	case "wasm":
		return newWasmPeer(cl)
	}
	return nil, fmt.Errorf("unknown peer %q", name)
}

// ---- 1. cold burst -----------------------------------------------------

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

// ---- 3. refresh stall --------------------------------------------------

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

// ---- 4. topology -------------------------------------------------------

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

// cRunner drives `cbench LIB serve`.
type cRunner struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer
}

// startC starts `cbench LIB mode`: serve, serve-async (the calls are
// libzbauth's _async ones: the 64 workers are then 64 calls in flight from
// one thread, each callback starting the next call), or tokens (the cold
// burst and refresh stall commands).
func startC(cl *harness.Cluster, cprog, lib, mode string) (*cRunner, error) {
	c := &cRunner{cmd: exec.Command(cprog, lib, mode)}
	c.cmd.Env = childEnv(cl)
	c.cmd.Stderr = &c.stderr
	var err error
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.out = bufio.NewReaderSize(out, 1<<16)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	if _, err := c.answer("ready"); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// answer reads one line that must start with word and returns its fields.
func (c *cRunner) answer(word string) ([]string, error) {
	line, err := c.out.ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) == 0 || f[0] != word {
		return nil, fmt.Errorf("cbench: unexpected answer %q (%v): %s", firstLine(line, ""), err, firstLine(c.stderr.String(), ""))
	}
	return f[1:], nil
}

func (c *cRunner) seq(n int) ([]float64, error) {
	if _, err := fmt.Fprintf(c.in, "seq %d\n", n); err != nil {
		return nil, err
	}
	f, err := c.answer("seq")
	if err != nil {
		return nil, err
	}
	if len(f) != n {
		return nil, fmt.Errorf("cbench: %d latencies for %d calls", len(f), n)
	}
	lat := make([]float64, n)
	for i, s := range f {
		if lat[i], err = strconv.ParseFloat(s, 64); err != nil {
			return nil, err
		}
	}
	return lat, nil
}

func (c *cRunner) par(n int, d time.Duration) (int64, time.Duration, error) {
	if _, err := fmt.Fprintf(c.in, "par %d %d\n", n, d.Milliseconds()); err != nil {
		return 0, 0, err
	}
	f, err := c.answer("par")
	if err != nil {
		return 0, 0, err
	}
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("cbench: bad par answer %v", f)
	}
	count, err1 := strconv.ParseInt(f[0], 10, 64)
	ns, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("cbench: bad par answer %v", f)
	}
	return count, time.Duration(ns), nil
}

func (c *cRunner) close() {
	fmt.Fprintln(c.in, "quit")
	c.in.Close()
	c.cmd.Wait()
}

func stagedLib() string {
	abs, _ := filepath.Abs(filepath.Join(*root, "build", "stage", "lib", "libzbauth.so"))
	return abs
}

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
	// The targets ("within N%" of the floor) come from the report's goals,
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

// ---- 5. memory ---------------------------------------------------------

// rss runs a fresh process per surface that makes N topology calls and
// reports its resident set (VmRSS) and peak (VmHWM) from /proc/self/status.
func rss(cl *harness.Cluster, p params) error {
	self := beside(*rsschild, "rsschild")
	if _, err := os.Stat(self); err != nil {
		return fmt.Errorf("the memory child: %w (go build -o %s ./cmd/rsschild)", err, self)
	}
	type surf struct {
		surface string
		cmd     func() (*exec.Cmd, string) // "" or why it is skipped
	}
	py, pyWhy := pythonCmd()
	node, nodeWhy := nodeCmd()
	n := strconv.Itoa(p.rssCalls)
	surfaces := []surf{
		{"go-floor", func() (*exec.Cmd, string) { return exec.Command(self, "floor", n), "" }},
		{"go", func() (*exec.Cmd, string) { return exec.Command(self, "zbauth", n), "" }},
		{"go-xoauth2", func() (*exec.Cmd, string) {
			return exec.Command(self, "xoauth2", n), ""
		}},
		{"python", func() (*exec.Cmd, string) {
			if pyWhy != "" {
				return nil, pyWhy
			}
			return exec.Command(py, "-c", `import sys, zbauth
c = zbauth.Client()
for _ in range(int(sys.argv[1])):
    c.topology()
sys.stdout.write(open("/proc/self/status").read())
c.close()`, n), ""
		}},
		{"node", func() (*exec.Cmd, string) {
			if nodeWhy != "" {
				return nil, nodeWhy
			}
			return exec.Command(node, "-e", `const z = require(process.argv[1]);
(async () => {
  const c = new z.Client();
  for (let i = 0; i < Number(process.argv[2]); i++) await c.topology();
  process.stdout.write(require('fs').readFileSync('/proc/self/status', 'utf8'));
  c.close();
})().catch((e) => { console.error(e); process.exit(1); });`, nodeDir(), n), ""
		}},
	}
	label := fmt.Sprintf("rss after %s topology calls", humanCount(p.rssCalls))
	for r := 0; r < p.rssRuns; r++ {
		for _, s := range surfaces {
			row := result.Row{Surface: s.surface, Name: label, Unit: "MiB", Baseline: "go-floor/" + label}
			hwm := result.Row{Surface: s.surface, Name: "peak rss (VmHWM), same process", Unit: "MiB", Baseline: "go-floor/peak rss (VmHWM), same process"}
			if s.surface == "go-floor" {
				row.Baseline, hwm.Baseline = "", ""
			}
			cmd, why := s.cmd()
			if why != "" {
				set.Get(row).Note = why
				continue
			}
			cmd.Env = childEnv(cl)
			outb, err := cmd.Output()
			if err != nil && (s.surface == "python" || s.surface == "node") {
				// Another surface's breakage is theirs to report; note it.
				set.Get(row).Note = "failed: " + firstLine(stderrOf(err), err.Error())
				logf("rss: %s: %s", s.surface, set.Get(row).Note)
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %w: %s", s.surface, err, stderrOf(err))
			}
			rssKB, hwmKB, err := parseStatus(outb)
			if err != nil {
				return fmt.Errorf("%s: %w", s.surface, err)
			}
			set.Add(row, rssKB/1024)
			set.Add(hwm, hwmKB/1024)
		}
	}
	return nil
}

func humanCount(n int) string {
	if n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

func parseStatus(b []byte) (rss, hwm float64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			v, _ := strconv.ParseFloat(f[1], 64)
			if f[0] == "VmRSS:" {
				rss = v
			} else {
				hwm = v
			}
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in the child's output")
	}
	return rss, hwm, nil
}

// ---- 7. start-up -------------------------------------------------------

// startup times whole processes that print the topology once and exit:
// process start to first topology, token request included.
func startup(cl *harness.Cluster, p params) error {
	type surf struct {
		surface string
		argv    []string
		why     string
	}
	r := *root
	var ss []surf
	ss = append(ss, surf{surface: "os", argv: []string{"/bin/true"}})
	cli := filepath.Join(r, "bin", "zbauth")
	ss = append(ss, surf{surface: "cli", argv: []string{cli, "topology"}, why: missing(cli, "make build")})
	cprog := filepath.Join(r, "build", "c", "topology")
	ss = append(ss, surf{surface: "c", argv: []string{cprog}, why: missing(cprog, "make build/c/topology")})
	py, pyWhy := pythonCmd()
	ss = append(ss, surf{surface: "python", argv: []string{py, "-c", "import zbauth; zbauth.Client().topology()"}, why: pyWhy})
	node, nodeWhy := nodeCmd()
	ss = append(ss, surf{surface: "node", argv: []string{node, "-e",
		"const z=require(process.argv[1]); const c=new z.Client(); c.topology().then(()=>c.close(), (e)=>{console.error(e); process.exit(1)})", nodeDir()},
		why: nodeWhy})
	const name = "startup to first topology"
	env := childEnv(cl)
	// A failing surface is reported, not fatal: the others still count.
	broken := map[string]string{}
	for i := 0; i < p.startupRuns; i++ {
		for _, s := range ss {
			row := result.Row{Surface: s.surface, Name: name, Unit: "ms",
				Note: "whole process: start, one token request, GET /v1/topology, exit"}
			if s.surface == "os" {
				row.Note = "reference: fork+exec of /bin/true"
			}
			if s.why != "" || broken[s.surface] != "" {
				set.Get(row).Note = s.why + broken[s.surface]
				continue
			}
			cmd := exec.Command(s.argv[0], s.argv[1:]...)
			cmd.Env = env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			t0 := time.Now()
			err := cmd.Run()
			d := time.Since(t0)
			if err != nil {
				broken[s.surface] = "failed: " + firstLine(stderr.String(), err.Error())
				logf("startup: %s: %s", s.surface, broken[s.surface])
				set.Get(row).Note = broken[s.surface]
				continue
			}
			set.Add(row, ms(d))
		}
	}
	return nil
}

// ---- helpers -----------------------------------------------------------

func missing(path, how string) string {
	if _, err := os.Stat(path); err != nil {
		return "not built (" + how + ")"
	}
	return ""
}

// pythonCmd returns the interpreter for the Python binding, using the
// binding's venv when there is one, and why Python is skipped ("" if not).
func pythonCmd() (string, string) {
	r := *root
	src := filepath.Join(r, "bindings", "python", "src", "zbauth", "__init__.py")
	if why := missing(src, "bindings/python"); why != "" {
		return "", why
	}
	if why := missing(libPath(), "make lib"); why != "" {
		return "", why
	}
	py := filepath.Join(r, "build", "venv-python", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			return "", "not built (no python3)"
		}
	}
	return py, ""
}

func nodeDir() string { abs, _ := filepath.Abs(filepath.Join(*root, "bindings", "node")); return abs }

func nodeCmd() (string, string) {
	dir := nodeDir()
	if why := missing(filepath.Join(dir, "index.js"), "bindings/node"); why != "" {
		return "", why
	}
	addon := filepath.Join(dir, "prebuilds", runtime.GOOS+"-"+map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH], "zbauth.node")
	if why := missing(addon, "the node addon"); why != "" {
		return "", why
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return "", "not built (no node)"
	}
	return node, ""
}

func libPath() string {
	abs, _ := filepath.Abs(filepath.Join(*root, "build", "lib", "libzbauth.so"))
	return abs
}

// childEnv is this process's environment pointed at the cluster, with the
// bindings' package paths.
func childEnv(cl *harness.Cluster) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ZEEBE_") || strings.HasPrefix(kv, "ZBAUTH_") || strings.HasPrefix(kv, "CAMUNDA_") || strings.HasPrefix(kv, "PYTHONPATH=") {
			continue
		}
		env = append(env, kv)
	}
	src, _ := filepath.Abs(filepath.Join(*root, "bindings", "python", "src"))
	env = append(env, "PYTHONPATH="+src, "ZBAUTH_LIBRARY="+libPath())
	return append(env, cl.Env()...)
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return firstLine(string(ee.Stderr), "")
	}
	return ""
}

func firstLine(s, def string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return def
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// rotate returns xs rotated by r, so that no peer always runs first.
func rotate(xs []string, r int) []string {
	k := r % len(xs)
	return append(append([]string(nil), xs[k:]...), xs[:k]...)
}
