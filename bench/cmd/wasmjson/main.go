// Command wasmjson turns the wasm/host benchmarks' testing.B output into
// build/bench/wasm.json, the row format of bench/README.md that `make
// bench` collects into docs/BENCHMARKS.md, and prints a summary with the
// ratios.
//
//	go -C bench run ./cmd/wasmjson -in wasm-bench.txt -module zbauth.wasm -out wasm.json
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/zbauth/zbauth/bench/internal/result"
)

type row = result.Row

var f = result.F

// mapping says which benchmark becomes which row, and how.
var mapping = []struct {
	bench string // name without the -N suffix
	row   row
	conv  func(nsPerOp float64) float64
}{
	{"BenchmarkCachedToken/plugin", row{Name: "token cached", Unit: "ns/call", Baseline: "token cached: Go core, same run",
		Target: "at most 2 µs through the plugin", Max: f(2000), Note: "Client.Token on a cached token: the host's copy of it (token_report), no export call"}, ns},
	{"BenchmarkCachedToken/core", row{Name: "token cached: Go core, same run", Unit: "ns/call", Note: "core.Client.Token natively, same process"}, ns},
	{"BenchmarkCachedToken/plugin-nowatchdog", row{Name: "token cached, export watchdog off", Unit: "ns/call", Baseline: "token cached",
		Note: "WithExportTimeout(0): without wazero's termination checks (on by default), which cost each export call; a cached token makes none"}, ns},
	{"BenchmarkCachedToken/plugin-parallel", row{Name: "token cached, RunParallel", Unit: "ns/call", Baseline: "token cached",
		Note: "GOMAXPROCS goroutines sharing one client's copy of the token"}, ns},
	{"BenchmarkTopology/plugin", row{Name: "topology sequential", Unit: "calls/s", Note: "GET /v1/topology through the plugin, cached token"}, perSecond},
	{"BenchmarkTopology/plugin-nowatchdog", row{Name: "topology sequential, export watchdog off", Unit: "calls/s", Baseline: "topology sequential",
		Note: "WithExportTimeout(0): no termination checks, so no goroutine per export call"}, perSecond},
	{"BenchmarkTopology/plugin-parallel64", row{Name: "topology 64 workers", Unit: "calls/s",
		Note: "64 goroutines sharing one client of one plugin (export calls take turns; HTTP overlaps in the host)"}, perSecond},
	{"BenchmarkTopology/core", row{Name: "topology sequential: Go core, same run", Unit: "calls/s"}, perSecond},
	{"BenchmarkCompile/cold", row{Name: "compile cold", Unit: "ms", Note: "wazero CompileModule in a new runtime, no cache"}, ms},
	{"BenchmarkCompile/cached", row{Name: "compile from the cache directory", Unit: "ms", Baseline: "compile cold",
		Note: "a new runtime and NewCompilationCacheWithDir, as a second process start"}, ms},
	{"BenchmarkInstantiate", row{Name: "instantiate", Unit: "ms", Note: "InstantiateModule with _initialize (the Go runtime's start), then Close"}, ms},
}

func ns(v float64) float64        { return v }
func ms(v float64) float64        { return v / 1e6 }
func perSecond(v float64) float64 { return 1e9 / v }

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op`)

func main() {
	in := flag.String("in", "", "testing.B output (several -count 1 passes appended)")
	module := flag.String("module", "", "zbauth.wasm, for its size")
	small := flag.String("small", "", "zbauth.wasm after wasm-opt -Oz (make wasm-small), for its size")
	out := flag.String("out", "", "JSON file to write")
	flag.Parse()
	runs := map[string][]float64{}
	file, err := os.Open(*in)
	if err != nil {
		fail(err)
	}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			runs[m[1]] = append(runs[m[1]], v)
		}
	}
	file.Close()
	var rows []row
	for _, mp := range mapping {
		r := mp.row
		r.Surface = "wasm"
		for _, v := range runs[mp.bench] {
			r.Runs = append(r.Runs, mp.conv(v))
		}
		if len(r.Runs) > 0 {
			rows = append(rows, r)
		}
	}
	if *module != "" {
		st, err := os.Stat(*module)
		if err != nil {
			fail(err)
		}
		rows = append(rows, row{Surface: "wasm", Name: "module size", Unit: "MiB", Runs: []float64{float64(st.Size()) / (1 << 20)},
			Target: "at most 4 MiB", Max: f(4), Note: fmt.Sprintf("%d bytes; GOOS=wasip1 -buildmode=c-shared -ldflags=-s -w; no net/http", st.Size())})
	}
	if *small != "" {
		st, err := os.Stat(*small)
		if err != nil {
			fail(err)
		}
		rows = append(rows, row{Surface: "wasm", Name: "module size after wasm-opt -Oz", Unit: "MiB", Runs: []float64{float64(st.Size()) / (1 << 20)},
			Baseline: "module size", Note: fmt.Sprintf("%d bytes; make wasm-small (binaryen's wasm-opt -Oz)", st.Size())})
	}
	b, _ := json.MarshalIndent(rows, "", "  ")
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fail(err)
	}
	summary(rows)
}

func summary(rows []row) {
	byName := map[string]row{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	fmt.Println("== Wasm plugin (median of runs)")
	for _, r := range rows {
		s := fmt.Sprintf("  %-42s %12.4g %-8s (%d runs)", r.Name, result.Median(r.Runs), r.Unit, len(r.Runs))
		if b, ok := byName[r.Baseline]; ok {
			s += fmt.Sprintf("  %.2f× %s", result.Median(r.Runs)/result.Median(b.Runs), b.Name)
		}
		if r.Max != nil {
			verdict := result.Meets(result.Median(r.Runs), nil, r.Max, nil, nil)
			if verdict == "miss" {
				verdict = "MISS"
			}
			s += fmt.Sprintf("  [target %s: %s]", r.Target, verdict)
		}
		fmt.Println(strings.TrimRight(s, " "))
	}
	p, c := byName["topology sequential"], byName["topology sequential: Go core, same run"]
	if len(p.Runs) > 0 && len(c.Runs) > 0 {
		fmt.Printf("  topology through the plugin: %.2f× the Go core's throughput\n", result.Median(p.Runs)/result.Median(c.Runs))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wasmjson:", err)
	os.Exit(1)
}
