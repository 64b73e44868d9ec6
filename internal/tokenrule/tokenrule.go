package tokenrule

// The table: testdata/tokenrule.tsv, the cases of the rule that core and
// every copy of its cached token are tested against: Go's in core and
// wasm/host, C's in capi/test/tokenrule.c.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Case is one line of the table.
type Case struct {
	Line               int
	Now, Fresh, Usable int64 // Monotonic ns: the time, FreshUntil, UsableUntil
	HasToken           bool
	Want               string // "fresh", "usable" or "ask"
}

// Read parses the table at path.
func Read(path string) ([]Case, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cases []Case
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("%s:%d: %d fields, want 5", path, i+1, len(f))
		}
		c := Case{Line: i + 1, HasToken: f[3] == "1", Want: f[4]}
		for j, p := range []*int64{&c.Now, &c.Fresh, &c.Usable} {
			if *p, err = strconv.ParseInt(f[j], 10, 64); err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
			}
		}
		if c.Want != "fresh" && c.Want != "usable" && c.Want != "ask" {
			return nil, fmt.Errorf("%s:%d: unknown outcome %q", path, i+1, c.Want)
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("%s: no cases", path)
	}
	return cases, nil
}
