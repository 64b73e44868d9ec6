// Package result is the file format every benchmark writes into
// build/bench/*.json and cmd/report reads (see bench/README.md).
package result

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
)

// Row is one measured quantity of one surface: every run's value.
type Row struct {
	Surface string    `json:"surface"`
	Name    string    `json:"name"`
	Unit    string    `json:"unit"`
	Runs    []float64 `json:"runs"`
	// Baseline names the row this one is compared with: "surface/name", or
	// just "name" for a row of the same surface.
	Baseline string `json:"baseline,omitempty"`
	// Target describes the goal in words; Max (on the median) and
	// RatioMax, RatioMin (on median ÷ baseline median) make it checkable.
	Target   string   `json:"target,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	RatioMax *float64 `json:"ratio_max,omitempty"`
	RatioMin *float64 `json:"ratio_min,omitempty"`
	Note     string   `json:"note,omitempty"`
}

// F returns a pointer to v, for the optional bounds.
func F(v float64) *float64 { return &v }

// Key is "surface/name".
func (r Row) Key() string { return r.Surface + "/" + r.Name }

// Median of the runs (0 when there are none).
func (r Row) Median() float64 { return Median(r.Runs) }

// Median of xs.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Spread is the smallest and largest run.
func Spread(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	lo, hi = xs[0], xs[0]
	for _, x := range xs[1:] {
		if x < lo {
			lo = x
		}
		if x > hi {
			hi = x
		}
	}
	return lo, hi
}

// Set accumulates rows, merging runs of rows with the same key.
type Set struct {
	Rows []*Row
	idx  map[string]*Row
}

// Add records the value of one run.
func (s *Set) Add(tmpl Row, v float64) {
	r := s.Get(tmpl)
	r.Runs = append(r.Runs, v)
}

// Get returns the row with tmpl's key, creating it from tmpl.
func (s *Set) Get(tmpl Row) *Row {
	if s.idx == nil {
		s.idx = map[string]*Row{}
	}
	if r, ok := s.idx[tmpl.Key()]; ok {
		return r
	}
	r := tmpl
	r.Runs = append([]float64{}, tmpl.Runs...)
	s.Rows = append(s.Rows, &r)
	s.idx[r.Key()] = &r
	return &r
}

// Merge adds rows read from a file: runs of an existing key are appended.
func (s *Set) Merge(rows []Row) {
	for _, r := range rows {
		cur := s.Get(Row{Surface: r.Surface, Name: r.Name, Unit: r.Unit})
		cur.Runs = append(cur.Runs, r.Runs...)
		if cur.Baseline == "" {
			cur.Baseline = r.Baseline
		}
		if cur.Target == "" {
			cur.Target, cur.Max, cur.RatioMax, cur.RatioMin = r.Target, r.Max, r.RatioMax, r.RatioMin
		}
		if cur.Note == "" {
			cur.Note = r.Note
		}
	}
}

// Write stores rows as a JSON array.
func Write(path string, rows []*Row) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Meets checks a median and its ratio (nil: no baseline measured) against
// bounds (nil: none): "pass", "miss", or "no baseline" when a ratio bound
// has no ratio to check.
func Meets(median float64, ratio, max, ratioMin, ratioMax *float64) string {
	if (ratioMin != nil || ratioMax != nil) && ratio == nil {
		return "no baseline"
	}
	if max != nil && median > *max ||
		ratioMax != nil && *ratio > *ratioMax ||
		ratioMin != nil && *ratio < *ratioMin {
		return "miss"
	}
	return "pass"
}
