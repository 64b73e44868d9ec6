package core

import (
	"fmt"
	"testing"

	"github.com/zbauth/zbauth/internal/jsonx"
)

func TestZZProbe(t *testing.T) {
	for _, in := range []string{
		`{"client_secret":"abcd","abcd":1}`,
		`{"client_id":12345678}`,
		`{"timeout_ms":99999999999999999999}`,
		`{"timeout_ms":1.5}`,
		`{"timeout_ms":"12"}`,
		`{"client_secret": SECRET-MARKER}`,
		`{"client_secret": "SECRET-MARKER`,
		`{"CLIENT_SECRET":"x"}`,
		`{"client_ſecret":"x"}`,
		`{"client_id":{"a":"b"}}`,
		`{"client_id":["SECRETXY"]}`,
		`{"client_id":true}`,
		`{} {}`,
		`[]`,
		`null`,
		`"str"`,
	} {
		var w configJSON
		err := jsonx.UnmarshalStrict([]byte(in), &w)
		c, err2 := ParseConfigJSON([]byte(in))
		fmt.Printf("%-45s raw=%v\n   parsed=%v %v\n", in, err, err2, c.ClientSecret)
	}
	for _, in := range []string{"null", "[]", `"x"`, "{}", `{"brokers":null}`, `{"brokers":[null]}`, "1"} {
		tp, err := ParseTopology([]byte(in))
		fmt.Println(in, tp, err)
	}
}
