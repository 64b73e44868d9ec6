// Package conformance loads and runs the shared conformance vectors
// (testdata/conformance/vectors.json; its README says what a runner does)
// for the Go surfaces: the core and the Wasm host. The C, Python and Node
// runners follow the same README in their own languages.
package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// Format is the vectors file's format tag.
const Format = "zbauth-conformance-v1"

// Vectors is the decoded vectors file.
type Vectors struct {
	Format    string     `json:"format"`
	Scenarios []Scenario `json:"scenarios"`
}

// Scenario is one behaviour every surface must show.
type Scenario struct {
	Name   string          `json:"name"`
	Op     string          `json:"op"` // "token", "topology" or "request"
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   string          `json:"body"`
	Config json.RawMessage `json:"config"`
	// DevConfig is POSTed to /_dev/config after the reset.
	DevConfig json.RawMessage   `json:"dev_config"`
	Faults    []json.RawMessage `json:"faults"`
	Expect    Expect            `json:"expect"`
}

// Expect is a scenario's expected outcome; nil counters are not checked.
type Expect struct {
	OK              bool   `json:"ok"`
	Token           string `json:"token"`
	Status          int    `json:"status"`
	BodyContains    string `json:"body_contains"`
	Error           string `json:"error"`
	MessageContains string `json:"message_contains"`
	TokenRequests   *int64 `json:"token_requests"`
	APIRequests     *int64 `json:"api_requests"`
	// TopologyClusterID, when present, is the clusterId a topology must
	// have ("" for a v1 answer).
	TopologyClusterID *string `json:"topology_cluster_id"`
}

// Load reads and checks a vectors file.
func Load(path string) (*Vectors, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v Vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if v.Format != Format || len(v.Scenarios) == 0 {
		return nil, fmt.Errorf("%s: format %q with %d scenarios, want %q", path, v.Format, len(v.Scenarios), Format)
	}
	return &v, nil
}

// BaseConfig is the configuration that points a client at cl, as a
// runner's environment would.
func BaseConfig(cl *devcluster.Cluster) map[string]any {
	o := cl.Options()
	return map[string]any{
		"client_id": o.ClientID, "client_secret": o.ClientSecret, "audience": o.Audience,
		"authorization_server_url": cl.TokenURL(), "rest_address": cl.RESTAddress(),
	}
}

// ConfigJSON is base overlaid with the scenario's config, as JSON, with
// "$NAME..." strings expanded through env (see Expand).
func (s Scenario) ConfigJSON(base map[string]any, env func(string) (string, bool)) ([]byte, error) {
	cfg := make(map[string]any, len(base))
	for k, v := range base {
		cfg[k] = v
	}
	if len(s.Config) > 0 {
		var over map[string]any
		if err := json.Unmarshal(s.Config, &over); err != nil {
			return nil, err
		}
		for k, v := range over {
			if str, ok := v.(string); ok {
				v = Expand(str, env)
			}
			cfg[k] = v
		}
	}
	return json.Marshal(cfg)
}

// Expand replaces a leading "$NAME" (NAME an environment variable's name,
// [A-Z][A-Z0-9_]*) with the variable's value from env, as every runner
// does with the vectors' config strings; other strings are returned as
// they are.
func Expand(s string, env func(string) (string, bool)) string {
	if len(s) < 2 || s[0] != '$' || s[1] < 'A' || s[1] > 'Z' {
		return s
	}
	n := 2
	for n < len(s) && (s[n] >= 'A' && s[n] <= 'Z' || s[n] >= '0' && s[n] <= '9' || s[n] == '_') {
		n++
	}
	v, _ := env(s[1:n])
	return v + s[n:]
}

// EnvLookup reads KEY=VALUE strings, as devcluster.Cluster.Env gives them.
func EnvLookup(kv []string) func(string) (string, bool) {
	m := map[string]string{}
	for _, e := range kv {
		if k, v, ok := strings.Cut(e, "="); ok {
			m[k] = v
		}
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// FaultsJSON is the scenario's faults array, or nil when it has none.
func (s Scenario) FaultsJSON() []byte {
	if len(s.Faults) == 0 {
		return nil
	}
	b, _ := json.Marshal(s.Faults)
	return b
}

// Arm resets the dev cluster at devURL and queues the scenario's faults,
// through the control endpoints every surface's runner uses.
func (s Scenario) Arm(devURL string) error {
	if err := control("POST", devURL+"/_dev/reset", nil); err != nil {
		return err
	}
	if len(s.DevConfig) > 0 {
		if err := control("POST", devURL+"/_dev/config", s.DevConfig); err != nil {
			return err
		}
	}
	if f := s.FaultsJSON(); f != nil {
		return control("POST", devURL+"/_dev/faults", f)
	}
	return nil
}

func control(method, url string, body []byte) error {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	return nil
}

// Client is what a Go surface offers: core.Client and the Wasm host's
// Client both have these methods.
type Client interface {
	Token(ctx context.Context) (string, error)
	Topology(ctx context.Context) (*core.Topology, error)
	Do(ctx context.Context, method, path string, body []byte) (*core.Response, error)
	Close() error
}

// Outcome is what a surface did with a scenario.
type Outcome struct {
	Err      error
	Token    string
	Resp     *core.Response
	Topology *core.Topology
}

// Run performs the scenario's operation on c (which it does not close).
func (s Scenario) Run(ctx context.Context, c Client) Outcome {
	var o Outcome
	switch s.Op {
	case "token":
		o.Token, o.Err = c.Token(ctx)
	case "topology":
		o.Topology, o.Err = c.Topology(ctx)
	case "request":
		var body []byte
		if s.Body != "" {
			body = []byte(s.Body)
		}
		o.Resp, o.Err = c.Do(ctx, s.Method, s.Path, body)
	default:
		o.Err = fmt.Errorf("conformance: unknown op %q", s.Op)
	}
	return o
}

// Check compares an outcome and the dev cluster's counters after it with
// the expectation, and reports every difference. No error text may contain
// SECRET-MARKER, TOKEN-MARKER or any of secrets.
func (s Scenario) Check(o Outcome, st devcluster.Stats, secrets ...string) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	ex := s.Expect
	if ex.OK {
		if o.Err != nil {
			fail("want success, got %v", o.Err)
		}
		if ex.Token != "" && o.Token != ex.Token {
			fail("token = %q, want %q", o.Token, ex.Token)
		}
		if ex.Status != 0 && (o.Resp == nil || o.Resp.Status != ex.Status) {
			fail("response %+v, want status %d", o.Resp, ex.Status)
		}
		if ex.BodyContains != "" && (o.Resp == nil || !strings.Contains(string(o.Resp.Body), ex.BodyContains)) {
			fail("body does not contain %q", ex.BodyContains)
		}
		if want := ex.TopologyClusterID; want != nil && (o.Topology == nil || o.Topology.ClusterID != *want) {
			fail("topology %+v, want clusterId %q", o.Topology, *want)
		}
	} else if o.Err == nil {
		fail("want %s error, got success", ex.Error)
	} else {
		if k := core.KindOf(o.Err).String(); k != ex.Error {
			fail("kind = %s, want %s (%v)", k, ex.Error, o.Err)
		}
		var e *core.Error
		if ex.Status != 0 && (!errors.As(o.Err, &e) || e.Status != ex.Status) {
			fail("status: want %d in %v", ex.Status, o.Err)
		}
		msg := o.Err.Error()
		if ex.MessageContains != "" && !strings.Contains(msg, ex.MessageContains) {
			fail("message %q does not contain %q", msg, ex.MessageContains)
		}
		for _, text := range []string{msg, fmt.Sprintf("%+v %#v", o.Err, o.Err)} {
			if leaked := Leaks(text, secrets...); leaked != nil {
				fail("error leaks %q: %s", leaked, text)
			}
		}
	}
	if ex.TokenRequests != nil && st.TokenRequests != *ex.TokenRequests {
		fail("token requests = %d, want %d", st.TokenRequests, *ex.TokenRequests)
	}
	if ex.APIRequests != nil && st.APIRequests != *ex.APIRequests {
		fail("api requests = %d, want %d", st.APIRequests, *ex.APIRequests)
	}
	return bad
}

// Leaks returns the markers and secrets that text contains.
func Leaks(text string, secrets ...string) []string {
	var found []string
	for _, s := range append([]string{"SECRET-MARKER", "TOKEN-MARKER"}, secrets...) {
		if s != "" && strings.Contains(text, s) {
			found = append(found, s)
		}
	}
	return found
}
