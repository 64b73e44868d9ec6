// Package redact removes secrets and hidden characters from text that
// zbauth did not build itself: a server's error body, a transport error
// echoing a URL, a plugin's stderr. core cleans its own error texts with
// it, and the surfaces that relay other text (the Wasm guest and host)
// clean that with the same functions, so every surface removes a secret
// alike.
package redact

import (
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// SecretForms returns secret as typed, query-escaped and path-escaped: the
// forms in which it may appear in a form body or a URL. Hosts that relay
// text zbauth did not build (the Wasm host forwarding guest output) clean
// it with Redact(s, SecretForms(secret)...).
func SecretForms(secret string) []string {
	return []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
}

// Scrubber cleans texts zbauth did not build itself (a plugin's stderr, a
// crash report) of one client's secrets (Config.Secrets: the client
// secret, the Basic password, a static token, keystore passwords), in
// every form SecretForms gives, and of the two access tokens it saw last.
// The Wasm guest and host keep one per client. It is safe for concurrent
// use.
type Scrubber struct {
	secret []string
	mu     sync.Mutex
	tokens [2]string // the last two distinct access tokens
}

// NewScrubber returns a Scrubber for the given secrets (empty ones are
// ignored).
func NewScrubber(secrets ...string) *Scrubber {
	var forms []string
	for _, s := range secrets {
		if s != "" {
			forms = append(forms, SecretForms(s)...)
		}
	}
	return &Scrubber{secret: forms}
}

// NoteToken remembers tok as the client's current access token. Noting
// the current one again is cheap (a string compare of the same pointer).
func (s *Scrubber) NoteToken(tok string) {
	if tok == "" {
		return
	}
	s.mu.Lock()
	if tok != s.tokens[0] {
		s.tokens[1], s.tokens[0] = s.tokens[0], tok
	}
	s.mu.Unlock()
}

// Scrub removes the secret and the noted tokens from text.
func (s *Scrubber) Scrub(text string) string {
	s.mu.Lock()
	toks := s.tokens
	s.mu.Unlock()
	return Redact(text, append(s.secret[:len(s.secret):len(s.secret)], toks[:]...)...)
}

// Redact replaces every occurrence of each non-empty value in s with
// "[REDACTED]", and every occurrence of the value with its control and
// invisible characters removed (what StripControl makes of an echo of it).
// A value of any length is removed: a short secret mangles ordinary text,
// which is better than showing it. One pass, longest value first, so that
// a value containing another goes whole and the marker is never rescanned.
func Redact(s string, values ...string) string {
	var found []string
	for _, v := range values {
		for _, f := range [2]string{v, StripControl(v)} {
			if f != "" && strings.Contains(s, f) && !contains(found, f) {
				found = append(found, f)
			}
		}
	}
	if len(found) == 0 {
		return s
	}
	// Longest first (insertion sort: a handful of values). A hand-written
	// pass rather than strings.Replacer and slices' sort, which would make
	// the Wasm module markedly larger for a cold path.
	for i := 1; i < len(found); i++ {
		for j := i; j > 0 && len(found[j]) > len(found[j-1]); j-- {
			found[j], found[j-1] = found[j-1], found[j]
		}
	}
	var b strings.Builder
	b.Grow(len(s))
next:
	for i := 0; i < len(s); {
		for _, f := range found {
			if strings.HasPrefix(s[i:], f) {
				b.WriteString("[REDACTED]")
				i += len(f)
				continue next
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// StripControl drops control characters (C0, DEL, C1) and invisible
// format characters (zero-width, bidirectional overrides) from s, and
// replaces invalid UTF-8: what a terminal or log could hide or act on.
func StripControl(s string) string {
	return strings.Map(func(r rune) rune {
		if hidden(r) {
			return -1
		}
		return r
	}, s)
}

// EscapeControl writes what StripControl drops, and invalid UTF-8, as Go
// escapes (\n, \x1b, \u202e, \xff): for showing server-supplied text in a
// terminal, one line per value, as it was sent.
func EscapeControl(s string) string {
	if !strings.ContainsFunc(s, hidden) && utf8.ValidString(s) {
		return s
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&15])
		case hidden(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func hidden(r rune) bool { return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) }
