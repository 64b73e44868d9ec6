//go:build wasip1

package jsonx

import (
	"encoding/json"
	"io"
)

// Marshal encodes v as JSON.
func Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data into v, ignoring fields v does not know.
func Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

func newDecoder(r io.Reader) *json.Decoder { return json.NewDecoder(r) }
