// Package errjson is the JSON form of a zbauth error that the C library
// (zbauth_error_details) and the Wasm plugin (its error payload) hand out,
// so that every surface names a field alike, and the way back from it to a
// *core.Error (the Wasm host rebuilds the guest's errors).
package errjson

import (
	"errors"

	"github.com/zbauth/zbauth/core"
)

// Details is the JSON form of an error. Absent fields are omitted. For an
// unwrapped *core.Error, the fields other than Message rebuild a
// *core.Error whose Error() is Message.
type Details struct {
	Kind                  int           `json:"kind"`
	Code                  string        `json:"code"` // Kind's name ("AUTH")
	Op                    string        `json:"op,omitempty"`
	Message               string        `json:"message"` // the complete text to show (Error())
	Msg                   string        `json:"msg"`     // the message without the details below
	Status                int           `json:"status,omitempty"`
	OAuthError            string        `json:"oauth_error,omitempty"`
	OAuthErrorDescription string        `json:"oauth_error_description,omitempty"`
	Problem               *core.Problem `json:"problem,omitempty"`
	Fields                []string      `json:"fields,omitempty"`
	Cause                 string        `json:"cause,omitempty"` // the underlying cause's text
}

// New describes err, which must not be nil: a *core.Error field by field,
// any other error as an INTERNAL one with its text.
func New(err error) Details {
	j := Details{Message: err.Error(), Kind: int(core.KindInternal), Msg: err.Error()}
	var e *core.Error
	if errors.As(err, &e) {
		j = Details{
			Message: j.Message, Kind: int(e.Kind), Op: e.Op, Msg: e.Msg, Status: e.Status,
			OAuthError: e.OAuthError, OAuthErrorDescription: e.OAuthDescription,
			Problem: e.Problem, Fields: e.Fields,
		}
		if e.Err != nil {
			j.Cause = e.Err.Error()
		}
	}
	j.Code = core.Kind(j.Kind).String()
	return j
}

// Rebuild is the *core.Error that j describes, without its cause (Err),
// which the caller attaches from Cause as it sees fit.
func (j *Details) Rebuild() *core.Error {
	return &core.Error{
		Kind: core.Kind(j.Kind), Op: j.Op, Msg: j.Msg, Status: j.Status,
		OAuthError: j.OAuthError, OAuthDescription: j.OAuthErrorDescription,
		Problem: j.Problem, Fields: j.Fields,
	}
}
