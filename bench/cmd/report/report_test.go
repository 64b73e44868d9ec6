package main

import (
	"strings"
	"testing"

	"github.com/zbauth/zbauth/bench/internal/result"
)

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
BenchmarkCachedToken/serial/zbauth-2   	21034719	        58.30 ns/op	       0 B/op	       0 allocs/op
BenchmarkCachedToken/serial/zbauth-2   	16169672	        66.30 ns/op	       0 B/op	       0 allocs/op
BenchmarkTopology/parallel64/floor-2   	    200	    137174 ns/op	   21928 B/op	     162 allocs/op
PASS
`
	bs := parseGoBench([]byte(out))
	if len(bs) != 2 {
		t.Fatalf("got %d benchmarks, want 2", len(bs))
	}
	if bs[0].Name != "CachedToken/serial/zbauth" || len(bs[0].Metrics["ns/op"]) != 2 || bs[0].Metrics["ns/op"][1] != 66.30 {
		t.Errorf("first benchmark: %+v", bs[0])
	}
	rows := goBenchRows(bs)
	if len(rows) != 2 || rows[0].Surface != "go" || rows[0].Name != "token cached" || rows[1].Name != "token cached: allocations" {
		t.Errorf("rows: %+v", rows)
	}
	if goBaseline("Topology/parallel64/zbauth") != "Topology/parallel64/floor" {
		t.Error("topology baseline")
	}
}

func TestParseRowsAndConvert(t *testing.T) {
	if rows, ok := parseRows([]byte(`[{"surface":"c","name":"token cached","unit":"ns/call","runs":[300,310]}]`)); !ok || len(rows) != 1 {
		t.Fatalf("array form: %v %v", rows, ok)
	}
	if rows, ok := parseRows([]byte(`{"rows":[{"surface":"node","name":"x","unit":"","runs":[1]}]}`)); !ok || len(rows) != 1 {
		t.Fatalf("object form: %v %v", rows, ok)
	}
	if _, ok := parseRows([]byte(`{"token_ns": 12}`)); ok {
		t.Fatal("another shape taken for rows")
	}
	conv := convert("node", []byte(`{"token":{"cached_ns":[10,12]},"topology_per_s":900,"label":"x"}`))
	if len(conv) != 2 || conv[0].Name != "token.cached_ns" || conv[0].Unit != "ns" || conv[1].Unit != "calls/s" {
		t.Errorf("converted: %+v", conv)
	}
}

func TestEvaluateAndGoals(t *testing.T) {
	floor := &result.Row{Surface: "go-floor", Name: "topology sequential", Unit: "calls/s", Runs: []float64{100, 110, 90}}
	zb := &result.Row{Surface: "go", Name: "topology sequential", Unit: "calls/s", Runs: []float64{95, 92, 99},
		Baseline: "go-floor/topology sequential", Target: "t", RatioMin: result.F(0.9)}
	ev := evaluate([]*result.Row{floor, zb})
	if ev[1].Ratio == nil || *ev[1].Ratio != 0.95 || ev[1].Result != "pass" {
		t.Fatalf("evaluated: %+v", ev[1])
	}
	by := map[string]*Evaluated{}
	for _, e := range ev {
		by[e.Key()] = e
	}
	g, ok := targetFor("go/topology sequential")
	if !ok {
		t.Fatal("no target for go/topology sequential")
	}
	if _, ratio, res := check(g, by[g.key()], by); res != "**pass**" || !strings.HasPrefix(ratio, "0.95×") {
		t.Errorf("target: %q %q", ratio, res)
	}
	if meas, _, res := check(target{surface: "python", metric: "topology sequential"}, nil, by); meas != "not measured" || res != "—" {
		t.Errorf("missing row: %q %q", meas, res)
	}
}

func TestMeets(t *testing.T) {
	f := result.F
	for _, tt := range []struct {
		median               float64
		ratio, max, min, rmx *float64
		want                 string
	}{
		{median: 5, want: "pass"},
		{median: 5, max: f(4), want: "miss"},
		{median: 5, ratio: f(0.8), min: f(0.87), want: "miss"},
		{median: 5, ratio: f(0.9), min: f(0.87), want: "pass"},
		{median: 5, ratio: f(1.1), rmx: f(1), want: "miss"},
		{median: 5, max: f(4), min: f(0.5), want: "no baseline"},
	} {
		if got := result.Meets(tt.median, tt.ratio, tt.max, tt.min, tt.rmx); got != tt.want {
			t.Errorf("Meets(%v, ratio %v, max %v, min %v, ratio max %v) = %q, want %q",
				tt.median, tt.ratio, tt.max, tt.min, tt.rmx, got, tt.want)
		}
	}
}

func TestDefaultTargetsComeFromTheTable(t *testing.T) {
	s := &result.Set{}
	py := s.Get(result.Row{Surface: "python", Name: "topology 64 workers", Unit: "calls/s"})
	node := s.Get(result.Row{Surface: "node", Name: "token cached", Unit: "ns/call"})
	applyDefaultTargets(s)
	if py.Target != "within 50% of the net/http floor" || py.Baseline != "go-floor/topology 64 workers" ||
		py.RatioMin == nil || *py.RatioMin != 1/1.5 {
		t.Errorf("python row: %+v", py)
	}
	if node.Target != "" { // no @camunda8/sdk row to compare with
		t.Errorf("node row without the SDK's: %+v", node)
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.00577: "0.00577", 3.35: "3.35", 54.3: "54.3", 651: "651", 13079: "13,079"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}

// Every target is checkable and names one row: a second entry for the same
// row would never be applied to it.
func TestTargetsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range targets {
		if seen[g.key()] {
			t.Errorf("%s: two targets", g.key())
		}
		seen[g.key()] = true
		if g.text == "" || g.max == nil && g.ratioMin == nil && g.ratioMax == nil {
			t.Errorf("%s: no text or no bound: %+v", g.key(), g)
		}
		if (g.ratioMin != nil || g.ratioMax != nil || g.ifBaseline) != (g.baseline != "") {
			t.Errorf("%s: a ratio bound needs a baseline, and a baseline a ratio bound: %+v", g.key(), g)
		}
	}
}
