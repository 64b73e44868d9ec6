package core_test

import (
	"path/filepath"
	"testing"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/tokenrule"
)

// TestTokenRuleTable: core's rule gives every answer of the shared table
// that the C and Wasm copies are held to as well.
func TestTokenRuleTable(t *testing.T) {
	cases, err := tokenrule.Read(filepath.Join("..", "testdata", "tokenrule.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]core.TokenRule{"fresh": core.TokenFresh, "usable": core.TokenUsable, "ask": core.TokenAsk}
	for _, c := range cases {
		s := core.TokenSnapshot{FreshUntil: c.Fresh, UsableUntil: c.Usable}
		if c.HasToken {
			s.Value = "tok"
		}
		if got := s.Rule(c.Now); got != want[c.Want] {
			t.Errorf("line %d: Rule = %d, want %s", c.Line, got, c.Want)
		}
	}
}
