package host

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/conformance"
	"github.com/zbauth/zbauth/internal/devcluster"
)

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
type outcome = conformance.Outcome

// TestConformance runs the shared vectors through the plugin (host.Plugin,
// a client from the config JSON, the scenario's operation) against an
// in-process dev cluster on 127.0.0.1, checking expect as the vectors'
// README says, exactly as core/conformance_test.go does for the Go core.
// Each scenario is then run again on the native core, on the same cluster
// with the same faults: the plugin is the same core, so the error kind,
// the HTTP status and the error text must be the same byte for byte.
func TestConformance(t *testing.T) {
	vec, err := conformance.Load("../../testdata/conformance/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	cl := cluster(t, devcluster.Options{Addr: "127.0.0.1:0"})
	opts := cl.Options()
	stderr := &syncBuffer{}
	// The plugin's origin allow-list comes from each client's config; the
	// guest sees an empty environment (load's default), as the native
	// client below sees none either.
	p := load(t, prodModule, WithStderr(stderr))
	for _, sc := range vec.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			arm := func() {
				if err := sc.Arm(cl.URL()); err != nil {
					t.Fatal(err)
				}
			}
			cfgJSON, err := sc.ConfigJSON(conformance.BaseConfig(cl), conformance.EnvLookup(cl.Env()))
			if err != nil {
				t.Fatal(err)
			}

			// Through the plugin.
			arm()
			var got outcome
			c, err := p.NewClient(context.Background(), cfgJSON)
			if err != nil {
				got.Err = err
			} else {
				got = sc.Run(context.Background(), c)
				c.Close()
			}
			st := cl.Stats()
			if got.Err != nil {
				t.Logf("plugin: %v", got.Err)
			}
			if _, isCore := got.Err.(*core.Error); got.Err != nil && !isCore {
				t.Errorf("error %T is not a *core.Error: %v", got.Err, got.Err)
			}
			for _, problem := range sc.Check(got, st, opts.ClientSecret) {
				t.Error(problem)
			}
			if bad := conformance.Leaks(stderr.String(), opts.ClientSecret); bad != nil {
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
				nat.Err = err
			} else {
				nat = sc.Run(context.Background(), nc)
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
	if (plug.Err == nil) != (nat.Err == nil) {
		t.Errorf("plugin error %v, native error %v", plug.Err, nat.Err)
		return
	}
	if plug.Err == nil {
		if plug.Resp != nil && nat.Resp != nil && plug.Resp.Status != nat.Resp.Status {
			t.Errorf("status: plugin %d, native %d", plug.Resp.Status, nat.Resp.Status)
		}
		return
	}
	var pe, ne *core.Error
	pe, _ = plug.Err.(*core.Error)
	ne, _ = nat.Err.(*core.Error)
	if pe == nil || ne == nil {
		t.Errorf("not both *core.Error: plugin %T, native %T", plug.Err, nat.Err)
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
			compareOutcomes(t, outcome{Err: perr}, outcome{Err: nerr})
		})
	}
}
