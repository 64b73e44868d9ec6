// Package wire holds what both sides of the Wasm ABI must agree on — the
// version, the HTTP result codes, the header-line encoding and the JSON
// payloads — shared by the guest and the host so the two cannot drift.
// wasm/ABI.md documents them for other hosts.
package wire

import (
	"strings"

	"github.com/zbauth/zbauth/internal/errjson"
)

// ABIVersion is zb_abi_version's answer. Bump it on any incompatible
// change to the exports, imports or payloads.
const ABIVersion = 3

// zb_http_start results.
const (
	StartOK       = 0
	StartRefused  = 1 // the origin is not one the host allows this client
	StartInvalid  = 2 // the host could not read or parse the request
	StartBusy     = 3 // too many requests in flight
	StartDisabled = 4 // the host is closing
)

// zb_http_fail codes.
const (
	FailTransport = 1
	FailTimeout   = 2
	FailTooLarge  = 3
)

// AppendHeaderLines appends h to b as "Name: value\n" lines, leaving out
// what cannot be represented (a colon or line break in a name, a line
// break in a value).
func AppendHeaderLines(b []byte, h map[string]string) []byte {
	for k, v := range h {
		if strings.ContainsAny(k, ":\r\n") || strings.ContainsAny(v, "\r\n") {
			continue
		}
		b = append(append(append(append(b, k...), ": "...), v...), '\n')
	}
	return b
}

// Error is the payload of a failed call (ABI.md, "Error payload"): the
// core's description of the error, as the C library gives it too, and the
// response of a REST API error.
type Error struct {
	errjson.Details
	Response *Response `json:"response,omitempty"`
}

// Response is the response attached to a REST API error.
type Response struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header"`
	Body   []byte            `json:"body"` // base64 in JSON
}
