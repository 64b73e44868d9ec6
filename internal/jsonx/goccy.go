//go:build !wasip1

package jsonx

import (
	"io"

	json "github.com/goccy/go-json"
)

// Marshal encodes v as JSON.
func Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data into v, ignoring fields v does not know.
//
// goccy/go-json panics on some malformed input (`{"\` into a struct: index
// out of range; under -race a fatal checkptr error), and what zbauth
// decodes comes from token endpoints and REST APIs. So goccy only sees
// documents that encoding/json's validator accepts, and a panic that still
// slips through becomes an error.
func Unmarshal(data []byte, v any) (err error) {
	if !Valid(data) {
		return errSyntax
	}
	defer recoverAsError(&err)
	return json.Unmarshal(data, v)
}

func newDecoder(r io.Reader) *json.Decoder { return json.NewDecoder(r) }
