// Package wire holds the JSON payloads that cross the Wasm ABI, shared by
// the guest (which encodes them) and the host (which decodes them), so the
// two sides cannot drift. wasm/ABI.md documents them for other hosts.
package wire

import "github.com/zbauth/zbauth/core"

// Error is the payload of a failed call (ABI.md, "Error payload").
type Error struct {
	Kind             int           `json:"kind"`
	KindName         string        `json:"kind_name"`
	Op               string        `json:"op,omitempty"`
	Msg              string        `json:"msg"`
	Status           int           `json:"status,omitempty"`
	OAuthError       string        `json:"oauth_error,omitempty"`
	OAuthDescription string        `json:"oauth_description,omitempty"`
	Problem          *core.Problem `json:"problem,omitempty"`
	Fields           []string      `json:"fields,omitempty"`
	Cause            string        `json:"cause,omitempty"`
	Text             string        `json:"text"`
	Response         *Response     `json:"response,omitempty"`
}

// Response is the response attached to a REST API error.
type Response struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header"`
	Body   []byte            `json:"body"` // base64 in JSON
}
