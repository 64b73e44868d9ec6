package redact_test

import (
	"strings"
	"testing"

	"github.com/zbauth/zbauth/internal/redact"
)

// A Scrubber removes each secret in each form and the two tokens noted last.
func TestScrubber(t *testing.T) {
	s := redact.NewScrubber("s3cr&t/x y", "", "basic-pa$$word")
	for _, tok := range []string{"token-one-1111", "token-two-2222", "token-two-2222", "token-three-33"} {
		s.NoteToken(tok)
	}
	in := "raw s3cr&t/x y, query s3cr%26t%2Fx+y, path s3cr&t%2Fx%20y; token-one-1111 token-two-2222 token-three-33; " +
		"basic-pa$$word basic-pa%24%24word"
	got := s.Scrub(in)
	for _, leak := range []string{"s3cr", "token-two-2222", "token-three-33", "basic-pa"} {
		if strings.Contains(got, leak) {
			t.Errorf("Scrub left %q in %q", leak, got)
		}
	}
	if !strings.Contains(got, "token-one-1111") {
		t.Errorf("Scrub removed a token older than the last two: %q", got)
	}
}

// Redact removes values of any length, in one pass (a value found inside
// the marker is not replaced again), the longer of two overlapping values
// whole, and a value with control characters also as stripping leaves it.
func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a E b", "a [REDACTED] b"},
		{"xABCDx AB", "x[REDACTED]x [REDACTED]"},
		{"k1y k\x01y", "[REDACTED] k\x01y"},
		{"<ctl>", "<ctl>"},
	} {
		if got := redact.Redact(c.in, "E", "AB", "ABCD", "", "k\x011y"); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := redact.StripControl("a\x01\x1b[0m\u200b\u202e\x7f\u0085\tb\xff"); got != "a[0mb\uFFFD" {
		t.Errorf("StripControl = %q", got)
	}
}

// EscapeControl shows what StripControl would drop, and invalid UTF-8, as
// escapes; other text is unchanged.
func TestEscapeControl(t *testing.T) {
	for in, want := range map[string]string{
		"zeebe-0.dev.local:26501": "zeebe-0.dev.local:26501",
		"a\nBroker 9\r\t\x00":     `a\nBroker 9\r\t\x00`,
		"\x1b[2J\x7f\u0085":       `\x1b[2J\x7f\u0085`,
		"ab\u202ecd\u200b":        `ab\u202ecd\u200b`,
		"\xff é \\n":              `\xff é \n`,
	} {
		if got := redact.EscapeControl(in); got != want {
			t.Errorf("EscapeControl(%q) = %q, want %q", in, got, want)
		}
	}
}
