//go:build !wasip1

package jsonx

import (
	"errors"
	"io"

	json "github.com/goccy/go-json"
)

var errTrailing = errors.New("unexpected data after the JSON value")

// Marshal encodes v as JSON.
func Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data into v, ignoring fields v does not know.
func Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Valid reports whether data is one valid JSON value.
func Valid(data []byte) bool { return json.Valid(data) }

func newDecoder(r io.Reader) *json.Decoder { return json.NewDecoder(r) }
