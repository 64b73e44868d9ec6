package main

import (
	"fmt"
	"strings"

	"github.com/zbauth/zbauth/bench/internal/result"
)

// target is one of the targets: the row surface/metric held to a
// bound. The report's targets table lists them in this order (one nobody
// measured shows as such instead of disappearing), and a row of zbauth's
// that carries no target of its own is given this one, so that its verdict
// in the section tables is the same.
type target struct {
	surface, metric string
	// text is the target in words, as the report shows it.
	text string
	// baseline is the row a ratio bound is taken against ("surface/name").
	baseline string
	// max bounds the median; ratioMin and ratioMax the median ÷ the
	// baseline's median.
	max, ratioMin, ratioMax *float64
	// ifBaseline: a row gets this target only when its baseline row is in
	// the results (there is nothing to compare with otherwise).
	ifBaseline bool
}

func (t target) key() string { return t.surface + "/" + t.metric }

// The texts several targets share.
const (
	oneRequest = "exactly 1 token request for 1,000 callers"
	twiceOne   = "within 2× a single token request's time"
	noStall    = "under 1 ms"
)

var f = result.F

// floor is the ratio bound of "within pct% of the floor" for throughput:
// a call may cost at most (1+pct%)× the floor's.
func floor(pct float64) *float64 { return f(1 / (1 + pct/100)) }

// targets are the targets, in its order.
var targets = []target{
	// Cold burst: 1,000 callers on an empty cache.
	{surface: "go", metric: "cold burst: token requests", text: oneRequest, max: f(1)},
	{surface: "go", metric: "cold burst: time to all", text: twiceOne, baseline: "go/cold: single caller", ratioMax: f(2)},
	{surface: "c", metric: "cold burst: token requests", text: oneRequest, max: f(1)},
	{surface: "c", metric: "cold burst: time to all", text: twiceOne, baseline: "c/cold: single caller", ratioMax: f(2)},
	{surface: "wasm", metric: "cold burst: token requests", text: oneRequest, max: f(1)},
	{surface: "wasm", metric: "cold burst: time to all", text: twiceOne, baseline: "wasm/cold: single caller", ratioMax: f(2)},
	{surface: "python", metric: "cold burst: token requests", text: oneRequest, max: f(1)},
	{surface: "python", metric: "cold burst: time to all", text: twiceOne, baseline: "python/cold: single caller", ratioMax: f(2)},
	{surface: "node", metric: "cold burst: token requests", text: oneRequest, max: f(1)},
	{surface: "node", metric: "cold burst: time to all", text: twiceOne, baseline: "node/cold: single caller", ratioMax: f(2)},

	// The same with every token response delayed, as a real identity
	// provider's would be.
	{surface: "go", metric: "cold burst: token requests (token endpoint +50 ms)", text: oneRequest, max: f(1)},
	{surface: "go", metric: "cold burst: time to all (token endpoint +50 ms)", text: twiceOne, baseline: "go/cold: single caller (token endpoint +50 ms)", ratioMax: f(2)},
	{surface: "c", metric: "cold burst: token requests (token endpoint +50 ms)", text: oneRequest, max: f(1)},
	{surface: "c", metric: "cold burst: time to all (token endpoint +50 ms)", text: twiceOne, baseline: "c/cold: single caller (token endpoint +50 ms)", ratioMax: f(2)},
	{surface: "wasm", metric: "cold burst: token requests (token endpoint +50 ms)", text: oneRequest, max: f(1)},
	{surface: "wasm", metric: "cold burst: time to all (token endpoint +50 ms)", text: twiceOne, baseline: "wasm/cold: single caller (token endpoint +50 ms)", ratioMax: f(2)},
	{surface: "python", metric: "cold burst: token requests (token endpoint +50 ms)", text: oneRequest, max: f(1)},
	{surface: "python", metric: "cold burst: time to all (token endpoint +50 ms)", text: twiceOne, baseline: "python/cold: single caller (token endpoint +50 ms)", ratioMax: f(2)},
	{surface: "node", metric: "cold burst: token requests (token endpoint +50 ms)", text: oneRequest, max: f(1)},
	{surface: "node", metric: "cold burst: time to all (token endpoint +50 ms)", text: twiceOne, baseline: "node/cold: single caller (token endpoint +50 ms)", ratioMax: f(2)},

	// Refresh stall: no caller waits for the refresh (the delay is the
	// full run's; a smoke run's rows are named after a shorter one).
	{surface: "go", metric: "refresh stall: longest wait (token endpoint +500 ms)", text: noStall, max: f(1)},
	{surface: "c", metric: "refresh stall: longest wait (token endpoint +500 ms)", text: noStall, max: f(1)},
	{surface: "wasm", metric: "refresh stall: longest wait (token endpoint +500 ms)", text: noStall, max: f(1)},
	{surface: "python", metric: "refresh stall: longest wait (token endpoint +500 ms)", text: noStall, max: f(1)},
	{surface: "node", metric: "refresh stall: longest wait (token endpoint +500 ms)", text: noStall, max: f(1)},

	// The cached token in Go.
	{surface: "go", metric: "token cached, RunParallel", text: "at most half of x/oauth2 ReuseTokenSource.Token() under RunParallel", baseline: "go-xoauth2/token cached, RunParallel", ratioMax: f(0.5)},
	{surface: "go", metric: "token cached, RunParallel: allocations", text: "0 allocations", max: f(0)},
	{surface: "go", metric: "token cached: allocations", text: "0 allocations", max: f(0)},

	// Topology against the raw net/http floor.
	{surface: "go", metric: "topology sequential", text: "within 10% of the net/http floor", baseline: "go-floor/topology sequential", ratioMin: floor(10)},
	{surface: "go", metric: "topology 64 workers", text: "within 10% of the net/http floor", baseline: "go-floor/topology 64 workers", ratioMin: floor(10)},
	{surface: "c", metric: "topology sequential", text: "within 15% of the net/http floor", baseline: "go-floor/topology sequential", ratioMin: floor(15)},
	{surface: "c", metric: "topology 64 workers", text: "within 15% of the net/http floor", baseline: "go-floor/topology 64 workers", ratioMin: floor(15)},
	{surface: "wasm", metric: "topology sequential", text: "within 50% of the net/http floor", baseline: "go-floor/topology sequential", ratioMin: floor(50)},
	{surface: "wasm", metric: "topology 64 workers", text: "within 50% of the net/http floor", baseline: "go-floor/topology 64 workers", ratioMin: floor(50)},
	{surface: "python", metric: "topology sequential", text: "within 50% of the net/http floor", baseline: "go-floor/topology sequential", ratioMin: floor(50)},
	{surface: "python", metric: "topology 64 workers", text: "within 50% of the net/http floor", baseline: "go-floor/topology 64 workers", ratioMin: floor(50)},
	{surface: "node", metric: "topology sequential", text: "within 50% of the net/http floor", baseline: "go-floor/topology sequential", ratioMin: floor(50)},
	{surface: "node", metric: "topology 64 workers", text: "within 50% of the net/http floor", baseline: "go-floor/topology 64 workers", ratioMin: floor(50)},

	// The cached token in Node and C.
	{surface: "node", metric: "token cached", text: "no slower than @camunda8/sdk cached getHeaders", baseline: "node-sdk/token cached", ratioMax: f(1), ifBaseline: true},
	{surface: "c", metric: "token cached", text: "under 1 µs including the string copy", max: f(1000)},
}

func targetFor(key string) (target, bool) {
	for _, t := range targets {
		if t.key() == key {
			return t, true
		}
	}
	return target{}, false
}

// applyDefaultTargets gives each row that carries no target of its own
// the one targets has for it.
func applyDefaultTargets(s *result.Set) {
	present := map[string]bool{}
	for _, r := range s.Rows {
		present[r.Key()] = true
	}
	for _, r := range s.Rows {
		t, ok := targetFor(r.Key())
		if !ok || r.Target != "" || t.ifBaseline && !present[t.baseline] {
			continue
		}
		if r.Baseline == "" {
			r.Baseline = t.baseline
		}
		r.Target, r.Max, r.RatioMin, r.RatioMax = t.text, t.max, t.ratioMin, t.ratioMax
	}
}

// check evaluates t on e (nil: not measured) for the targets table: the
// figure, the ratio against t's baseline and the verdict.
func check(t target, e *Evaluated, by map[string]*Evaluated) (measured, ratio, res string) {
	if e == nil || !e.Measured {
		if e != nil && e.Note != "" {
			return e.Note, "", "—"
		}
		return "not measured", "", "—"
	}
	measured = num(e.Median) + " " + e.Unit
	var q *float64
	if t.baseline != "" {
		if b := by[t.baseline]; b != nil && b.Measured && b.Median != 0 {
			q = f(e.Median / b.Median)
			s, n, _ := strings.Cut(t.baseline, "/")
			ratio = fmt.Sprintf("%.2f× %s", *q, surfaceName(s))
			if !strings.HasPrefix(n, strings.SplitN(e.Name, " (", 2)[0]) {
				ratio += " " + n
			}
		}
	}
	return measured, ratio, resultText(result.Meets(e.Median, q, t.max, t.ratioMin, t.ratioMax))
}
