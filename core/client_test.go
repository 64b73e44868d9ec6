package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

func TestTopologyDevCluster(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{Brokers: 4, Partitions: 5, Replication: 2, Version: "8.9.1"})
	c := newClient(t, clusterConfig(cl))
	top, err := c.Topology(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if top.ClusterSize != 4 || top.PartitionsCount != 5 || top.ReplicationFactor != 2 || top.GatewayVersion != "8.9.1" {
		t.Errorf("topology header = %+v", top)
	}
	if len(top.Brokers) != 4 {
		t.Fatalf("%d brokers, want 4", len(top.Brokers))
	}
	leaders := map[int]int{}
	replicas := map[int]int{}
	for _, b := range top.Brokers {
		if b.Host == "" || b.Port == 0 || b.Version != "8.9.1" {
			t.Errorf("broker %+v", b)
		}
		for _, p := range b.Partitions {
			replicas[p.PartitionID]++
			if p.Role == "leader" {
				leaders[p.PartitionID]++
			}
		}
	}
	for p := 1; p <= 5; p++ {
		if leaders[p] != 1 || replicas[p] != 2 {
			t.Errorf("partition %d: %d leaders, %d replicas; want 1 and 2", p, leaders[p], replicas[p])
		}
	}
	st := cl.Stats()
	if !st.LastAuthHeader || st.APIRejected != 0 {
		t.Errorf("API saw bearer=%v rejected=%d", st.LastAuthHeader, st.APIRejected)
	}
}

// Many goroutines sharing one client all succeed with one token.
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	ctx := ctxTimeout(t, 20*time.Second)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, err = c.Topology(ctx)
			} else {
				_, err = c.Do(ctx, "POST", "/v2/echo", []byte(`{"i":1}`))
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if st := cl.Stats(); st.TokenRequests != 1 || st.APIRequests != 50 {
		t.Errorf("stats = %+v, want 1 token request and 50 API requests", st)
	}
}

func TestRetryOnceAfterRevocation(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	ctx := ctxTimeout(t, 20*time.Second)
	old, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Topology(ctx); err != nil {
		t.Fatal(err)
	}
	cl.RevokeAll()
	before := cl.Stats()
	top, err := c.Topology(ctx)
	if err != nil {
		t.Fatalf("Topology after revocation: %v", err)
	}
	if top.ClusterSize != 3 {
		t.Errorf("ClusterSize = %d", top.ClusterSize)
	}
	after := cl.Stats()
	if d := after.TokenRequests - before.TokenRequests; d != 1 {
		t.Errorf("%d token requests for the retried call, want 1", d)
	}
	if d := after.APIRequests - before.APIRequests; d != 2 {
		t.Errorf("%d API requests for the retried call, want 2", d)
	}
	if d := after.APIRejected - before.APIRejected; d != 1 {
		t.Errorf("%d API requests rejected, want 1", d)
	}
	if tok, _ := c.Token(ctx); tok == old {
		t.Errorf("the revoked token is still cached")
	}
}

func TestRepeated401DoesNotLoop(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	cl.AddFault(devcluster.Fault{Target: "api", Status: 401}) // always
	before := cl.Stats()
	resp, err := c.Topology(ctx)
	if resp != nil {
		t.Errorf("Topology returned a topology alongside an error")
	}
	e := asError(t, err, core.KindAPI)
	if e.Status != 401 {
		t.Errorf("Status = %d, want 401", e.Status)
	}
	after := cl.Stats()
	if d := after.APIRequests - before.APIRequests; d < 1 || d > 2 {
		t.Errorf("%d API requests for one call, want at most 2", d)
	}
	if d := after.TokenRequests - before.TokenRequests; d > 1 {
		t.Errorf("%d token requests for one call, want at most 1", d)
	}
}

// If the token endpoint hands out the same token again, a 401 is final:
// retrying with the same token cannot help.
func TestNoRetryWithSameToken(t *testing.T) {
	t.Parallel()
	var tokenHits, apiHits atomic.Int64
	tokSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		tokenHits.Add(1)
		w.Write([]byte(`{"access_token":"constant-token","token_type":"Bearer","expires_in":3600}`))
	})
	apiSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		apiHits.Add(1)
		if r.Header.Get("Authorization") != "Bearer constant-token" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		w.WriteHeader(401)
	})
	c := newClient(t, core.Config{ClientID: "id", ClientSecret: "secret",
		AuthorizationServerURL: tokSrv.URL, RESTAddress: apiSrv.URL})
	_, err := c.Topology(ctxTimeout(t, 20*time.Second))
	e := asError(t, err, core.KindAPI)
	if e.Status != 401 {
		t.Errorf("Status = %d", e.Status)
	}
	if n := apiHits.Load(); n != 1 {
		t.Errorf("API requests = %d, want 1 (no retry with an unchanged token)", n)
	}
	if n := tokenHits.Load(); n > 2 {
		t.Errorf("token requests = %d, want at most 2", n)
	}
}

func TestProblemJSON(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	cl.AddFault(devcluster.Fault{
		Target: "api", Status: 403, Times: 1, ContentType: "application/problem+json",
		Body: `{"type":"https://docs.camunda.io/problems/forbidden","title":"Forbidden","status":403,` +
			`"detail":"client may not read the topology","instance":"/v1/topology","extra":[1]}`,
	})
	_, err := c.Topology(ctx)
	e := asError(t, err, core.KindAPI)
	want := &core.Problem{Type: "https://docs.camunda.io/problems/forbidden", Title: "Forbidden", Status: 403,
		Detail: "client may not read the topology", Instance: "/v1/topology"}
	if e.Status != 403 || !reflect.DeepEqual(e.Problem, want) {
		t.Errorf("error status %d problem %+v, want 403 %+v", e.Status, e.Problem, want)
	}
	if !strings.Contains(e.Error(), "Forbidden") || !strings.Contains(e.Error(), "client may not read the topology") {
		t.Errorf("message %q lacks the problem's title and detail", e)
	}
	// A 403 is not retried with a new token.
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}

	// Do returns the response too.
	cl.AddFault(devcluster.Fault{Target: "api", Status: 404, Times: 1})
	resp, err := c.Do(ctx, "GET", "/v2/whatever", nil)
	e = asError(t, err, core.KindAPI)
	if resp == nil || resp.Status != 404 || e.Status != 404 || e.Problem == nil || e.Problem.Title != "Not Found" {
		t.Errorf("Do: resp %+v, error %+v", resp, e)
	}

	// A non-problem error body gives a KindAPI error without Problem.
	cl.AddFault(devcluster.Fault{Target: "api", Status: 502, Times: 1, Body: "<html>bad gateway</html>", ContentType: "text/html"})
	_, err = c.Topology(ctx)
	e = asError(t, err, core.KindAPI)
	if e.Status != 502 || e.Problem != nil {
		t.Errorf("502: status %d problem %+v", e.Status, e.Problem)
	}
}

func TestTopologyMalformed(t *testing.T) {
	t.Parallel()
	tokSrv := tokenServer(t, "tok")
	for _, body := range []string{"not json", `{"brokers":`, `[]`, `"topology"`, `{"clusterSize":"three"}`, `null`, ``} {
		apiSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(body))
		})
		c := newClient(t, core.Config{ClientID: "id", ClientSecret: "secret",
			AuthorizationServerURL: tokSrv.URL, RESTAddress: apiSrv.URL})
		top, err := c.Topology(ctxTimeout(t, 10*time.Second))
		if top != nil {
			t.Errorf("body %q: got a topology %+v", body, top)
		}
		e := asError(t, err, core.KindAPI)
		if e.Status != 200 {
			t.Errorf("body %q: Status = %d, want 200", body, e.Status)
		}
	}
}

func TestTopologyTolerant(t *testing.T) {
	t.Parallel()
	tokSrv := tokenServer(t, "tok")
	apiSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{
			"brokers": [
				{"nodeId": 0, "host": "b0", "port": 26501, "version": null, "partitions": null, "futureField": {"x": [1]}},
				{"nodeId": 1, "partitions": [{"partitionId": 1, "role": "leader", "health": "healthy", "new": true}, null]},
				null
			],
			"clusterSize": 3,
			"partitionsCount": null,
			"lastCompletedChangeId": "-1",
			"gatewayVersion": "8.8.0"
		}`))
	})
	c := newClient(t, core.Config{ClientID: "id", ClientSecret: "secret",
		AuthorizationServerURL: tokSrv.URL, RESTAddress: apiSrv.URL})
	top, err := c.Topology(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if top.ClusterSize != 3 || top.PartitionsCount != 0 || top.ReplicationFactor != 0 || top.GatewayVersion != "8.8.0" {
		t.Errorf("topology = %+v", top)
	}
	if len(top.Brokers) != 3 {
		t.Fatalf("%d brokers, want 3", len(top.Brokers))
	}
	for i, b := range top.Brokers {
		if b.Partitions == nil {
			t.Errorf("broker %d: Partitions is nil, want an empty list", i)
		}
	}
	if b := top.Brokers[0]; b.Host != "b0" || b.Version != "" || len(b.Partitions) != 0 {
		t.Errorf("broker 0 = %+v", b)
	}
	if p := top.Brokers[1].Partitions; len(p) != 2 || p[0] != (core.Partition{PartitionID: 1, Role: "leader", Health: "healthy"}) {
		t.Errorf("broker 1 partitions = %+v", p)
	}
}

func TestParseTopology(t *testing.T) {
	for _, in := range []string{`{}`, `{"brokers":null}`, `{"brokers":[]}`} {
		top, err := core.ParseTopology([]byte(in))
		if err != nil {
			t.Fatalf("ParseTopology(%s): %v", in, err)
		}
		if top.Brokers == nil {
			t.Errorf("ParseTopology(%s): Brokers is nil", in)
		}
		// The JSON form uses the API's own names and lists, never null.
		b, err := top.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"brokers":[]`) || !strings.Contains(string(b), `"clusterSize":0`) {
			t.Errorf("JSON() = %s", b)
		}
	}
	for _, in := range []string{``, `null`, `[]`, `1`, `"x"`, `{`, `{"brokers":{}}`, `{"\`, `{"brokers":[nul]}`} {
		if top, err := core.ParseTopology([]byte(in)); err == nil {
			t.Errorf("ParseTopology(%q) = %+v, want an error", in, top)
		}
	}
}

// Topology.JSON reproduces the API's wire form.
func TestTopologyJSONRoundTrip(t *testing.T) {
	t.Parallel()
	_, c := clusterClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	resp, err := c.Do(ctx, "GET", "/v1/topology", nil)
	if err != nil {
		t.Fatal(err)
	}
	top, err := core.ParseTopology(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := top.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var wire, ours any
	if err := json.Unmarshal(resp.Body, &wire); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ours); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(wire, ours) {
		t.Errorf("Topology.JSON =\n%s\nwire form =\n%s", b, resp.Body)
	}
}

func TestParseProblem(t *testing.T) {
	tests := []struct {
		in   string
		want *core.Problem
	}{
		{`{"type":"about:blank","title":"Not Found","status":404,"detail":"no such thing","instance":"/x"}`,
			&core.Problem{Type: "about:blank", Title: "Not Found", Status: 404, Detail: "no such thing", Instance: "/x"}},
		{`{"title":"Only title"}`, &core.Problem{Title: "Only title"}},
		{`{"detail":"only detail","unknown":{"nested":[null]}}`, &core.Problem{Detail: "only detail"}},
		{`{"type":"urn:x","status":null}`, &core.Problem{Type: "urn:x"}},
		{`{"status":500}`, nil},
		{`{}`, nil},
		{`null`, nil},
		{`[]`, nil},
		{`<html>`, nil},
		{``, nil},
		{`{"title":42}`, nil},
		{`{"\`, nil},
		{`{"title":"t"`, nil},
	}
	for _, tt := range tests {
		if got := core.ParseProblem([]byte(tt.in)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseProblem(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestDoEcho(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	body := `{"name":"zbauth","n":[1,2.5,null],"nested":{"ok":true}}`
	for _, path := range []string{"/v2/echo", "v2/echo"} {
		resp, err := c.Do(ctx, "POST", path, []byte(body))
		if err != nil {
			t.Fatalf("Do(POST %s): %v", path, err)
		}
		if resp.Status != 200 || !strings.HasPrefix(resp.Header["Content-Type"], "application/json") {
			t.Errorf("status %d content type %q", resp.Status, resp.Header["Content-Type"])
		}
		var got struct {
			Method string `json:"method"`
			Path   string `json:"path"`
			Body   any    `json:"body"`
		}
		if err := json.Unmarshal(resp.Body, &got); err != nil {
			t.Fatalf("echo answer %s: %v", resp.Body, err)
		}
		var sent any
		json.Unmarshal([]byte(body), &sent)
		if got.Method != "POST" || got.Path != "/v2/echo" || !reflect.DeepEqual(got.Body, sent) {
			t.Errorf("echo = %+v, want POST /v2/echo %v", got, sent)
		}
	}
	// Without a body.
	resp, err := c.Do(ctx, "GET", "/v2/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp.Body), `"method":"GET"`) {
		t.Errorf("GET echo = %s", resp.Body)
	}
	if st := cl.Stats(); !st.LastAuthHeader {
		t.Errorf("the API request carried no bearer token")
	}
}

func TestDoRefusesBadArguments(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	evil := serve(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the client sent a request to a foreign host: %s %s (Authorization %q)", r.Method, r.URL, r.Header.Get("Authorization"))
	})
	paths := []string{
		evil.URL + "/v2/echo",
		cl.RESTAddress() + "/v2/echo", // absolute, even to the right host
		"//" + strings.TrimPrefix(evil.URL, "http://") + "/x",
		"HTTPS://example.com/x",
		"",
		"/v2/echo with space",
		"/v2/echo\r\nX-Injected: 1",
		"/v2/\x00",
	}
	for _, p := range paths {
		_, err := c.Do(ctx, "GET", p, nil)
		asError(t, err, core.KindArgument)
	}
	methods := []string{"", "GET /", "GE\nT", "GET\r\n", "PO ST", "GÉT", "GET;", strings.Repeat("A", 33)}
	for _, m := range methods {
		_, err := c.Do(ctx, m, "/v2/echo", nil)
		asError(t, err, core.KindArgument)
	}
	if n := cl.Stats().APIRequests; n != 0 {
		t.Errorf("%d requests reached the API", n)
	}
	// A body that is not JSON is refused before it is sent.
	for _, body := range []string{"", "{", "not json", `{"a":1} {"b":2}`, "nul", `{"\`} {
		_, err := c.Do(ctx, "POST", "/v2/echo", []byte(body))
		asError(t, err, core.KindArgument)
	}
	if n := cl.Stats().APIRequests; n != 0 {
		t.Errorf("%d requests with a bad body reached the API", n)
	}
	// Unusual but valid methods are passed through.
	if _, err := c.Do(ctx, "PATCH", "/v2/echo", []byte(`{}`)); err != nil {
		t.Errorf("PATCH: %v", err)
	}
}

func TestTokenEndpointTimeout(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.Timeout = 200 * time.Millisecond
	c := newClient(t, cfg)
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 3000, Times: 1})
	_, err := c.Token(ctxTimeout(t, 10*time.Second))
	asError(t, err, core.KindTimeout)
	// The same client recovers once the endpoint is fast again.
	if _, err := c.Topology(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Errorf("Topology after a timed-out token request: %v", err)
	}
}

func TestAPITimeout(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.Timeout = 200 * time.Millisecond
	c := newClient(t, cfg)
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	cl.AddFault(devcluster.Fault{Target: "api", DelayMS: 3000, Times: 1})
	_, err := c.Topology(ctx)
	asError(t, err, core.KindTimeout)
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	dead := deadURL(t)
	// A short timeout: network errors are retried while it allows.
	c := newClient(t, core.Config{ClientID: "id", ClientSecret: "secret",
		AuthorizationServerURL: dead + "/oauth/token", RESTAddress: dead, Timeout: 300 * time.Millisecond})
	_, err := c.Token(ctxTimeout(t, 10*time.Second))
	asError(t, err, core.KindTransport)

	// Token fine, REST API unreachable.
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.RESTAddress = dead
	c = newClient(t, cfg)
	_, err = c.Topology(ctxTimeout(t, 10*time.Second))
	asError(t, err, core.KindTransport)
}

// A connection dropped without an answer is a transport error; once is
// retried (after the one-second rate limit) within Config.Timeout.
func TestConnectionDropped(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.Timeout = 300 * time.Millisecond
	c := newClient(t, cfg)
	cl.AddFault(devcluster.Fault{Target: "token", Close: true}) // always
	_, err := c.Token(ctxTimeout(t, 10*time.Second))
	asError(t, err, core.KindTransport)

	cl2, c2 := clusterClient(t)
	cl2.AddFault(devcluster.Fault{Target: "token", Close: true, Times: 1})
	if _, err := c2.Token(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatalf("one dropped connection was not retried: %v", err)
	}
	if n := cl2.Stats().TokenRequests; n != 2 {
		t.Errorf("token requests = %d, want 2", n)
	}
}

// 429 and 5xx from the token endpoint are retried, no faster than once a
// second and no sooner than Retry-After; 400/401 are not.
func TestTokenRetries(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	cl.AddFault(devcluster.Fault{Target: "token", Status: 503, Times: 1})
	cl.AddFault(devcluster.Fault{Target: "token", Status: 429, RetryAfter: "2", Times: 1})
	start := time.Now()
	tok, err := c.Token(ctxTimeout(t, 20*time.Second))
	if err != nil {
		t.Fatalf("Token after a 503 and a 429: %v", err)
	}
	if tok == "" {
		t.Fatal("empty token")
	}
	if n := cl.Stats().TokenRequests; n != 3 {
		t.Errorf("token requests = %d, want 3", n)
	}
	// Rate limit (1 s) plus Retry-After (2 s): the requests were spread out.
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("three attempts within %v: the retries ignored the rate limit or Retry-After", d)
	}
}

func TestTokenRefusalNotRetried(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.ClientSecret = "wrong"
	c := newClient(t, cfg)
	ctx := ctxTimeout(t, 10*time.Second)
	for range 3 {
		_, err := c.Token(ctx)
		e := asError(t, err, core.KindAuth)
		if e.Status != 401 || e.OAuthError != "invalid_client" {
			t.Errorf("refusal: status %d, OAuth error %q", e.Status, e.OAuthError)
		}
	}
	// The refusal is remembered: one request for three calls.
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
	// With the cooldown off, each call asks again (at most once a second).
	c2 := newClient(t, cfg, core.WithAuthErrorCooldown(0))
	for range 2 {
		_, err := c2.Token(ctx)
		asError(t, err, core.KindAuth)
	}
	if n := cl.Stats().TokenRequests; n != 3 {
		t.Errorf("token requests = %d, want 3", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"  ", 0}, {"0", 0}, {"-5", 0}, {"abc", 0}, {"1.5", 0},
		{"3", 3 * time.Second}, {" 120 ", 2 * time.Minute}, {"999999", time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), time.Hour},
	}
	for _, tt := range tests {
		if got := core.ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := core.ParseRetryAfter("Saturday, 01-Mar-25 12:00:30 GMT", now); got != 30*time.Second {
		t.Errorf("RFC 850 date: %v, want 30s", got)
	}
	if got := core.ParseRetryAfter("Sat Mar  1 12:00:45 2025", now); got != 45*time.Second {
		t.Errorf("asctime date: %v, want 45s", got)
	}
}

func TestCallerContext(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	// The token request takes 300 ms, so the callers below surely wait.
	// (A token that is already there is returned whatever the context.)
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 300, Times: 1})

	// Already cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Token(ctx)
	e := asError(t, err, core.KindTimeout)
	if !errors.Is(e, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", e)
	}
	_, err = c.Topology(ctx)
	asError(t, err, core.KindTimeout)

	// Cancelled while waiting for the token.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = c.Token(ctx)
	asError(t, err, core.KindTimeout)

	// Cancelled before the REST request, with the token cached.
	long := ctxTimeout(t, 10*time.Second)
	if _, err := c.Token(long); err != nil {
		t.Fatal(err)
	}
	_, err = c.Topology(ctx)
	asError(t, err, core.KindTimeout)
	if n := cl.Stats().APIRequests; n != 0 {
		t.Errorf("%d API requests with a cancelled context", n)
	}

	// Cancelled while waiting for a slow API.
	cl.AddFault(devcluster.Fault{Target: "api", DelayMS: 3000, Times: 1})
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Do(ctx, "GET", "/v2/topology", nil)
	asError(t, err, core.KindTimeout)
}

// A caller that gives up does not cancel the token request it waited on:
// the token lands in the cache for the next caller.
func TestGivingUpKeepsTheRequest(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 300, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Token(ctx)
	asError(t, err, core.KindTimeout)
	if _, err := c.Token(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := c.Topology(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	before := cl.Stats()
	_, err := c.Token(ctx)
	asError(t, err, core.KindArgument)
	_, err = c.Topology(ctx)
	asError(t, err, core.KindArgument)
	_, err = c.Do(ctx, "GET", "/v2/topology", nil)
	asError(t, err, core.KindArgument)
	if after := cl.Stats(); after.APIRequests != before.APIRequests || after.TokenRequests != before.TokenRequests {
		t.Errorf("a closed client still made requests: %+v -> %+v", before, after)
	}
	// Closing concurrently is safe too.
	c2 := newClient(t, clusterConfig(cl))
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); c2.Close() }()
	}
	wg.Wait()
	_, err = c2.Token(ctx)
	asError(t, err, core.KindArgument)
}

// Close ends a Token call that is waiting on a hung token endpoint: the
// call fails as closed, not when its own deadline passes.
func TestCloseWhileWaiting(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 30000, Times: 1})
	done := make(chan error, 1)
	go func() {
		_, err := c.Token(ctxTimeout(t, 3*time.Second))
		done <- err
	}()
	for cl.Stats().TokenRequests == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	asError(t, <-done, core.KindArgument)
}

func hugeTokenServer(t *testing.T, withLength bool) (*httptest.Server, *atomic.Int64) {
	var written atomic.Int64
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		const size = 64 << 20
		w.Header().Set("Content-Type", "application/json")
		if withLength {
			w.Header().Set("Content-Length", "67108864")
		}
		chunk := []byte(`{"access_token":"` + strings.Repeat("x", 64<<10-17))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			written.Add(int64(len(chunk)))
		}
	})
	return srv, &written
}

// A token endpoint that sends an endless body is cut off at MaxTokenBody.
//
// Not parallel: it measures allocation.
func TestHugeTokenBody(t *testing.T) {
	for _, withLength := range []bool{true, false} {
		srv, written := hugeTokenServer(t, withLength)
		c := newClient(t, core.Config{ClientID: "id", ClientSecret: "secret",
			AuthorizationServerURL: srv.URL, RESTAddress: "http://127.0.0.1:1"})
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		_, err := c.Token(ctxTimeout(t, 20*time.Second))
		runtime.ReadMemStats(&m1)
		e := asError(t, err, core.KindTransport)
		if !errors.Is(e, core.ErrBodyTooLarge) {
			t.Errorf("Content-Length %v: error %v does not wrap ErrBodyTooLarge", withLength, e)
		}
		if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 16<<20 {
			t.Errorf("Content-Length %v: reading the answer allocated %d MiB", withLength, alloc>>20)
		}
		t.Logf("Content-Length %v: server wrote %d KiB before the client hung up", withLength, written.Load()>>10)
	}
}

// REST API bodies are capped by Config.MaxBodyBytes.
func TestMaxBody(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.MaxBodyBytes = 64 << 10
	c := newClient(t, cfg)
	ctx := ctxTimeout(t, 10*time.Second)
	cl.AddFault(devcluster.Fault{Target: "api", BodyBytes: 1 << 20, Times: 1})
	_, err := c.Do(ctx, "GET", "/v2/topology", nil)
	e := asError(t, err, core.KindTransport)
	if !errors.Is(e, core.ErrBodyTooLarge) {
		t.Errorf("error %v does not wrap ErrBodyTooLarge", e)
	}
	// A body within the limit is fine.
	cl.AddFault(devcluster.Fault{Target: "api", BodyBytes: 60 << 10, Times: 1})
	resp, err := c.Do(ctx, "GET", "/v2/topology", nil)
	if err != nil || len(resp.Body) != 60<<10 {
		t.Errorf("60 KiB body: err %v", err)
	}
}

// Redirects to another origin are not followed: the bearer token stays
// with the cluster.
func TestRedirectToOtherOriginNotFollowed(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	evil := serve(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("redirect followed to %s with Authorization %q", r.URL, r.Header.Get("Authorization"))
	})
	for _, loc := range []string{
		evil.URL + "/steal",
		"//" + strings.TrimPrefix(evil.URL, "http://") + "/steal",
		"https://" + strings.TrimPrefix(cl.URL(), "http://") + "/v2/echo", // other scheme
	} {
		cl.AddFault(devcluster.Fault{Target: "api", Status: 307, Location: loc, Body: " ", Times: 1})
		resp, err := c.Do(ctxTimeout(t, 10*time.Second), "GET", "/v2/topology", nil)
		e := asError(t, err, core.KindAPI)
		if e.Status != 307 || resp == nil || resp.Status != 307 || resp.Header["Location"] != loc {
			t.Errorf("redirect to %s: error status %d, response %+v", loc, e.Status, resp)
		}
	}
}

// Redirects within the REST address's origin are followed; 303 turns the
// request into a GET, 307 keeps method and body.
func TestRedirectSameOrigin(t *testing.T) {
	t.Parallel()
	cl, c := clusterClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	cl.AddFault(devcluster.Fault{Target: "api", Status: 307, Location: "/v2/echo", Body: " ", Times: 1})
	resp, err := c.Do(ctx, "POST", "/v2/old-echo", []byte(`{"kept":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp.Body), `"method":"POST"`) || !strings.Contains(string(resp.Body), `"kept":true`) {
		t.Errorf("307: echo = %s", resp.Body)
	}
	cl.AddFault(devcluster.Fault{Target: "api", Status: 303, Location: cl.URL() + "/v2/echo", Body: " ", Times: 1})
	resp, err = c.Do(ctx, "POST", "/v2/old-echo", []byte(`{"kept":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp.Body), `"method":"GET"`) || strings.Contains(string(resp.Body), "kept") {
		t.Errorf("303: echo = %s", resp.Body)
	}
	// A redirect loop ends.
	cl.AddFault(devcluster.Fault{Target: "api", Status: 302, Location: "/v2/loop", Body: " "})
	before := cl.Stats().APIRequests
	_, err = c.Do(ctx, "GET", "/v2/loop", nil)
	asError(t, err, core.KindAPI)
	if n := cl.Stats().APIRequests - before; n > 10 {
		t.Errorf("%d requests for one redirect loop", n)
	}
}

func TestErrorKinds(t *testing.T) {
	names := map[core.Kind]string{
		core.KindOK: "OK", core.KindArgument: "ARGUMENT", core.KindConfig: "CONFIG", core.KindAuth: "AUTH",
		core.KindAPI: "API", core.KindTransport: "TRANSPORT", core.KindTimeout: "TIMEOUT", core.KindInternal: "INTERNAL",
	}
	for k, n := range names {
		if k.String() != n {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), k.String(), n)
		}
	}
	if s := core.Kind(99).String(); s != "Kind(99)" {
		t.Errorf("Kind(99) = %q", s)
	}
	if core.KindOf(nil) != core.KindOK || core.KindOf(errors.New("x")) != core.KindInternal {
		t.Errorf("KindOf(nil / foreign error) wrong")
	}
	_, err := core.ParseTokenResponse(401, nil)
	wrapped := errors.Join(errors.New("context"), err)
	if core.KindOf(wrapped) != core.KindAuth {
		t.Errorf("KindOf does not see through wrapping")
	}
	if !errors.Is(wrapped, &core.Error{Kind: core.KindAuth}) || errors.Is(err, &core.Error{Kind: core.KindAPI}) {
		t.Errorf("errors.Is by kind is wrong")
	}
}

// versionedTopology serves a two-broker topology whose gateway and broker
// versions setGateway changes, and returns a config for it.
func versionedTopology(t *testing.T, version string) (cfg core.Config, setGateway func(string)) {
	tokSrv := tokenServer(t, "tok")
	var mu sync.Mutex
	apiSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		g := version
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"brokers":[{"nodeId":0,"host":"b0","port":26501,"version":%q,
			"partitions":[{"partitionId":1,"role":"leader","health":"healthy"}]},
			{"nodeId":1,"host":"b1","port":26501,"version":%q,"partitions":[]}],
			"clusterSize":2,"partitionsCount":1,"replicationFactor":1,"gatewayVersion":%q}`, g, g, g)
	})
	cfg = core.Config{ClientID: "id", ClientSecret: "secret", AuthorizationServerURL: tokSrv.URL, RESTAddress: apiSrv.URL}
	return cfg, func(v string) {
		mu.Lock()
		version = v
		mu.Unlock()
	}
}

// A client that polls the topology reuses its last parse while the body is
// unchanged; each caller still owns what it gets, and a changed topology
// is seen at once.
func TestTopologyPollingSeesChangesAndOwnsResults(t *testing.T) {
	t.Parallel()
	cfg, setGateway := versionedTopology(t, "8.8.0")
	c := newClient(t, cfg)
	ctx := ctxTimeout(t, 10*time.Second)

	first, err := c.Topology(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The caller may change what it got; the next call is unaffected.
	first.Brokers[0].Partitions[0].Role = "changed by the caller"
	first.Brokers[0].Host = "changed"
	first.Brokers = append(first.Brokers, core.Broker{})
	second, err := c.Topology(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Brokers) != 2 || second.Brokers[0].Host != "b0" || second.Brokers[0].Partitions[0].Role != "leader" {
		t.Fatalf("second topology = %+v", second)
	}
	if second.Brokers[1].Partitions == nil {
		t.Error("an empty partition list came back nil")
	}
	// Appending to one broker's partitions must not write into another's.
	second.Brokers[0].Partitions = append(second.Brokers[0].Partitions, core.Partition{PartitionID: 9})
	if third, _ := c.Topology(ctx); len(third.Brokers[0].Partitions) != 1 || len(third.Brokers[1].Partitions) != 0 {
		t.Fatalf("third topology = %+v", third)
	}
	js, err := c.TopologyJSON(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"gatewayVersion":"8.8.0"`) || !strings.Contains(string(js), `"partitions":[]`) {
		t.Errorf("TopologyJSON = %s", js)
	}
	js[0] = 'X' // the caller owns it
	if js2, _ := c.TopologyJSON(ctx); js2[0] != '{' {
		t.Errorf("TopologyJSON shares its buffer: %s", js2)
	}

	setGateway("8.9.0")
	changed, err := c.Topology(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if changed.GatewayVersion != "8.9.0" || changed.Brokers[0].Version != "8.9.0" {
		t.Errorf("after the change: %+v", changed)
	}
	if js, _ := c.TopologyJSON(ctx); !strings.Contains(string(js), `"gatewayVersion":"8.9.0"`) {
		t.Errorf("TopologyJSON after the change = %s", js)
	}
}

// reusingTransport hands out every response body in one shared buffer, as
// a careless custom Transport might.
type reusingTransport struct {
	inner core.Transport
	mu    sync.Mutex
	buf   []byte
}

func (r *reusingTransport) RoundTrip(ctx context.Context, req *core.Request) (*core.Response, error) {
	resp, err := r.inner.RoundTrip(ctx, req)
	if resp != nil {
		r.mu.Lock()
		r.buf = append(r.buf[:0], resp.Body...)
		resp.Body = r.buf
		r.mu.Unlock()
	}
	return resp, err
}

// The topology memo keeps its own copy of the body: a transport that
// reuses its buffer cannot make a changed topology look unchanged.
func TestTopologyMemoSurvivesATransportReusingItsBuffer(t *testing.T) {
	t.Parallel()
	cfg, setGateway := versionedTopology(t, "8.8.0")
	inner, err := core.NewHTTPTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, cfg, core.WithTransport(&reusingTransport{inner: inner, buf: make([]byte, 0, 1<<16)}))
	ctx := ctxTimeout(t, 10*time.Second)
	if top, err := c.Topology(ctx); err != nil || top.GatewayVersion != "8.8.0" {
		t.Fatalf("first: %+v, %v", top, err)
	}
	setGateway("8.9.0")
	if top, err := c.Topology(ctx); err != nil || top.GatewayVersion != "8.9.0" {
		t.Fatalf("after the change: %+v, %v", top, err)
	}
}

// refusingTransport declines every request, as a Wasm host does for an
// origin its policy does not allow.
type refusingTransport struct{ calls atomic.Int32 }

func (r *refusingTransport) RoundTrip(ctx context.Context, req *core.Request) (*core.Response, error) {
	r.calls.Add(1)
	return nil, fmt.Errorf("origin not allowed: %w", core.ErrRefused)
}

// A transport's refusal ends the token call at once, with its reason: the
// retry loop would only ask the same question again until the deadline.
func TestTransportRefusalNotRetried(t *testing.T) {
	t.Parallel()
	cfg := core.Config{ClientID: "a", ClientSecret: "b", AuthorizationServerURL: "http://127.0.0.1:1/oauth/token",
		RESTAddress: "http://127.0.0.1:1", AllowInsecureHTTP: true, Timeout: 3 * time.Second}
	tr := &refusingTransport{}
	c := newClient(t, cfg, core.WithTransport(tr))
	start := time.Now()
	_, err := c.Token(ctxTimeout(t, 3*time.Second))
	e := asError(t, err, core.KindTransport)
	if !errors.Is(err, core.ErrRefused) || !strings.Contains(e.Error(), "origin not allowed") {
		t.Errorf("error %v does not carry the refusal", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal reported after %v", d)
	}
	if n := tr.calls.Load(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}
