// Package jsonx is the one place zbauth chooses its JSON implementation.
//
// Native builds use github.com/goccy/go-json. The WebAssembly guest
// (GOOS=wasip1) uses encoding/json instead: goccy/go-json is not safe under
// wasip1 and would triple the module size. Callers see the same three
// functions either way.
package jsonx

import "bytes"

// UnmarshalStrict decodes data into v and fails on fields v does not know.
// Trailing data after the first JSON value is an error too.
func UnmarshalStrict(data []byte, v any) error {
	dec := newDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errTrailing
	}
	return nil
}
