package host

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
	"github.com/zbauth/zbauth/internal/redact"
)

// Issue 7 through the plugin: neither the client secret nor an access
// token ever appears in an error, in what the host forwards from the
// guest's stderr (its only log), in a guest panic report, or in a
// formatted Plugin or Client — whatever went wrong. Servers echo both back
// wherever they can.

const (
	secretMarker = "SECRET-MARKER-abc123"
	tokenMarker  = "TOKEN-MARKER-xyz789"
)

// fmtAll formats v every way a user might log it.
func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s", v, v, v, v)
}

func serve(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// echoRequest describes r in full: method, URL, headers and body.
func echoRequest(r *http.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL)
	for k, vs := range r.Header {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ","))
	}
	body, _ := io.ReadAll(r.Body)
	b.Write(body)
	return b.String()
}

// withSecret is base with the secret in the path and in the query, as a
// careless configuration might have it.
func withSecret(base, secret string) string {
	return base + "/" + url.PathEscape(secret) + "/token?client_secret=" + url.QueryEscape(secret)
}

// markerTokenURL is a token endpoint that issues tokenMarker (no expiry).
func markerTokenURL(t testing.TB) string {
	return serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"` + tokenMarker + `","token_type":"Bearer"}`))
	}).URL + "/oauth/token"
}

// deadURL is an http URL on a loopback port nobody listens on.
func deadURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// slowServer answers nothing for 5 s (or until the client hangs up).
func slowServer(t testing.TB) string {
	return serve(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // else a client hanging up goes unnoticed
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}).URL
}

// apiEchoing answers every REST request with status and the request
// (bearer token included), echoed into a problem document.
func apiEchoing(t testing.TB, status int) string {
	return serve(t, func(w http.ResponseWriter, r *http.Request) {
		dump := echoRequest(r)
		b, _ := json.Marshal(map[string]any{"type": dump, "title": dump, "status": status, "detail": dump, "instance": dump})
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		w.Write(b)
	}).URL
}

// cfgJSON is a config document; extra adds or replaces keys.
func cfgJSON(secret, tokenURL, restURL string, extra map[string]any) []byte {
	m := map[string]any{"client_id": "id", "client_secret": secret, "authorization_server_url": tokenURL, "rest_address": restURL}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// leakEnv is one scenario's plugin (a fresh one: the stderr it captured is
// the scenario's) and, once made, its client.
type leakEnv struct {
	t      *testing.T
	p      *Plugin
	c      *Client
	stderr *syncBuffer
}

func (e *leakEnv) client(cfg []byte) *Client {
	e.t.Helper()
	c, err := e.p.NewClient(context.Background(), cfg)
	if err != nil {
		e.t.Fatalf("NewClient: %v", err)
	}
	e.t.Cleanup(func() { c.Close() })
	e.c = c
	return c
}

func (e *leakEnv) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	e.t.Cleanup(cancel)
	return ctx
}

func (e *leakEnv) token(c *Client) error {
	_, err := c.Token(e.ctx(20 * time.Second))
	return err
}

func (e *leakEnv) topology(c *Client) error {
	_, err := c.Topology(e.ctx(20 * time.Second))
	return err
}

// callExport runs a test-only export of the zbauth_testexports build as
// an operation of c, with text as its argument (may be empty).
func callExport(c *Client, name string, withCall bool, text string) error {
	return c.invoke(context.Background(), "test", func(in *instance, h, call, ms int32) error {
		return in.withArgs([][]byte{[]byte(text)}, func(ptrs []uint32) error {
			args := []uint64{api.EncodeU32(ptrs[0]), api.EncodeI32(int32(len(text)))}
			if withCall {
				args = append([]uint64{api.EncodeI32(call)}, args...)
			}
			return in.drive(in.mod.ExportedFunction(name), args...)
		})
	}, func(status int32, payload []byte) error {
		if status == 0 {
			return nil
		}
		e, _ := decodeError("test", status, payload)
		return e
	})
}

type pluginLeakScenario struct {
	name   string
	kind   core.Kind
	module func() []byte // default prodModule
	run    func(e *leakEnv, secret string) error
}

func pluginLeakScenarios() []pluginLeakScenario {
	test := func() []byte { return testModule }
	return []pluginLeakScenario{
		// CONFIG
		{name: "bad config", kind: core.KindConfig, run: func(e *leakEnv, secret string) error {
			_, err := e.p.NewClient(context.Background(), cfgJSON(secret,
				"https://id:"+url.QueryEscape(secret)+"@login.example/"+url.PathEscape(secret),
				"ftp://"+url.PathEscape(secret)+"/x?secret="+url.QueryEscape(secret), nil))
			return err
		}},
		{name: "bad config JSON", kind: core.KindConfig, run: func(e *leakEnv, secret string) error {
			b, _ := json.Marshal(secret)
			_, err := e.p.NewClient(context.Background(), []byte(`{"client_secret":`+string(b)+`,`+string(b)+`:1}`))
			return err
		}},
		{name: "bad timeout_ms", kind: core.KindConfig, run: func(e *leakEnv, secret string) error {
			_, err := e.p.NewClient(context.Background(), cfgJSON(secret, markerTokenURL(e.t), "http://127.0.0.1:1",
				map[string]any{"timeout_ms": secret}))
			return err
		}},

		// AUTH
		{name: "wrong secret", kind: core.KindAuth, run: func(e *leakEnv, secret string) error {
			cl := cluster(e.t, devcluster.Options{Addr: "127.0.0.1:0"})
			return e.topology(e.client(cfgJSON(secret, cl.TokenURL(), cl.RESTAddress(), map[string]any{"client_id": cl.Options().ClientID, "audience": cl.Options().Audience})))
		}},
		{name: "token endpoint echoes the request", kind: core.KindAuth, run: func(e *leakEnv, secret string) error {
			echo := serve(e.t, func(w http.ResponseWriter, r *http.Request) {
				dump := echoRequest(r)
				r.ParseForm()
				b, _ := json.Marshal(map[string]string{"error": r.PostForm.Get("client_secret"), "error_description": dump})
				w.WriteHeader(401)
				w.Write(b)
			})
			return e.token(e.client(cfgJSON(secret, echo.URL, "http://127.0.0.1:1", nil)))
		}},
		{name: "token endpoint echoes the secret with control characters inside", kind: core.KindAuth, run: func(e *leakEnv, secret string) error {
			echo := serve(e.t, func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				got := strings.Split(r.PostForm.Get("client_secret"), "")
				b, _ := json.Marshal(map[string]string{"error": "\x01" + strings.Join(got, "\x01"), "error_description": strings.Join(got, "\x1b[0m\u200b")})
				w.WriteHeader(401)
				w.Write(b)
			})
			return e.token(e.client(cfgJSON(secret, echo.URL, "http://127.0.0.1:1", nil)))
		}},
		{name: "token endpoint echoes the secret as token_type", kind: core.KindAuth, run: func(e *leakEnv, secret string) error {
			echo := serve(e.t, func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				b, _ := json.Marshal(map[string]string{"access_token": tokenMarker, "token_type": r.PostForm.Get("client_secret")})
				w.Write(b)
			})
			return e.token(e.client(cfgJSON(secret, echo.URL, "http://127.0.0.1:1", nil)))
		}},
		{name: "token endpoint sends its token with an error", kind: core.KindAuth, run: func(e *leakEnv, secret string) error {
			echo := serve(e.t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(400)
				w.Write([]byte(`{"access_token":"` + tokenMarker + `","error":"` + tokenMarker + `","error_description":"` + tokenMarker + `"}`))
			})
			return e.token(e.client(cfgJSON(secret, echo.URL, "http://127.0.0.1:1", nil)))
		}},
		{name: "malformed token response", kind: core.KindAuth, run: func(e *leakEnv, secret string) error {
			bad := serve(e.t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := json.Marshal(secret)
				w.Write([]byte(`{"access_token":"` + tokenMarker + `","client_secret":` + string(b)))
			})
			return e.token(e.client(cfgJSON(secret, bad.URL, "http://127.0.0.1:1", nil)))
		}},
		{name: "mac token", kind: core.KindAuth, run: func(e *leakEnv, secret string) error {
			bad := serve(e.t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"access_token":"` + tokenMarker + `","token_type":"` + tokenMarker + `"}`))
			})
			return e.token(e.client(cfgJSON(secret, bad.URL, "http://127.0.0.1:1", nil)))
		}},
		{name: "token endpoint redirects with the secret", kind: core.KindAuth, run: func(e *leakEnv, secret string) error {
			redir := serve(e.t, func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				http.Redirect(w, r, withSecret("http://127.0.0.2:9", r.PostForm.Get("client_secret")), http.StatusTemporaryRedirect)
			})
			return e.token(e.client(cfgJSON(secret, redir.URL, "http://127.0.0.1:1", nil)))
		}},

		// API
		{name: "401 from the API", kind: core.KindAPI, run: func(e *leakEnv, secret string) error {
			return e.topology(e.client(cfgJSON(secret, markerTokenURL(e.t), apiEchoing(e.t, 401), nil)))
		}},
		{name: "403 problem from the API", kind: core.KindAPI, run: func(e *leakEnv, secret string) error {
			return e.topology(e.client(cfgJSON(secret, markerTokenURL(e.t), apiEchoing(e.t, 403), nil)))
		}},
		{name: "400 echoing the request", kind: core.KindAPI, run: func(e *leakEnv, secret string) error {
			c := e.client(cfgJSON(secret, markerTokenURL(e.t), apiEchoing(e.t, 400), nil))
			_, err := c.Do(e.ctx(20*time.Second), "POST", "/v2/echo", []byte(`{"a":1}`))
			return err
		}},
		{name: "malformed topology echoing the request", kind: core.KindAPI, run: func(e *leakEnv, secret string) error {
			api := serve(e.t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"brokers":"` + echoRequest(r)))
			})
			return e.topology(e.client(cfgJSON(secret, markerTokenURL(e.t), api.URL, nil)))
		}},
		{name: "API redirects elsewhere with the token", kind: core.KindAPI, run: func(e *leakEnv, secret string) error {
			api := serve(e.t, func(w http.ResponseWriter, r *http.Request) {
				tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				http.Redirect(w, r, "http://127.0.0.2:9/"+tok+"?s="+url.QueryEscape(secret), http.StatusFound)
			})
			return e.topology(e.client(cfgJSON(secret, markerTokenURL(e.t), api.URL, nil)))
		}},

		// TRANSPORT
		{name: "transport error to a URL", kind: core.KindTransport, run: func(e *leakEnv, secret string) error {
			dead := deadURL(e.t)
			// Network errors are retried while the timeout allows.
			return e.token(e.client(cfgJSON(secret, withSecret(dead, secret), dead, map[string]any{"timeout_ms": 300})))
		}},
		{name: "transport error from the API", kind: core.KindTransport, run: func(e *leakEnv, secret string) error {
			return e.topology(e.client(cfgJSON(secret, markerTokenURL(e.t), deadURL(e.t)+"/"+url.PathEscape(secret), nil)))
		}},
		{name: "huge token response", kind: core.KindTransport, run: func(e *leakEnv, secret string) error {
			huge := serve(e.t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(strings.Repeat(secret+tokenMarker, 1<<16)))
			})
			return e.token(e.client(cfgJSON(secret, withSecret(huge.URL, secret), "http://127.0.0.1:1", nil)))
		}},
		{name: "huge API response", kind: core.KindTransport, run: func(e *leakEnv, secret string) error {
			huge := serve(e.t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(strings.Repeat(r.Header.Get("Authorization")+secret, 1<<20)))
			})
			return e.topology(e.client(cfgJSON(secret, markerTokenURL(e.t), huge.URL+"/"+url.PathEscape(secret), nil)))
		}},
		{name: "origin refused by the host", kind: core.KindTransport, module: test, run: func(e *leakEnv, secret string) error {
			c := e.client(cfgJSON(secret, markerTokenURL(e.t), "http://127.0.0.1:1", nil))
			if err := e.token(c); err != nil {
				e.t.Fatal(err)
			}
			_, err := rawGet(c, withSecret("http://127.0.0.2:9", secret)+"&t="+tokenMarker)
			return err
		}},

		// TIMEOUT
		{name: "token endpoint timeout", kind: core.KindTimeout, run: func(e *leakEnv, secret string) error {
			return e.token(e.client(cfgJSON(secret, withSecret(slowServer(e.t), secret), "http://127.0.0.1:1", map[string]any{"timeout_ms": 300})))
		}},
		{name: "API timeout", kind: core.KindTimeout, run: func(e *leakEnv, secret string) error {
			return e.topology(e.client(cfgJSON(secret, markerTokenURL(e.t), slowServer(e.t)+"/"+url.PathEscape(secret), map[string]any{"timeout_ms": 300})))
		}},
		{name: "caller's deadline", kind: core.KindTimeout, run: func(e *leakEnv, secret string) error {
			c := e.client(cfgJSON(secret, markerTokenURL(e.t), slowServer(e.t)+"/"+url.PathEscape(secret), nil))
			if err := e.token(c); err != nil {
				e.t.Fatal(err)
			}
			_, err := c.Do(e.ctx(300*time.Millisecond), "GET", "/v2/"+url.PathEscape(secret), nil)
			return err
		}},

		// ARGUMENT
		{name: "closed client", kind: core.KindArgument, run: func(e *leakEnv, secret string) error {
			c := e.client(cfgJSON(secret, markerTokenURL(e.t), "http://127.0.0.1:1", nil))
			if err := e.token(c); err != nil {
				e.t.Fatal(err)
			}
			c.Close()
			return e.token(c)
		}},
		{name: "absolute URL as the path", kind: core.KindArgument, run: func(e *leakEnv, secret string) error {
			c := e.client(cfgJSON(secret, markerTokenURL(e.t), "http://127.0.0.1:1", nil))
			if err := e.token(c); err != nil {
				e.t.Fatal(err)
			}
			_, err := c.Do(e.ctx(20*time.Second), "GET", withSecret("https://elsewhere.example", secret)+"&t="+tokenMarker, nil)
			return err
		}},

		// INTERNAL
		{name: "recovered guest panic", kind: core.KindInternal, module: test, run: func(e *leakEnv, secret string) error {
			c := e.client(cfgJSON(secret, markerTokenURL(e.t), apiEchoing(e.t, 200), nil))
			if err := e.token(c); err != nil {
				e.t.Fatal(err)
			}
			return callExport(c, "zbtest_panic_text", true, "boom: secret "+secret+" token "+tokenMarker)
		}},
		{name: "guest trap", kind: core.KindInternal, module: test, run: func(e *leakEnv, secret string) error {
			c := e.client(cfgJSON(secret, markerTokenURL(e.t), apiEchoing(e.t, 200), nil))
			if err := e.token(c); err != nil {
				e.t.Fatal(err)
			}
			e.p.mu.Lock()
			err := e.withText("boom: secret "+secret+" token "+tokenMarker, func(in *instance, ptr uint32, n int32) error {
				_, err := in.callRaw(in.mod.ExportedFunction("zbtest_trap_text"), api.EncodeU32(ptr), api.EncodeI32(n))
				return err
			})
			e.p.mu.Unlock()
			if err == nil {
				e.t.Fatal("zbtest_trap_text did not trap")
			}
			return err
		}},
	}
}

// withText writes text into the live instance's memory and calls fn with
// it. p.mu must be held.
func (e *leakEnv) withText(text string, fn func(in *instance, ptr uint32, n int32) error) error {
	in := e.p.inst
	if in == nil {
		e.t.Fatal("no live instance")
	}
	return in.withArgs([][]byte{[]byte(text)}, func(ptrs []uint32) error {
		return fn(in, ptrs[0], int32(len(text)))
	})
}

// TestNoSecretInErrors: every error kind through the plugin, with the
// secret and the token echoed back by the servers.
func TestNoSecretInErrors(t *testing.T) {
	secrets := []string{
		secretMarker,
		"s3cr&t+/ =%?#\"x'" + secretMarker, // needs every kind of escaping
		"^|",                               // short ones go too; in none of zbauth's own texts
	}
	kinds := map[core.Kind]bool{}
	for _, sc := range pluginLeakScenarios() {
		kinds[sc.kind] = true
		for i, secret := range secrets {
			t.Run(fmt.Sprintf("%s/%d", sc.name, i), func(t *testing.T) {
				t.Parallel()
				module := prodModule
				if sc.module != nil {
					module = sc.module()
				}
				stderr := &syncBuffer{}
				// The guest's environment holds the secret too: the host
				// must not show it either.
				e := &leakEnv{t: t, stderr: stderr}
				e.p = load(t, module, WithStderr(stderr), WithEnv(map[string]string{"ZEEBE_CLIENT_SECRET": secret}))
				err := sc.run(e, secret)
				if err == nil {
					t.Fatalf("want a %v error, got none", sc.kind)
				}
				ce := asCoreError(t, err)
				if ce.Kind != sc.kind {
					t.Fatalf("kind %v, want %v: %v", ce.Kind, sc.kind, err)
				}
				t.Logf("%v", err)
				texts := map[string]string{
					"err.Error()":  err.Error(),
					"fmt(err)":     fmtAll(err),
					"guest stderr": stderr.String(),
					"fmt(Plugin)":  fmtAll(e.p),
					"Stats":        fmtAll(e.p.Stats()),
				}
				if e.c != nil {
					texts["fmt(Client)"] = fmtAll(e.c)
				}
				for what, text := range texts {
					for _, marker := range []string{secretMarker, tokenMarker, url.QueryEscape(secret), url.PathEscape(secret), secret} {
						if strings.Contains(text, marker) {
							t.Errorf("%s leaks %q:\n%s", what, marker, text)
						}
					}
				}
			})
		}
	}
	if len(kinds) != 7 {
		t.Fatalf("the scenarios cover %d error kinds, want all 7", len(kinds))
	}
}

// TestNoSecretInWarnings: the core's warnings reach the host through the
// guest's stderr, without the secret even when a configured path holds it.
func TestNoSecretInWarnings(t *testing.T) {
	stderr := &syncBuffer{}
	p := load(t, prodModule, WithStderr(stderr))
	c := newClient(t, p, cfgJSON(secretMarker, markerTokenURL(t), "http://127.0.0.1:1",
		map[string]any{"token_cache_dir": t.TempDir() + "/" + secretMarker}))
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := stderr.String()
	if !strings.Contains(out, "token_cache_dir is not supported") {
		t.Fatalf("the warning did not reach WithStderr: %q", out)
	}
	if strings.Contains(out, secretMarker) || strings.Contains(out, tokenMarker) {
		t.Fatalf("the warning leaks a secret: %q", out)
	}
}

// TestStderrRedactedAcrossWrites: the guest's stderr is forwarded line by
// line, so a secret split over two writes is still removed, and an
// unfinished last line is forwarded (redacted) when the instance goes.
func TestStderrRedactedAcrossWrites(t *testing.T) {
	fwd := &syncBuffer{}
	tb := &tailBuffer{fwd: fwd, redact: func(s string) string { return redact.Redact(s, secretMarker) }}
	for _, w := range []string{"panic: boom ", secretMarker[:7], secretMarker[7:] + " end\n", "goroutine 1 ", secretMarker} {
		tb.Write([]byte(w))
	}
	if got, want := fwd.String(), "panic: boom [REDACTED] end\n"; got != want {
		t.Fatalf("forwarded %q, want %q", got, want)
	}
	if got := tb.String(); strings.Contains(got, secretMarker) || !strings.HasSuffix(got, "goroutine 1 [REDACTED]") {
		t.Fatalf("tail %q", got)
	}
	tb.flush()
	if got, want := fwd.String(), "panic: boom [REDACTED] end\ngoroutine 1 [REDACTED]"; got != want {
		t.Fatalf("after flush: forwarded %q, want %q", got, want)
	}
	long := strings.Repeat("x", maxPendingLine+1)
	tb.Write([]byte(long))
	if !strings.HasSuffix(fwd.String(), long[:len(long)-keepPending]) {
		t.Fatal("a line longer than maxPendingLine was held back whole")
	}
	tb.flush()
	if !strings.HasSuffix(fwd.String(), long) {
		t.Fatal("flush did not forward the rest of the long line")
	}

	// A line too long to hold back, with the secret wherever the pieces
	// are cut: the secret is never forwarded, not even in two halves.
	// Written as maxPendingLine bytes, one more, then the rest, the first cut comes
	// at maxPendingLine+1-keepPending.
	cut := maxPendingLine + 1 - keepPending
	for off := cut - len(secretMarker); off <= cut; off++ {
		fwd := &syncBuffer{}
		tb := &tailBuffer{fwd: fwd, redact: func(s string) string { return redact.Redact(s, secretMarker) }}
		line := strings.Repeat("y", off) + secretMarker + strings.Repeat("z", maxPendingLine) + "\n"
		tb.Write([]byte(line[:maxPendingLine]))
		tb.Write([]byte(line[maxPendingLine : maxPendingLine+1]))
		for i := maxPendingLine + 1; i < len(line); i += 1000 {
			tb.Write([]byte(line[i:min(i+1000, len(line))]))
		}
		got := strings.ReplaceAll(fwd.String(), "[REDACTED]", "")
		if strings.Contains(got, secretMarker[:len(secretMarker)/2]) || strings.Contains(got, secretMarker[len(secretMarker)/2:]) {
			t.Fatalf("offset %d: part of the secret was forwarded", off)
		}
		if !strings.Contains(fwd.String(), "[REDACTED]") {
			t.Fatalf("offset %d: no redaction in %d bytes", off, len(fwd.String()))
		}
	}
}

// TestNoSecretOfAnyStrategy: the Basic password, the static bearer token
// and the keystore password stay out of the same texts as the client
// secret (errors, guest stderr, a recovered panic, a trap, a formatted
// Plugin or Client), whether the config JSON holds them or the guest's
// environment does, also when a configuration overrides the
// environment's value (then only the Plugin knows it).
func TestNoSecretOfAnyStrategy(t *testing.T) {
	const user = "zbauth-user"
	type setting struct {
		name, key, env string
		config         func(t *testing.T, secret, api string) map[string]any // without the secret, which the keystore is encrypted with
	}
	settings := []setting{
		{"basic password", "basic_auth_password", "CAMUNDA_BASIC_AUTH_PASSWORD", func(t *testing.T, secret, api string) map[string]any {
			return map[string]any{"auth_strategy": "BASIC", "basic_auth_username": user, "rest_address": api}
		}},
		{"bearer token", "oauth_token", "CAMUNDA_OAUTH_TOKEN", func(t *testing.T, secret, api string) map[string]any {
			return map[string]any{"auth_strategy": "BEARER", "rest_address": api}
		}},
		{"keystore password", "client_assertion_keystore_password", "CAMUNDA_CLIENT_ASSERTION_KEYSTORE_PASSWORD", func(t *testing.T, secret, api string) map[string]any {
			ks := writeCredentials(t, t.TempDir(), secret).keystore
			return map[string]any{"client_id": "id", "authorization_server_url": markerTokenURL(t), "rest_address": api,
				"client_assertion_keystore_path": ks}
		}},
	}
	type scenario struct {
		name   string
		module []byte
		run    func(e *leakEnv, c *Client, text string) error
	}
	scenarios := []scenario{
		{"API echoes the request", prodModule, func(e *leakEnv, c *Client, text string) error {
			return e.topology(c)
		}},
		// After a REST call, so that the guest and the host have seen the
		// Authorization header (a Basic one is the password in base64).
		{"recovered guest panic", testModule, func(e *leakEnv, c *Client, text string) error {
			e.topology(c)
			return callExport(c, "zbtest_panic_text", true, "boom: "+text)
		}},
		{"guest trap", testModule, func(e *leakEnv, c *Client, text string) error {
			e.topology(c)
			e.p.mu.Lock()
			defer e.p.mu.Unlock()
			return e.withText("boom: "+text, func(in *instance, ptr uint32, n int32) error {
				_, err := in.callRaw(in.mod.ExportedFunction("zbtest_trap_text"), api.EncodeU32(ptr), api.EncodeI32(n))
				return err
			})
		}},
	}
	secret := `s3cr&t+/=%?#"x'` + secretMarker // a valid bearer token: visible ASCII, no space
	for _, st := range settings {
		for _, from := range []string{"config", "env", "env, overridden"} {
			for _, sc := range scenarios {
				t.Run(st.name+"/"+from+"/"+sc.name, func(t *testing.T) {
					t.Parallel()
					apiURL := apiEchoing(t, 401)
					inUse := secret
					if from == "env, overridden" {
						inUse = "the-configured-one"
					}
					cfg := st.config(t, inUse, apiURL)
					env := map[string]string{}
					switch from {
					case "config":
						cfg[st.key] = secret
					case "env":
						env[st.env] = secret
					default:
						env[st.env] = secret
						cfg[st.key] = inUse
					}
					stderr := &syncBuffer{}
					e := &leakEnv{t: t, stderr: stderr}
					e.p = load(t, sc.module, WithStderr(stderr), WithEnv(env))
					b, _ := json.Marshal(cfg)
					c := e.client(b)
					// What the secret may appear as: as typed, escaped, and
					// for Basic credentials in the Authorization header.
					forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
					if st.key == "basic_auth_password" && from != "env, overridden" {
						forms = append(forms, base64.StdEncoding.EncodeToString([]byte(user+":"+secret)))
					}
					err := sc.run(e, c, strings.Join(forms, " "))
					if err == nil {
						t.Fatal("want an error, got none")
					}
					t.Logf("%v", err)
					if from == "env, overridden" && sc.name != "guest trap" {
						return // the guest never sees the environment's value in the texts above
					}
					texts := map[string]string{"err.Error()": err.Error(), "fmt(err)": fmtAll(err), "guest stderr": stderr.String(),
						"fmt(Plugin)": fmtAll(e.p), "fmt(Client)": fmtAll(c)}
					for what, text := range texts {
						for _, marker := range append(forms, secretMarker) {
							if strings.Contains(text, marker) {
								t.Errorf("%s leaks %q:\n%s", what, marker, text)
							}
						}
					}
					if sc.name == "guest trap" && !strings.Contains(stderr.String(), "boom: "+strings.Repeat("[REDACTED] ", len(forms)-1)+"[REDACTED]\n") {
						t.Errorf("the trap's report did not reach stderr redacted: %q", stderr.String())
					}
				})
			}
		}
	}
}

// TestWrongKeystorePassword: a keystore that does not open is a CONFIG
// error naming the setting, not the password.
func TestWrongKeystorePassword(t *testing.T) {
	ks := writeCredentials(t, t.TempDir(), "the-right-one").keystore
	stderr := &syncBuffer{}
	p := load(t, prodModule, WithStderr(stderr))
	for _, pw := range []string{secretMarker, "s3cr&t+/ =%?#\"x'" + secretMarker} {
		b, _ := json.Marshal(map[string]any{"client_id": "id", "authorization_server_url": markerTokenURL(t), "rest_address": "http://127.0.0.1:1",
			"client_assertion_keystore_path": ks, "client_assertion_keystore_password": pw})
		_, err := p.NewClient(context.Background(), b)
		e := asCoreError(t, err)
		if e.Kind != core.KindConfig || !slices.Contains(e.Fields, "client_assertion_keystore_password") && !slices.Contains(e.Fields, "client_assertion_keystore_path") {
			t.Fatalf("want a CONFIG error naming the keystore, got %v (fields %v)", err, e.Fields)
		}
		t.Logf("%v", err)
		for _, text := range []string{err.Error(), fmtAll(err), stderr.String()} {
			if strings.Contains(text, secretMarker) {
				t.Errorf("leaks the password: %s", text)
			}
		}
	}
}
