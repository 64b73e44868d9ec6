package core

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zbauth/zbauth/internal/redact"
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

// redactor removes known secrets from text that came from elsewhere (for
// example a transport error that echoes a URL, or a server's error body).
type redactor []string

func (r redactor) clean(s string) string { return redact.Redact(s, r...) }

// text makes server-supplied s fit for an error message: control
// characters dropped first (so that an echo with one inside a secret is
// the secret again, and goes), then secrets removed, then shortened to max
// bytes (so that no part of a secret survives the cut).
func (r redactor) text(s string, max int) string {
	return shorten(r.clean(redact.StripControl(s)), max)
}

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
