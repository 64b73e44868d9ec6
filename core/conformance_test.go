package core_test

import (
	"context"
	"testing"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/conformance"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// TestConformance runs the shared vectors (testdata/conformance) against
// the Go core.
func TestConformance(t *testing.T) {
	vec, err := conformance.Load("../testdata/conformance/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := devcluster.Start(devcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := conformance.BaseConfig(cl)
	for _, sc := range vec.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			if err := sc.Arm(cl.URL()); err != nil {
				t.Fatal(err)
			}
			cfgJSON, err := sc.ConfigJSON(base, conformance.EnvLookup(cl.Env()))
			if err != nil {
				t.Fatal(err)
			}
			var o conformance.Outcome
			c, err := newConfClient(cfgJSON)
			if err != nil {
				o.Err = err
			} else {
				o = sc.Run(context.Background(), c)
				c.Close()
			}
			for _, p := range sc.Check(o, cl.Stats(), cl.Options().ClientSecret) {
				t.Error(p)
			}
		})
	}
}

// newConfClient creates a client from config JSON alone, as the C, Wasm,
// Python and Node surfaces do.
func newConfClient(cfgJSON []byte) (*core.Client, error) {
	conf, err := core.ParseConfigJSON(cfgJSON)
	if err != nil {
		return nil, err
	}
	return core.New(conf, core.WithLookupEnv(func(string) (string, bool) { return "", false }))
}
