// Package jsonx is the one place zbauth chooses its JSON implementation.
//
// Native builds use github.com/goccy/go-json. The WebAssembly guest
// (GOOS=wasip1) uses encoding/json instead: goccy/go-json is not safe under
// wasip1 and would triple the module size. Callers see the same three
// functions either way.
package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// errSyntax is returned for input that is not one valid JSON value.
var errSyntax = errors.New("invalid JSON")

// UnmarshalStrict decodes data into v and fails on fields v does not know.
// Trailing data after the first JSON value is an error too (Valid refuses
// it). Like Unmarshal, it hands the decoder only valid JSON (see goccy.go).
func UnmarshalStrict(data []byte, v any) (err error) {
	if !Valid(data) {
		return errSyntax
	}
	defer recoverAsError(&err)
	dec := newDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Valid reports whether data is one valid JSON value (encoding/json's
// validator in both builds).
func Valid(data []byte) bool { return json.Valid(data) }

// recoverAsError turns a decoder panic into an error in *err.
func recoverAsError(err *error) {
	if r := recover(); r != nil {
		*err = errors.New("JSON decoder failure on malformed input")
	}
}

// StringValues returns the string values of data at any depth, in
// document order. Object keys are left out while the document is well
// formed; after a syntax error, where keys and values can no longer be told
// apart, every string literal that follows is included.
//
// It always uses encoding/json's tokenizer, which both builds link anyway.
func StringValues(data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	// For each open container: is it an object, and is its next token a key?
	type level struct{ object, wantKey bool }
	var stack []level
	var out []string
	for {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				return out
			}
			return append(out, literals(data[dec.InputOffset():])...)
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].object {
			if stack[top].wantKey {
				if _, isKey := tok.(string); isKey { // else it is the closing '}'
					stack[top].wantKey = false
					continue
				}
			} else {
				stack[top].wantKey = true // tok is the member's value
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				stack = append(stack, level{object: v == '{', wantKey: v == '{'})
			} else {
				stack = stack[:top]
			}
		case string:
			out = append(out, v)
		}
	}
}

// literals returns every double-quoted string in b, decoded where it is
// valid JSON and as written where not; an unterminated one runs to the end.
func literals(b []byte) []string {
	var out []string
	for {
		start := bytes.IndexByte(b, '"')
		if start < 0 {
			return out
		}
		end := start + 1
		for end < len(b) && b[end] != '"' {
			if b[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(b) {
			return append(out, string(b[start+1:]))
		}
		var s string
		if json.Unmarshal(b[start:end+1], &s) != nil {
			s = string(b[start+1 : end])
		}
		out = append(out, s)
		b = b[end+1:]
	}
}
