package errjson_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/errjson"
	"github.com/zbauth/zbauth/internal/jsonx"
)

// TestErrorJSON: the JSON form the C library and the Wasm plugin share
// carries every field of an *Error, and those fields rebuild an error with
// the same text, so a binding that rebuilds typed errors from it shows
// what the core would.
func TestErrorJSON(t *testing.T) {
	errs := []*core.Error{
		{Kind: core.KindAuth, Op: "token", Msg: "token endpoint refused the credentials", Status: 401,
			OAuthError: "invalid_client", OAuthDescription: "bad secret"},
		{Kind: core.KindAPI, Op: "request", Msg: "REST API returned an error", Status: 404,
			Problem: &core.Problem{Type: "about:blank", Title: "Not Found", Status: 404, Detail: "no such thing"}},
		{Kind: core.KindConfig, Op: "config", Msg: "client_id is missing", Fields: []string{"client_id"}},
		{Kind: core.KindTransport, Op: "topology", Msg: "request failed", Err: errors.New("connection refused")},
	}
	for _, e := range errs {
		t.Run(e.Kind.String(), func(t *testing.T) {
			b, err := jsonx.Marshal(errjson.New(fmt.Errorf("wrapped: %w", e)))
			if err != nil {
				t.Fatal(err)
			}
			var j errjson.Details
			if err := jsonx.Unmarshal(b, &j); err != nil {
				t.Fatal(err)
			}
			if j.Code != e.Kind.String() || j.Kind != int(e.Kind) {
				t.Errorf("kind %d code %q, want %d %q", j.Kind, j.Code, e.Kind, e.Kind)
			}
			if j.Message != "wrapped: "+e.Error() {
				t.Errorf("message %q, want the complete text %q", j.Message, "wrapped: "+e.Error())
			}
			r := j.Rebuild()
			if j.Cause != "" {
				r.Err = errors.New(j.Cause)
			}
			if r.Error() != e.Error() {
				t.Errorf("rebuilt %q, want %q", r.Error(), e.Error())
			}
		})
	}
	j := errjson.New(errors.New("not ours"))
	if j.Code != "INTERNAL" || j.Message != "not ours" {
		t.Errorf("a foreign error: %+v", j)
	}
}
