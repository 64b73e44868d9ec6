package jsonx

import (
	"reflect"
	"testing"
)

func TestStringValues(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`{"k":"v","n":1,"o":{"k2":"v2","a":["x",{"k3":"y"},null,true]}}`, []string{"v", "v2", "x", "y"}},
		{`"top"`, []string{"top"}},
		{`["a",["b"],{}]`, []string{"a", "b"}},
		{`{"k":"\u0041BC"}`, []string{"ABC"}},
		{`{} {"k":"second value"}`, []string{"second value"}},
		// After a syntax error, every later literal counts, keys included.
		{`{"a":"x" "b":"y"}`, []string{"x", "b", "y"}},
		{`{"a":1,"b":"unterminated`, []string{"unterminated"}},
		{`{"a":"x",}`, []string{"x"}},
		{`{"a":"bad \q escape"}`, []string{`bad \q escape`}},
		{``, nil},
		{`{"only":"keys"`, []string{"keys"}},
	}
	for _, tt := range tests {
		if got := StringValues([]byte(tt.in)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("StringValues(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnmarshalStrict(t *testing.T) {
	var v struct {
		A string `json:"a"`
	}
	if err := UnmarshalStrict([]byte(`{"a":"x"}`), &v); err != nil || v.A != "x" {
		t.Errorf("valid: %v %q", err, v.A)
	}
	for _, bad := range []string{`{"a":"x","b":1}`, `{"a":"x"} {}`, `{"a":1}`, `{`} {
		if err := UnmarshalStrict([]byte(bad), &v); err == nil {
			t.Errorf("UnmarshalStrict(%s) succeeded", bad)
		}
	}
}

// goccy/go-json panics on some malformed input; Unmarshal must not.
func TestMalformedInputIsAnError(t *testing.T) {
	for _, in := range []string{`{"\`, `{"a":"\`, `{"`, `{`, `[1,`, ``, `nul`} {
		var v struct {
			A *string `json:"a"`
			B int     `json:"b"`
		}
		var one struct { // the shape that made goccy panic
			A *string `json:"access_token"`
		}
		if err := Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("Unmarshal(%q) succeeded", in)
		}
		if err := Unmarshal([]byte(in), &one); err == nil {
			t.Errorf("Unmarshal(%q) into one field succeeded", in)
		}
		if err := UnmarshalStrict([]byte(in), &v); err == nil {
			t.Errorf("UnmarshalStrict(%q) succeeded", in)
		}
		if Valid([]byte(in)) {
			t.Errorf("Valid(%q) = true", in)
		}
	}
}

func FuzzStringValues(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `[1,"x",{"k":[]}]`, `{"a" "b"}`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		StringValues(data) // never panics
	})
}
