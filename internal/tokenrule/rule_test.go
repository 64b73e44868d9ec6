package tokenrule_test

import (
	"path/filepath"
	"testing"

	"github.com/zbauth/zbauth/internal/tokenrule"
)

// TestTokenRuleTable: the rule gives every answer of the shared table that the
// C and Wasm copies are held to as well.
func TestTokenRuleTable(t *testing.T) {
	cases, err := tokenrule.Read(filepath.Join("..", "..", "testdata", "tokenrule.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]tokenrule.Rule{"fresh": tokenrule.Fresh, "usable": tokenrule.Usable, "ask": tokenrule.Ask}
	for _, c := range cases {
		s := tokenrule.Snapshot{FreshUntil: c.Fresh, UsableUntil: c.Usable}
		if c.HasToken {
			s.Value = "tok"
		}
		if got := s.Rule(c.Now); got != want[c.Want] {
			t.Errorf("line %d: Rule = %d, want %s", c.Line, got, c.Want)
		}
	}
}
