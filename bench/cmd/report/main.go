// Command report collects the benchmark results of every surface and
// writes docs/BENCHMARKS.md and docs/BENCHMARKS.json.
//
//	report -in build/bench -gobench build/bench/go-bench.txt -md docs/BENCHMARKS.md -json docs/BENCHMARKS.json
//
// Inputs: every *.json in -in, in the row format of bench/README.md (files
// of another shape are converted as far as possible and also included
// raw), and the output of `go test -bench . -benchmem -count N`. Figures
// are medians over the runs with their min–max spread; ratios are medians
// over the baseline's median, both measured in the same run.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zbauth/zbauth/bench/internal/result"
)

var (
	inDir   = flag.String("in", "../build/bench", "directory of *.json result files")
	goBench = flag.String("gobench", "", "go test -bench output file(s), comma-separated")
	mdOut   = flag.String("md", "", "write Markdown here")
	jsonOut = flag.String("json", "", "write JSON here")
	root    = flag.String("root", "..", "repository root (for versions)")
	title   = flag.String("title", "Benchmarks", "document title")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// rawFile is an input that was not (entirely) in the row format.
type rawFile struct {
	Name    string          `json:"name"`
	Content json.RawMessage `json:"content,omitempty"`
	Text    string          `json:"text,omitempty"`
}

func run() error {
	var set result.Set
	var raws []rawFile
	files, _ := filepath.Glob(filepath.Join(*inDir, "*.json"))
	sort.Strings(files)
	var inputs []string
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			inputs = append(inputs, fmt.Sprintf("`%s` (%s)", filepath.Base(f), st.ModTime().UTC().Format("15:04 MST")))
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		rows, ok := parseRows(b)
		if ok {
			set.Merge(rows)
			continue
		}
		base := strings.TrimSuffix(filepath.Base(f), ".json")
		conv := convert(base, b)
		set.Merge(conv)
		if json.Valid(b) {
			raws = append(raws, rawFile{Name: filepath.Base(f), Content: compact(b)})
		} else {
			raws = append(raws, rawFile{Name: filepath.Base(f), Text: string(b)})
		}
		fmt.Fprintf(os.Stderr, "report: %s is not in the row format: %d figures converted, included raw\n", filepath.Base(f), len(conv))
	}
	var benches []*goBenchmark
	for _, f := range strings.Split(*goBench, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		benches = mergeBenchmarks(benches, parseGoBench(b))
	}
	set.Merge(goBenchRows(benches))
	applyDefaultTargets(&set)
	m := machine()
	m.Inputs = inputs
	var rows []*result.Row
	for _, r := range set.Rows {
		if r.Surface == "machine" { // conditions of the run, not a figure
			if len(r.Runs) > 0 {
				lo, hi := result.Spread(r.Runs)
				m.Conditions = append(m.Conditions, [2]string{r.Name, fmt.Sprintf("median %s (%s–%s)", num(r.Median()), num(lo), num(hi))})
				// The benchmarks themselves keep a core or two busy; more
				// than twice the cores means other work was competing.
				if r.Median() > 2*float64(m.Cores) {
					m.Busy = true
				}
			}
			continue
		}
		rows = append(rows, r)
	}
	ev := evaluate(rows)
	if *mdOut != "" {
		md := markdown(m, ev, benches, raws)
		if err := os.MkdirAll(filepath.Dir(*mdOut), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(*mdOut, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if *jsonOut != "" {
		doc := map[string]any{"machine": m, "rows": ev, "go_benchmarks": benches, "raw": raws}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *mdOut == "" && *jsonOut == "" {
		fmt.Print(markdown(m, ev, benches, raws))
	}
	return nil
}

func compact(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return nil
	}
	return buf.Bytes()
}

// parseRows reads the row format: an array of rows, or {"rows": [...]}.
func parseRows(b []byte) ([]result.Row, bool) {
	var rows []result.Row
	if err := json.Unmarshal(b, &rows); err != nil {
		var obj struct {
			Rows []result.Row `json:"rows"`
		}
		if err := json.Unmarshal(b, &obj); err != nil || len(obj.Rows) == 0 {
			return nil, false
		}
		rows = obj.Rows
	}
	for _, r := range rows {
		if r.Surface == "" || r.Name == "" {
			return nil, false
		}
	}
	return rows, true
}

// convert turns the numbers in a JSON document of unknown shape into rows:
// each number (or array of numbers) becomes a row named by its path, of
// surface base (the file name). It is a best effort; the file is also
// shown raw.
func convert(base string, b []byte) []result.Row {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	var rows []result.Row
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, x[k])
			}
		case []any:
			var nums []float64
			for _, e := range x {
				if f, ok := e.(float64); ok {
					nums = append(nums, f)
				}
			}
			if len(nums) == len(x) && len(nums) > 0 {
				rows = append(rows, result.Row{Surface: base, Name: path, Unit: unitGuess(path), Runs: nums, Note: "converted from " + base + ".json"})
				return
			}
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case float64:
			rows = append(rows, result.Row{Surface: base, Name: path, Unit: unitGuess(path), Runs: []float64{x}, Note: "converted from " + base + ".json"})
		}
	}
	walk("", v)
	return rows
}

func unitGuess(path string) string {
	p := strings.ToLower(path)
	for _, u := range []struct{ suffix, unit string }{
		{"ns_per_call", "ns/call"}, {"per_s", "calls/s"}, {"per_sec", "calls/s"},
		{"_ns", "ns"}, {"_us", "µs"}, {"_ms", "ms"}, {"_s", "s"}, {"_mib", "MiB"}, {"_kb", "kB"}, {"_bytes", "B"},
	} {
		if strings.HasSuffix(p, u.suffix) {
			return u.unit
		}
	}
	return ""
}

// ---- go test -bench ----------------------------------------------------

type goBenchmark struct {
	Name    string               `json:"name"`
	Metrics map[string][]float64 `json:"metrics"` // unit → runs
	order   int
}

var procSuffix = regexp.MustCompile(`-\d+$`)

func parseGoBench(b []byte) []*goBenchmark {
	var out []*goBenchmark
	idx := map[string]*goBenchmark{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		gb := idx[name]
		if gb == nil {
			gb = &goBenchmark{Name: name, Metrics: map[string][]float64{}, order: len(out)}
			idx[name] = gb
			out = append(out, gb)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			gb.Metrics[f[i+1]] = append(gb.Metrics[f[i+1]], v)
		}
	}
	return out
}

func mergeBenchmarks(a, b []*goBenchmark) []*goBenchmark {
	idx := map[string]*goBenchmark{}
	for _, x := range a {
		idx[x.Name] = x
	}
	for _, y := range b {
		if x := idx[y.Name]; x != nil {
			for u, v := range y.Metrics {
				x.Metrics[u] = append(x.Metrics[u], v...)
			}
			continue
		}
		a = append(a, y)
		idx[y.Name] = y
	}
	return a
}

var peerSurface = map[string]string{"zbauth": "go", "xoauth2": "go-xoauth2", "zbc": "go-zbc", "floor": "go-floor"}

// goBenchRows turns the cached-token benchmarks into rows of the
// cross-surface tables, each compared with x/oauth2's.
func goBenchRows(bs []*goBenchmark) []result.Row {
	var rows []result.Row
	for _, b := range bs {
		parts := strings.Split(b.Name, "/")
		if len(parts) != 3 || parts[0] != "CachedToken" {
			continue
		}
		surface, ok := peerSurface[parts[2]]
		if !ok {
			continue
		}
		name := "token cached"
		if parts[1] == "parallel" {
			name = "token cached, RunParallel"
		}
		r := result.Row{Surface: surface, Name: name, Unit: "ns/call", Runs: b.Metrics["ns/op"], Note: "testing.B"}
		if surface != "go-xoauth2" {
			r.Baseline = "go-xoauth2/" + name
		}
		rows = append(rows, r)
		if allocs, ok := b.Metrics["allocs/op"]; ok {
			rows = append(rows, result.Row{Surface: surface, Name: name + ": allocations", Unit: "allocs/op", Runs: allocs, Note: "testing.B -benchmem"})
		}
	}
	return rows
}

// ---- verdicts ----------------------------------------------------------

// Evaluated is a row with its statistics, ratio and verdict.
type Evaluated struct {
	result.Row
	Median   float64  `json:"median"`
	Lo       float64  `json:"min"`
	Hi       float64  `json:"max_run"`
	Ratio    *float64 `json:"ratio,omitempty"`
	Result   string   `json:"result,omitempty"` // "pass", "miss", "no baseline", ""
	Measured bool     `json:"measured"`
}

func evaluate(rows []*result.Row) []*Evaluated {
	by := map[string]*result.Row{}
	for _, r := range rows {
		by[r.Key()] = r
	}
	var out []*Evaluated
	for _, r := range rows {
		e := &Evaluated{Row: *r, Measured: len(r.Runs) > 0}
		if e.Measured {
			e.Median = r.Median()
			e.Lo, e.Hi = result.Spread(r.Runs)
		}
		if r.Baseline != "" && e.Measured {
			b := by[r.Baseline]
			if b == nil {
				b = by[r.Surface+"/"+r.Baseline]
			}
			if b != nil && len(b.Runs) > 0 && b.Median() != 0 {
				q := e.Median / b.Median()
				e.Ratio = &q
			}
		}
		if r.Target != "" && e.Measured {
			e.Result = verdict(e)
		}
		out = append(out, e)
	}
	return out
}

func verdict(e *Evaluated) string {
	return result.Meets(e.Median, e.Ratio, e.Max, e.RatioMin, e.RatioMax)
}

// ---- the machine -------------------------------------------------------

// Machine describes where and when the figures were taken.
type Machine struct {
	Date    string `json:"date"`
	CPU     string `json:"cpu"`
	Cores   int    `json:"cores"`
	Memory  string `json:"memory"`
	Kernel  string `json:"kernel"`
	Go      string `json:"go"`
	Node    string `json:"node"`
	Python  string `json:"python"`
	Commit  string `json:"commit"`
	LoadAvg string `json:"load_average"`
	// Conditions are the load averages sampled during the run.
	Conditions [][2]string `json:"conditions,omitempty"`
	Busy       bool        `json:"busy"`
	Inputs     []string    `json:"inputs,omitempty"`
}

func machine() Machine {
	m := Machine{Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				f := strings.Fields(l)
				if len(f) >= 2 {
					kb, _ := strconv.ParseFloat(f[1], 64)
					m.Memory = fmt.Sprintf("%.1f GiB", kb/1024/1024)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = runtime.GOOS + " " + strings.TrimSpace(string(b)) + " " + runtime.GOARCH
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	m.Node = version("node", "--version")
	py := filepath.Join(*root, "build", "venv-python", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		py = "python3"
	}
	m.Python = strings.TrimPrefix(version(py, "--version"), "Python ")
	m.Commit = version("git", "-C", *root, "rev-parse", "--short", "HEAD")
	if st := version("git", "-C", *root, "status", "--porcelain", "--untracked-files=no"); st != "" && m.Commit != "" {
		m.Commit += " (with uncommitted changes)"
	}
	return m
}

func version(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// ---- Markdown ----------------------------------------------------------

var surfaceNames = map[string]string{
	"go":         "Go: zbauth core",
	"go-xoauth2": "Go: x/oauth2 ReuseTokenSource",
	"go-zbc":     "Go: Camunda zbc v8.3.0",
	"go-floor":   "Go: raw net/http floor",
	"c":          "C: libzbauth",
	"cli":        "CLI: bin/zbauth",
	"wasm":       "Wasm",
	"python":     "Python",
	"node":       "Node",
	"node-sdk":   "Node: @camunda8/sdk",
	"os":         "OS: /bin/true",
}

var surfaceOrder = []string{"go", "go-xoauth2", "go-zbc", "go-floor", "c", "cli", "wasm", "python", "node", "node-sdk", "os"}

func surfaceRank(s string) int {
	for i, x := range surfaceOrder {
		if x == s {
			return i
		}
	}
	return len(surfaceOrder)
}

func surfaceName(s string) string {
	if n, ok := surfaceNames[s]; ok {
		return n
	}
	return s
}

// A section of the report: the rows match selects that no earlier section
// took, under title and intro; none, if set, is shown when there are none.
type section struct {
	title, intro string
	match        func(e *Evaluated) bool
	none         string
}

func prefix(ps ...string) func(e *Evaluated) bool {
	return func(e *Evaluated) bool {
		for _, p := range ps {
			if strings.HasPrefix(e.Name, p) {
				return true
			}
		}
		return false
	}
}

var sections = []section{
	{"1. Cold burst", "1,000 callers released at once on a fresh client (empty cache): goroutines for Go and the Wasm plugin (one client of zbauth.wasm), C threads that had each called into the library once before (cbench), asyncio tasks for Python (threads for its requests peer), promises for Node. *Token requests* is the dev cluster's count; *time to all* runs until the last caller has a token, and its ratio is against the same library's *single caller* (one caller, fresh client, new connection). The floor is the ideal single flight written by hand: the first caller starts one raw net/http token request and every caller waits on a channel for it, so its time to all is what waking 1,000 goroutines costs on this machine; for C, *releasing the callers alone* times the same 1,000 threads released with no call. The +50 ms variant delays every token response by 50 ms, closer to a real identity provider; on loopback a token request takes well under a millisecond, so the wake-up dominates.",
		prefix("cold"), ""},
	{"2. Cached token", "The call that returns an already cached token. Go figures are `testing.B` (`bench/go_bench_test.go`), serial and with `RunParallel` (one goroutine per core), ratio against x/oauth2. zbc's figure is `ApplyCredentials` with a reused header map. C is `zbauth_client_token` + `zbauth_free` from one thread.",
		prefix("token cached"), ""},
	{"3. Refresh stall", "Each client gets a token whose refresh window opens a second or two later (zbauth: a 4 s token, refreshed in the last part of its life; x/oauth2 and zbc: a 12 s token, which they treat as expired 10 s early), every token response is delayed by 500 ms, and 64 callers (goroutines; C, Python threads; Node async loops) each ask for a token every millisecond from before the window opens until the new token has been issued. *Longest wait* is the slowest single call; *calls blocked* counts calls that took at least half the delay. No token expires during the test. The floor is a token fetched once and never refreshed, watched for 1.5 s under the same load: its longest wait is what the machine and the harness add to any call.",
		prefix("refresh stall"), ""},
	{"4. Topology", "`GET /v1/topology` against the dev cluster in its own process (`zbauth dev-cluster`). *Sequential*: one caller per peer, 2,000 calls after 50 warm-up calls, taken 20 at a time in turn with the other peers (order rotated); p50/p99 of those calls, calls/s from their total time. *64 workers*: 64 goroutines (C: threads) sharing one client, five 200 ms slices taken in turn with the other peers. C runs in `bench/c/cbench serve`, a child process driven by the same program, so the floor and every peer, C included, see the same background load; other surfaces' figures come from their own runs. Ratios are against the raw net/http floor (a fixed bearer header, body read, not parsed); zbauth's figure includes decoding the topology, which a client skips when the body is byte-identical to the one it decoded last, as it is here (it then copies the kept result; see docs/topology-memo.md and BenchmarkParseTopology for the decode itself); for C, Python and Node it also includes copying the JSON out to the caller. \"Within N%\" means a call costs at most (1+N%)× the floor's, i.e. throughput ≥ floor ÷ (1+N%).",
		prefix("topology"), ""},
	{"5. Memory", "Resident memory (VmRSS, and the peak VmHWM) of a fresh process that has made the topology calls, one process per surface. Go peers run in a small program (`bench/cmd/rsschild`) without the gRPC client linked; the C figure is the benchmark program itself with libzbauth loaded.",
		prefix("rss", "peak rss"), ""},
	{"C library loading", "`dlopen` of libzbauth.so from a C program, the first call (which waits for the Go runtime to start), and the resident memory this adds.",
		prefix("library load"), ""},
	{"6. Wasm", "Figures from the Wasm surface (`make bench-wasm`).", func(e *Evaluated) bool { return e.Surface == "wasm" },
		"No Wasm figures in this run (`build/bench/wasm.json` missing)."},
	{"7. Start-up", "Wall time of a whole process that fetches a token and the topology once and exits (median of 10). `/bin/true` is the cost of starting any process here.",
		prefix("startup"), ""},
}

func markdown(m Machine, ev []*Evaluated, benches []*goBenchmark, raws []rawFile) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# %s\n\n", *title)
	w("Generated by `make bench` (bench/bench.mk; harness in bench/, see bench/README.md). Do not edit by hand.\n\n")
	w("| | |\n|---|---|\n")
	w("| date | %s |\n", m.Date)
	w("| CPU | %s |\n", orDash(m.CPU))
	w("| cores | %d |\n", m.Cores)
	w("| memory | %s |\n", orDash(m.Memory))
	w("| OS | %s |\n", orDash(m.Kernel))
	w("| Go | %s |\n", orDash(m.Go))
	w("| Node | %s |\n", orDash(m.Node))
	w("| Python | %s |\n", orDash(m.Python))
	w("| commit | %s |\n", orDash(m.Commit))
	w("| load average (1/5/15 min) at the end | %s |\n", orDash(m.LoadAvg))
	for _, c := range m.Conditions {
		w("| %s | %s |\n", c[0], c[1])
	}
	if len(m.Inputs) > 0 {
		w("| result files (written at) | %s |\n", strings.Join(m.Inputs, ", "))
	}
	w("\n")
	if m.Busy {
		w("> **The machine was busy during this run** (1-minute load average above twice its %d cores, of which the benchmarks account for one or two): other work competed for the CPU, so the figures are noisier than usual; compare the spreads before reading much into small differences.\n\n", m.Cores)
	}
	w("All figures were taken on this machine against the embedded dev cluster on loopback, by `make bench` or its bench-* targets (see the result files' times above). " +
		"Each figure is the **median** of its runs, with the **spread** (min–max) and the number of runs; " +
		"a ratio is a median divided by its baseline's median from the same run. " +
		"Targets are reported here, never asserted in tests.\n\n")

	// Targets: the issue's, then any other a surface set for itself.
	byKey := map[string]*Evaluated{}
	for _, e := range ev {
		byKey[e.Key()] = e
	}
	w("## Targets\n\nThe issue's targets, checked here whatever the surfaces' own files say.\n\n")
	w("| target | surface | measurement | median | ratio | result |\n|---|---|---|---|---|---|\n")
	issue := map[string]bool{}
	for _, t := range targets {
		issue[t.key()+"|"+t.text] = true
		meas, ratio, res := check(t, byKey[t.key()], byKey)
		w("| %s | %s | %s | %s | %s | %s |\n", t.text, surfaceName(t.surface), t.metric, meas, ratio, res)
	}
	var own []*Evaluated
	for _, e := range ev {
		if e.Target != "" && !issue[e.Key()+"|"+e.Target] {
			own = append(own, e)
		}
	}
	if len(own) > 0 {
		w("\nTargets the surfaces set for themselves:\n\n")
		w("| target | surface | measurement | median | ratio | result |\n|---|---|---|---|---|---|\n")
		for _, e := range own {
			meas, ratio, res := "not measured", "", "—"
			if e.Measured {
				meas, ratio, res = num(e.Median)+" "+e.Unit, ratioText(e), resultText(e.Result)
			}
			w("| %s | %s | %s | %s | %s | %s |\n", e.Target, surfaceName(e.Surface), e.Name, meas, ratio, res)
		}
	}
	w("\n")

	// Sections.
	used := map[*Evaluated]bool{}
	for _, s := range sections {
		var rows []*Evaluated
		for _, e := range ev {
			if !used[e] && s.match(e) {
				rows = append(rows, e)
			}
		}
		if len(rows) == 0 {
			if s.none != "" {
				w("## %s\n\n%s\n\n", s.title, s.none)
			}
			continue
		}
		for _, e := range rows {
			used[e] = true
		}
		w("## %s\n\n%s\n\n", s.title, s.intro)
		table(&b, rows)
	}
	var rest []*Evaluated
	for _, e := range ev {
		if !used[e] {
			rest = append(rest, e)
		}
	}
	if len(rest) > 0 {
		w("## Other figures\n\n")
		table(&b, rest)
	}

	if len(benches) > 0 {
		w("## Go micro-benchmarks (testing.B)\n\n")
		w("`go test -bench . -benchmem` in bench/ against the dev cluster; %d procs. Median [min–max] of the runs; ratio of ns/op against x/oauth2 (CachedToken) or the floor (Topology). `parallel64` runs 64 goroutines.\n\n", m.Cores)
		w("| benchmark | ns/op | spread | runs | ratio | B/op | allocs/op |\n|---|---:|---|---:|---:|---:|---:|\n")
		med := map[string]float64{}
		for _, gb := range benches {
			med[gb.Name] = result.Median(gb.Metrics["ns/op"])
		}
		for _, gb := range benches {
			ns := gb.Metrics["ns/op"]
			lo, hi := result.Spread(ns)
			ratio := ""
			if base := goBaseline(gb.Name); base != "" && base != gb.Name && med[base] > 0 {
				ratio = fmt.Sprintf("%.2f×", med[gb.Name]/med[base])
			}
			w("| %s | %s | %s–%s | %d | %s | %s | %s |\n", gb.Name, num(result.Median(ns)), num(lo), num(hi), len(ns), ratio,
				num(result.Median(gb.Metrics["B/op"])), num(result.Median(gb.Metrics["allocs/op"])))
		}
		w("\n")
	}

	if len(raws) > 0 {
		w("## Files included as they are\n\nThese result files are not in the row format of bench/README.md; the numbers found in them are in the tables above under the file's name, and the files follow.\n\n")
		for _, r := range raws {
			w("<details><summary>%s</summary>\n\n```json\n", r.Name)
			if r.Content != nil {
				var buf bytes.Buffer
				json.Indent(&buf, r.Content, "", "  ")
				b.Write(buf.Bytes())
			} else {
				b.WriteString(r.Text)
			}
			w("\n```\n\n</details>\n\n")
		}
	}
	return b.String()
}

func goBaseline(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return ""
	}
	switch parts[0] {
	case "CachedToken":
		parts[2] = "xoauth2"
	case "Topology":
		parts[2] = "floor"
	default:
		return ""
	}
	return strings.Join(parts, "/")
}

func table(b *strings.Builder, rows []*Evaluated) {
	// Group by name in order of first appearance, surfaces in fixed order.
	var names []string
	group := map[string][]*Evaluated{}
	for _, e := range rows {
		if _, ok := group[e.Name]; !ok {
			names = append(names, e.Name)
		}
		group[e.Name] = append(group[e.Name], e)
	}
	fmt.Fprintf(b, "| measurement | surface | median | spread | runs | ratio | target | result |\n|---|---|---:|---|---:|---|---|---|\n")
	var notes []string
	for _, n := range names {
		g := group[n]
		sort.SliceStable(g, func(i, j int) bool { return surfaceRank(g[i].Surface) < surfaceRank(g[j].Surface) })
		for _, e := range g {
			if !e.Measured {
				why := e.Note
				if why == "" {
					why = "not measured"
				}
				fmt.Fprintf(b, "| %s | %s | — | %s | 0 | | %s | |\n", e.Name, surfaceName(e.Surface), why, e.Target)
				continue
			}
			spread := ""
			if len(e.Runs) > 1 {
				spread = num(e.Lo) + "–" + num(e.Hi)
			}
			fmt.Fprintf(b, "| %s | %s | %s %s | %s | %d | %s | %s | %s |\n", e.Name, surfaceName(e.Surface), num(e.Median), e.Unit,
				spread, len(e.Runs), ratioText(e), e.Target, resultText(e.Result))
			if e.Note != "" && !contains(notes, e.Name+": "+e.Note) && !strings.HasPrefix(e.Note, "converted from") {
				notes = append(notes, e.Name+": "+e.Note)
			}
		}
	}
	fmt.Fprintln(b)
	for _, n := range notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	if len(notes) > 0 {
		fmt.Fprintln(b)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func ratioText(e *Evaluated) string {
	if e.Ratio == nil {
		return ""
	}
	base := e.Baseline
	if s, n, ok := strings.Cut(base, "/"); ok {
		if n == e.Name {
			base = surfaceName(s)
		} else {
			base = surfaceName(s) + " " + n
		}
	}
	return fmt.Sprintf("%.2f× %s", *e.Ratio, base)
}

func resultText(r string) string {
	switch r {
	case "pass":
		return "**pass**"
	case "miss":
		return "**miss**"
	}
	return r
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// num formats v with about three significant digits.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 10000:
		return thousands(int64(math.Round(v)))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
