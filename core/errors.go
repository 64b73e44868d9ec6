package core

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Kind classifies an *Error. Every surface (C, Wasm, Python, Node) maps these
// one to one onto its own error codes, so the numbering is part of the ABI:
// never renumber, only append.
type Kind int

const (
	KindOK        Kind = 0 // not an error; used by the C and Wasm ABIs for success
	KindArgument  Kind = 1 // a NULL or malformed argument, or a closed client
	KindConfig    Kind = 2 // missing or malformed configuration
	KindAuth      Kind = 3 // the token endpoint refused or answered unusably
	KindAPI       Kind = 4 // the REST API answered with an error status
	KindTransport Kind = 5 // the request did not complete (DNS, TCP, TLS, body too large)
	KindTimeout   Kind = 6 // a deadline passed or the context was cancelled
	KindInternal  Kind = 7 // a bug in zbauth (a recovered panic)
)

var kindNames = [...]string{"OK", "ARGUMENT", "CONFIG", "AUTH", "API", "TRANSPORT", "TIMEOUT", "INTERNAL"}

// String returns the upper-case name used by every binding ("AUTH", "API", ...).
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Error is the only error type zbauth returns. Its message never contains the
// client secret or an access token.
type Error struct {
	Kind Kind
	// Op names what failed: "config", "token", "topology", "request".
	Op string
	// Msg is a human-readable description, free of secrets.
	Msg string
	// Status is the HTTP status code, when a server answered.
	Status int
	// OAuthError and OAuthDescription carry the token endpoint's `error` and
	// `error_description` fields (RFC 6749 §5.2), when it sent them.
	OAuthError       string
	OAuthDescription string
	// Problem is the REST API's application/problem+json body, when it sent one.
	Problem *Problem
	// Fields lists the configuration fields at fault (KindConfig only).
	Fields []string
	// Err is the underlying cause, if any. It has been checked not to contain
	// secrets before being wrapped.
	Err error

	permanent bool // a transport failure that retrying cannot fix
}

// Problem is an RFC 9457 problem document as the Camunda REST API sends it.
type Problem struct {
	Type     string `json:"type,omitempty"`
	Title    string `json:"title,omitempty"`
	Status   int    `json:"status,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("zbauth: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Status != 0 {
		b.WriteString(" (HTTP ")
		b.WriteString(strconv.Itoa(e.Status))
		b.WriteString(")")
	}
	if e.OAuthError != "" {
		b.WriteString(": ")
		b.WriteString(e.OAuthError)
		if e.OAuthDescription != "" {
			b.WriteString(": ")
			b.WriteString(e.OAuthDescription)
		}
	}
	if p := e.Problem; p != nil && (p.Title != "" || p.Detail != "") {
		b.WriteString(": ")
		b.WriteString(p.Title)
		if p.Detail != "" {
			if p.Title != "" {
				b.WriteString(": ")
			}
			b.WriteString(p.Detail)
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorJSON is the JSON form of an error that the C library
// (zbauth_error_details) and the Wasm plugin (its error payload) hand out,
// so that every surface names a field alike. Absent fields are omitted.
// For an unwrapped *Error, the fields other than Message rebuild an *Error
// whose Error() is Message.
type ErrorJSON struct {
	Kind                  int      `json:"kind"`
	Code                  string   `json:"code"` // Kind's name ("AUTH")
	Op                    string   `json:"op,omitempty"`
	Message               string   `json:"message"` // the complete text to show (Error())
	Msg                   string   `json:"msg"`     // the message without the details below
	Status                int      `json:"status,omitempty"`
	OAuthError            string   `json:"oauth_error,omitempty"`
	OAuthErrorDescription string   `json:"oauth_error_description,omitempty"`
	Problem               *Problem `json:"problem,omitempty"`
	Fields                []string `json:"fields,omitempty"`
	Cause                 string   `json:"cause,omitempty"` // the underlying cause's text
}

// NewErrorJSON describes err, which must not be nil: an *Error field by
// field, any other error as an INTERNAL one with its text.
func NewErrorJSON(err error) ErrorJSON {
	j := ErrorJSON{Message: err.Error(), Kind: int(KindInternal), Msg: err.Error()}
	var e *Error
	if errors.As(err, &e) {
		j = ErrorJSON{
			Message: j.Message, Kind: int(e.Kind), Op: e.Op, Msg: e.Msg, Status: e.Status,
			OAuthError: e.OAuthError, OAuthErrorDescription: e.OAuthDescription,
			Problem: e.Problem, Fields: e.Fields,
		}
		if e.Err != nil {
			j.Cause = e.Err.Error()
		}
	}
	j.Code = Kind(j.Kind).String()
	return j
}

// Rebuild is the *Error that j describes, without its cause (Err), which
// the caller attaches from Cause as it sees fit.
func (j *ErrorJSON) Rebuild() *Error {
	return &Error{
		Kind: Kind(j.Kind), Op: j.Op, Msg: j.Msg, Status: j.Status,
		OAuthError: j.OAuthError, OAuthDescription: j.OAuthErrorDescription,
		Problem: j.Problem, Fields: j.Fields,
	}
}

// Is reports whether target is an *Error of the same Kind, so that
// errors.Is(err, &core.Error{Kind: core.KindAuth}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Op == "" && t.Msg == ""
}

// KindOf returns the Kind of err: KindOK for nil, KindInternal for an error
// that is not an *Error.
func KindOf(err error) Kind {
	if err == nil {
		return KindOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// SecretForms returns secret as typed, query-escaped and path-escaped: the
// forms in which it may appear in a form body or a URL. Hosts that relay
// text zbauth did not build (the Wasm host forwarding guest output) clean
// it with Redact(s, SecretForms(secret)...).
func SecretForms(secret string) []string {
	return []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
}

// Scrubber cleans texts zbauth did not build itself (a plugin's stderr, a
// crash report) of one client's secret, in every form SecretForms gives,
// and of the two access tokens it saw last. The Wasm guest and host keep
// one per client. It is safe for concurrent use.
type Scrubber struct {
	secret redactor
	mu     sync.Mutex
	tokens [2]string // the last two distinct access tokens
}

// NewScrubber returns a Scrubber for secret.
func NewScrubber(secret string) *Scrubber { return &Scrubber{secret: redactor(SecretForms(secret))} }

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
			if f != "" && strings.Contains(s, f) && !slices.Contains(found, f) {
				found = append(found, f)
			}
		}
	}
	if len(found) == 0 {
		return s
	}
	slices.SortStableFunc(found, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(found))
	for _, f := range found {
		pairs = append(pairs, f, "[REDACTED]")
	}
	return strings.NewReplacer(pairs...).Replace(s)
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

// redactor removes known secrets from text that came from elsewhere (for
// example a transport error that echoes a URL, or a server's error body).
type redactor []string

func (r redactor) clean(s string) string { return Redact(s, r...) }

// text makes server-supplied s fit for an error message: control
// characters dropped first (so that an echo with one inside a secret is
// the secret again, and goes), then secrets removed, then shortened to max
// bytes (so that no part of a secret survives the cut).
func (r redactor) text(s string, max int) string { return shorten(r.clean(StripControl(s)), max) }

// shorten cuts s to at most max bytes, on a character boundary, and marks
// the cut.
func shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max] + "…"
}

// cleanErr wraps err so that its text passes through r.
func (r redactor) cleanErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if c := r.clean(msg); c != msg {
		return &redacted{msg: c, err: err}
	}
	return err
}

// redacted prints the cleaned text. It deliberately does not unwrap: the
// original error's text holds a secret.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
