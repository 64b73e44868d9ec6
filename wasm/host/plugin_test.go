package host

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
	"github.com/zbauth/zbauth/internal/jsonx"
)

func TestTokenTopologyRequest(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	ctx := context.Background()

	tok, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("token %q is not a JWT", tok)
	}
	topo, err := c.Topology(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topo.ClusterSize != 3 || len(topo.Brokers) != 3 || topo.GatewayVersion != "8.7.0-dev" {
		t.Fatalf("unexpected topology %+v", topo)
	}
	resp, err := c.Do(ctx, "POST", "/v2/echo", []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var echo struct {
		Method, Path string
		Body         map[string]any
	}
	if err := jsonx.Unmarshal(resp.Body, &echo); err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || echo.Method != "POST" || echo.Path != "/v2/echo" || echo.Body["n"] != float64(1) {
		t.Fatalf("unexpected echo %d %+v", resp.Status, echo)
	}
	if !strings.HasPrefix(resp.Header["Content-Type"], "application/json") {
		t.Fatalf("response headers lost: %v", resp.Header)
	}
	resp, err = c.Do(ctx, "GET", "v2/echo", nil) // relative path without slash, no body
	if err != nil || resp.Status != 200 {
		t.Fatal(resp, err)
	}
	st := cl.Stats()
	if st.TokenRequests != 1 || !st.LastAuthHeader {
		t.Fatalf("want one token request and bearer auth, got %+v", st)
	}
	if ps := p.Stats(); ps.HTTPRequests != 4 || ps.Refused != 0 || ps.GuestFaults != 0 {
		t.Fatalf("plugin stats %+v", ps)
	}
	// Nothing lingers in the guest: no goroutine, so no wake-up either.
	if ps := p.Stats(); ps.Wake != -1 || ps.InFlight != 0 {
		t.Fatalf("after the calls: %+v", ps)
	}
}

// TestSameAsCore runs scenarios through the plugin and through the native
// core and compares the outcomes: the plugin is the same core.
func TestSameAsCore(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	ctx := context.Background()
	native := func(cfg []byte) *core.Client {
		parsed, err := core.ParseConfigJSON(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c, err := core.New(parsed, core.WithLookupEnv(func(string) (string, bool) { return "", false }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	cases := []struct {
		name  string
		cfg   []byte
		fault *devcluster.Fault
		run   func(tokenOrDo func() error) error
		kind  core.Kind
	}{
		{name: "auth", cfg: configFor(cl, `"client_secret":"wrong-secret"`), kind: core.KindAuth},
		{name: "api-404", cfg: configFor(cl, ""), kind: core.KindAPI},
		{name: "api-503", cfg: configFor(cl, ""), fault: &devcluster.Fault{Target: "api", Status: 503, Times: 1}, kind: core.KindAPI},
		{name: "argument", cfg: configFor(cl, ""), kind: core.KindArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := func(do func(method, path string) error) error {
				switch tc.name {
				case "api-404":
					return do("GET", "/v2/no-such-thing")
				case "argument":
					return do("GET", "http://elsewhere.example/v2/echo")
				}
				return do("GET", "/v2/echo")
			}
			plug := newClient(t, p, tc.cfg)
			nat := native(tc.cfg)
			if tc.fault != nil {
				cl.AddFault(*tc.fault)
			}
			perr := op(func(m, path string) error { _, err := plug.Do(ctx, m, path, nil); return err })
			if tc.fault != nil {
				cl.AddFault(*tc.fault)
			}
			nerr := op(func(m, path string) error { _, err := nat.Do(ctx, m, path, nil); return err })
			pe, ne := asCoreError(t, perr), asCoreError(t, nerr)
			if pe.Kind != tc.kind || ne.Kind != tc.kind {
				t.Fatalf("kinds: plugin %v, native %v, want %v", pe.Kind, ne.Kind, tc.kind)
			}
			if pe.Error() != ne.Error() {
				t.Fatalf("texts differ:\nplugin: %s\nnative: %s", pe.Error(), ne.Error())
			}
			if pe.Status != ne.Status || pe.OAuthError != ne.OAuthError || (pe.Problem == nil) != (ne.Problem == nil) {
				t.Fatalf("fields differ: plugin %+v, native %+v", pe, ne)
			}
		})
	}
}

// TestErrorKinds makes every kind surface with its code and text.
func TestErrorKinds(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule, WithMaxResponseBody(64<<10))
	tp := load(t, testModule)
	ctx := context.Background()
	good := configFor(cl, "")

	check := func(t *testing.T, err error, kind core.Kind, text ...string) *core.Error {
		t.Helper()
		e := asCoreError(t, err)
		if e.Kind != kind || core.KindOf(err) != kind {
			t.Fatalf("kind %v (%d), want %v: %v", e.Kind, e.Kind, kind, err)
		}
		for _, s := range text {
			if !strings.Contains(e.Error(), s) {
				t.Fatalf("error text %q lacks %q", e.Error(), s)
			}
		}
		return e
	}

	t.Run("1-argument", func(t *testing.T) {
		c := newClient(t, p, good)
		_, err := c.Do(ctx, "GE T", "/v2/echo", nil)
		check(t, err, core.KindArgument, "zbauth: request: invalid HTTP method")
		c.Close()
		_, err = c.Token(ctx)
		check(t, err, core.KindArgument, "client is closed")
	})
	t.Run("2-config", func(t *testing.T) {
		_, err := p.NewClient(ctx, []byte(`{"client_idd":"x"}`))
		check(t, err, core.KindConfig, "invalid config JSON", "unknown field")
		_, err = p.NewClient(ctx, []byte(`{}`))
		e := check(t, err, core.KindConfig, "client_id is missing", "rest_address is missing")
		if len(e.Fields) < 3 {
			t.Fatalf("fields %v", e.Fields)
		}
	})
	t.Run("3-auth", func(t *testing.T) {
		c := newClient(t, p, configFor(cl, `"client_secret":"not-the-secret"`))
		_, err := c.Token(ctx)
		e := check(t, err, core.KindAuth, "token endpoint refused the request (HTTP 401): invalid_client")
		if e.Status != 401 || e.OAuthError != "invalid_client" || strings.Contains(e.Error(), "not-the-secret") {
			t.Fatalf("unexpected %+v", e)
		}
	})
	t.Run("4-api", func(t *testing.T) {
		c := newClient(t, p, good)
		resp, err := c.Do(ctx, "GET", "/v2/missing", nil)
		e := check(t, err, core.KindAPI, "(HTTP 404)", "Not Found")
		if e.Status != 404 || e.Problem == nil || resp == nil || resp.Status != 404 || len(resp.Body) == 0 {
			t.Fatalf("unexpected %+v / %+v", e, resp)
		}
	})
	t.Run("5-transport", func(t *testing.T) {
		// A REST address whose server hangs up on every connection.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				conn.Close()
			}
		}()
		dead := newClient(t, p, configFor(cl, `"rest_address":"http://`+ln.Addr().String()+`"`))
		_, err = dead.Do(ctx, "GET", "/v2/echo", nil)
		check(t, err, core.KindTransport, "zbauth: request: request failed")
		c := newClient(t, p, good)
		// A body over the host's limit (64 KiB here) never reaches the guest.
		cl.AddFault(devcluster.Fault{Target: "api", BodyBytes: 1 << 20, Times: 1})
		_, err = c.Do(ctx, "GET", "/v2/echo", nil)
		check(t, err, core.KindTransport, "exceeds the size limit")
		if !errors.Is(err, core.ErrBodyTooLarge) {
			t.Fatalf("errors.Is(err, ErrBodyTooLarge) is false for %v", err)
		}
	})
	t.Run("6-timeout", func(t *testing.T) {
		// The client's own timeout (enforced on the host's request).
		c := newClient(t, p, configFor(cl, `"timeout_ms":300`))
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		cl.AddFault(devcluster.Fault{Target: "api", DelayMS: 10000, Times: 1})
		start := time.Now()
		_, err := c.Do(ctx, "GET", "/v2/echo", nil)
		check(t, err, core.KindTimeout, "timed out")
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v", d)
		}
		// The caller's deadline.
		c2 := newClient(t, p, good)
		if _, err := c2.Token(ctx); err != nil {
			t.Fatal(err)
		}
		cl.AddFault(devcluster.Fault{Target: "api", DelayMS: 10000, Times: 1})
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start = time.Now()
		_, err = c2.Topology(dctx)
		check(t, err, core.KindTimeout, "zbauth: topology: request timed out or was cancelled")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want DeadlineExceeded in the chain: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v", d)
		}
		eventually(t, 5*time.Second, "the host to abort the request", func() bool { return p.Stats().InFlight == 0 })
	})
	t.Run("7-internal", func(t *testing.T) {
		c := newClient(t, tp, good)
		err := c.invoke(ctx, "panic", func(in *instance, h, call, ms int32) error {
			return in.drive(in.mod.ExportedFunction("zbtest_panic"), uint64(call))
		}, func(status int32, payload []byte) error {
			e, _ := decodeError("panic", status, payload)
			if status == 0 {
				return nil
			}
			return e
		})
		check(t, err, core.KindInternal, "recovered panic", "test panic inside an operation")
		if _, err := c.Token(ctx); err != nil { // the instance is fine
			t.Fatal(err)
		}
		if tp.Stats().Traps != 0 {
			t.Fatal("a recovered panic must not trap")
		}
	})
}

func TestTokenCacheAndEarlyRefresh(t *testing.T) {
	// expires_in 4 s: the refresh margin is a quarter, so the token is
	// refreshed in the background from 3 s on.
	cl := cluster(t, devcluster.Options{TokenLifetime: 4 * time.Second})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	ctx := context.Background()
	t0 := time.Now()
	first, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		tok, err := c.Token(ctx)
		if err != nil || tok != first {
			t.Fatalf("call %d: %v (new token: %v)", i, err, tok != first)
		}
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Fatalf("%d token requests for 101 calls", n)
	}
	time.Sleep(time.Until(t0.Add(3300 * time.Millisecond)))
	// In the refresh window (from 3 s after the request was sent) the
	// cached token comes back at once and one background request renews it.
	tok, err := c.Token(ctx)
	if err != nil || tok != first {
		t.Fatalf("in the refresh window: %v, same token %v", err, tok == first)
	}
	eventually(t, 10*time.Second, "the background refresh", func() bool {
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		return cl.Stats().TokensIssued == 2
	})
	eventually(t, 5*time.Second, "the new token to be cached", func() bool {
		tok, err := c.Token(ctx)
		return err == nil && tok != first
	})
	if n := cl.Stats().TokenRequests; n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
}

func Test401Retry(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	ctx := context.Background()
	old, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl.RevokeAll()
	// 401 → the guest drops the token, fetches a new one (after the core's
	// one-second rate limit: a guest timer the host wakes the guest for) and
	// retries once.
	if _, err := c.Topology(ctx); err != nil {
		t.Fatal(err)
	}
	st := cl.Stats()
	if st.TokensIssued != 2 || st.APIRejected != 1 || st.APIRequests != 2 {
		t.Fatalf("stats %+v", st)
	}
	if tok, _ := c.Token(ctx); tok == old {
		t.Fatal("the revoked token is still cached")
	}
}

// TestSixteenGoroutines: one plugin, one client, 16 goroutines, a slow
// token endpoint and a slow REST API: one token request between them, and
// their network waits overlap — all 16 REST requests are in flight at once
// while the instance lock is free (Stats takes it). Proven by counting,
// not by timing, so that a loaded machine cannot fail it.
func TestSixteenGoroutines(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	const n = 16
	const delay = time.Second
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: int(delay / time.Millisecond), Times: 1})
	cl.AddFault(devcluster.Fault{Target: "api", DelayMS: int(delay / time.Millisecond), Times: n})
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Token(context.Background()); err != nil {
				errs <- err
				return
			}
			if _, err := c.Topology(context.Background()); err != nil {
				errs <- err
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	maxInFlight := 0
	for polling := true; polling; {
		select {
		case <-finished:
			polling = false
		case <-time.After(2 * time.Millisecond):
			maxInFlight = max(maxInFlight, p.Stats().InFlight)
		}
	}
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := cl.Stats()
	if st.TokenRequests != 1 {
		t.Fatalf("%d token requests, want 1", st.TokenRequests)
	}
	if st.APIRequests != n {
		t.Fatalf("%d API requests, want %d", st.APIRequests, n)
	}
	if maxInFlight != n {
		t.Fatalf("at most %d requests were in flight at once, want %d: the goroutines were serialised", maxInFlight, n)
	}
	// Serialised, this would take 1 + 16 delays; overlapped, 2.
	if elapsed > (n+1)*delay {
		t.Fatalf("took %v", elapsed)
	}
	t.Logf("16 goroutines: %v (one delay is %v), %d requests in flight at once", elapsed, delay, maxInFlight)
}

// TestCompilationCacheDir: a second start with WithCompilationCacheDir
// does not compile again. TestMain filled testCacheDir through the same
// option in another process (the "first start"); loading from a copy of it
// must add nothing to it: a miss would write the newly compiled module.
func TestCompilationCacheDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(testCacheDir)); err != nil {
		t.Fatal(err)
	}
	before := listFiles(t, dir)
	if len(before) == 0 {
		t.Fatal("the precompiled cache is empty")
	}
	ctx := context.Background()
	start := time.Now()
	p, err := Load(ctx, prodModule, WithCompilationCacheDir(dir), WithEnv(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	t.Logf("load from the cache directory: %v", time.Since(start))
	if after := listFiles(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("the module was compiled again: cache files %v, then %v", before, after)
	}
	cl := cluster(t, devcluster.Options{})
	c := newClient(t, p, configFor(cl, ""))
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEnvironmentConfig(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	env := map[string]string{}
	for _, kv := range cl.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	p := load(t, prodModule, WithEnv(env))
	c := newClient(t, p, []byte(`{}`))
	if _, err := c.Topology(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPluginClose(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 10000, Times: 1})
	done := make(chan error, 1)
	go func() { _, err := c.Token(context.Background()); done <- err }()
	eventually(t, 5*time.Second, "the token request", func() bool { return p.Stats().InFlight == 1 })
	p.Close(context.Background())
	select {
	case err := <-done:
		if core.KindOf(err) != core.KindArgument {
			t.Fatalf("want ARGUMENT after Close, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a call in progress did not end on Close")
	}
	if _, err := c.Token(context.Background()); core.KindOf(err) != core.KindArgument {
		t.Fatalf("want ARGUMENT after Close, got %v", err)
	}
	if _, err := p.NewClient(context.Background(), configFor(cl, "")); core.KindOf(err) != core.KindArgument {
		t.Fatalf("want ARGUMENT after Close, got %v", err)
	}
}

func TestLoadRejectsOtherModules(t *testing.T) {
	_, err := Load(context.Background(), []byte("\x00asm\x01\x00\x00\x00"))
	if core.KindOf(err) != core.KindConfig {
		t.Fatalf("want CONFIG, got %v", err)
	}
	_, err = Load(context.Background(), []byte("not wasm"))
	if core.KindOf(err) != core.KindConfig {
		t.Fatalf("want CONFIG, got %v", err)
	}
}
