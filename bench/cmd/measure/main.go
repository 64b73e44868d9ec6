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
//
// One file per section: cold.go (cold burst), stall.go (refresh stall),
// topology.go, rss.go (memory), startup.go. The peers they measure:
// peers.go (the Go ones and the floor), c.go (libzbauth through cbench),
// wasm.go (the plugin, in-process); helpers.go, the rest.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zbauth/zbauth/bench/internal/harness"
	"github.com/zbauth/zbauth/bench/internal/result"
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
