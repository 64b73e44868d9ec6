// Command vectors2tsv flattens testdata/conformance/vectors.json into one
// tab-separated line per scenario, for the C conformance runner (which has
// no JSON parser). Columns, in order:
//
//	name op method path body config_json dev_config_json faults_json
//	expect_ok token status body_contains error message_contains
//	token_requests api_requests topology_cluster_id
//
// Absent numbers are -1, absent strings empty; JSON columns are compact,
// so no field contains a tab or newline (dev_config_json is empty when the
// scenario has none). topology_cluster_id tells absent from "": it is
// empty when the scenario does not check the cluster id, and "=" followed
// by the expected id when it does ("=" alone: a topology without one).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/zbauth/zbauth/internal/conformance"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: vectors2tsv vectors.json")
		os.Exit(2)
	}
	v, err := conformance.Load(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	num := func(p *int64) string {
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
	clusterID := func(p *string) string {
		if p == nil {
			return ""
		}
		return "=" + *p
	}
	for _, s := range v.Scenarios {
		ok := "0"
		if s.Expect.OK {
			ok = "1"
		}
		cols := []string{s.Name, s.Op, s.Method, s.Path, s.Body, compact(s.Config, "{}"), compact(s.DevConfig, ""), string(s.FaultsJSON()),
			ok, s.Expect.Token, fmt.Sprint(s.Expect.Status), s.Expect.BodyContains, s.Expect.Error,
			s.Expect.MessageContains, num(s.Expect.TokenRequests), num(s.Expect.APIRequests), clusterID(s.Expect.TopologyClusterID)}
		for _, c := range cols {
			if strings.ContainsAny(c, "\t\n") {
				fmt.Fprintf(os.Stderr, "scenario %q: a field contains a tab or newline\n", s.Name)
				os.Exit(1)
			}
		}
		fmt.Println(strings.Join(cols, "\t"))
	}
}
