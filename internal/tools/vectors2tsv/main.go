// Command vectors2tsv flattens testdata/conformance/vectors.json into one
// tab-separated line per scenario, for the C conformance runner (which has
// no JSON parser). Columns, in order:
//
//	name op method path body config_json faults_json expect_ok token status
//	body_contains error message_contains token_requests api_requests
//
// Absent numbers are -1, absent strings empty; JSON columns are compact,
// so no field contains a tab or newline.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type scenario struct {
	Name   string          `json:"name"`
	Op     string          `json:"op"`
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   string          `json:"body"`
	Config json.RawMessage `json:"config"`
	Faults json.RawMessage `json:"faults"`
	Expect struct {
		OK              bool   `json:"ok"`
		Token           string `json:"token"`
		Status          int    `json:"status"`
		BodyContains    string `json:"body_contains"`
		Error           string `json:"error"`
		MessageContains string `json:"message_contains"`
		TokenRequests   *int   `json:"token_requests"`
		APIRequests     *int   `json:"api_requests"`
	} `json:"expect"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: vectors2tsv vectors.json")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var v struct {
		Scenarios []scenario `json:"scenarios"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	num := func(p *int) string {
		if p == nil {
			return "-1"
		}
		return fmt.Sprint(*p)
	}
	compact := func(m json.RawMessage, def string) string {
		if len(m) == 0 {
			return def
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, m); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return buf.String()
	}
	for _, s := range v.Scenarios {
		ok := "0"
		if s.Expect.OK {
			ok = "1"
		}
		cols := []string{s.Name, s.Op, s.Method, s.Path, s.Body, compact(s.Config, "{}"), compact(s.Faults, ""),
			ok, s.Expect.Token, fmt.Sprint(s.Expect.Status), s.Expect.BodyContains, s.Expect.Error,
			s.Expect.MessageContains, num(s.Expect.TokenRequests), num(s.Expect.APIRequests)}
		for _, c := range cols {
			if strings.ContainsAny(c, "\t\n") {
				fmt.Fprintf(os.Stderr, "scenario %q: a field contains a tab or newline\n", s.Name)
				os.Exit(1)
			}
		}
		fmt.Println(strings.Join(cols, "\t"))
	}
}
