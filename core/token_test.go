package core_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/corehook"
	"github.com/zbauth/zbauth/internal/devcluster"
	"github.com/zbauth/zbauth/internal/tokenrule"
)

func TestParseTokenResponse(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantTok  string
		wantType string
		wantExp  time.Duration
	}{
		{"numeric expires_in", 200, `{"access_token":"a.b.c","token_type":"Bearer","expires_in":300}`, "a.b.c", "Bearer", 300 * time.Second},
		{"string expires_in", 200, `{"access_token":"a.b.c","token_type":"Bearer","expires_in":"300"}`, "a.b.c", "Bearer", 300 * time.Second},
		{"fractional expires_in", 200, `{"access_token":"t","expires_in":1.5}`, "t", "", 1500 * time.Millisecond},
		{"no expires_in", 200, `{"access_token":"t","token_type":"Bearer"}`, "t", "Bearer", 0},
		{"null expires_in", 200, `{"access_token":"t","expires_in":null}`, "t", "", 0},
		{"lower-case bearer", 200, `{"access_token":"t","token_type":"bearer","expires_in":60}`, "t", "bearer", time.Minute},
		{"upper-case bearer", 200, `{"access_token":"t","token_type":"BEARER","expires_in":60}`, "t", "BEARER", time.Minute},
		{"opaque token, not a JWT", 200, `{"access_token":"opaque_8f3e!~","token_type":"Bearer"}`, "opaque_8f3e!~", "Bearer", 0},
		{"other 2xx and extra fields", 201, `{"access_token":"t","scope":"x","id_token":null,"refresh_expires_in":0}`, "t", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := core.ParseTokenResponse(tt.status, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseTokenResponse: %v", err)
			}
			if got.AccessToken != tt.wantTok || got.TokenType != tt.wantType || got.ExpiresIn != tt.wantExp {
				t.Errorf("got token %q type %q expires %v, want %q %q %v",
					got.AccessToken, got.TokenType, got.ExpiresIn, tt.wantTok, tt.wantType, tt.wantExp)
			}
		})
	}
}

func TestParseTokenResponseErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		oauthErr  string
		oauthDesc string
	}{
		{"missing access_token", 200, `{"token_type":"Bearer","expires_in":60}`, "", ""},
		{"empty access_token", 200, `{"access_token":"","token_type":"Bearer"}`, "", ""},
		{"null access_token", 200, `{"access_token":null}`, "", ""},
		{"2xx carrying an OAuth error", 200, `{"error":"invalid_scope","error_description":"no such scope"}`, "invalid_scope", "no such scope"},
		{"mac token type", 200, `{"access_token":"t","token_type":"mac"}`, "", ""},
		{"malformed JSON", 200, `{"access_token":"t"`, "", ""},
		{"not JSON", 200, `<html>login</html>`, "", ""},
		{"JSON array", 200, `["t"]`, "", ""},
		{"empty body", 200, ``, "", ""},
		{"escape at end of input", 200, `{"\`, "", ""}, // made goccy/go-json read out of bounds
		{"escape at end of input, error status", 400, `{"\`, "", ""},
		{"nul is not null", 200, `nul`, "", ""},
		{"bad expires_in string", 200, `{"access_token":"t","expires_in":"soon"}`, "", ""},
		{"negative expires_in", 200, `{"access_token":"t","expires_in":-5}`, "", ""},
		{"401 with OAuth error", 401, `{"error":"invalid_client","error_description":"client authentication failed"}`, "invalid_client", "client authentication failed"},
		{"400 with OAuth error only", 400, `{"error":"invalid_request"}`, "invalid_request", ""},
		{"500 with HTML", 500, `<h1>oops</h1>`, "", ""},
		{"non-2xx even with a token", 403, `{"access_token":"t","token_type":"Bearer"}`, "", ""},
		{"redirect", 302, ``, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := core.ParseTokenResponse(tt.status, []byte(tt.body))
			e := asError(t, err, core.KindAuth)
			if got.AccessToken != "" {
				t.Errorf("AccessToken = %q alongside an error", got.AccessToken)
			}
			if e.Status != tt.status {
				t.Errorf("Status = %d, want %d", e.Status, tt.status)
			}
			if e.OAuthError != tt.oauthErr || e.OAuthDescription != tt.oauthDesc {
				t.Errorf("OAuth fields = %q / %q, want %q / %q", e.OAuthError, e.OAuthDescription, tt.oauthErr, tt.oauthDesc)
			}
			if tt.oauthErr != "" && !strings.Contains(e.Error(), tt.oauthErr) {
				t.Errorf("message %q does not carry the OAuth error", e)
			}
		})
	}
}

// An access token must be visible ASCII, and expires_in a finite number of
// seconds from 0 to 1e9; each refusal says which was wrong, never "malformed
// JSON", and shows no part of the token.
func TestParseTokenResponseRefusesUnusableValues(t *testing.T) {
	const badToken = "unusable access token"
	const badExpiry = "expires_in is not a finite, non-negative number of seconds"
	tests := []struct{ name, body, want string }{
		{"CR/LF in the token", `{"access_token":"TOKEN-MARKER-q\r\nX-Injected: 1","expires_in":60}`, badToken},
		{"LF only", `{"access_token":"TOKEN-MARKER-q\nX-Injected","expires_in":60}`, badToken},
		{"NUL in the token", `{"access_token":"TOKEN-MARKER-q\u0000X-Injected","expires_in":60}`, badToken},
		{"space in the token", `{"access_token":"TOKEN-MARKER-q X-Injected","expires_in":60}`, badToken},
		{"tab in the token", `{"access_token":"TOKEN-MARKER-q\tX-Injected"}`, badToken},
		{"DEL in the token", `{"access_token":"TOKEN-MARKER-q\u007fX-Injected"}`, badToken},
		{"non-ASCII token", `{"access_token":"TOKEN-MARKER-qöX-Injected"}`, badToken},
		{"U+2028 in the token", `{"access_token":"TOKEN-MARKER-q\u2028X-Injected"}`, badToken},
		{"invalid UTF-8 token", "{\"access_token\":\"TOKEN-MARKER-q\xff\xfeX-Injected\"}", badToken},
		{"NaN expires_in", `{"access_token":"TOKEN-MARKER-t","expires_in":"NaN"}`, badExpiry},
		{"Inf expires_in", `{"access_token":"TOKEN-MARKER-t","expires_in":"+Inf"}`, badExpiry},
		{"negative expires_in", `{"access_token":"TOKEN-MARKER-t","expires_in":-1}`, badExpiry},
		{"negative expires_in string", `{"access_token":"TOKEN-MARKER-t","expires_in":"-1"}`, badExpiry},
		{"huge expires_in", `{"access_token":"TOKEN-MARKER-t","expires_in":1e308}`, badExpiry},
		{"past 1e9 expires_in", `{"access_token":"TOKEN-MARKER-t","expires_in":1000000001}`, badExpiry},
		{"expires_in not a number", `{"access_token":"TOKEN-MARKER-t","expires_in":"soon"}`, badExpiry},
		{"expires_in true", `{"access_token":"TOKEN-MARKER-t","expires_in":true}`, badExpiry},
		{"expires_in object", `{"access_token":"TOKEN-MARKER-t","expires_in":{"s":1}}`, badExpiry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := core.ParseTokenResponse(200, []byte(tt.body))
			e := asError(t, err, core.KindAuth)
			if got != (core.TokenResponse{}) {
				t.Errorf("a TokenResponse alongside an error: %v", got)
			}
			if !strings.Contains(e.Msg, tt.want) || e.Status != 200 {
				t.Errorf("error %q (status %d), want %q (status 200)", e, e.Status, tt.want)
			}
			if text := e.Error() + fmtAll(e); strings.Contains(text, "X-Injected") || strings.Contains(text, "TOKEN-MARKER") {
				t.Errorf("the error shows the token: %s", text)
			}
		})
	}
	// What real identity providers send still passes, up to the bounds.
	for _, body := range []string{
		`{"access_token":"eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6ICJ4In0.eyJleHAiOjF9.c2ln-_","expires_in":300}`,
		`{"access_token":"AZaz09-._~+/==","expires_in":1e9}`,
		`{"access_token":"!\"#$%&'()*,:;<>?@[\\]^` + "`" + `{|}","expires_in":" 0 "}`,
		`{"access_token":"t","expires_in":-0}`,
	} {
		if r, err := core.ParseTokenResponse(200, []byte(body)); err != nil || r.ExpiresIn < 0 || r.ExpiresIn > 1e9*time.Second {
			t.Errorf("ParseTokenResponse(%s) = %v, %v", body, r.ExpiresIn, err)
		}
	}
}

// A token the endpoint sends unusable is neither handed out nor cached, and
// never reaches the REST API: the next call, after the rate limit, makes a
// new request (and gets the dev cluster's own token).
func TestUnusableTokenResponseNotCached(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"CR/LF token":         `{"access_token":"TOKEN-MARKER-a\r\nX-Injected: 1\r\n\r\nGET /smuggled HTTP/1.1","token_type":"Bearer","expires_in":300}`,
		"NUL token":           `{"access_token":"TOKEN-MARKER-b\u0000tail","expires_in":300}`,
		"space in token":      `{"access_token":"TOKEN-MARKER-c tail","expires_in":300}`,
		"non-ASCII token":     `{"access_token":"TOKEN-MARKER-d\u00e9","expires_in":300}`,
		"invalid UTF-8 token": "{\"access_token\":\"TOKEN-MARKER-e\xff\xfe\",\"expires_in\":300}",
		"NaN expires_in":      `{"access_token":"TOKEN-MARKER-f","expires_in":"NaN"}`,
		"-1 expires_in":       `{"access_token":"TOKEN-MARKER-g","expires_in":-1}`,
		"1e308 expires_in":    `{"access_token":"TOKEN-MARKER-h","expires_in":1e308}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cl, c := clusterClient(t)
			cl.AddFault(devcluster.Fault{Target: "token", Status: 200, Body: body, Times: 1})
			_, err := c.Topology(ctxTimeout(t, 10*time.Second))
			e := asError(t, err, core.KindAuth)
			if !strings.Contains(e.Msg, "unusable access token") && !strings.Contains(e.Msg, "expires_in is not a finite") {
				t.Errorf("error %q", e)
			}
			if strings.Contains(e.Error(), "TOKEN-MARKER") || strings.Contains(e.Error(), "malformed") {
				t.Errorf("error %q", e)
			}
			if st := cl.Stats(); st.APIRequests != 0 {
				t.Errorf("%d API requests with an unusable token", st.APIRequests)
			}
			tok, err := c.Token(ctxTimeout(t, 10*time.Second))
			if err != nil || strings.Contains(tok, "TOKEN-MARKER") {
				t.Fatalf("the next Token = %q, %v; want the dev cluster's token", tok, err)
			}
			if n := cl.Stats().TokenRequests; n != 2 {
				t.Errorf("token requests = %d, want 2", n)
			}
		})
	}
}

// Server-supplied text is shortened and stripped of control characters
// before it reaches an error message (no terminal escapes, no log forging).
func TestParseTokenResponseSanitisesServerText(t *testing.T) {
	long := strings.Repeat("d", 5000)
	_, err := core.ParseTokenResponse(400, []byte(`{"error":"bad\u001b[31m\nnews","error_description":"`+long+`"}`))
	e := asError(t, err, core.KindAuth)
	if strings.ContainsAny(e.Error(), "\x1b\n") {
		t.Errorf("control characters reach the message: %q", e.Error())
	}
	if len(e.OAuthDescription) > 1000 {
		t.Errorf("OAuthDescription is %d bytes long; server text must be capped", len(e.OAuthDescription))
	}
}

// The token response's String and GoString never show the token.
func TestTokenResponseRedacts(t *testing.T) {
	r, err := core.ParseTokenResponse(200, []byte(`{"access_token":"TOKEN-MARKER-xyz789","token_type":"Bearer","expires_in":60}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := fmtAll(r); strings.Contains(s, "TOKEN-MARKER-xyz789") {
		t.Errorf("formatting a TokenResponse leaks the token: %s", s)
	}
}

func TestTokenRequestFormDevCluster(t *testing.T) {
	t.Parallel()
	for _, scope := range []string{"", "zeebe:read zeebe:write"} {
		cl := startCluster(t, devcluster.Options{})
		cfg := clusterConfig(cl)
		cfg.Scope = scope
		c := newClient(t, cfg)
		if _, err := c.Token(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatalf("Token: %v", err)
		}
		want := map[string]string{
			"grant_type":    "client_credentials",
			"audience":      cl.Options().Audience,
			"client_id":     cl.Options().ClientID,
			"client_secret": "(set)",
		}
		if scope != "" {
			want["scope"] = scope
		}
		if got := cl.Stats().LastTokenForm; !reflect.DeepEqual(got, want) {
			t.Errorf("scope %q: token form = %v, want %v", scope, got, want)
		}
	}
}

func TestTokenRequestWire(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, ctype, auth string
		form                url.Values
	}
	got := make(chan seen, 1)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		got <- seen{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), form}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"opaque","token_type":"Bearer","expires_in":3600}`))
	})
	c := newClient(t, core.Config{
		ClientID: "my id", ClientSecret: "s3cr&t=+/ x", Audience: "aud",
		AuthorizationServerURL: srv.URL + "/token", RESTAddress: "http://127.0.0.1:1",
	})
	tok, err := c.Token(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "opaque" {
		t.Errorf("Token = %q, want the server's opaque token", tok)
	}
	s := <-got
	if s.method != http.MethodPost {
		t.Errorf("method = %s, want POST", s.method)
	}
	if s.ctype != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", s.ctype)
	}
	if s.auth != "" {
		t.Errorf("token request carries an Authorization header: %q", s.auth)
	}
	want := url.Values{
		"grant_type": {"client_credentials"}, "audience": {"aud"},
		"client_id": {"my id"}, "client_secret": {"s3cr&t=+/ x"},
	}
	if !reflect.DeepEqual(s.form, want) {
		t.Errorf("form = %v, want %v", s.form, want)
	}
}

// Tokens are cached: many calls, one request.
func TestTokenIsCached(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	first, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		tok, err := c.Token(ctx)
		if err != nil || tok != first {
			t.Fatalf("Token = %q, %v; want the cached token", tok, err)
		}
	}
	if _, err := c.Topology(ctx); err != nil {
		t.Fatal(err)
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}

func TestSingleFlightColdCache(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	// Hold the one request open so that every caller arrives while it runs.
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 200, Times: 1})
	const callers = 1000
	start := make(chan struct{})
	toks := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	ctx := ctxTimeout(t, 20*time.Second)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			toks[i], errs[i] = c.Token(ctx)
		}()
	}
	close(start)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if toks[i] == "" || toks[i] != toks[0] {
			t.Fatalf("caller %d got %q, caller 0 got %q", i, toks[i], toks[0])
		}
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Errorf("token requests = %d, want exactly 1 for %d concurrent callers", n, callers)
	}
}

// In the refresh window the cached token is still good: callers get it at
// once while exactly one background request renews it.
//
// Not parallel: it measures per-call latency.
func TestEarlyRefreshDoesNotBlock(t *testing.T) {
	cl, c := clusterClient(t)
	// expires_in 4 s: the core stops using the token 0.4 s early (a tenth
	// of the lifetime, at most 1 s, for exp's whole seconds), i.e. at 3.6 s,
	// and the default margin (30 s) is capped at a quarter of that, so the
	// refresh window opens after 2.7 s.
	cl.SetTokenLifetime(4 * time.Second)
	ctx := ctxTimeout(t, 20*time.Second)
	before := time.Now()
	old, err := c.Token(ctx)
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	windowOpen := after.Add(2700*time.Millisecond + 20*time.Millisecond) // surely in the window
	expiry := before.Add(3600 * time.Millisecond)                        // surely not yet expired before this
	hardStop := expiry.Add(-50 * time.Millisecond)
	if hardStop.Sub(windowOpen) < 600*time.Millisecond {
		t.Fatalf("the first token request took %v; too slow to run this test", after.Sub(before))
	}

	// Still fresh just before the window: no request, not even in the
	// background (given 100 ms to show up).
	time.Sleep(time.Until(after.Add(2500 * time.Millisecond)))
	if tok, err := c.Token(ctx); err != nil || tok != old {
		t.Fatalf("before the window: Token = %q, %v; want the cached token", tok, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Fatalf("token requests before the refresh window = %d, want 1", n)
	}

	// The refresh request will take 500 ms.
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 500, Times: 1})
	time.Sleep(time.Until(windowOpen))
	loopStart := time.Now()

	const workers = 8
	type result struct {
		maxLatency time.Duration
		calls      int
		preempted  int // samples discarded: the OS switched the thread out
		oldSeen    int
		last       string
		err        error
	}
	results := make([]result, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One thread per worker, so that preemptions() is about this
			// goroutine's calls.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			r := &results[w]
			sawNew := false
			for {
				now := time.Now()
				if now.After(hardStop) || (sawNew && now.Sub(loopStart) >= 700*time.Millisecond) {
					return
				}
				p0 := preemptions()
				t0 := time.Now()
				tok, err := c.Token(ctx)
				d := time.Since(t0)
				r.calls++
				if preemptions() != p0 {
					r.preempted++
				} else if d > r.maxLatency {
					r.maxLatency = d
				}
				switch {
				case err != nil:
					r.err = err
					return
				case tok == old:
					if sawNew {
						r.err = errors.New("got the old token after the new one")
						return
					}
					r.oldSeen++
				default:
					sawNew = true
				}
				r.last = tok
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	wg.Wait()

	oldSeen, measured := 0, 0
	for w, r := range results {
		if r.err != nil {
			t.Fatalf("worker %d: %v", w, r.err)
		}
		measured += r.calls - r.preempted
		t.Logf("worker %d: %d calls (%d preempted by the OS), max latency %v", w, r.calls, r.preempted, r.maxLatency)
		if r.maxLatency > time.Millisecond {
			t.Errorf("worker %d waited %v in one Token call during the refresh; callers must not wait for an early refresh", w, r.maxLatency)
		}
		if r.last == old || r.last == "" {
			t.Errorf("worker %d never got the new token before the old one expired", w)
		}
		oldSeen += r.oldSeen
	}
	if measured < 100 {
		t.Errorf("only %d calls ran without the OS preempting them; the machine is too loaded to measure", measured)
	}
	if oldSeen == 0 {
		t.Errorf("no caller got the old token in the refresh window; the window was not exercised")
	}
	if n := cl.Stats().TokenRequests; n != 2 {
		t.Errorf("token requests = %d, want 2 (exactly one refresh)", n)
	}
	tok, err := c.Token(ctx)
	if err != nil || tok != results[0].last {
		t.Errorf("after the refresh: Token = %q, %v; want the new token", tok, err)
	}
}

// A token past its expiry is never handed out: callers wait, and they all
// share one request.
func TestExpiredTokenCallersWaitAndShare(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	cl.SetTokenLifetime(time.Second)
	ctx := ctxTimeout(t, 20*time.Second)
	before := time.Now()
	old, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(before.Add(1100 * time.Millisecond)))
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 300, Times: 1})

	const callers = 50
	toks := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], errs[i] = c.Token(ctx)
		}()
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if toks[i] == old {
			t.Fatalf("caller %d got the expired token", i)
		}
		if toks[i] != toks[0] {
			t.Fatalf("callers got different tokens: %q vs %q", toks[i], toks[0])
		}
	}
	if n := cl.Stats().TokenRequests; n != 2 {
		t.Errorf("token requests = %d, want 2 (the first and one shared renewal)", n)
	}
}

// WithRefreshMargin moves the refresh window; the default is capped at a
// quarter of the lifetime.
func TestRefreshMargin(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t, core.WithRefreshMargin(200*time.Millisecond))
	cl.SetTokenLifetime(4 * time.Second)
	ctx := ctxTimeout(t, 20*time.Second)
	old, err := c.Token(ctx)
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	// Past where the default margin would refresh (3 s), before 3.8 s.
	time.Sleep(time.Until(after.Add(3300 * time.Millisecond)))
	if tok, _ := c.Token(ctx); tok != old {
		t.Fatalf("Token changed before the 200 ms margin")
	}
	time.Sleep(100 * time.Millisecond) // time for a wrongly started refresh to show
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Fatalf("token requests = %d before the 200 ms margin, want 1", n)
	}
	// In the window: the old token now, a new one soon.
	time.Sleep(time.Until(after.Add(3820 * time.Millisecond)))
	var tok string
	for tok == "" || tok == old {
		if tok, err = c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := cl.Stats().TokenRequests; n != 2 {
		t.Errorf("token requests = %d, want 2", n)
	}
}

// A negative margin must not make the client hand out expired tokens.
func TestNegativeRefreshMarginNeverServesExpired(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t, core.WithRefreshMargin(-time.Hour))
	cl.SetTokenLifetime(time.Second)
	ctx := ctxTimeout(t, 10*time.Second)
	before := time.Now()
	old, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(before.Add(1100 * time.Millisecond)))
	tok, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok == old {
		t.Errorf("Token returned a token past its expires_in")
	}
}

// At most one token request per second, however many callers ask and
// however often it fails.
func TestTokenRequestRateLimit(t *testing.T) {
	t.Parallel()
	// Refusals, not remembered: every failed call could start a new request.
	cl, c := clusterClient(t, core.WithAuthErrorCooldown(0))
	cl.AddFault(devcluster.Fault{Target: "token", Status: 401}) // every request, until cleared
	start := time.Now()
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < 1500*time.Millisecond {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				_, err := c.Token(ctx)
				cancel()
				if err == nil {
					t.Error("Token succeeded against a failing endpoint")
					return
				}
				if k := core.KindOf(err); k != core.KindAuth && k != core.KindTimeout {
					t.Errorf("error kind %v: %v", k, err)
					return
				}
				failures.Add(1)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	n := cl.Stats().TokenRequests
	if limit := int64(elapsed/time.Second) + 1; n < 1 || n > limit {
		t.Errorf("%d token requests in %v from %d failed calls; want at most %d", n, elapsed, failures.Load(), limit)
	}
	// Once the endpoint recovers, the next request succeeds.
	cl.ClearFaults()
	if _, err := c.Token(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Errorf("Token after recovery: %v", err)
	}
}

// A failed request is reported to every caller waiting on it.
func TestTokenErrorSharedByWaiters(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	cl.AddFault(devcluster.Fault{Target: "token", Status: 401, DelayMS: 100, Times: 1})
	ctx := ctxTimeout(t, 10*time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Token(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		e := asError(t, err, core.KindAuth)
		if e.Status != 401 || e.OAuthError != "invalid_client" {
			t.Errorf("caller %d: status %d, OAuth error %q", i, e.Status, e.OAuthError)
		}
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}

// TryToken never waits: with no cached token it starts the request and
// says so; the token lands in the cache for the next call.
func TestTryToken(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 300, Times: 1})
	for range 10 {
		_, err := c.TryToken()
		asError(t, err, core.KindTimeout)
	}
	tok, err := c.Token(ctx) // joins the request TryToken started
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.TryToken(); err != nil || got != tok {
		t.Errorf("TryToken with a cached token = %q, %v; want %q", got, err, tok)
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}

	// A refusal is reported as such, from memory.
	cfg := clusterConfig(cl)
	cfg.ClientSecret = "wrong"
	bad := newClient(t, cfg)
	_, err = bad.Token(ctx)
	asError(t, err, core.KindAuth)
	_, err = bad.TryToken()
	asError(t, err, core.KindAuth)
	if n := cl.Stats().TokenRequests; n != 2 {
		t.Errorf("token requests = %d, want 2", n)
	}

	c.Close()
	_, err = c.TryToken()
	asError(t, err, core.KindArgument)
}

type tokenReport struct {
	tok           string
	fresh, usable time.Duration
}

// observedClient starts a dev cluster issuing tokens of the given lifetime
// and a client whose WithTokenObserver reports are recorded.
func observedClient(t *testing.T, lifetime time.Duration) (*devcluster.Cluster, *core.Client, func() []tokenReport) {
	t.Helper()
	var mu sync.Mutex
	var got []tokenReport
	cl := startCluster(t, devcluster.Options{TokenLifetime: lifetime})
	observe := corehook.WithTokenObserver(func(s tokenrule.Snapshot) {
		now := tokenrule.Monotonic()
		r := tokenReport{tok: s.Value}
		if s.Value != "" {
			r.fresh, r.usable = time.Duration(s.FreshUntil-now), time.Duration(s.UsableUntil-now)
		}
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	})
	c := newClient(t, clusterConfig(cl), observe.(core.Option))
	return cl, c, func() []tokenReport {
		mu.Lock()
		defer mu.Unlock()
		return append([]tokenReport(nil), got...)
	}
}

// TestTokenObserverSeesEveryChange: the observer is told of each token the
// client caches, with how long it stays fresh (up to its refresh point),
// and of each drop, in order. The C library keeps its copy of the token by
// it, so a missed or stale report would hand out a token the core dropped.
func TestTokenObserverSeesEveryChange(t *testing.T) {
	cl, c, reports := observedClient(t, time.Hour)
	ctx := context.Background()
	t1, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl.RevokeAll() // the API answers 401: the client drops t1 and fetches t2
	if _, err := c.Topology(ctx); err != nil {
		t.Fatal(err)
	}
	t2, err := c.Token(ctx)
	if err != nil || t2 == t1 {
		t.Fatalf("token after the 401: %v (same as before: %v)", err, t2 == t1)
	}
	c.Close()
	got := reports()
	if len(got) != 4 || got[0].tok != t1 || got[1].tok != "" || got[2].tok != t2 || got[3].tok != "" {
		toks := make([]bool, len(got))
		for i, r := range got {
			toks[i] = r.tok != ""
		}
		t.Fatalf("reports (token present?) = %v, want t1, drop, t2, drop", toks)
	}
	// A 1 h token: refreshed 30 s (the margin) plus a second (skew) before
	// it expires.
	for _, r := range []tokenReport{got[0], got[2]} {
		if want := time.Hour - 31*time.Second; r.fresh > want || r.fresh < want-time.Minute {
			t.Errorf("fresh for %v, want about %v", r.fresh, want)
		}
	}
	if got[1].fresh != 0 || got[3].fresh != 0 {
		t.Errorf("a drop reports fresh %v, %v; want 0", got[1].fresh, got[3].fresh)
	}
}

// TestTokenObserverClosedDuringARefresh: a refresh that Close ends reports
// nothing after Close's drop: an observer must not get the old token back
// as usable once the client is closed.
func TestTokenObserverClosedDuringARefresh(t *testing.T) {
	cl, c, reports := observedClient(t, 4*time.Second)
	ctx := context.Background()
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	// A 4 s token: refreshed from 2.7 s; the refresh is held up 1.5 s.
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 1500, Times: 1})
	time.Sleep(2900 * time.Millisecond)
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close() // cancels the refresh's request
	time.Sleep(time.Second)
	got := reports()
	if len(got) != 3 || got[1].tok == "" || got[2].tok != "" {
		toks := make([]bool, len(got))
		for i, r := range got {
			toks[i] = r.tok != ""
		}
		t.Fatalf("reports (token present?) = %v, want t1, t1 (refreshing), drop", toks)
	}
}

// TestTokenObserverDuringARefresh: once the background refresh has started,
// the old token may be handed out until it expires (the client answers
// with it meanwhile); then the new token replaces it.
func TestTokenObserverDuringARefresh(t *testing.T) {
	cl, c, reports := observedClient(t, 4*time.Second)
	ctx := context.Background()
	t1, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A 4 s token: refreshed from 2.7 s, unusable from 3.6 s.
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 300, Times: 1})
	time.Sleep(2900 * time.Millisecond)
	if tok, err := c.Token(ctx); err != nil || tok != t1 {
		t.Fatalf("in the refresh window: %v (old token: %v)", err, tok == t1)
	}
	got := reports()
	for deadline := time.Now().Add(5 * time.Second); len(got) < 3 && time.Now().Before(deadline); got = reports() {
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != 3 || got[0].tok != t1 || got[1].tok != t1 || got[2].tok == t1 || got[2].tok == "" {
		t.Fatalf("%d reports, want t1, t1 (refreshing), t2", len(got))
	}
	if got[0].fresh > 2700*time.Millisecond || got[0].fresh < 2500*time.Millisecond {
		t.Errorf("cached: fresh for %v, want about 2.7 s", got[0].fresh)
	}
	if got[1].fresh > 700*time.Millisecond || got[1].fresh <= 0 || got[1].usable != got[1].fresh {
		t.Errorf("refreshing: fresh for %v, usable for %v; want both the rest of its life (under 0.7 s)", got[1].fresh, got[1].usable)
	}
	// Counted from when its request was sent, 0.3 s (the delay) earlier.
	if got[2].fresh < 2*time.Second || got[2].fresh > 2700*time.Millisecond {
		t.Errorf("new token: fresh for %v, want about 2.4 s", got[2].fresh)
	}
}

// The one-request-per-second limit spans flights: a flight whose last
// attempt came late does not let the next flight send at once, and a
// Retry-After longer than a flight's time is kept for the next one, whose
// callers get the failure meanwhile instead of a request.
func TestTokenRequestPacingSpansFlights(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.Timeout = 5 * time.Second
	c := newClient(t, cfg)
	ctx := ctxTimeout(t, 20*time.Second)
	// A 503 (retried after at least a second), then an answer that is not
	// retried: the flight ends just after its second request.
	cl.AddFault(devcluster.Fault{Target: "token", Status: 503, Times: 1})
	cl.AddFault(devcluster.Fault{Target: "token", Status: 200, Body: `{"access_token":"x","token_type":"mac"}`, Times: 1})
	if _, err := c.Token(ctx); err == nil {
		t.Fatal("Token succeeded; want the token_type error")
	}
	start := time.Now()
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 800*time.Millisecond {
		t.Errorf("the next flight sent its request %v after the last one; want at least a second", d)
	}
	if n := cl.Stats().TokenRequests; n != 3 {
		t.Errorf("token requests = %d, want 3", n)
	}

	// A 429 asking for 3 s, to a client whose requests may take 1 s: the
	// flight cannot wait that long and fails; until then every caller gets
	// that failure, and the next request waits for the Retry-After.
	cfg.Timeout = time.Second
	c2 := newClient(t, cfg)
	cl.AddFault(devcluster.Fault{Target: "token", Status: 429, RetryAfter: "3", Times: 1})
	start = time.Now()
	_, err := c2.Token(ctx)
	if e := asError(t, err, core.KindAuth); e.Status != 429 {
		t.Fatalf("status %d, want 429", e.Status)
	}
	before := cl.Stats().TokenRequests
	for range 5 {
		if _, err := c2.Token(ctx); core.KindOf(err) != core.KindAuth {
			t.Fatalf("during the Retry-After: %v; want the 429 again", err)
		}
		if _, err := c2.TryToken(); core.KindOf(err) != core.KindAuth {
			t.Fatalf("TryToken during the Retry-After: %v; want the 429 again", err)
		}
	}
	if n := cl.Stats().TokenRequests; n != before {
		t.Errorf("%d token requests during the Retry-After", n-before)
	}
	// The Retry-After counts from the answer, a moment after start.
	time.Sleep(time.Until(start.Add(3*time.Second + 300*time.Millisecond)))
	if _, err := c2.Token(ctx); err != nil {
		t.Fatalf("after the Retry-After: %v", err)
	}
	if d := time.Since(start); d < 2900*time.Millisecond {
		t.Errorf("the next request came %v after the 429; want at least its Retry-After", d)
	}
}
