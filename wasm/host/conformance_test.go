package host

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// conformance mirrors testdata/conformance/vectors.json (see its README).
type conformance struct {
	Format    string `json:"format"`
	Scenarios []struct {
		Name   string            `json:"name"`
		Op     string            `json:"op"`
		Method string            `json:"method"`
		Path   string            `json:"path"`
		Body   string            `json:"body"`
		Config map[string]any    `json:"config"`
		Faults []json.RawMessage `json:"faults"`
		Expect struct {
			OK              bool   `json:"ok"`
			Token           string `json:"token"`
			Status          int    `json:"status"`
			BodyContains    string `json:"body_contains"`
			Error           string `json:"error"`
			MessageContains string `json:"message_contains"`
			TokenRequests   *int64 `json:"token_requests"`
			APIRequests     *int64 `json:"api_requests"`
		} `json:"expect"`
	} `json:"scenarios"`
}

// syncBuffer collects what the guest writes to stderr (wazero writes from
// the goroutine calling an export; the test reads from its own).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// outcome is what one surface did with a scenario.
type outcome struct {
	err   error
	token string
	resp  *core.Response
}

// TestConformance runs the shared vectors through the plugin (host.Plugin,
// a client from the config JSON, the scenario's operation) against an
// in-process dev cluster on 127.0.0.1, checking expect as the vectors'
// README says, exactly as core/conformance_test.go does for the Go core.
// Each scenario is then run again on the native core, on the same cluster
// with the same faults: the plugin is the same core, so the error kind,
// the HTTP status and the error text must be the same byte for byte.
func TestConformance(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/conformance/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vec conformance
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	if vec.Format != "zbauth-conformance-v1" || len(vec.Scenarios) < 20 {
		t.Fatalf("unexpected vectors file: format %q, %d scenarios", vec.Format, len(vec.Scenarios))
	}
	cl := cluster(t, devcluster.Options{Addr: "127.0.0.1:0"})
	opts := cl.Options()
	stderr := &syncBuffer{}
	// The plugin's origin allow-list comes from each client's config; the
	// guest sees an empty environment (load's default), as the native
	// client below sees none either.
	p := load(t, prodModule, WithStderr(stderr))
	control := func(method, path string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, cl.URL()+path, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
	}
	leaks := func(text string) []string {
		var found []string
		for _, bad := range []string{"SECRET-MARKER", "TOKEN-MARKER", opts.ClientSecret} {
			if strings.Contains(text, bad) {
				found = append(found, bad)
			}
		}
		return found
	}
	for _, sc := range vec.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			arm := func() {
				control("POST", "/_dev/reset", nil)
				if len(sc.Faults) > 0 {
					b, _ := json.Marshal(sc.Faults)
					control("POST", "/_dev/faults", b)
				}
			}
			cfg := map[string]any{
				"client_id": opts.ClientID, "client_secret": opts.ClientSecret, "audience": opts.Audience,
				"authorization_server_url": cl.TokenURL(), "rest_address": cl.RESTAddress(),
			}
			for k, v := range sc.Config {
				cfg[k] = v
			}
			cfgJSON, _ := json.Marshal(cfg)
			var body []byte
			if sc.Body != "" {
				body = []byte(sc.Body)
			}

			// Through the plugin.
			arm()
			var got outcome
			c, err := p.NewClient(context.Background(), cfgJSON)
			if err != nil {
				got.err = err
			} else {
				ctx := context.Background()
				switch sc.Op {
				case "token":
					got.token, got.err = c.Token(ctx)
				case "topology":
					_, got.err = c.Topology(ctx)
				case "request":
					got.resp, got.err = c.Do(ctx, sc.Method, sc.Path, body)
				default:
					t.Fatalf("unknown op %q", sc.Op)
				}
				c.Close()
			}
			st := cl.Stats()
			if got.err != nil {
				t.Logf("plugin: %v", got.err)
			}

			ex := sc.Expect
			if ex.OK {
				if got.err != nil {
					t.Fatalf("want success, got %v", got.err)
				}
				if ex.Token != "" && got.token != ex.Token {
					t.Errorf("token = %q, want %q", got.token, ex.Token)
				}
				if ex.Status != 0 && (got.resp == nil || got.resp.Status != ex.Status) {
					t.Errorf("response = %+v, want status %d", got.resp, ex.Status)
				}
				if ex.BodyContains != "" && (got.resp == nil || !strings.Contains(string(got.resp.Body), ex.BodyContains)) {
					t.Errorf("body does not contain %q", ex.BodyContains)
				}
			} else {
				if got.err == nil {
					t.Fatalf("want %s error, got success", ex.Error)
				}
				if k := core.KindOf(got.err).String(); k != ex.Error {
					t.Errorf("kind = %s, want %s (%v)", k, ex.Error, got.err)
				}
				e, isCore := got.err.(*core.Error)
				if !isCore {
					t.Errorf("error %T is not a *core.Error: %v", got.err, got.err)
				}
				if ex.Status != 0 && (!isCore || e.Status != ex.Status) {
					t.Errorf("status: want %d in %v", ex.Status, got.err)
				}
				msg := got.err.Error()
				if ex.MessageContains != "" && !strings.Contains(msg, ex.MessageContains) {
					t.Errorf("message %q does not contain %q", msg, ex.MessageContains)
				}
				for _, text := range []string{msg, fmt.Sprintf("%+v %#v", got.err, got.err)} {
					if bad := leaks(text); bad != nil {
						t.Errorf("error leaks %q: %s", bad, text)
					}
				}
			}
			if ex.TokenRequests != nil && st.TokenRequests != *ex.TokenRequests {
				t.Errorf("token requests = %d, want %d", st.TokenRequests, *ex.TokenRequests)
			}
			if ex.APIRequests != nil && st.APIRequests != *ex.APIRequests {
				t.Errorf("api requests = %d, want %d", st.APIRequests, *ex.APIRequests)
			}
			if bad := leaks(stderr.String()); bad != nil {
				t.Errorf("the guest's stderr leaks %q: %s", bad, stderr.String())
			}

			// The same on the native core: the outcomes must not differ.
			arm()
			var nat outcome
			nc, err := func() (*core.Client, error) {
				conf, err := core.ParseConfigJSON(cfgJSON)
				if err != nil {
					return nil, err
				}
				return core.New(conf, core.WithLookupEnv(func(string) (string, bool) { return "", false }))
			}()
			if err != nil {
				nat.err = err
			} else {
				ctx := context.Background()
				switch sc.Op {
				case "token":
					nat.token, nat.err = nc.Token(ctx)
				case "topology":
					_, nat.err = nc.Topology(ctx)
				case "request":
					nat.resp, nat.err = nc.Do(ctx, sc.Method, sc.Path, body)
				}
				nc.Close()
			}
			nst := cl.Stats()
			compareOutcomes(t, got, nat)
			if nst.TokenRequests != st.TokenRequests || nst.APIRequests != st.APIRequests {
				t.Errorf("dev cluster requests (token, api): plugin (%d, %d), native (%d, %d)",
					st.TokenRequests, st.APIRequests, nst.TokenRequests, nst.APIRequests)
			}
		})
	}
	if st := p.Stats(); st.Traps != 0 || st.GuestFaults != 0 {
		t.Errorf("plugin stats after the vectors: %+v", st)
	}
}

// compareOutcomes fails t when the plugin and the native core disagree.
func compareOutcomes(t *testing.T, plug, nat outcome) {
	t.Helper()
	if (plug.err == nil) != (nat.err == nil) {
		t.Errorf("plugin error %v, native error %v", plug.err, nat.err)
		return
	}
	if plug.err == nil {
		if plug.resp != nil && nat.resp != nil && plug.resp.Status != nat.resp.Status {
			t.Errorf("status: plugin %d, native %d", plug.resp.Status, nat.resp.Status)
		}
		return
	}
	var pe, ne *core.Error
	pe, _ = plug.err.(*core.Error)
	ne, _ = nat.err.(*core.Error)
	if pe == nil || ne == nil {
		t.Errorf("not both *core.Error: plugin %T, native %T", plug.err, nat.err)
		return
	}
	if pe.Kind != ne.Kind || pe.Status != ne.Status || pe.OAuthError != ne.OAuthError || (pe.Problem == nil) != (ne.Problem == nil) {
		t.Errorf("errors differ:\nplugin: %v %d %q %v\nnative: %v %d %q %v",
			pe.Kind, pe.Status, pe.OAuthError, pe.Problem, ne.Kind, ne.Status, ne.OAuthError, ne.Problem)
	}
	if pe.Error() != ne.Error() {
		t.Errorf("texts differ:\nplugin: %s\nnative: %s", pe.Error(), ne.Error())
	}
}

// TestCallerGivesUpSameAsNative: a caller's cancellation or deadline ends
// a REST call with the native error text, whichever of the guest's
// context, the host's request timeout and the host's zb_cancel ends it.
func TestCallerGivesUpSameAsNative(t *testing.T) {
	cl := cluster(t, devcluster.Options{Addr: "127.0.0.1:0"})
	p := load(t, prodModule)
	cfg := configFor(cl, "")
	plug := newClient(t, p, cfg)
	parsed, err := core.ParseConfigJSON(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nat, err := core.New(parsed, core.WithLookupEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}
	defer nat.Close()
	for _, c := range []interface {
		Token(context.Context) (string, error)
	}{plug, nat} {
		if _, err := c.Token(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	type doer func(ctx context.Context) error
	run := func(how string, do doer) error {
		cl.AddFault(devcluster.Fault{Target: "api", DelayMS: 10000, Times: 1})
		var ctx context.Context
		var cancel context.CancelFunc
		if how == "cancel" {
			ctx, cancel = context.WithCancel(context.Background())
			go func() { time.Sleep(300 * time.Millisecond); cancel() }()
		} else {
			ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
		}
		defer cancel()
		return do(ctx)
	}
	for _, how := range []string{"cancel", "deadline"} {
		t.Run(how, func(t *testing.T) {
			perr := run(how, func(ctx context.Context) error { _, err := plug.Topology(ctx); return err })
			nerr := run(how, func(ctx context.Context) error { _, err := nat.Topology(ctx); return err })
			t.Logf("plugin: %v", perr)
			if core.KindOf(perr) != core.KindTimeout {
				t.Fatalf("want TIMEOUT, got %v", perr)
			}
			compareOutcomes(t, outcome{err: perr}, outcome{err: nerr})
		})
	}
}
